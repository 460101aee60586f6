"""The plan of one neuron as a network of threshold gates of bounded fan-in and weight.

A neuron here is a weighted sum of literal bits, each literal counting 2^c (its column c):
y = [sum_i 2^(c_i) l_i >= T] (the "ge" form of a binarized neuron with a fused threshold, or of
an integer neuron taken apart into bit planes), or the count sum_i 2^(c_i) l_i itself as binary
digits (a popcount whose value a later layer reads). Every gate is a threshold gate
[sum w_j x_j >= t] with at most `fanin` inputs and |w_j| <= `max_weight`.

The network, in the order it is planned:
1. one gate, when there are at most `fanin` literals and the function is a threshold function
   within the weight bound (hdl.threshold_id decides; a binarized neuron with few inputs is one);
2. else a compressor tree of threshold-gate counters, column by column from the lowest, earliest
   ready bits first: an m-input counter's top bit is [sum x >= 2^(k-1)] and each lower bit
   b_j = [sum x - sum_{i>j} 2^i b_i >= 2^j] (k = bits(m); the half adder's sum is
   [a + b - 2c >= 1], the full adder's [a + b + c - 2 maj >= 1]), so an m-counter needs fan-in
   m + k - 1 and weight 2^(k-1). At fan-in 3 a full adder does not fit; it is built from two
   half adders and a majority carry. The tree stops at one bit per column: the count;
3. for the ge form, a comparator against the constant from the lowest column up: g = [low part
   >= low part of T] and, r columns at a time, g' = [2H + g >= 2 T_H + 1] (H the r bits read as a
   number, T_H the matching digits of T), each collapsed into one gate by threshold identification,
   r as large as fan-in and weight bound allow.
Counter sizes from the largest allowed down to 3 are tried (half adders only fill in); `plan_neuron` keeps the plan with the
least cost (a cost per gate of each fan-in: the target's cell area, or the fan-in plus one).

Plans are over abstract slots: literals 0..n-1 (sorted by column), then gate k drives slot n + k;
`ZERO` and `ONE` stand for constant outputs. The netlist builder (hdl.tlg_map) turns a
complemented literal into a negative weight of its net.
"""

from __future__ import annotations

import heapq
from functools import lru_cache
from typing import NamedTuple

from bespoke.compiler.errors import BespokeError
from bespoke.hdl.threshold_id import identify, truth_table

ZERO, ONE = -1, -2  # constant pseudo-slots of plan outputs
MIN_FANIN = 3  # a half adder's sum [a + b - 2c >= 1] reads three bits
MIN_WEIGHT = 2  # ... with weight 2


class Gate(NamedTuple):
    """y = [sum w_j slot_j >= threshold]."""

    ins: tuple[int, ...]
    weights: tuple[int, ...]
    threshold: int


class Plan(NamedTuple):
    n: int  # literal slots 0..n-1
    gates: tuple[Gate, ...]  # gate k drives slot n + k
    out: tuple[int, ...]  # ge: (the result slot,); count: per binary digit, from column 0, its slot
    depth: int  # gate levels on the longest path


def check_options(fanin: int, max_weight: int) -> None:
    """A user error unless every neuron can be built with these gates."""
    if not isinstance(fanin, int) or fanin < MIN_FANIN:
        raise BespokeError(f"tlg fan-in {fanin!r} is below {MIN_FANIN}: a counter's sum bit [a + b - 2c >= 1] "
                           f"reads three bits; use --tlg-fanin 3 or more")
    if not isinstance(max_weight, int) or max_weight < MIN_WEIGHT:
        raise BespokeError(f"tlg max weight {max_weight!r} cannot realise a counter's sum bit, which needs weight "
                           f"{MIN_WEIGHT} ([a + b - 2c >= 1]); use --tlg-max-weight {MIN_WEIGHT} or more")


# --------------------------------------------------------------------------- counters

class Counter(NamedTuple):
    """A counter template: m inputs (local slots 0..m-1), gates driving local slots m.., and per
    column offset the local slot of that output bit."""

    m: int
    gates: tuple[Gate, ...]
    outs: tuple[int, ...]


@lru_cache(maxsize=None)
def counter(m: int, fanin: int, max_weight: int) -> Counter | None:
    """The m-input counter within the bounds, or None."""
    k = m.bit_length()
    if m >= 2 and m + k - 1 <= fanin and (1 << (k - 1)) <= max_weight:
        gates, bits = [], {}
        for j in range(k - 1, -1, -1):  # top bit first: the lower ones read it
            higher = list(range(j + 1, k))
            ins = tuple(range(m)) + tuple(bits[i] for i in higher)
            gates.append(Gate(ins, (1,) * m + tuple(-(1 << i) for i in higher), 1 << j))
            bits[j] = m + len(gates) - 1
        return Counter(m, tuple(gates), tuple(bits[j] for j in range(k)))
    if m == 3 and counter(2, fanin, max_weight):  # full adder from two half adders, majority carry
        half = [Gate((0, 1), (1, 1), 2), Gate((0, 1, 3), (1, 1, -2), 1),  # c1 (3), s1 (4)
                Gate((4, 2), (1, 1), 2), Gate((4, 2, 5), (1, 1, -2), 1),  # c2 (5), s (6)
                Gate((0, 1, 2), (1, 1, 1), 2)]  # carry = maj(a, b, c) (7)
        return Counter(3, tuple(half), (6, 7))
    return None


def counter_sizes(fanin: int, max_weight: int) -> list[int]:
    """The input counts of the counters the bounds allow, largest first."""
    return [m for m in range(fanin, 1, -1) if counter(m, fanin, max_weight)]


# --------------------------------------------------------------------------- planning

class _Builder:
    def __init__(self, n: int):
        self.n, self.gates, self.depth = n, [], [0] * n

    def gate(self, ins, weights, threshold) -> int:
        self.gates.append(Gate(tuple(ins), tuple(weights), int(threshold)))
        self.depth.append(1 + max((self.depth[i] for i in ins), default=0))
        return self.n + len(self.gates) - 1

    def plan(self, out) -> Plan:
        return Plan(self.n, tuple(self.gates), tuple(out), max((self.depth[o] for o in out if o >= 0), default=0))


def _compress(b: _Builder, cols: tuple[int, ...], largest: int, fanin: int, max_weight: int) -> dict[int, int]:
    """Counters until every column holds at most one bit; returns column -> its bit's slot."""
    heaps: dict[int, list[tuple[int, int]]] = {}
    for slot, c in enumerate(cols):
        heaps.setdefault(c, []).append((0, slot))
    sizes = [m for m in counter_sizes(fanin, max_weight) if m <= largest]
    result, c = {}, min(cols)
    while c <= max(heaps):
        heap = heaps.get(c, [])
        heapq.heapify(heap)
        while len(heap) >= 2:
            m = next(m for m in sizes if m <= len(heap))
            parts = [heapq.heappop(heap) for _ in range(m)]
            tmpl = counter(m, fanin, max_weight)
            local = [slot for _, slot in parts]
            for g in tmpl.gates:
                local.append(b.gate([local[i] for i in g.ins], g.weights, g.threshold))
            for offset, o in enumerate(tmpl.outs):
                item = (b.depth[local[o]], local[o])
                if offset == 0:
                    heapq.heappush(heap, item)
                else:
                    heaps.setdefault(c + offset, []).append(item)
        if heap:
            result[c] = heap[0][1]
        c += 1
    return result


def _compare(b: _Builder, bits: dict[int, int], need: int, fanin: int, max_weight: int) -> int:
    """[sum_c 2^c bit_c >= need] over one bit per column, r columns per gate (see the module)."""
    g, j, top = ONE, 0, max(bits) + 1  # g = [value below column j >= need's digits below j]; true for j = 0
    while j < top:
        best = None
        for r in range(top - j, 0, -1):
            t_h = need >> j if j + r >= top else (need >> j) & ((1 << r) - 1)
            ins = [bits[c] for c in range(j, j + r) if c in bits]
            shifts = [c - j for c in range(j, j + r) if c in bits]
            live_g = g >= 0
            if len(ins) + live_g > fanin:
                continue
            g_value = (lambda x: x[-1]) if live_g else (lambda x: int(g == ONE))
            fn = lambda x: 2 * sum(v << s for v, s in zip(x, shifts)) + g_value(x) >= 2 * t_h + 1
            n_in = len(ins) + live_g
            table = truth_table(fn, n_in)
            if table == 0 or table == (1 << (1 << n_in)) - 1:
                best = (r, ZERO if table == 0 else ONE, None)
                break
            gate = identify(table, n_in, max_weight)
            if gate is not None:
                best = (r, ins + [g] * live_g, gate)
                break
        r, ins, gate = best
        g = ins if gate is None else b.gate(ins, gate.weights, gate.threshold)
        j += r
    return g


def _direct(cols: tuple[int, ...], need: int, fanin: int, max_weight: int) -> Plan | None:
    """The neuron as one gate, if it is one within the bounds."""
    n = len(cols)
    if n > fanin:
        return None
    gate = identify(truth_table(lambda x: sum(v << c for v, c in zip(x, cols)) >= need, n), n, max_weight)
    if gate is None:
        return None
    b = _Builder(n)
    return b.plan([b.gate(range(n), gate.weights, gate.threshold)])


def _tree(cols: tuple[int, ...], threshold: int | None, largest: int, fanin: int, max_weight: int) -> Plan:
    b = _Builder(len(cols))
    bits = _compress(b, cols, largest, fanin, max_weight)
    if threshold is None:
        return b.plan([bits.get(c, ZERO) for c in range(max(bits) + 1)])
    return b.plan([_compare(b, bits, threshold, fanin, max_weight)])


def cost(plan: Plan, gate_cost: dict[int, float] | None = None) -> float:
    """The plan's cost: per gate the cost of its fan-in (default fan-in + 1)."""
    return sum(gate_cost[len(g.ins)] if gate_cost else len(g.ins) + 1 for g in plan.gates)


@lru_cache(maxsize=None)
def plan_neuron(cols: tuple[int, ...], threshold: int | None, fanin: int, max_weight: int,
                gate_cost: tuple[tuple[int, float], ...] | None = None) -> Plan:
    """The cheapest plan (see the module) of literals in columns `cols` (ascending) against
    `threshold` (None: the count). gate_cost: (fan-in, cost) pairs; default fan-in + 1."""
    assert list(cols) == sorted(cols), cols
    n = len(cols)
    if threshold is not None:
        if threshold <= 0 or threshold > sum(1 << c for c in cols):
            return Plan(n, (), (ONE if threshold <= 0 else ZERO,), 0)
        direct = _direct(cols, threshold, fanin, max_weight)
        if direct is not None:
            return direct
    elif n == 0:
        return Plan(0, (), (ZERO,), 0)
    costs = dict(gate_cost) if gate_cost else None
    sizes = [m for m in counter_sizes(fanin, max_weight) if m >= 3] or [2]  # half adders alone only fill in
    plans = [_tree(cols, threshold, m, fanin, max_weight) for m in sizes]
    return min(plans, key=lambda p: (cost(p, costs), p.depth))
