"""Per-layer breakdown of a standard-cell design: area, power and the critical path by layer.

The flat synthesis of the report (targets.synth) optimises across the whole design and leaves no
trace of which layer a cell came from: ABC renames every cell and net. The backends emit one module
per layer (`u_<layer>` instances in the top module: `u_MatMul`, `u_matmul_8`, ...), so the breakdown
synthesises the design a second time with its hierarchy kept (every module mapped on its own, then
flattened: targets.synth.synth_cells(hierarchical=True)); each cell is named after the instance it
came from and the nets between layers keep the backends' names (`l0_n1_7`: layer 0, neuron 1). The
totals of this synthesis are reported next to the flat ones: logic is not optimised across layer
boundaries, so they are usually a little larger.
"""

from __future__ import annotations

import re
from pathlib import Path

from bespoke.targets import netlist, power, synth, timing
from bespoke.targets.liberty import Library

METHOD = ("a second synthesis with the design's hierarchy kept (each layer module mapped by ABC on its own, then "
          "flattened): cells and switching energy summed per layer instance; the critical path of that netlist, "
          "cut where it crosses from one layer into the next")
GLUE = "(top)"  # cells of the top module itself: port wiring, the folded engine's glue
_INSTANCE = re.compile(r"^\$flatten\\([^.]+)\.")
_POINT = re.compile(r"\$flatten\\([^.]+)\.\S*?(?:\.[A-Z]+)?(?= \(|$)")  # a flattened flip-flop [and its pin]
# hdl writers: l<layer>_n<neuron>_<k> (a dense neuron's nets), l<layer>_y<neuron> (a layer's output), l<layer>_buf<k>
# (the folded engine's activation buffer)
_NEURON = re.compile(r"^l\d+_(n|y|buf)(\d+)(?![0-9])")


def instance_of(cell_name: str) -> str:
    """The top-level instance a flattened cell came from, GLUE for the top module's own cells."""
    m = _INSTANCE.match(cell_name)
    return m.group(1) if m else GLUE


def layer_name(instance: str) -> str:
    """The backends name a layer's instance u_<layer>."""
    return instance[2:] if instance.startswith("u_") else instance


def instance_order(verilog_files: list[Path], top: str, instances: set[str]) -> list[str]:
    """Instances in the order the top module declares them (the backends' layer order); the glue last."""
    text = ""
    for f in verilog_files:
        m = re.search(rf"^\s*module\s+{re.escape(top)}\b(.*?)^\s*endmodule", Path(f).read_text(errors="replace"),
                      flags=re.MULTILINE | re.DOTALL)
        text = m.group(1) if m else text
    pos = {i: (m.start() if (m := re.search(rf"\b{re.escape(i)}\s*\(", text)) else len(text)) for i in instances}
    return sorted(instances, key=lambda i: (i == GLUE, pos[i], i))


def neuron_of(net_name: str | None) -> str | None:
    """'neuron 1' for a net the backends named l0_n1_7 (or l1_y1_67), 'buffer element 16' for
    l0_buf16, else None."""
    m = _NEURON.match(net_name or "")
    if not m:
        return None
    return f"{'buffer element' if m.group(1) == 'buf' else 'neuron'} {m.group(2)}"


def breakdown(verilog_files: list[Path], top: str, lib: Library, stimulus, clock_hz: float, timeout: float,
              flat_area_um2: float, flat_critical_s: float | None) -> dict | None:
    """The `layers` section of a report (targets/REPORT_SCHEMA.md), None when the top module has fewer
    than two instances (nothing to break down). `stimulus(nl)` gives the power.Stimulus for a netlist."""
    res = synth.synth_cells(verilog_files, top, lib, timeout, hierarchical=True)
    nl = netlist.from_yosys(res.netlist, top, lib)
    owner = [instance_of(inst.name) for inst in nl.instances]
    if len(set(owner) - {GLUE}) < 2:
        return None
    order = instance_order(verilog_files, top, set(owner))
    pr = power.analyse(nl, stimulus(nl), clock_hz)
    energy = power.instance_energy(nl, pr)
    flops = set(nl.flops)
    parts = {i: {"name": layer_name(i) if i != GLUE else GLUE, "instance": i, "cells": 0, "flip_flops": 0,
                 "area_um2": 0.0, "leakage_w": 0.0, "dynamic_w": 0.0} for i in order}
    for k, inst in enumerate(nl.instances):
        cell, part = lib.cells[inst.type], parts[owner[k]]
        part["cells"] += 1
        part["flip_flops"] += k in flops
        part["area_um2"] += cell.area
        part["leakage_w"] += cell.leakage
        part["dynamic_w"] += float(energy[k]) * clock_hz
    tr = timing.analyse(nl)
    return {"method": METHOD, "area_um2": float(sum(p["area_um2"] for p in parts.values())),
            "flat_area_um2": flat_area_um2, "critical_path_s": tr.critical_path_s if tr.path else None,
            "flat_critical_path_s": flat_critical_s,
            "undriven_dynamic_w": float(pr.dynamic_w - energy.sum() * clock_hz),
            "parts": [parts[i] for i in order if parts[i]["cells"]],
            "critical_path": path_segments(tr, owner_by_name=dict(zip((i.name for i in nl.instances), owner))),
            "startpoint": readable(tr.startpoint) or None, "endpoint": readable(tr.endpoint) or None}


def readable(point: str) -> str:
    """A path end named after the layer it is in: '$flatten\\u_argmax.$auto$ff.cc:337:slice$28104.D
    (DFF_X1)' -> 'a flip-flop of argmax (DFF_X1)'; port names stay as they are."""
    return _POINT.sub(lambda m: f"a flip-flop of {layer_name(m.group(1))}", point or "")


def path_segments(tr: timing.TimingResult, owner_by_name: dict[str, str]) -> list[dict]:
    """The critical path cut into runs of cells of one layer: {layer, start_s, end_s, cells, exit_net,
    neuron}; exit_net is the name of the net the run ends on (the net into the next layer, or the
    endpoint), neuron the neuron that name says it belongs to."""
    segs: list[dict] = []
    prev_t = 0.0
    for step in tr.path:
        inst = owner_by_name[step["instance"]]
        name = layer_name(inst) if inst != GLUE else GLUE
        if not segs or segs[-1]["layer"] != name:
            segs.append({"layer": name, "start_s": prev_t, "end_s": prev_t, "cells": 0, "exit_net": None})
        seg = segs[-1]
        seg["cells"] += 1
        seg["end_s"] = step["arrival_s"]
        seg["exit_net"] = step.get("net")
        prev_t = step["arrival_s"]
    for seg in segs:
        seg["neuron"] = neuron_of(seg["exit_net"])
    return segs
