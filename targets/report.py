"""Area, power and timing reports: `make_report`, `write_report`, `format_table`.

The report is a plain dict with a versioned schema (targets/REPORT_SCHEMA.md); `write_report`
saves it as report.<target>.json (stable: the same inputs give the same bytes), report.<target>.md
and report.<target>.html (targets.report_html).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bespoke.compiler.errors import BespokeError
from bespoke.targets import fpga, layers as layer_breakdown, liberty, netlist, power, synth, timing, yosys
from bespoke.targets.html_page import write_atomically
from bespoke.targets.report_format import area_unit, fixed, format_area, format_si, utilisation_text  # noqa: F401 (format_si, fixed: re-exported)
from bespoke.targets.report_html import report_html

SCHEMA = "bespoke-report"
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Target:
    name: str
    kind: str  # "cells" (standard cells: printed or silicon) or "fpga"
    description: str
    default_clock_hz: float | None
    library: str | None = None  # key of targets/libs/<key>.lib
    family: str | None = None  # FPGA family for synth_<family>
    printed: bool = False


TARGETS = {
    "egfet": Target("egfet", "cells", "printed electronics, EGFET 1.0 V", 5.0, library="egfet", printed=True),
    "sky130hd": Target("sky130hd", "cells", "silicon, SkyWater 130 nm sky130_fd_sc_hd, tt 1.8 V", 50e6,
                       library="sky130hd"),
    "nangate45": Target("nangate45", "cells", "silicon, NanGate FreePDK45, typical 1.1 V", 100e6,
                        library="nangate45"),
    "tlg": Target("tlg", "tlg", "threshold-gate cells (targets/libs/tlg_ftl40.json, derived from FTL 40 nm ratios) "
                  "over nangate45 for the other cells; the in-memory cost model, no synthesis", 100e6, library="nangate45"),
    "ice40": Target("ice40", "fpga", "FPGA, Lattice iCE40 (UP5K for place-and-route)", None, family="ice40"),
    "xilinx7": Target("xilinx7", "fpga", "FPGA, Xilinx 7-series", None, family="xilinx7"),
    "ecp5": Target("ecp5", "fpga", "FPGA, Lattice ECP5", None, family="ecp5"),
}

PRINTED_BATTERY_W = 30e-3  # printed batteries supply under 30 mW
SYNTH_TIMEOUT_S = 1800  # per Yosys / nextpnr run; `bespoke report --timeout` changes it

TIMING_MODEL = ("levelised longest path on the mapped netlist; one table-point delay per cell output "
                "(load-independent), ideal wires; paths from inputs and flip-flop outputs to outputs and "
                "flip-flop inputs (+ setup)")
POWER_MODEL = ("leakage: sum of cell leakage; dynamic: toggles of every net from a zero-delay simulation of "
               "the mapped netlist, times (driver internal energy + 1/2 C V^2 of the net's pin load), clock "
               "nets twice per cycle plus flip-flop clock-pin energy; one input vector per clock cycle (ready/valid "
               "designs: one per `latency` cycles)")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("bespoke")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"


def _say(verbose: bool, msg: str) -> None:
    if verbose:
        print(f"[report] {msg}", file=sys.stderr, flush=True)


def _design_section(verilog_files: list[Path], top: str, ports_in: dict, ports_out: dict, sequential: bool,
                    layout: dict | None) -> dict:
    h = hashlib.sha256()
    for f in verilog_files:
        h.update(Path(f).read_bytes())
    return {"top": top, "sources": [Path(f).name for f in verilog_files], "sha256": h.hexdigest(),
            "inputs": ports_in, "outputs": ports_out, "sequential": sequential, "layout": layout}


def _check_layout(nl: netlist.Netlist, layout: dict) -> None:
    want = {"x": layout["n_in"] * layout["in_width"], "y": layout["n_out"] * layout["out_width"]}
    have = {**{p: len(n) for p, n in nl.inputs.items()}, **{p: len(n) for p, n in nl.outputs.items()}}
    for port, width in want.items():
        if have.get(port) != width:
            raise BespokeError(f"the design's port {port!r} is {have.get(port, 'missing')} bits but the layout "
                               f"says {width} (n_in/in_width or n_out/out_width)")
    if bool(layout.get("pipelined")) != nl.sequential:
        raise BespokeError(f"layout says pipelined={bool(layout.get('pipelined'))} but the design "
                           f"{'has' if nl.sequential else 'has no'} flip-flops")


def make_report(verilog_files: list[Path], top: str, target: str, clock_hz: float | None = None,
                vectors: np.ndarray | dict | None = None, layout: dict | None = None, verbose: bool = False,
                timeout: float = SYNTH_TIMEOUT_S, netlist=None, tlg_library=None, layers: bool = False) -> dict:
    """Synthesise `top` for `target` and estimate area, timing and (standard cells) power.

    vectors: compiled designs (with `layout`): (N, n_in) integer input codes, one inference each.
    Other designs: (N, k) integers, one column per data input port in declaration order, or a dict
    port -> (N,) integers; one row per clock cycle. None: random vectors (stated in the report).
    timeout: seconds each Yosys or nextpnr run may take before the report fails.
    netlist: the design's hdl netlist, which target "tlg" prices with the cost model
    (targets.estimate, threshold-gate cells from `tlg_library`) instead of synthesising.
    layers: (standard cells) also break area, power and the critical path down by layer, from a second,
    hierarchical synthesis (targets.layers); the report's `layers` section, else null.
    """
    if target not in TARGETS:
        raise BespokeError(f"unknown target {target!r}; supported: {', '.join(TARGETS)}")
    if clock_hz is not None and not clock_hz > 0:
        raise BespokeError(f"clock must be a positive frequency, got {clock_hz}")
    verilog_files = [Path(f) for f in verilog_files]
    tgt = TARGETS[target]
    t0 = time.perf_counter()
    if tgt.kind == "tlg":
        rep = _tlg_report(verilog_files, top, tgt, clock_hz, vectors, layout, netlist, tlg_library)
    elif tgt.kind == "fpga":
        rep = _fpga_report(verilog_files, top, tgt, clock_hz, layout, verbose, timeout)
    else:
        rep = _cells_report(verilog_files, top, tgt, clock_hz, vectors, layout, verbose, timeout, layers)
    rep.setdefault("layers", None)
    rep["accuracy"] = None  # the driver fills it in: only it can run the model
    rep["runtime_s"]["total"] = time.perf_counter() - t0
    return rep


def _header(tgt: Target, clock_hz: float | None) -> dict:
    return {"schema": SCHEMA, "schema_version": SCHEMA_VERSION,
            "generator": {"bespoke": _version(), "yosys": yosys.version()},
            "target": {"name": tgt.name, "kind": tgt.kind, "description": tgt.description, "printed": tgt.printed,
                       "clock_hz": clock_hz if clock_hz is not None else tgt.default_clock_hz,
                       "clock_source": "given" if clock_hz is not None else
                       ("default" if tgt.default_clock_hz else "none")}}


def _cells_report(verilog_files, top, tgt: Target, clock_hz, vectors, layout, verbose, timeout, layers=False) -> dict:
    lib = liberty.load(tgt.library)
    rep = _header(tgt, clock_hz)
    clock = rep["target"]["clock_hz"]
    rep["target"].update({"library": lib.name, "library_file": lib.path.name, "library_source": lib.header,
                          "voltage_v": lib.voltage})
    _say(verbose, f"synthesising {top} for {tgt.name} with Yosys + ABC ({lib.path.name})")
    res = synth.synth_cells(verilog_files, top, lib, timeout)
    _say(verbose, f"synthesis done in {res.seconds:.1f} s; Yosys script:\n{res.script}\nABC script: {res.abc_script}")
    t1 = time.perf_counter()
    nl = netlist.from_yosys(res.netlist, top, lib)
    if layout is not None:
        _check_layout(nl, layout)
    warnings, notes = [], []

    # area
    hist = {}
    for inst in nl.instances:
        h = hist.setdefault(inst.type, {"count": 0, "area_um2": 0.0})
        h["count"] += 1
        h["area_um2"] += lib.cells[inst.type].area
    area = sum(h["area_um2"] for h in hist.values())
    if abs(area - float(res.stat.get("area", area))) > 1e-6 * max(1.0, area):
        raise RuntimeError(f"area mismatch: ours {area} vs Yosys stat {res.stat.get('area')}")
    flops = len(nl.flops)
    nand2 = lib.nand2()
    transistors = [lib.cells[i.type].transistors for i in nl.instances]
    rep["design"] = _design_section(verilog_files, top, {p: len(n) for p, n in nl.inputs.items()},
                                    {p: len(n) for p, n in nl.outputs.items()}, nl.sequential, layout)
    rep["synthesis"] = {"tool": f"{yosys.version()} with ABC, via pyosys", "script": res.script,
                        "abc_script": res.abc_script}
    rep["area"] = {
        "um2": area, "mm2": area * 1e-6, "cm2": area * 1e-8,
        "sequential_um2": sum(lib.cells[nl.instances[i].type].area for i in nl.flops),
        "cells": len(nl.instances), "gates": len(nl.instances) - flops, "flip_flops": flops,
        "nand2_equivalents": area / nand2.area if nand2 else None,
        "transistors": sum(transistors) if None not in transistors else None,
        "histogram": {k: {"count": v["count"], "area_um2": v["area_um2"]} for k, v in sorted(hist.items())},
    }

    # timing
    _say(verbose, "timing")
    tr = timing.analyse(nl)
    rep["timing"] = {"critical_path_s": tr.critical_path_s, "max_clock_hz": tr.max_clock_hz,
                     "logic_depth": tr.logic_depth, "startpoint": tr.startpoint, "endpoint": tr.endpoint,
                     "path": tr.path, "method": TIMING_MODEL}
    if tr.max_clock_hz is not None and clock > tr.max_clock_hz:
        warnings.append(f"clock {format_si(clock, 'Hz')} is faster than the maximum "
                        f"{format_si(tr.max_clock_hz, 'Hz')} (critical path {format_si(tr.critical_path_s, 's')})")

    # power
    stim = _stimulus(nl, layout, vectors)
    _say(verbose, f"simulating {stim.inferences} vectors on {len(nl.instances)} cells for switching activity")
    pr = power.analyse(nl, stim, clock)
    cpi = stim.cycles_per_inference
    rep["power"] = {
        "clock_hz": clock, "leakage_w": pr.leakage_w, "dynamic_w": pr.dynamic_w, "total_w": pr.total_w,
        "energy_per_inference_j": pr.total_w * cpi / clock,
        "dynamic_energy_per_inference_j": pr.energy_per_cycle_j * cpi,
        "cycles_per_inference": cpi, "inferences_per_s": clock / cpi,
        "activity": {"source": stim.source, "vectors": stim.inferences, "cycles": pr.cycles,
                     "mean_toggle_rate": pr.mean_toggle_rate, "clock_share": pr.clock_share, "note": stim.note,
                     "histogram": power.activity_histogram(pr)},
        "method": POWER_MODEL,
    }
    if stim.source == "random" or stim.capped:
        notes.append(stim.note)
    if tgt.printed:
        ok = pr.total_w < PRINTED_BATTERY_W
        notes.append(f"{'within' if ok else 'above'} the {PRINTED_BATTERY_W * 1e3:.0f} mW a printed battery "
                     f"supplies ({format_si(pr.total_w, 'W')} total)")
    rep["fpga"] = None
    rep["warnings"], rep["notes"] = warnings, notes
    rep["runtime_s"] = {"synthesis": res.seconds, "analysis": time.perf_counter() - t1}
    if layers:
        _say(verbose, "per-layer breakdown: synthesis with the hierarchy kept")
        t2 = time.perf_counter()
        rep["layers"] = layer_breakdown.breakdown(verilog_files, top, lib, lambda h: _stimulus(h, layout, vectors),
                                                  clock, timeout, area, tr.critical_path_s if tr.path else None)
        rep["runtime_s"]["layers"] = time.perf_counter() - t2
    return rep


def _stimulus(nl: netlist.Netlist, layout: dict | None, vectors) -> power.Stimulus:
    """The power simulation's input cycles: a compiled design's codes by its layout, else per port."""
    if layout is not None and not isinstance(vectors, dict):
        return power.layout_stimulus(nl, layout, vectors)
    if isinstance(vectors, dict):
        ports = list(nl.data_inputs())
        missing = [p for p in ports if p not in vectors]
        extra = [p for p in vectors if p not in ports]
        if missing or extra:
            raise BespokeError(f"input data columns must be the data input ports {', '.join(ports)}"
                               + (f"; missing {', '.join(missing)}" if missing else "")
                               + (f"; unknown {', '.join(extra)}" if extra else ""))
        vectors = np.stack([np.asarray(vectors[p]) for p in ports], axis=1)
    return power.port_stimulus(nl, vectors)


def _tlg_report(verilog_files, top, tgt: Target, clock_hz, vectors, layout, nl, tlg_library) -> dict:
    """The cost model's figures of the netlist on the threshold-gate target (see targets.tlg_cells)."""
    from bespoke.targets.estimate import estimate
    from bespoke.targets.tlg_cells import load_cells

    if nl is None:
        raise BespokeError("the tlg target prices a compiled design's netlist; give the output directory of "
                           "`bespoke compile` (not a Verilog file)")
    t0 = time.perf_counter()
    cells = load_cells(tlg_library)
    rep = _header(tgt, clock_hz)
    clock = rep["target"]["clock_hz"]
    rep["target"].update({"library": cells.name, "library_file": Path(cells.path).name, "library_source": cells.source,
                          "voltage_v": None})
    codes = None if vectors is None or isinstance(vectors, dict) else np.asarray(vectors)
    est = estimate(nl, "tlg", codes, clock_hz=clock, tlg_library=tlg_library)
    counts = nl.count()
    tlg_gates = sum(1 for c in nl.cells if c.kind == "tlg")
    regs = sum(1 for c in nl.cells if c.kind == "reg")
    rep["design"] = _design_section(verilog_files, top, {p: len(n) for p, n in nl.inputs.items()},
                                    {p: len(n) for p, n in nl.outputs.items()}, nl.is_clocked(), layout)
    rep["synthesis"] = {"tool": "none: bespoke's in-memory cost model (targets.estimate) on the netlist; threshold "
                        "gates from the cell description, other cells from nangate45 primitives", "script": "",
                        "abc_script": None}
    rep["area"] = {"um2": est.area_um2, "mm2": est.area_um2 * 1e-6, "cm2": est.area_um2 * 1e-8, "sequential_um2": None,
                   "cells": int(round(est.total.cells)), "gates": int(round(est.total.cells)), "flip_flops": regs,
                   "nand2_equivalents": None, "transistors": None, "threshold_gates": tlg_gates,
                   # per netlist kind: cells, and area before the base target's calibration factors
                   "histogram": {k: {"count": v, "area_um2": est.by_kind.get(k, 0.0)} for k, v in sorted(counts.items())}}
    crit = est.total.critical_path_s
    rep["timing"] = {"critical_path_s": crit, "max_clock_hz": 1 / crit if crit else None, "logic_depth": None,
                     "startpoint": None, "endpoint": None, "path": [],
                     "method": "cost-model arrival times: threshold gates at their cell delay, other cells as nangate45 primitives"}
    rep["power"] = {"clock_hz": clock, "leakage_w": est.total.leakage_w, "dynamic_w": est.total.dynamic_w,
                    "total_w": est.total_w, "energy_per_inference_j": est.energy_per_inference_j,
                    "dynamic_energy_per_inference_j": est.total.dynamic_w / clock, "cycles_per_inference": 1,
                    "inferences_per_s": clock,
                    "activity": {"source": "vectors" if codes is not None else "default", "vectors": 0 if codes is None else len(codes),
                                 "cycles": 0 if codes is None else len(codes), "mean_toggle_rate": 0.0, "clock_share": 0.0,
                                 "note": est.activity},
                    "method": "threshold gates: the cell's energy per evaluation every cycle; other cells: toggles from the "
                              "netlist interpreter times nangate45 primitive energies (targets.estimate)"}
    rep["per_layer"] = {g: {"area_um2": p.area_um2, "energy_per_inference_j": (p.leakage_w + p.dynamic_w) / clock}
                        for g, p in est.groups.items()}
    rep["fpga"] = None
    rep["warnings"] = []
    rep["notes"] = [f"threshold-gate figures: {cells.source}"]
    rep["runtime_s"] = {"analysis": time.perf_counter() - t0}
    return rep


def _fpga_report(verilog_files, top, tgt: Target, clock_hz, layout, verbose, timeout) -> dict:
    rep = _header(tgt, clock_hz)
    rep["target"].update({"device": fpga.DEVICE[tgt.family]})
    _say(verbose, f"synthesising {top} with synth_{tgt.family}")
    res = fpga.synthesise(verilog_files, top, tgt.family, timeout)
    _say(verbose, f"synthesis done in {res.seconds:.1f} s; Yosys script:\n{res.script}")
    warnings, notes = [], []
    counts = fpga.resources(res.stat, tgt.family)
    ports = res.extra["ports"]
    rep["design"] = _design_section(verilog_files, top, ports["inputs"], ports["outputs"],
                                    counts["by_category"]["ff"] > 0, layout)
    rep["synthesis"] = {"tool": f"{yosys.version()} synth_{tgt.family}, via pyosys", "script": res.script,
                        "abc_script": None}
    rep["area"] = None
    section = {"family": tgt.family, "device": fpga.DEVICE[tgt.family], "resources": counts["by_category"],
               "cells_by_type": counts["by_type"], "fits": None, "fmax_hz": None, "place_and_route": None,
               "capacity": dict(fpga.UP5K) if tgt.family == "ice40" else None}
    rep["timing"] = {"critical_path_s": None, "max_clock_hz": None, "logic_depth": None, "startpoint": None,
                     "endpoint": None, "path": [], "method": "not measured for this family (no open "
                     "place-and-route installed by pip); resource counts only"}
    seconds_pnr = 0.0
    if tgt.family == "ice40":
        misfit = fpga.up5k_misfit(counts["by_category"])
        section["fits"] = misfit is None
        if misfit:
            warnings.append(f"{misfit}; no place-and-route, no Fmax")
            rep["timing"]["method"] = f"not measured: {misfit}"
        else:
            _say(verbose, "place and route on an iCE40 UP5K with nextpnr-ice40")
            pnr = fpga.place_and_route(res, timeout)
            seconds_pnr = pnr["seconds"]
            section["fmax_hz"] = pnr["fmax_hz"]
            section["place_and_route"] = {"tool": "nextpnr-ice40 (yowasp), --up5k --package sg48, seed 1",
                                          "wrapper": fpga.WRAPPER_NOTE,
                                          "utilisation": pnr.get("wrapped_utilisation"),
                                          "error": pnr.get("error")}
            if pnr["fmax_hz"]:
                rep["timing"].update({"critical_path_s": 1 / pnr["fmax_hz"], "max_clock_hz": pnr["fmax_hz"],
                                      "method": "nextpnr-ice40 place-and-route timing analysis (register to "
                                                "register through the design, in a serial I/O wrapper)"})
            else:
                warnings.append(f"no Fmax: {pnr.get('error')}")
    clock = rep["target"]["clock_hz"]
    if clock and section["fmax_hz"] and clock > section["fmax_hz"]:
        warnings.append(f"clock {format_si(clock, 'Hz')} is faster than Fmax {format_si(section['fmax_hz'], 'Hz')}")
    rep["power"] = None
    notes.append("power is not estimated for FPGA targets")
    rep["fpga"] = section
    rep["warnings"], rep["notes"] = warnings, notes
    rep["runtime_s"] = {"synthesis": res.seconds, "place_and_route": seconds_pnr}
    return rep


# --------------------------------------------------------------------------- output

def _summary_rows(rep: dict) -> list[tuple[str, str]]:
    printed = TARGETS[rep["target"]["name"]].printed
    rows = [("design", f"{rep['design']['top']} ({'sequential' if rep['design']['sequential'] else 'combinational'})"),
            ("target", f"{rep['target']['name']}: {rep['target']['description']}")]
    if rep["area"]:
        a = rep["area"]
        rows.append(("area", format_area(a, printed)))
        tr = f", ~{a['transistors']:,} transistors" if a["transistors"] else ""
        rows.append(("cells", f"{a['cells']:,} ({a['gates']:,} gates, {a['flip_flops']:,} flip-flops{tr})"))
    t = rep["timing"]
    if t["critical_path_s"] is not None:
        rows.append(("critical path", f"{format_si(t['critical_path_s'], 's')}"
                     + (f", {t['logic_depth']} gates deep" if t.get("logic_depth") else "")))
    rows.append(("max clock", format_si(t["max_clock_hz"], "Hz")))
    if rep["fpga"]:
        r = rep["fpga"]["resources"]
        rows.append(("resources", ", ".join(f"{v:,} {k.upper()}" for k, v in r.items() if v)))
        util = utilisation_text(rep["fpga"])
        if util:
            rows.append(("utilisation", f"{rep['fpga']['device']}: {util}"))
        if rep["fpga"].get("fits") is not None:
            rows.append(("fits", "yes" if rep["fpga"]["fits"] else "no"))
    if rep["power"]:
        p = rep["power"]
        rows.append(("clock", format_si(p["clock_hz"], "Hz")))
        rows.append(("power", f"{format_si(p['total_w'], 'W')} total = leakage {format_si(p['leakage_w'], 'W')}"
                     f" + dynamic {format_si(p['dynamic_w'], 'W')}"))
        rows.append(("energy", f"{format_si(p['energy_per_inference_j'], 'J')} per inference "
                     f"(dynamic {format_si(p['dynamic_energy_per_inference_j'], 'J')})"))
        cpi = p.get("cycles_per_inference", 1)
        if cpi != 1:
            rows.append(("throughput", f"{format_si(p['inferences_per_s'], 'inferences/s')} "
                         f"({cpi} cycles per inference)"))
        rows.append(("activity", f"{p['activity']['source']}, {p['activity']['vectors']} vectors, "
                     f"{p['activity']['mean_toggle_rate']:.3f} toggles per net per cycle"))
    return rows


def format_table(report: dict) -> str:
    """A short terminal table."""
    rows = _summary_rows(report)
    w = max(len(k) for k, _ in rows)
    lines = [f"  {k:<{w}}  {v}" for k, v in rows]
    lines += [f"  warning: {m}" for m in report["warnings"]]
    lines += [f"  note: {m}" for m in report["notes"]]
    return "\n".join(lines)


def to_markdown(rep: dict) -> str:
    out = [f"# bespoke report: {rep['design']['top']} on {rep['target']['name']}", "",
           f"Schema {rep['schema']} v{rep['schema_version']}; bespoke {rep['generator']['bespoke']}, "
           f"{rep['generator']['yosys']}.", "", "| | |", "|---|---|"]
    out += [f"| {k} | {v} |" for k, v in _summary_rows(rep)]
    out.append("")
    if rep["warnings"] or rep["notes"]:
        out += [f"- **warning:** {m}" for m in rep["warnings"]] + [f"- {m}" for m in rep["notes"]] + [""]
    if rep["area"]:
        scale, unit = area_unit(TARGETS[rep["target"]["name"]].printed, rep["area"]["um2"])
        out += ["## Cells", "", f"| cell | count | area {unit} |", "|---|---:|---:|"]
        out += [f"| {k} | {v['count']:,} | {fixed(v['area_um2'] / scale)} |" for k, v in rep["area"]["histogram"].items()]
        out.append("")
    if rep.get("layers"):
        lay = rep["layers"]
        scale, unit = area_unit(TARGETS[rep["target"]["name"]].printed, lay["area_um2"])
        out += ["## Layers", "", "From " + lay["method"] + f"; total {fixed(lay['area_um2'] / scale)} {unit} "
                f"(flat synthesis {fixed(lay['flat_area_um2'] / scale)} {unit}).", "",
                f"| layer | cells | area {unit} | leakage | dynamic |", "|---|---:|---:|---:|---:|"]
        out += [f"| {p['name']} | {p['cells']:,} | {fixed(p['area_um2'] / scale)} | {format_si(p['leakage_w'], 'W')} | "
                f"{format_si(p['dynamic_w'], 'W')} |" for p in lay["parts"]]
        out.append("")
        if lay["critical_path"]:
            out += [f"Critical path of this synthesis ({format_si(lay['critical_path_s'], 's')}) by layer:", "",
                    "| layer | cells | from | to | leaves on |", "|---|---:|---:|---:|---|"]
            out += [f"| {g['layer']} | {g['cells']} | {format_si(g['start_s'], 's')} | {format_si(g['end_s'], 's')} | "
                    f"{('`' + g['exit_net'] + '`') if g['exit_net'] else ''}{(' (' + g['neuron'] + ')') if g['neuron'] else ''} |"
                    for g in lay["critical_path"]]
            out.append("")
    if rep.get("accuracy"):
        acc = rep["accuracy"]
        out += ["## Accuracy", "", f"Hardware {100 * acc['hardware']:.2f} %, float model {100 * acc['float']:.2f} % "
                f"on {acc['vectors']:,} labelled vectors ({acc['source']}).", ""]
    if rep["fpga"]:
        out += ["## FPGA cells", "", "| cell | count |", "|---|---:|"]
        out += [f"| {k} | {v:,} |" for k, v in rep["fpga"]["cells_by_type"].items()] + [""]
        pnr = rep["fpga"]["place_and_route"]
        if pnr:
            out += [f"Place and route: {pnr['tool']}. {pnr['wrapper']}", ""]
    t = rep["timing"]
    out += ["## Timing", "", t["method"] + ".", ""]
    if t["path"]:
        out += [f"Critical path from {t['startpoint']} to {t['endpoint']}:", "",
                "| # | instance | cell | arrival |", "|---:|---|---|---:|"]
        out += [f"| {k} | `{p['instance']}` | {p['cell']} | {format_si(p['arrival_s'], 's')} |"
                for k, p in enumerate(t["path"])]
        out.append("")
    if rep["power"]:
        p = rep["power"]
        out += ["## Power", "", p["method"] + ".", "", f"Activity: {p['activity']['note']}.", ""]
    out += ["## Synthesis", "", rep["synthesis"]["tool"] + ".", "", "```", rep["synthesis"]["script"], "```", ""]
    if rep["synthesis"]["abc_script"]:
        out += ["ABC script:", "", "```", rep["synthesis"]["abc_script"], "```", ""]
    if rep["target"].get("library_source"):
        out += ["## Cell library", "", "```", rep["target"]["library_source"], "```", ""]
    return "\n".join(out)


def _stable(rep: dict) -> dict:
    """The persisted report: run times vary from run to run, so they stay out of the files."""
    return {k: v for k, v in rep.items() if k != "runtime_s"}


def report_files(target: str) -> dict[str, str]:
    """The file names of a report on `target`: one set per target, so reports on several targets
    of one design sit side by side (report.egfet.json, report.egfet.md, report.egfet.html)."""
    return {kind: f"report.{target}.{kind}" for kind in ("json", "md", "html")}


def write_report(out_dir: Path | str, report: dict) -> dict[str, Path]:
    """report.<target>.json, .md and .html in `out_dir`, each written whole (temporary file, then
    renamed); returns {"json": path, "md": path, "html": path}."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stable = _stable(report)
    texts = {"json": json.dumps(stable, indent=1, sort_keys=True) + "\n", "md": to_markdown(stable),
             "html": report_html(stable)}
    names = report_files(report["target"]["name"])
    return write_atomically(out, {kind: (names[kind], texts[kind]) for kind in texts})
