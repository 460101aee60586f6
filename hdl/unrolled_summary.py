"""Per-layer hardware figures of an unrolled netlist, as hdl.lower.summary gives them.

Cell counts come from the netlist itself: word adders (add/sub), comparators (cmp), the muxes
that are not a comparator's select (a relu's sign mux; requant clips, argmax and max-pool muxes
go with their comparators), full and half adders, two-input-equivalent gates on the layer's
input bits (OR/AND neurons, OR pools; the rounding glue and the ge form's final OR of carries
belong to their units), register bits, widths. Weight statistics (nonzero weights, CSD digits,
XNOR bits) and requant's product width are properties of the plan, read from the IR.
"""

from __future__ import annotations

import numpy as np

from bespoke.compiler.ir import IR, Conv2d, Dense, Requant, XnorPopcount, bits_for_range
from bespoke.hdl.adder_tree import widest_adder
from bespoke.hdl.conv import conv_rows
from bespoke.hdl.csd import csd
from bespoke.hdl.netlist import Netlist, gc_paused, ints
from bespoke.hdl.requant_plan import plan_element
from bespoke.hdl.stages import binary_rows, fused_accumulator
from bespoke.hdl.xnor_plan import plan_neuron

TOTALS = ("adders", "comparators", "muxes", "nonzero_weights", "csd_digits", "xnor_bits", "full_adders", "half_adders",
          "gates", "register_bits")
# the figures each kind of stage reports (hdl.lower.summary's per-component stats)
FIGURES = {
    "dense": ("adders", "nonzero_weights", "csd_digits", "acc_width"),
    "relu": ("muxes",),
    "requant": ("adders", "comparators", "acc_width"),
    "argmax": ("comparators",),
    "xnor": ("xnor_bits", "full_adders", "half_adders", "gates", "adders"),
    "threshold": ("comparators",),
    "maxpool2d": ("gates", "comparators"),
}


def width(lo: int, hi: int) -> int:
    return bits_for_range(lo, hi)[0]


def stage_kind(ir: IR, n: str) -> str:
    layer = ir.layer(fused_accumulator(ir, n) or n)
    if isinstance(layer, XnorPopcount) or isinstance(layer, Conv2d) and layer.binary:
        return "xnor"
    return "dense" if isinstance(layer, (Dense, Conv2d)) else layer.op


@gc_paused()
def netlist_summary(nl: Netlist, ir: IR) -> dict:
    """hdl.lower.summary's figures for the netlist `plan_unrolled(ir, registers)` built."""
    cells: dict[str, list] = {}
    for c in nl.cells:
        cells.setdefault(c.group, []).append(c)
    driver = {o: c for c in nl.cells for o in c.outs if o is not None}
    layers, totals = [], dict.fromkeys(TOTALS, 0)
    for n, info in nl.meta["layers"].items():
        group, kind = cells.get(n, []), stage_kind(ir, n)
        out = info["out"]
        figures = cell_figures(nl, group, driver, set(nl_inputs(nl, info, group)))
        figures |= plan_figures(ir, n, nl, out)
        kind = stage_kind(ir, n)
        # an argmax's index is typed for every class, though the ranges may rule some winners out
        out_lo, out_hi = (0, len(nl_inputs_of(nl, info)) - 1) if kind == "argmax" else (min(nl.lo[o] for o in out), max(nl.hi[o] for o in out))
        row = {"name": n, "op": info["op"], "out_width": width(out_lo, out_hi)}
        row |= {key: figures[key] for key in FIGURES[kind]}
        if "shared_sums" in info:
            row["shared_sums"] = info["shared_sums"]
        if info["registered"]:
            row["register_bits"] = figures["register_bits"]
        for key in totals:
            totals[key] += row.get(key, 0)
        layers.append(row)
    latency = nl.meta["latency"]
    totals["register_bits"] += latency  # the valid chain
    totals["acc_width"] = max((row.get("acc_width", 0) for row in layers), default=0)
    return {"layers": layers, "total": totals, "pipelined": nl.meta["pipelined"], "latency": latency, "arch": "unrolled"}


def nl_inputs_of(nl: Netlist, info: dict) -> list[int]:
    """The nets a stage reads."""
    return nl.inputs["x"] if info["src"] not in nl.meta["layers"] else src_nets(nl, info["src"])


def nl_inputs(nl: Netlist, info: dict, group: list):
    """The layer's input bits and their inverses: where its datapath gates start."""
    yield from nl_inputs_of(nl, info)
    yield from (c.outs[0] for c in group if c.kind == "not")


def src_nets(nl: Netlist, node: str) -> list[int]:
    """The nets a stage's users read: its register outputs when registered, else its outputs."""
    regs = {c.neuron: c.outs[0] for c in nl.cells if c.group == node and c.kind == "reg"}
    return [regs.get(j, o) for j, o in enumerate(nl.meta["layers"][node]["out"])]


def cell_figures(nl: Netlist, group: list, driver: dict, input_bits: set) -> dict:
    count = lambda *kinds: sum(c.kind in kinds for c in group)
    words = [nl.type_of(c.outs[0])[0] for c in group if c.kind in ("add", "sub")]
    return {
        "adders": len(words),
        "comparators": count("cmp"),
        "muxes": sum(c.kind == "mux" and getattr(driver.get(c.ins[0]), "kind", None) != "cmp" for c in group),
        "full_adders": count("fa"),
        "half_adders": count("ha"),
        "gates": sum(len(c.ins) - 1 for c in group if c.kind in ("and", "or") and set(c.ins) <= input_bits),
        "register_bits": sum(nl.type_of(c.outs[0])[0] for c in group if c.kind == "reg"),
        "acc_width": max(words + [nl.type_of(o)[0] for o in nl.meta["layers"][group[0].group]["out"]] if group else words,
                         default=0),
    }


def plan_figures(ir: IR, n: str, nl: Netlist, out: list[int]) -> dict:
    """Weight statistics and requant's product width, from the IR."""
    acc = fused_accumulator(ir, n)
    layer = ir.layer(acc or n)
    src = ir.inputs_of(acc or n)[0]
    lo, hi = ints(ir.out(src).lo), ints(ir.out(src).hi)
    if stage_kind(ir, n) == "xnor":
        ts = [None] * len(out) if acc is None else ints(ir.layer(n).thresholds[:, 0])
        neurons = [plan_neuron(row, lo, hi, t) for row, t in zip(binary_rows(layer), ts)]
        return {"xnor_bits": sum(len(nr.bits) for nr in neurons if nr.kind != "const")}
    if isinstance(layer, (Dense, Conv2d)):
        weights = layer.weight.reshape(-1) if isinstance(layer, Dense) else np.array(
            [w for row in conv_rows(layer.weight, layer.in_shape, layer.stride) for _, w in row])
        return {"nonzero_weights": int(np.count_nonzero(weights)), "csd_digits": sum(len(csd(w)) for w in ints(weights))}
    if isinstance(layer, Requant):
        m, s, z = (ints(np.broadcast_to(a, (len(lo),))) for a in (layer.mult, layer.shift, layer.zero_point))
        plans = [plan_element(a, b, *args, layer.qmin, layer.qmax, layer.rounding) for a, b, *args in zip(lo, hi, m, s, z)]
        return {"acc_width": max([widest_adder(p.product) for p in plans if p.y[0] != p.y[1]], default=0)}
    return {}
