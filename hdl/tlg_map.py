"""Threshold-logic mapping: the layers of a binarized network as threshold gates (`tlg` cells).

`plan_unrolled(ir, tlg=TlgOptions(fanin, max_weight))` builds, instead of XNOR-popcount
compressor trees and comparators, networks of threshold gates with at most `fanin` inputs and
integer weights |w| <= `max_weight` (hdl.tlg_plan), one per neuron:
- a binarized neuron with a fused K = 1 threshold, [popcount(xnor(x, w)) >= T]: a threshold
  function of its inputs with weights +-1; a weight bit 0 (XNOR with -1) is the complemented
  input, which a gate reads as a negative weight (w (1 - x) = w - w x: weight -w, threshold - w),
  so no inverter is built;
- an integer layer (Dense or Conv2d) feeding only a K = 1 threshold: bit-plane decomposition.
  Each input x_i (range [lo, hi], two's complement bits when signed, the top bit weighing
  -2^(w-1)) is its bits, each weight its canonical signed digits, so the neuron is
  [sum 2^c l >= T'] over literal bits l in columns c, which the same counters and comparator
  take (a negative digit -2^c x = 2^c (1 - x) - 2^c is a complemented literal plus a constant);
- a binarized layer whose count a later layer reads (the last layer before an argmax): the same
  counters, down to one bit per column, the count's binary digits;
- a max-pool over bits: an OR, [sum x >= 1], as a tree of gates of fan-in <= fanin.
What stays ordinary logic, stated: the argmax and a dense layer whose only user is the argmax
(the per-class scale of the scores); they read multi-bit counts. With integer="arith" (`bespoke
compile --tlg-integer arith`) an integer first layer and its threshold stay ordinary logic too (the
adder trees with shared sub-expressions of hdl.mcm, and a comparator). Anything else (relu, requant,
multi-threshold, a dense layer whose result is not thresholded) cannot be mapped: a user error
(`check_mappable`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from bespoke.compiler.errors import BespokeError
from bespoke.compiler.ir import IR, ArgMax, Conv2d, Dense, Input, MaxPool2d, Pad2d, Threshold, XnorPopcount, bits_for_range
from bespoke.hdl.conv import conv_rows, window_index
from bespoke.hdl.csd import csd
from bespoke.hdl.compare_plan import plan_window
from bespoke.hdl.netlist import ints
from bespoke.hdl.stages import binary_taps, fused_accumulator
from bespoke.hdl.tlg_plan import ONE, ZERO, check_options, plan_neuron
from bespoke.hdl.xnor_plan import check_bits, plan_neurons

Literal = tuple[int, bool, int]  # (bit net, complemented, column)


class TlgOptions(NamedTuple):
    """Gate bounds of the mapping, and the cost per gate of each fan-in that picks each neuron's
    plan ((fan-in, cost) pairs, e.g. the target's cell areas; None: fan-in + 1)."""

    fanin: int = 5
    max_weight: int = 2
    gate_cost: tuple[tuple[int, float], ...] | None = None
    integer: str = "bitplane"  # integer layers feeding a threshold: "bitplane" (threshold gates) or "arith" (kept logic)


def _binary(layer) -> bool:
    return isinstance(layer, XnorPopcount) or isinstance(layer, Conv2d) and layer.binary


INTEGER_MODES = ("bitplane", "arith")


def tlg_accumulator(ir: IR, n: str, opts: TlgOptions) -> str | None:
    """The accumulator computed inside K = 1 threshold node n: a binarized one (as the popcount
    mapping fuses it), or (integer="bitplane") an integer Dense / Conv2d feeding only n."""
    acc = fused_accumulator(ir, n)
    if acc is not None or opts.integer != "bitplane" or not isinstance(ir.layer(n), Threshold) or ir.layer(n).thresholds.shape[1] != 1:
        return acc
    (src,) = ir.inputs_of(n)
    layer = ir.layer(src)
    if isinstance(layer, (Dense, Conv2d)) and not _binary(layer) and ir.users_of(src) == [n]:
        return src
    return None


def _head(ir: IR, n: str, opts: TlgOptions) -> bool:
    """Whether node n stays ordinary logic: the argmax, a dense layer feeding only it, and with
    integer="arith" an integer layer feeding a K = 1 threshold, and that threshold."""
    layer = ir.layer(n)
    if isinstance(layer, ArgMax) or (isinstance(layer, Dense) and [type(ir.layer(u)) for u in ir.users_of(n)] == [ArgMax]):
        return True
    if opts.integer != "arith":
        return False
    if isinstance(layer, Threshold) and layer.thresholds.shape[1] == 1:
        (src,) = ir.inputs_of(n)
        layer, n = ir.layer(src), src
    users = ir.users_of(n)
    return (isinstance(layer, (Dense, Conv2d)) and not _binary(layer) and len(users) == 1
            and isinstance(ir.layer(users[0]), Threshold) and ir.layer(users[0]).thresholds.shape[1] == 1)


def check_mappable(ir: IR, opts: TlgOptions) -> None:
    """A user error for bad options or a layer the mapping cannot take (see the module)."""
    check_options(opts.fanin, opts.max_weight)
    if opts.integer not in INTEGER_MODES:
        raise BespokeError(f"unknown tlg integer-layer mode {opts.integer!r}; supported: {', '.join(INTEGER_MODES)}")
    fused = {a for n in ir.order() if (a := tlg_accumulator(ir, n, opts)) is not None}
    for n in ir.order():
        layer = ir.layer(n)
        if isinstance(layer, (Input, Pad2d)) or n in fused or _head(ir, n, opts) or _binary(layer):  # a pad is wiring
            continue
        if isinstance(layer, Threshold) and tlg_accumulator(ir, n, opts) is not None:
            continue
        if isinstance(layer, Dense) and layer.mask is not None:
            raise BespokeError(f"node {n}: --map tlg cannot map a dense layer with input-bit masks")
        if isinstance(layer, MaxPool2d) and all(lo >= 0 and hi <= 1 for lo, hi in zip(*map(ints, ir_range(ir, n)))):
            continue
        raise BespokeError(f"node {n}: --map tlg cannot map {layer.op!r} ({layer.describe()}); it maps binarized "
                           f"neurons, dense/conv layers feeding a one-step threshold (bit planes), max-pools over bits, "
                           f"and keeps the argmax head in logic")


def ir_range(ir: IR, n: str):
    """The (lo, hi) arrays of node n's input."""
    (src,) = ir.inputs_of(n)
    return ir.out(src).lo, ir.out(src).hi


# --------------------------------------------------------------------------- building

class _Gates:
    """Threshold-gate cells of one stage: one params dict per distinct gate, input bits made once."""

    def __init__(self, st, opts: TlgOptions):
        self.st, self.opts = st, opts
        self._params: dict[tuple, dict] = {}
        self._bits: dict[tuple[int, int], int] = {}

    def gate(self, ins, weights, threshold, neuron) -> int:
        key = (tuple(weights), int(threshold))
        params = self._params.get(key)
        if params is None:
            params = self._params[key] = {"weights": key[0], "threshold": key[1]}
        return self.st.cell("tlg", ins, 0, 1, params, neuron)

    def bit(self, i: int, b: int) -> int:
        """Bit b of input i (its two's complement bits): a wire."""
        st = self.st
        if 0 <= st.lo[i] and st.hi[i] <= 1:
            return st.x[i]
        if (i, b) not in self._bits:
            self._bits[i, b] = st.cell("bits", (st.x[i],), 0, 1, {"lo": b, "n": 1}, name=f"x{i}_b{b}")
        return self._bits[i, b]

    def neuron(self, lits: list[Literal], threshold: int | None, neuron: int) -> list[int]:
        """The plan of literals against threshold (None: the count's binary digits) as cells;
        returns the output nets (one for a threshold)."""
        lits = sorted(lits, key=lambda lit: lit[2])
        plan = plan_neuron(tuple(c for _, _, c in lits), threshold, self.opts.fanin, self.opts.max_weight, self.opts.gate_cost)
        nets = [net for net, _, _ in lits]
        for g in plan.gates:
            weights, t = list(g.weights), g.threshold
            for k, s in enumerate(g.ins):
                if s < plan.n and lits[s][1]:  # a complemented literal: the negative weight of its net
                    t -= weights[k]
                    weights[k] = -weights[k]
            nets.append(self.gate([nets[s] for s in g.ins], weights, t, neuron))
        outs = []
        for o in plan.out:
            if o in (ZERO, ONE):
                outs.append(self.st.const(int(o == ONE)))
            elif o < plan.n and lits[o][1]:  # a complemented literal read directly: [-x >= 0]
                outs.append(self.gate([nets[o]], (-1,), 0, neuron))
            else:
                outs.append(nets[o])
        return outs


def _count(g: _Gates, lits: list[Literal], const: int, lo: int, hi: int, j: int) -> int:
    """A count's net: its binary digits (wiring), plus the constant agreements (an adder)."""
    st = g.st
    bits = g.neuron(lits, None, j)
    count = bits[0] if len(bits) == 1 else st.cell("concat", bits, 0, len(lits), neuron=j, name=f"n{j}")
    if const:
        count = st.cell("add", (count, st.const(const)), lo, hi, {"sa": 0, "sb": 0}, j, f"n{j}_c")
    return count


def xnor_stage(st, layer, thresholds, opts: TlgOptions) -> list[int]:
    """Binarized neurons (hdl.xnor_plan's live bits and constant agreements) as gate networks."""
    check_bits(st.lo, st.hi, "xnor_popcount")
    g = _Gates(st, opts)
    outs = []
    for j, nr in enumerate(plan_neurons(*binary_taps(layer), st.lo, st.hi, None if thresholds is None else ints(thresholds))):
        lits = [(st.x[i], inv, 0) for i, inv in nr.bits]
        if thresholds is None:
            outs.append(_count(g, lits, nr.const, *nr.out_range, j) if lits else st.const(nr.const))
        else:
            outs.append(g.neuron(lits, nr.threshold - nr.const, j)[0])
    return outs


def bit_planes(g: _Gates, row: list[tuple[int, int]]) -> tuple[list[Literal], int]:
    """An integer neuron's sum_i w_i x_i as literal bits in columns, plus a constant."""
    st, lits, const = g.st, [], 0
    for i, w in row:
        lo, hi = st.lo[i], st.hi[i]
        if not w:
            continue
        if lo == hi:
            const += w * lo
            continue
        width = bits_for_range(lo, hi)[0]
        for b in range(width):
            coef = w << b if not (lo < 0 and b == width - 1) else -(w << b)  # a signed top bit weighs -2^(w-1)
            for sign, shift in csd(coef):
                lits.append((g.bit(i, b), sign < 0, shift))
                if sign < 0:
                    const -= 1 << shift
    return lits, const


def integer_stage(st, layer, thresholds, opts: TlgOptions) -> list[int]:
    """Dense / Conv2d + K = 1 threshold: [sum w x + bias >= t] by bit planes (bit_planes)."""
    if isinstance(layer, Dense):
        rows = [[(i, w) for i, w in enumerate(r) if w] for r in np.asarray(layer.weight).tolist()]
        bias = ints(layer.bias)
    else:
        rows = [[(i, w) for i, w in r] for r in conv_rows(layer.weight, layer.in_shape, layer.stride)]
        bias = ints(np.repeat(layer.bias, layer.out_size([]) // layer.weight.shape[0]))
    g = _Gates(st, opts)
    outs = []
    for j, (row, b, t) in enumerate(zip(rows, bias, ints(thresholds))):
        lits, const = bit_planes(g, row)
        outs.append(g.neuron(lits, t - b - const, j)[0])
    return outs


def maxpool_stage(st, layer: MaxPool2d, opts: TlgOptions) -> list[int]:
    """A max-pool over bits: per window [sum x >= 1] (an OR) over the taps that can matter."""
    idx = window_index(tuple(layer.in_shape), layer.kernel, layer.kernel, layer.stride)
    g = _Gates(st, opts)
    outs = []
    for j, taps in enumerate(idx.reshape(-1, layer.kernel * layer.kernel).tolist()):
        live, out_lo, out_hi = plan_window(taps, st.lo, st.hi)
        if out_lo == out_hi:
            outs.append(st.const(out_lo))
        else:
            outs.append(_or_tree(g, [st.x[i] for i in live], j))
    return outs


def _or_tree(g: _Gates, bits: list[int], j: int) -> int:
    """OR of bit nets by gates [sum x >= 1] of at most fanin inputs each."""
    while len(bits) > 1:
        f = g.opts.fanin
        bits = [chunk[0] if len(chunk) == 1 else g.gate(chunk, (1,) * len(chunk), 1, j)
                for chunk in (bits[k:k + f] for k in range(0, len(bits), f))]
    return bits[0]


def build_stage(st, ir: IR, n: str, acc: str | None, opts: TlgOptions) -> list[int] | None:
    """The output nets of node n (with accumulator `acc`, tlg_accumulator) as threshold gates, or
    None for a node that stays ordinary logic (the argmax head)."""
    layer = ir.layer(n)
    if _head(ir, n, opts):
        return None
    if acc is not None:
        inner = ir.layer(acc)
        stage = xnor_stage if _binary(inner) else integer_stage
        return stage(st, inner, layer.thresholds[:, 0], opts)
    if _binary(layer):
        return xnor_stage(st, layer, None, opts)
    if isinstance(layer, MaxPool2d):
        return maxpool_stage(st, layer, opts)
    return None
