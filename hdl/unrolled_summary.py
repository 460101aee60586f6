"""Per-layer hardware figures of an unrolled netlist, as hdl.lower.summary gives them.

Cell counts come from the netlist itself: word adders (add/sub), comparators (cmp), the muxes
that are not a comparator's select (a relu's sign mux; requant clips, argmax and max-pool muxes
go with their comparators), full and half adders, two-input-equivalent gates on the layer's
input bits (OR/AND neurons, OR pools; the rounding glue and the ge form's final OR of carries
belong to their units), register bits, widths. Weight statistics (nonzero weights, CSD digits,
XNOR bits) and requant's product width are properties of the plan, read from the IR.
"""

from __future__ import annotations

from collections import Counter
from itertools import compress, groupby
from operator import attrgetter

import numpy as np

from bespoke.compiler.ir import IR, Conv2d, Dense, Requant, XnorPopcount, bits_for_range
from bespoke.hdl.adder_tree import widest_adder
from bespoke.hdl.csd import csd
from bespoke.hdl.netlist import Netlist, gc_paused, ints
from bespoke.hdl.requant_plan import plan_element
from bespoke.hdl.stages import binary_taps, fused_accumulator
from bespoke.hdl.xnor_plan import xnor_bits

TOTALS = ("adders", "comparators", "muxes", "nonzero_weights", "csd_digits", "xnor_bits", "full_adders", "half_adders",
          "gates", "register_bits")
# the figures each kind of stage reports (hdl.lower.summary's per-component stats)
# the cells the figures look at one by one; the others are only counted per kind
INSPECTED = frozenset(("add", "sub", "cmp", "mux", "and", "or", "not", "reg"))
COUNTED = ("cmp", "fa", "ha")  # the cells the figures only count
FIGURES = {
    "dense": ("adders", "nonzero_weights", "csd_digits", "acc_width"),
    "relu": ("muxes",),
    "requant": ("adders", "comparators", "acc_width"),
    "argmax": ("comparators",),
    "xnor": ("xnor_bits", "full_adders", "half_adders", "gates", "adders"),
    "threshold": ("comparators",),
    "maxpool2d": ("gates", "comparators"),
    "pad2d": (),  # wiring and constants
    "thermometer": ("comparators",),
    "logic_gates": ("gates", "inverters"),
    "group_sum": ("full_adders", "half_adders", "adders"),
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
    counts, cells = by_group(nl)
    cmp_outs = {c.outs[0] for group in cells.values() for c in group if c.kind == "cmp"}  # mux selects from a comparator
    regs = {g: {c.neuron: c.outs[0] for c in group if c.kind == "reg"} for g, group in cells.items()}
    layers, totals = [], dict.fromkeys(TOTALS, 0)
    for n, info in nl.meta["layers"].items():
        group, kind = cells.get(n, []), stage_kind(ir, n)
        out, inputs = info["out"], stage_inputs(nl, info, regs)
        input_bits = set(inputs) | {c.outs[0] for c in group if c.kind == "not"}
        figures = cell_figures(nl, info, counts.get(n, Counter()), group, cmp_outs, input_bits)  # a stage may be wiring only
        figures |= plan_figures(ir, n, nl, out)
        # an argmax's index is typed for every class, though the ranges may rule some winners out
        out_lo, out_hi = (0, len(inputs) - 1) if kind == "argmax" else (min(nl.lo[o] for o in out), max(nl.hi[o] for o in out))
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


def by_group(nl: Netlist) -> tuple[dict[str, Counter], dict[str, list]]:
    """Per group: how many cells it has of each COUNTED kind and in all ("cells"; counted in C),
    and its INSPECTED cells. A big netlist is mostly full adders, which need counting only; a
    stage's cells come in one run, mostly."""
    counts: dict[str, Counter] = {}
    cells: dict[str, list] = {}
    for group, run in groupby(nl.cells, key=attrgetter("group")):
        run = list(run)
        kinds = list(map(attrgetter("kind"), run))
        counts.setdefault(group, Counter()).update({kind: kinds.count(kind) for kind in COUNTED} | {"cells": len(kinds)})
        cells.setdefault(group, []).extend(compress(run, map(INSPECTED.__contains__, kinds)))
    return counts, cells


def stage_inputs(nl: Netlist, info: dict, regs: dict) -> list[int]:
    """The nets a stage reads: the input port, or its source's register outputs where registered,
    else its source's outputs."""
    if info["src"] not in nl.meta["layers"]:
        return nl.inputs["x"]
    src_regs = regs.get(info["src"], {})
    return [src_regs.get(j, o) for j, o in enumerate(nl.meta["layers"][info["src"]]["out"])]


def cell_figures(nl: Netlist, info: dict, counts: Counter, group: list, cmp_outs: set, input_bits: set) -> dict:
    """The figures counted on a stage's cells (`group`: its INSPECTED ones)."""
    words = widths(nl, [c.outs[0] for c in group if c.kind in ("add", "sub")])
    registers = widths(nl, [c.outs[0] for c in group if c.kind == "reg"])
    return {
        "adders": words.total(),
        "comparators": counts["cmp"],
        "muxes": sum(c.kind == "mux" and c.ins[0] not in cmp_outs for c in group),
        "full_adders": counts["fa"],
        "half_adders": counts["ha"],
        "gates": sum(len(c.ins) - 1 for c in group if c.kind in ("and", "or") and input_bits.issuperset(c.ins)),
        "register_bits": sum(w * k for w, k in registers.items()),
        "acc_width": max([*words, *widths(nl, info["out"])] if counts.get("cells") else words, default=0),
    }


def widths(nl: Netlist, nets: list[int]) -> Counter:
    """How many of `nets` have each width, worked out once per distinct range (bnn_cnn's first
    layer has 28k adders of a few dozen ranges)."""
    ranges = Counter(zip(map(nl.lo.__getitem__, nets), map(nl.hi.__getitem__, nets)))
    out = Counter()
    for (lo, hi), k in ranges.items():
        out[width(lo, hi)] += k
    return out


def plan_figures(ir: IR, n: str, nl: Netlist, out: list[int]) -> dict:
    """Weight statistics and requant's product width, from the IR."""
    acc = fused_accumulator(ir, n)
    layer = ir.layer(acc or n)
    src = ir.inputs_of(acc or n)[0]
    lo, hi = ints(ir.out(src).lo), ints(ir.out(src).hi)
    if stage_kind(ir, n) == "xnor":
        return {"xnor_bits": xnor_bits(*binary_taps(layer), lo, hi, None if acc is None else ints(ir.layer(n).thresholds[:, 0]))}
    if isinstance(layer, (Dense, Conv2d)):
        # a convolution's kernel is laid over every position; zero weights (dropped there) count nothing
        positions = 1 if isinstance(layer, Dense) else layer.out_size([]) // layer.weight.shape[0]
        weights, times = np.unique(layer.weight, return_counts=True)
        return {"nonzero_weights": positions * int(times[weights != 0].sum()),
                "csd_digits": positions * sum(k * len(csd(w)) for w, k in zip(ints(weights), ints(times)))}
    if layer.op == "logic_gates":  # every two-input gate cell (and, or, xor) and inverter of the layer
        kinds = Counter(c.kind for c in nl.cells if c.group == n)
        return {"gates": kinds["and"] + kinds["or"] + kinds["xor"], "inverters": kinds["not"]}
    if isinstance(layer, Requant):
        args = (ints(np.broadcast_to(a, (len(lo),))) for a in (layer.mult, layer.shift, layer.zero_point, layer.qmin, layer.qmax))
        plans = [plan_element(a, b, *per, layer.rounding) for a, b, *per in zip(lo, hi, *args)]
        return {"acc_width": max([widest_adder(p.product) for p in plans if p.y[0] != p.y[1]], default=0)}
    return {}
