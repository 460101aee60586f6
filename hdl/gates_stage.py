"""Netlist cells of a learned gate network's layers (thermometer, logic_gates, group_sum).

Called by hdl.unrolled's stage dispatch with its `Stage` (the cell builder of one layer: input
nets and their ranges, constants made once). Every output range is the exact one the layer's
range rule proves, so constants fold the same way in both:

- thermometer: a `cmp` (code >= threshold) per bit, a constant where the code's range decides it;
- logic_gates: per gate its function (compiler.logic) as `and` / `or` / `xor` / `not` cells, one
  inverter per net however many gates read it inverted; a gate the ranges make constant is a
  constant, one that depends on one input a wire or an inverter;
- group_sum: per class the compressor-tree popcount of its group's live bits (hdl.popcount), its
  constant ones added.
"""

from __future__ import annotations

from bespoke.compiler import logic

# op id -> (cell kind, invert a, invert b, invert the output) for the ops reading both inputs
TWO_INPUT = {
    1: ("and", 0, 0, 0), 2: ("and", 0, 1, 0), 4: ("and", 1, 0, 0), 6: ("xor", 0, 0, 0), 7: ("or", 0, 0, 0),
    8: ("or", 0, 0, 1), 9: ("xor", 0, 0, 1), 11: ("or", 0, 1, 0), 13: ("or", 1, 0, 0), 14: ("and", 0, 0, 1),
}


def thermometer_stage(st, layer) -> list[int]:
    outs, ge = [], {"op": ">="}
    for j, (f, t) in enumerate(zip(layer.feature.tolist(), layer.threshold.tolist())):
        if st.lo[f] >= t or st.hi[f] < t:
            outs.append(st.const(int(st.lo[f] >= t)))
        else:
            outs.append(st.cell("cmp", (st.x[f], st.const(t)), 0, 1, ge, j, f"t{j}"))
    return outs


def gates_stage(st, layer) -> list[int]:
    nlo, nhi = layer.net_ranges(st.lo, st.hi)
    nets = list(st.x)
    inverted: dict[int, int] = {}

    def inv(n: int) -> int:
        if n not in inverted:
            inverted[n] = st.cell("not", (n,), 0, 1)
        return inverted[n]

    n_in = len(st.x)
    for g, (a, b, op) in enumerate(zip(layer.a.tolist(), layer.b.tolist(), layer.ops.tolist())):
        lo, hi = nlo[n_in + g], nhi[n_in + g]
        if lo == hi:
            nets.append(st.const(lo))
            continue
        one = _one_input(op, a, b, nlo, nhi)
        if one is not None:  # a wire or an inverter of the one input the value depends on
            src, inverting = one
            nets.append(inv(nets[src]) if inverting else nets[src])
            continue
        kind, ia, ib, io = TWO_INPUT[op]
        x, y = inv(nets[a]) if ia else nets[a], inv(nets[b]) if ib else nets[b]
        out = st.cell(kind, (x, y), 0, 1, neuron=g, name=None if io else f"g{g}")
        nets.append(st.cell("not", (out,), 0, 1, neuron=g, name=f"g{g}") if io else out)
    return [nets[o] for o in layer.outputs.tolist()]


def _one_input(op: int, a: int, b: int, nlo: list[int], nhi: list[int]) -> tuple[int, bool] | None:
    """(net, inverted) when a non-constant gate's value is one input's (the other fixed by its
    range, both the same net, or a function of one argument); None for a true two-input gate."""
    fixed_a, fixed_b = nlo[a] == nhi[a], nlo[b] == nhi[b]
    dep_a, dep_b = logic.depends(op)
    if fixed_a or (not dep_a and not fixed_b and a != b):
        x = nlo[a] if fixed_a else 0
        return b, logic.apply(op, x, 0) == 1  # f(x, 0) = 1 and f(x, 1) = 0: an inversion
    if fixed_b or not dep_b:
        y = nlo[b] if fixed_b else 0
        return a, logic.apply(op, 0, y) == 1
    if a == b:
        return a, logic.apply(op, 0, 0) == 1
    return None


def group_sum_stage(st, layer) -> list[int]:
    k = len(st.x) // layer.classes
    outs = []
    for c in range(layer.classes):
        group = range(c * k, (c + 1) * k)
        ones = sum(1 for i in group if st.lo[i] == 1)
        live = [st.x[i] for i in group if st.lo[i] != st.hi[i]]
        if not live:
            outs.append(st.const(ones))
            continue
        count = live[0] if len(live) == 1 else st.popcount(live, False, neuron=c, name=f"c{c}")
        if ones:
            count = st.cell("add", (count, st.const(ones)), ones, ones + len(live), {"sa": 0, "sb": 0}, c, f"c{c}_s")
        outs.append(count)
    return outs
