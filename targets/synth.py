"""Synthesis scripts (Yosys + ABC) for standard-cell and FPGA targets, and their results.

Standard cells: generic synthesis without ABC, flip-flops mapped with `dfflibmap`, then ABC maps the
logic to the library's single-output cells with an area-oriented script. The Liberty flow of
`abc -liberty` is not used: ABC's default Liberty script runs `&fraig -x`, which on shift-and-add
arithmetic runs for minutes, and the EGFET library lacks the buffer ABC's mappers need. We give ABC
a genlib (targets/liberty.py) in normalised units instead and keep the script short.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bespoke.compiler.errors import BespokeError
from bespoke.targets import liberty, yosys

# Area-only standard-cell mapping. ifraig merges equivalent nodes with a small SAT budget, dc2 and
# dch add structural choices, amap picks cells for minimum area. No &fraig -x (see module doc).
ABC_AREA_SCRIPT = "strash; ifraig; dc2; dch -f; amap; topo"


@dataclass
class SynthResult:
    netlist: dict  # Yosys write_json of the mapped design
    stat: dict  # Yosys stat -json of the top module
    script: str  # the Yosys script that ran
    abc_script: str | None
    seconds: float
    log_tail: str = ""
    extra: dict = field(default_factory=dict)


def read_commands(verilog_files: list[Path], top: str) -> list[str]:
    cmds = []
    for f in verilog_files:
        f = Path(f)
        if not f.is_file():
            raise BespokeError(f"Verilog file not found: {f}")
        cmds.append(f"read_verilog -sv {yosys.quote(f.resolve())}")
    cmds.append(f"hierarchy -check -top {top}")
    return cmds


def top_stat(stat_json: dict, top: str) -> dict:
    mods = stat_json.get("modules", {})
    for name in (f"\\{top}", top):
        if name in mods:
            return mods[name]
    if len(mods) == 1:
        return next(iter(mods.values()))
    raise RuntimeError(f"Yosys stat has no module {top!r}: {sorted(mods)}")


def check_top(top: str) -> None:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]*", top or ""):
        raise BespokeError(f"invalid top module name {top!r}: expected a plain Verilog identifier")


def synth_cells(verilog_files: list[Path], top: str, lib: liberty.Library, timeout: float = 1800,
                keep_dir: Path | None = None, hierarchical: bool = False) -> SynthResult:
    """Map the design to the cells of `lib`; returns the flat mapped netlist and Yosys' statistics.

    hierarchical: every module is optimised and mapped on its own and the mapped design flattened
    only at the end, so each cell's name starts with the instance path of the module it came from
    (`u_MatMul.$abc$...`) and the nets between modules keep their names: the per-layer breakdown
    (targets.layers). Logic is not optimised across module boundaries, so its area can be a little
    larger than the flat synthesis'."""
    check_top(top)
    with tempfile.TemporaryDirectory(prefix="bespoke-synth-") as tmp:
        work = Path(keep_dir) if keep_dir else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        genlib = work / "cells.genlib"
        genlib.write_text(liberty.genlib_text(lib))
        abc_script = work / "area.abc"
        abc_script.write_text(ABC_AREA_SCRIPT.replace("; ", "\n") + "\n")
        libpath = yosys.quote(lib.path.resolve())
        cmds = read_commands(verilog_files, top) + [
            f"synth -top {top} -noabc" if hierarchical else f"synth -top {top} -flatten -noabc",
            f"dfflibmap -liberty {libpath}",
            "opt -fast",
            f"abc -genlib {genlib.name} -script {abc_script.name}",
        ]
        (work / "const_map.v").write_text(liberty.constant_techmap())
        cmds.append("techmap -map const_map.v")
        if lib.buffer() is None:
            (work / "buffer_map.v").write_text(liberty.buffer_techmap(lib))
            cmds.append("techmap -map buffer_map.v")
        # hierarchical: flatten the mapped modules; opt_clean without -purge keeps the names of the nets between them
        cmds += ["flatten -noscopeinfo", "setundef -zero", "opt_clean"] if hierarchical else ["setundef -zero", "opt_clean -purge"]
        cmds += [
            f"read_liberty -lib {libpath}",
            "check -assert",
            f"tee -q -o stat.json stat -json -liberty {libpath}",
            "write_json mapped.json",
        ]
        t0 = time.perf_counter()
        log = yosys.run(cmds, work, timeout)
        seconds = time.perf_counter() - t0
        netlist = json.loads((work / "mapped.json").read_text())
        stat = top_stat(json.loads((work / "stat.json").read_text()), top)
        script = "\n".join(c.replace(str(lib.path.resolve()), lib.path.name) for c in cmds)
        script = "\n".join(strip_paths(line) for line in script.splitlines())
        return SynthResult(netlist, stat, script, ABC_AREA_SCRIPT, seconds, "\n".join(log.splitlines()[-20:]))


def strip_paths(line: str) -> str:
    """Show read_verilog arguments as file names so reports do not depend on where files live."""
    if line.startswith("read_verilog"):
        path = line.split(" ", 2)[-1].strip('"')
        return f"read_verilog -sv {Path(path).name}"
    return line


FPGA_SYNTH = {
    "ice40": "synth_ice40 -top {top} -dsp",
    "xilinx7": "synth_xilinx -top {top} -family xc7 -flatten",
    "ecp5": "synth_ecp5 -top {top}",
}


def synth_fpga(verilog_files: list[Path], top: str, family: str, timeout: float = 1800,
               keep_dir: Path | None = None) -> SynthResult:
    """Run Yosys' synth_<family> script; the mapped netlist JSON feeds place-and-route."""
    check_top(top)
    with tempfile.TemporaryDirectory(prefix="bespoke-fpga-") as tmp:
        work = Path(keep_dir) if keep_dir else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        cmds = read_commands(verilog_files, top) + [
            FPGA_SYNTH[family].format(top=top),
            "tee -q -o stat.json stat -json",
            "write_json mapped.json",
        ]
        t0 = time.perf_counter()
        yosys.run(cmds, work, timeout)
        seconds = time.perf_counter() - t0
        netlist = json.loads((work / "mapped.json").read_text())
        stat = top_stat(json.loads((work / "stat.json").read_text()), top)
        script = "\n".join(strip_paths(c) for c in cmds)
        return SynthResult(netlist, stat, script, None, seconds)
