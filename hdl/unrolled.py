"""The unrolled architecture's planner: layer IR -> netlist IR (hdl.netlist), in one pass.

It builds the circuit from the pure plans: CSD shift-add terms in range-sized P - N adder trees
with sign-offset leaves and shared input sums (hdl.dense_plan), compressor-tree popcounts with the
fused `ge` threshold form (hdl.popcount, hdl.xnor_plan), requant (hdl.requant_plan), and the
range-pruned comparator layers (hdl.compare_plan), and a learned gate network's thermometer, gates
and group sums (hdl.gates_stage). With `registers`, a register follows every node
`hdl.stages.registered` names, and an `in_valid` -> `out_valid` chain of `latency` registers runs
beside the data.

Every net's range is the exact one the plans prove; planning decisions read the IR's ranges of a
layer's input. Cells carry `group` = the IR node (a fused accumulator's cells go to its threshold
node) and `neuron` = the output element where there is one; the valid chain has group "". Net
names are hints: `l{k}_...` for the k-th stage.

`nl.meta["layers"][node]` records per stage its `op`, `src` node, the output nets before the
register (`out`), whether a register follows (`registered`) and, for dense layers, which `plan` hdl.mcm chose
("shared" or "per-neuron"), how many shared sums it uses (`shared_sums`: a one-input shared sum is
a wire, so the cells cannot tell) and how many shared sub-expressions (`subexpressions`).
"""

from __future__ import annotations

from functools import lru_cache
from itertools import repeat
from operator import call, itemgetter
from typing import Callable, NamedTuple

import numpy as np

from bespoke.compiler.ir import (IR, ArgMax, Conv2d, Dense, GroupSum, Input, LogicGates, MaxPool2d, Pad2d, Relu, Requant, Thermometer,
                                 Threshold, XnorPopcount, bits_for_range)
from bespoke.compiler.ops import keeps_all_bits, mask_runs
from bespoke.hdl.adder_tree import Add, Term, const_term, huffman_sum
from bespoke.hdl.compare_plan import plan_tree, plan_window, split_thresholds
from bespoke.hdl.conv import conv_rows, window_index
from bespoke.hdl.dense_plan import Row, Shared, full_row, sign_offset
from bespoke.hdl.gates_stage import gates_stage, group_sum_stage, thermometer_stage
from bespoke.hdl.mcm import Unsigned, plan_dense
from bespoke.hdl.netlist import NO_PARAMS, Cell, Netlist, gc_paused, ints
from bespoke.hdl.popcount import plan_popcount
from bespoke.hdl.requant_plan import ROUNDINGS, plan_element
from bespoke.hdl.stages import binary_taps, check_ir, fused_accumulator, stage_depths, stage_op
from bespoke.hdl import tlg_map
from bespoke.hdl.xnor_plan import check_bits, plan_neurons


class Stage:
    """Cell building for one stage: its group, name prefix, input nets and their IR ranges."""

    def __init__(self, nl: Netlist, group: str, prefix: str, x: list[int], lo: list[int], hi: list[int]):
        self.nl, self.group, self.prefix = nl, group, prefix
        self.x, self.lo, self.hi = x, lo, hi
        self._consts: dict[int, int] = {}
        self._literals: list[int | None] = [*x, *[None] * len(x)]  # x[i], then ~x[i] once made
        self._shifts: dict[tuple[int, int], dict] = {}

    def cell(self, kind: str, ins, lo: int, hi: int, params=None, neuron=None, name=None) -> int:
        return self.nl.add1(kind, ins, lo, hi, params, self.group, neuron, name and self.prefix + name)

    def const(self, value: int) -> int:
        value = int(value)
        if value not in self._consts:
            self._consts[value] = self.nl.const(value, self.group)
        return self._consts[value]

    def shl(self, net: int, k: int, neuron=None) -> int:
        if not k:
            return net
        return self.cell("shl", (net,), self.nl.lo[net] << k, self.nl.hi[net] << k, {"k": k}, neuron)

    def shifts(self, sa: int, sb: int) -> dict:
        """The params of an adder (operand shifts), one dict per pair in a stage (cells never
        change their params; a layer has tens of thousands of adders)."""
        key = sa, sb
        if key not in self._shifts:
            self._shifts[key] = {"sa": sa, "sb": sb}
        return self._shifts[key]

    def inverted(self, i: int) -> int:
        """~x[i] of bit input i, one inverter per layer input however many neurons read it."""
        k = len(self.x) + i
        if self._literals[k] is None:
            self._literals[k] = self.cell("not", (self.x[i],), 1 - self.hi[i], 1 - self.lo[i], name=f"xn{i}")
        return self._literals[k]

    def literals(self, bits) -> list[int]:
        """The nets of (input i, inverted) pairs: x[i], or its inverter (made at its first use, in
        bit order). A table lookup per bit: a big BNN layer reads ~300k literals."""
        n, table = len(self.x), self._literals
        nets = [table[i + n * inv] for i, inv in bits]
        if None in nets:  # an inverter to make first
            nets = [self.inverted(i) if inv else self.x[i] for i, inv in bits]
        return nets

    # -- plans as cells
    def sum_tree(self, root: Term | None, leaf, neuron=None, name: str = "s") -> int:
        """An adder-tree plan (hdl.adder_tree) as add/sub cells, each as wide as its interval;
        `leaf(ref)` gives the net of a leaf's unshifted value. Returns the net of the result."""
        if root is None:
            return self.const(0)
        if root.ref is None:
            return self.const(root.lo << root.shift)
        if not isinstance(root.ref, Add):
            return self.shl(leaf(root.ref), root.shift, neuron)
        nodes, stack = [], [root]
        while stack:  # pre-order root, b side, a side without recursion (Huffman trees may be deep chains)
            t = stack.pop()
            nodes.append(t)
            if type(t.ref) is Add:
                stack += (t.ref.a, t.ref.b)
        nets: dict[int, int] = {}  # id(term) -> net of its unshifted value
        add1, group, prefix, count, shifts = self.nl.add1, self.group, f"{self.prefix}{name}_", 0, self._shifts
        for t in reversed(nodes):  # post-order: a's side, b's side, then their adder
            ref = t.ref
            if type(ref) is Add:
                a, b = ref.a, ref.b
                sa, sb = a.shift - t.shift, b.shift - t.shift
                params = shifts.get((sa, sb)) or self.shifts(sa, sb)
                nets[id(t)] = add1("sub" if ref.sub else "add", (nets[id(a)], nets[id(b)]), t.lo, t.hi,
                                   params, group, neuron, f"{prefix}{count}")
                count += 1
            elif id(t) not in nets:  # a leaf is looked up where its adder first reads it
                nets[id(t)] = self.const(t.lo) if ref is None else leaf(ref)
        return self.shl(nets[id(root)], root.shift, neuron)

    def popcount(self, bits: list[int], ge: bool, addend: int = 0, neuron=None, name: str = "pc") -> int:
        """The compressor-tree plan over bit nets: the count, or (ge) the bit count + addend >= 2^w.
        The ge form's addend bits enter as constant nets, as in the plan (one tree per size)."""
        stamp = popcount_stamp(len(bits), ge)
        nets = list(bits)
        if ge:
            nets += [self.const((addend >> k) & 1) for k in range(stamp.width)]
        base = self.nl.n_nets
        nets += range(base, base + stamp.n_nets)
        nets.append(None)
        if stamp.kinds:  # unnamed nets: hundreds of thousands in a big layer, names cost time
            # Cell(...) without the Python frame of its __new__, the loop in C (map, zip): the cells
            # are most of a big BNN's netlist
            ins, outs = map(call, stamp.ins, repeat(nets)), map(call, stamp.outs, repeat(nets))
            fields = zip(stamp.kinds, ins, outs, repeat(NO_PARAMS), repeat(self.group), repeat(neuron))
            self.nl.add_cells(list(map(tuple.__new__, repeat(Cell), fields)), [0] * stamp.n_nets, [1] * stamp.n_nets)
        out = [self.any([nets[i] for i in group], neuron) for group in stamp.out]
        if ge or len(out) == 1:
            return out[0]
        return self.cell("concat", out, 0, len(bits), neuron=neuron, name=f"{name}_n")

    def any(self, bits: list[int], neuron=None) -> int:
        """OR of bit nets (a wire for one, the constant 0 for none)."""
        if not bits:
            return self.const(0)
        if len(bits) == 1:
            return bits[0]
        return self.cell("or", bits, 0, 1, neuron=neuron)


class Stamp(NamedTuple):
    """A popcount plan laid out to be stamped out once per neuron (bnn_cnn has 1936 of one size).
    Slots number the plan's nets: its inputs 0..n_inputs-1, then its live cell outputs in the
    order Netlist.add would make their nets, then one slot for an unused output (None)."""

    width: int
    n_nets: int  # new nets (all bits)
    kinds: tuple[str, ...]  # per cell "fa" or "ha"
    ins: tuple[Callable, ...]  # per cell: slot values -> its input nets (two or three: a tuple)
    outs: tuple[Callable, ...]  # per cell: slot values -> its (sum, carry) nets
    out: tuple[tuple[int, ...], ...]  # per result bit: the slots OR-ed into it


@lru_cache(maxsize=None)
def popcount_stamp(n: int, ge: bool) -> Stamp:
    """plan_popcount(n, ge) as a Stamp, made once per size."""
    plan = plan_popcount(n, ge)
    slot = {i: i for i in range(plan.n_inputs)}
    for c in plan.cells:
        for o in (c.s, c.co):
            if o is not None:
                slot[o] = len(slot)
    n_nets = len(slot) - plan.n_inputs
    slot[None] = len(slot)
    kinds = tuple("fa" if len(c.ins) == 3 else "ha" for c in plan.cells)
    ins = tuple(itemgetter(*(slot[i] for i in c.ins)) for c in plan.cells)
    outs = tuple(itemgetter(slot[c.s], slot[c.co]) for c in plan.cells)
    out = tuple(tuple(slot[i] for i in group) for group in plan.out)
    return Stamp(plan.width, n_nets, kinds, ins, outs, out)


# --------------------------------------------------------------------------- layers


def dense_stage(st: Stage, rows: list[Row], bias: list[int], sharing: bool = True) -> tuple[list[int], dict]:
    """Shift-add trees of every neuron (hdl.dense_plan), with shared sub-expressions across the
    neurons where that has fewer adder bits (hdl.mcm); returns the outputs and what the plan shares."""
    shared, trees, plan = plan_dense(rows, bias, st.lo, st.hi, sharing)
    outs = build_dense(st, shared, trees)
    sums = sum(isinstance(ref, Shared) for ref in shared)
    return outs, {"plan": plan} | ({"shared_sums": sums} if sums else {}) | ({"subexpressions": len(shared) - sums} if len(shared) > sums else {})


def build_dense(st: Stage, shared: dict, trees: list[Term | None]) -> list[int]:
    """A dense plan (hdl.mcm.plan_dense) as cells: the neurons' trees, and each shared sum,
    sub-expression and sign-offset input once, where a tree first reads it. Returns the outputs."""
    lo, hi = st.lo, st.hi
    leaves: dict[object, int] = {}  # one sign-offset copy of each input, one net per shared sum or sub-expression

    def leaf(ref) -> int:
        net = leaves.get(ref)  # one lookup: hashing a Shared or Sub ref is a Python call
        if net is not None:
            return net
        if ref in shared:
            net = st.sum_tree(shared[ref], leaf, name=f"u{len(leaves)}")
        elif isinstance(ref, Unsigned):  # a signed sub-expression, its sign bit inverted
            sub = shared[ref.sub]
            off = sign_offset(sub.lo, sub.hi)
            net = st.cell("unsign", (leaf(ref.sub),), sub.lo + off, sub.hi + off, {"width": bits_for_range(sub.lo, sub.hi)[0]})
        elif off := sign_offset(lo[ref], hi[ref]):
            width = bits_for_range(lo[ref], hi[ref])[0]
            net = st.cell("unsign", (st.x[ref],), lo[ref] + off, hi[ref] + off, {"width": width}, name=f"x{ref}_offset")
        else:
            net = st.x[ref]
        leaves[ref] = net
        return net

    outs = [st.sum_tree(tree, leaf, j, f"n{j}") for j, tree in enumerate(trees)]
    del leaf  # it refers to itself (a shared sum's leaves): that cycle would keep the netlist alive until a GC pass
    return outs


def masked_columns(st: Stage, layer: Dense) -> tuple[Stage, list[Row]]:
    """A dense layer with input-bit masks as a plain one over masked columns: x_i & m is the sum
    of its runs of bits, bits(x_i, a, n) << a (compiler.ops.mask_runs), so each run read is one
    column (wiring) and its connection's weight is w << a. A mask keeping every bit reads x_i."""
    cols: dict[tuple[int, int, int] | int, int] = {}  # (input, lowest bit, bits) or input -> column
    x, lo, hi, rows = [], [], [], []

    def column(key, make) -> int:
        if key not in cols:
            cols[key] = len(x)
            net = make()
            x.append(net)
            lo.append(st.nl.lo[net])
            hi.append(st.nl.hi[net])
        return cols[key]

    for w_row, m_row in zip(layer.weight.tolist(), layer.mask.tolist()):
        row: dict[int, int] = {}
        for i, (w, m) in enumerate(zip(w_row, m_row)):
            if not w or not m:
                continue
            if st.lo[i] < 0:
                raise ValueError(f"node {st.group}: input-bit masks on input {i}, which can be negative")
            if keeps_all_bits(st.hi[i], m):
                c = column(i, lambda: st.x[i])
                row[c] = row.get(c, 0) + w
                continue
            for a, n in mask_runs(m):
                top = min((1 << n) - 1, st.hi[i] >> a)
                if top:
                    c = column((i, a, n), lambda: st.cell("bits", (st.x[i],), 0, top, {"lo": a, "n": n}, name=f"x{i}_b{a}_{n}"))
                    row[c] = row.get(c, 0) + (w << a)
        rows.append(row)
    masked = Stage(st.nl, st.group, st.prefix, x, lo, hi)
    return masked, [[(c, row.get(c, 0)) for c in range(len(x))] for row in rows]


def xnor_stage(st: Stage, taps: tuple[np.ndarray, np.ndarray], thresholds=None) -> list[int]:
    """XNOR-popcount neurons (hdl.xnor_plan) of a layer's binary_taps, with a fused K = 1 threshold when given."""
    check_bits(st.lo, st.hi, "xnor_popcount")
    outs = []
    for j, nr in enumerate(plan_neurons(*taps, st.lo, st.hi, None if thresholds is None else ints(thresholds))):
        kind = nr.kind
        if kind == "const":
            outs.append(st.const(nr.out_range[0]))
            continue
        bits = st.literals(nr.bits)
        if kind in ("or", "and"):
            outs.append(bits[0] if len(bits) == 1 else st.cell(kind, bits, 0, 1, neuron=j, name=f"n{j}"))
        elif kind == "ge":
            outs.append(st.popcount(bits, True, nr.addend, j, f"n{j}"))
        else:
            count = st.popcount(bits, False, neuron=j, name=f"n{j}")
            if nr.const:
                count = st.cell("add", (count, st.const(nr.const)), *nr.out_range, {"sa": 0, "sb": 0}, j, f"n{j}_c")
            outs.append(count)
    return outs


def requant_stage(st: Stage, layer: Requant) -> list[int]:
    """Per element: CSD product, rounding shift (+ half_even round-up bit), + zero point, clips."""
    if layer.rounding not in ROUNDINGS:
        raise ValueError(f"requant rounding {layer.rounding!r} not in {ROUNDINGS}")
    n = len(st.lo)
    mult, shift, zp, qmin, qmax = (ints(np.broadcast_to(a, (n,))) for a in (layer.mult, layer.shift, layer.zero_point,
                                                                            layer.qmin, layer.qmax))
    fixes: dict[int, list[tuple[int, int]]] = {}
    for e, at, value in layer.exception_rows():
        if st.lo[e] <= at <= st.hi[e]:
            fixes.setdefault(e, []).append((at, value))
    outs = []
    for i in range(n):
        plan = plan_element(st.lo[i], st.hi[i], mult[i], shift[i], zp[i], qmin[i], qmax[i], layer.rounding)
        if plan.y[0] == plan.y[1] and i not in fixes:
            outs.append(st.const(plan.y[0]))  # clipped to one value whatever x is
            continue
        p = st.sum_tree(plan.product, lambda _: st.x[i], i, f"p{i}")
        q = round_shift(st, p, shift[i], plan.round_up, plan.q, i)
        z = st.cell("add", (q, st.const(zp[i])), *plan.z, {"sa": 0, "sb": 0}, i, f"z{i}") if zp[i] else q
        for at, value in fixes.get(i, []):
            z = exception(st, z, i, at, value)
        if st.nl.lo[z] < qmin[i]:
            z = clip(st, z, "<", qmin[i], i)
        if st.nl.hi[z] > qmax[i]:
            z = clip(st, z, ">", qmax[i], i)
        outs.append(z)
    return outs


def exception(st: Stage, z: int, i: int, at: int, value: int) -> int:
    """value where input i equals `at`, else z: an equality comparator and a mux."""
    hit = st.cell("cmp", (st.x[i], st.const(at)), 0, 1, {"op": "=="}, i)
    lo, hi = min(st.nl.lo[z], value), max(st.nl.hi[z], value)
    return st.cell("mux", (hit, st.const(value), z), lo, hi, neuron=i, name=f"e{i}")


def clip(st: Stage, v: int, op: str, bound: int, i: int) -> int:
    """bound if v op bound else v: a comparator and a mux, for a bound v's range crosses."""
    lo, hi = st.nl.lo[v], st.nl.hi[v]
    lo, hi = (max(lo, bound), hi) if op == "<" else (lo, min(hi, bound))
    crosses = st.cell("cmp", (v, st.const(bound)), 0, 1, {"op": op}, i)
    return st.cell("mux", (crosses, st.const(bound), v), lo, hi, neuron=i, name=f"y{i}")


def round_shift(st: Stage, p: int, shift: int, round_up: bool, q: tuple[int, int], i: int) -> int:
    """p >> shift (arithmetic), plus half_even's round-up bit half & (sticky | lsb) when `round_up`."""
    if not shift:
        return p
    floor = st.cell("shr", (p,), st.nl.lo[p] >> shift, st.nl.hi[p] >> shift, {"k": shift}, i)
    if not round_up:
        return floor
    bit = lambda k: st.cell("bits", (p,), 0, 1, {"lo": k, "n": 1}, i)
    half, lsb = bit(shift - 1), bit(shift)
    # bits above p's width repeat its sign bit, which is below shift - 1 then: leave them out
    sticky = st.any([bit(k) for k in range(min(shift - 1, st.nl.type_of(p)[0]))], i)
    up = st.cell("and", (half, st.cell("or", (sticky, lsb), 0, 1, neuron=i)), 0, 1, neuron=i)
    return st.cell("add", (floor, up), *q, {"sa": 0, "sb": 0}, i, f"q{i}")


def relu_stage(st: Stage) -> list[int]:
    """max(x, 0): wiring where the sign is known, else a mux on the sign bit."""
    outs = []
    for i, (lo, hi) in enumerate(zip(st.lo, st.hi)):
        if hi <= 0:
            outs.append(st.const(0))
        elif lo >= 0:
            outs.append(st.x[i])
        else:
            width = bits_for_range(lo, hi)[0]
            sign = st.cell("bits", (st.x[i],), 0, 1, {"lo": width - 1, "n": 1}, i)
            low = st.cell("bits", (st.x[i],), 0, (1 << (width - 1)) - 1, {"lo": 0, "n": width - 1}, i)
            outs.append(st.cell("mux", (sign, st.const(0), low), 0, hi, neuron=i, name=f"y{i}"))
    return outs


def threshold_stage(st: Stage, thresholds) -> list[int]:
    """#{k : x >= t_k}: a comparator per threshold the range does not decide, their bits summed."""
    outs, ge = [], {"op": ">="}  # one params dict for every comparator (cells never change theirs)
    for j, row in enumerate(np.asarray(thresholds).tolist()):  # Python rows: numpy ones cost a view each
        base, live = split_thresholds(ints(row), st.lo[j], st.hi[j])
        passed = [st.cell("cmp", (st.x[j], st.const(t)), 0, 1, ge, j) for t in live]
        if not passed or len(passed) == 1 and not base:
            outs.append(passed[0] if passed else st.const(base))
            continue
        terms = [Term(0, 1, 0, k) for k in range(len(passed))] + [const_term(base)] * bool(base)
        outs.append(st.sum_tree(huffman_sum(terms), lambda k: passed[k], j, f"t{j}"))
    return outs


def pad_stage(st: Stage, layer: Pad2d) -> list[int]:
    """Wiring: each element is its source net, or its channel's constant on the border."""
    per = int(np.prod(layer.out_shape[1:]))
    values = ints(np.repeat(layer.value, per))
    return [st.x[i] if i >= 0 else st.const(v) for i, v in zip(layer.sources().tolist(), values)]


def maxpool_stage(st: Stage, layer: MaxPool2d) -> list[int]:
    """Window maxima: an OR on bits, else a comparator + mux chain over the taps that can matter."""
    idx = window_index(tuple(layer.in_shape), layer.kernel, layer.kernel, layer.stride)
    outs = []
    for j, taps in enumerate(idx.reshape(-1, layer.kernel * layer.kernel).tolist()):
        live, out_lo, out_hi = plan_window(taps, st.lo, st.hi)
        if out_lo == out_hi:
            outs.append(st.const(out_lo))
        elif all(0 <= st.lo[i] and st.hi[i] <= 1 for i in live):
            outs.append(st.x[live[0]] if len(live) == 1 else st.cell("or", [st.x[i] for i in live], 0, 1, neuron=j, name=f"m{j}"))
        else:
            acc, lo, hi = st.x[live[0]], st.lo[live[0]], st.hi[live[0]]
            for i in live[1:]:
                gt = st.cell("cmp", (st.x[i], acc), 0, 1, {"op": ">"}, j)
                lo, hi = max(lo, st.lo[i]), max(hi, st.hi[i])
                acc = st.cell("mux", (gt, st.x[i], acc), lo, hi, neuron=j, name=f"m{j}")
            outs.append(acc)
    return outs


def argmax_stage(st: Stage) -> list[int]:
    """The comparator tree of hdl.compare_plan: the right side wins only if strictly greater."""
    root = plan_tree(st.lo, st.hi)
    done: dict[int, tuple[int | None, int]] = {}  # id(node) -> (value net, index net)
    stack = [(root, False)]
    while stack:  # post-order without recursion
        node, ready = stack.pop()
        if not isinstance(node.ref, tuple):
            done[id(node)] = (st.x[node.ref], st.const(node.ref))
        elif not ready:
            stack += [(node, True), (node.ref[1], False), (node.ref[0], False)]
        else:
            (lv, li), (rv, ri) = done[id(node.ref[0])], done[id(node.ref[1])]
            gt = st.cell("cmp", (rv, lv), 0, 1, {"op": ">"})
            ilo, ihi = min(st.nl.lo[li], st.nl.lo[ri]), max(st.nl.hi[li], st.nl.hi[ri])
            idx = st.cell("mux", (gt, ri, li), ilo, ihi, name="idx")
            # the root's maximum itself is never read
            val = None if node is root else st.cell("mux", (gt, rv, lv), node.lo, node.hi, name="max")
            done[id(node)] = (val, idx)
    return [done[id(root)][1]]


def build_stage(st: Stage, ir: IR, n: str, acc: str | None, sharing: bool = True) -> tuple[list[int], dict]:
    """The output nets of node n (with fused accumulator `acc`), and what a dense plan shares (dense_stage)."""
    layer = ir.layer(n)
    if acc is not None:
        return xnor_stage(st, binary_taps(ir.layer(acc)), layer.thresholds[:, 0]), {}
    if isinstance(layer, Dense) and layer.mask is not None:
        return dense_stage(*masked_columns(st, layer), ints(layer.bias), sharing)
    if isinstance(layer, Dense):
        return dense_stage(st, [full_row(row) for row in layer.weight], ints(layer.bias), sharing)
    if isinstance(layer, XnorPopcount) or isinstance(layer, Conv2d) and layer.binary:
        return xnor_stage(st, binary_taps(layer)), {}
    if isinstance(layer, Conv2d):
        positions = layer.out_size([]) // layer.weight.shape[0]
        return dense_stage(st, conv_rows(layer.weight, layer.in_shape, layer.stride), ints(np.repeat(layer.bias, positions)), sharing)
    if isinstance(layer, Threshold):
        return threshold_stage(st, layer.thresholds), {}
    if isinstance(layer, MaxPool2d):
        return maxpool_stage(st, layer), {}
    if isinstance(layer, Pad2d):
        return pad_stage(st, layer), {}
    if isinstance(layer, Relu):
        return relu_stage(st), {}
    if isinstance(layer, Requant):
        return requant_stage(st, layer), {}
    if isinstance(layer, ArgMax):
        return argmax_stage(st), {}
    if isinstance(layer, Thermometer):
        return thermometer_stage(st, layer), {}
    if isinstance(layer, LogicGates):
        return gates_stage(st, layer), {}
    if isinstance(layer, GroupSum):
        return group_sum_stage(st, layer), {}
    raise AssertionError(layer)


# --------------------------------------------------------------------------- the network


@gc_paused()
def plan_unrolled(ir: IR, registers: bool = False, sharing: bool = True, tlg: tlg_map.TlgOptions | None = None) -> Netlist:
    """The unrolled circuit of `ir` as a netlist: port `x` (the input node's elements) -> `y` (the
    output node's); with `registers`, the pipeline registers and `in_valid` -> `out_valid`.
    `sharing`: dense layers may share sub-expressions across neurons (hdl.mcm); False plans every
    neuron alone. `tlg`: map the layers to threshold gates of these bounds (hdl.tlg_map)."""
    check_ir(ir)
    if tlg is not None:
        tlg_map.check_mappable(ir, tlg)
    accumulator = fused_accumulator if tlg is None else lambda ir, n: tlg_map.tlg_accumulator(ir, n, tlg)
    nl = Netlist(name=ir.name)
    inp = ir.input_node()
    x_lo, x_hi = ints(ir.out(inp).lo), ints(ir.out(inp).hi)
    nl.inputs["x"] = [nl.net(a, b, f"x{i}") for i, (a, b) in enumerate(zip(x_lo, x_hi))]
    tensors = {inp: nl.inputs["x"]}
    fused = {a for n in ir.order() if (a := accumulator(ir, n)) is not None}
    depth = stage_depths(ir, registers)
    layers = {}
    for k, n in enumerate(n for n in ir.order() if not isinstance(ir.layer(n), Input) and n not in fused):
        acc = accumulator(ir, n)
        (src,) = ir.inputs_of(acc or n)
        st = Stage(nl, n, f"l{k}_", tensors[src], ints(ir.out(src).lo), ints(ir.out(src).hi))
        outs = None if tlg is None else tlg_map.build_stage(st, ir, n, acc, tlg)
        outs, plan = (outs, {"map": "tlg"}) if outs is not None else build_stage(st, ir, n, acc, sharing)
        lo, hi = ints(ir.out(n).lo), ints(ir.out(n).hi)
        # the circuit's exact ranges must lie inside the proven ones, or the IR's widths lie
        if any(nl.lo[o] < a or nl.hi[o] > b for o, a, b in zip(outs, lo, hi)):
            raise ValueError(f"node {n}: hardware range exceeds the IR's proven range; re-run infer-ranges")
        registered = depth[n] > depth[src]
        layers[n] = {"op": stage_op(ir, n), "src": src, "out": outs, "registered": registered} | plan
        tensors[n] = register(st, outs, lo, hi) if registered else outs
    nl.outputs["y"] = tensors[ir.output_node()]
    out = ir.out(ir.output_node())  # the port contract (hdl.lower.port_layout) is sized from the IR's ranges
    nl.port_ranges["x"] = (min(x_lo), max(x_hi))
    nl.port_ranges["y"] = (int(out.lo.min()), int(out.hi.max()))
    latency = depth[ir.output_node()]
    if registers:
        nl.inputs["in_valid"] = [valid := nl.net(0, 1, "in_valid")]
        for k in range(latency):
            valid = nl.add1("reg", (valid,), 0, 1, {"init": 0, "reset": True}, name=f"valid_{k}")
        nl.outputs["out_valid"] = [valid]
    nl.meta.update(arch="unrolled", pipelined=bool(registers), latency=latency, layers=layers)
    if tlg is not None:
        nl.meta["tlg"] = {"fanin": tlg.fanin, "max_weight": tlg.max_weight, "integer": tlg.integer}
    return nl


def register(st: Stage, nets: list[int], lo: list[int], hi: list[int]) -> list[int]:
    """A pipeline register per element, as wide as the element's IR range (none for a constant).
    Its initial value is the one nearest 0 in range: what precedes the first valid vector keeps
    every downstream net inside its proven range too."""
    return [st.const(a) if a == b else st.cell("reg", (v,), a, b, {"init": min(max(0, a), b)}, j, f"r{j}")
            for j, (v, a, b) in enumerate(zip(nets, lo, hi))]
