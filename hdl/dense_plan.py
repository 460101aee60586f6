"""The plan of a dense layer: y = W x + b with hard-wired integer weights, as shift-and-add adder trees.

Every product w * x[i] becomes the terms x[i] << shift of w's CSD digits, so the circuit has no
multiplier; zero weights cost nothing, and inputs whose range is a single value are folded into
the bias. A signed input enters the trees as the unsigned x + 2**(w-1) (its sign bit inverted),
the difference going into the bias: on random 16-5 layers with signed inputs this made the
yosys `synth` netlist 10-25 % smaller, as sign extension in every adder disappears.

Weight offset: w . x = (w - c) . x + c * sum(x). With +-1 weights (a binarized network's first
layer) and c = -1, half the terms vanish and the rest are 2x, so a neuron needs about n/2 terms
plus the sum U = sum(x), which every neuron reading the same inputs shares (all neurons of a
dense layer; all channels at one position of a convolution). A neuron takes c = +-1 when that
saves CSD digits, and a shared sum is built only when its neurons save more adders than it costs.
For the 784-256 first layer of the SFC this halves the adders (200k -> about 100k).

Planned per class of rows: neurons with the same bias and weights over inputs of the same ranges
(a convolution channel's positions) have one plan up to relabelling its leaves, so `Neurons`
works out each class's terms, offset and adder bits once (`RowPlan`) and relabels them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from bespoke.compiler.ir import bits_for_range
from bespoke.hdl.adder_tree import SumPlanner, Term, adder_bits, huffman_sum, plan_sum
from bespoke.hdl.csd import csd, csd_len


Row = list[tuple[int, int]]  # a neuron's weights as (input index, weight); zeros may be listed


@dataclass(frozen=True)
class Shared:
    """Leaf ref of a shared sum: U = sum of the (sign-offset) inputs `key`."""

    key: tuple[int, ...]


def full_row(row) -> Row:
    """(index, weight) of every entry of a dense weight row (zeros too: see weight offsets)."""
    return list(enumerate(np.asarray(row).tolist()))


def linear_range(row: Row, bias: int, lo: list[int], hi: list[int]) -> tuple[int, int]:
    """Exact [min, max] of row . x + bias over the box lo <= x <= hi."""
    out_lo = out_hi = bias
    for i, w in row:
        out_lo += w * (lo[i] if w > 0 else hi[i])
        out_hi += w * (hi[i] if w > 0 else lo[i])
    return out_lo, out_hi


@lru_cache(maxsize=None)
def sign_offset(lo: int, hi: int) -> int:
    """2**(w-1) for a signed input of width w (0 if unsigned): x + offset is x with its sign bit
    inverted, read as unsigned, so an unsigned leaf costs one inverter and w * offset joins the bias."""
    width, signed = bits_for_range(lo, hi)
    return 1 << (width - 1) if signed else 0


def live_key(row: Row, lo: list[int], hi: list[int]) -> tuple[int, ...]:
    """The non-constant inputs a neuron reads: the inputs of its shared sum."""
    return tuple(i for i, _ in row if lo[i] != hi[i])


def digits(row: Row, lo: list[int], hi: list[int], c: int) -> int:
    """CSD digits of the neuron with weight offset c (the shared sum counted as one)."""
    return sum(csd_len(w - c) for i, w in row if lo[i] != hi[i]) + (c != 0)


def choose_offsets(rows: list[Row], lo: list[int], hi: list[int]) -> list[int]:
    """Per neuron c in {0, +1, -1}: an offset where it saves digits, and only for input sets
    whose neurons save more adders together than their shared sum costs (len - 1)."""
    return Neurons(rows, [0] * len(rows), lo, hi).offsets


def leaf(i: int, lo: list[int], hi: list[int], shift: int = 0) -> Term:
    """Input i as an unsigned leaf (sign-offset when signed)."""
    off = sign_offset(lo[i], hi[i])
    return Term(lo[i] + off, hi[i] + off, shift, i)


def plan_shared(key: tuple[int, ...], lo: list[int], hi: list[int]) -> Term:
    """The shared sum U of the sign-offset inputs `key`."""
    return huffman_sum([leaf(i, lo, hi) for i in key])


def neuron_terms(row: Row, bias: int, lo: list[int], hi: list[int], c: int = 0, shared: Term | None = None,
                 ) -> tuple[list[Term], list[Term], int]:
    """The leaves of a neuron's adder tree (plan_sum of them, exact=linear_range(row, bias, lo, hi)):
    positive terms, negative terms, and the constant. The terms of every nonzero (offset) weight's
    CSD digits; with c != 0, those of w - c plus c times the shared sum `shared` of the row's inputs."""
    pos, neg, const = [], [], bias
    for i, w in row:
        if lo[i] == hi[i]:
            const += w * lo[i]  # a constant input is part of the bias
            continue
        const -= w * sign_offset(lo[i], hi[i])  # the leaf is x + offset
        for sign, shift in csd(w - c):
            (pos if sign > 0 else neg).append(leaf(i, lo, hi, shift))
    if c:
        (pos if c > 0 else neg).append(Term(shared.lo, shared.hi, 0, Shared(live_key(row, lo, hi))))
    return pos, neg, const


def plan_layer(rows: list[Row], bias: list[int], lo: list[int], hi: list[int],
               ) -> tuple[dict[tuple[int, ...], Term], list[Term | None]]:
    """The shared sums (by input key, in a deterministic order) and each neuron's adder tree."""
    layer = Neurons(rows, bias, lo, hi)
    return layer.sums(), layer.trees()


# --------------------------------------------------------------------------- planned once per class of rows


class RowPlan:
    """The plan of one class of rows (Neurons), worked out on a representative row relabelled to
    read inputs 0..n-1 (its entries in order): each neuron of the class has the same plan, its
    leaf k reading the neuron's k-th input."""

    def __init__(self, row: Row, bias: int, lo: list[int], hi: list[int]):
        self.row = [(k, w) for k, (_, w) in enumerate(row)]
        self.bias = bias
        self.lo, self.hi = [lo[i] for i, _ in row], [hi[i] for i, _ in row]
        self.live = live_key(self.row, self.lo, self.hi)  # which entries the shared sum reads
        self.exact = linear_range(self.row, bias, self.lo, self.hi)
        plain = digits(self.row, self.lo, self.hi, 0)
        c = min((1, -1), key=lambda c: digits(self.row, self.lo, self.hi, c))
        self.gain = plain - digits(self.row, self.lo, self.hi, c)  # digits the offset saves
        self.offset = c if self.gain > 0 else 0  # choose_offsets's pick, before the shared sum's cost
        self._terms: dict[int, tuple[list[Term], list[Term], int]] = {}
        self._signed: dict[int, list[tuple[int, int, int | None]]] = {}
        self._bits: dict[int, int] = {}

    @cached_property
    def shared(self) -> Term:
        """The shared sum of the live entries."""
        return plan_shared(self.live, self.lo, self.hi)

    @cached_property
    def shared_bits(self) -> int:
        return adder_bits(self.shared)

    def terms(self, c: int) -> tuple[list[Term], list[Term], int]:
        """neuron_terms with weight offset c; leaf refs are entry numbers (Shared: the sum)."""
        if c not in self._terms:
            self._terms[c] = neuron_terms(self.row, self.bias, self.lo, self.hi, c, self.shared if c else None)
        return self._terms[c]

    def signed(self, c: int) -> list[tuple[int, int, int | None]]:
        """The leaf terms as (sign, shift, entry number), the shared sum's entry None; P then N."""
        if c not in self._signed:
            pos, neg, _ = self.terms(c)
            entry = lambda t: None if isinstance(t.ref, Shared) else t.ref
            self._signed[c] = [(1, t.shift, entry(t)) for t in pos] + [(-1, t.shift, entry(t)) for t in neg]
        return self._signed[c]

    def bits(self, c: int) -> int:
        """adder_bits of the neuron's tree with offset c (built once, here, and thrown away)."""
        if c not in self._bits:
            self._bits[c] = adder_bits(plan_sum(*self.terms(c), exact=self.exact))
        return self._bits[c]


class Neurons:
    """A dense layer's neurons grouped into classes of rows that are the same up to input
    relabelling: the same bias and weights, in order, over inputs of the same ranges. A neuron's
    plan depends on nothing else, so each class is planned once (RowPlan) and its neurons
    relabel it: bnn_cnn's first layer is 10,816 neurons in 16 classes (a channel's positions).
    Holds the weight offsets (choose_offsets) and, per neuron, its shared sum's key."""

    def __init__(self, rows: list[Row], bias: list[int], lo: list[int], hi: list[int]):
        self.rows, self.bias, self.lo, self.hi = rows, bias, lo, hi
        plans: dict[tuple, RowPlan] = {}
        self.plans: list[RowPlan] = []
        self.inputs: list[tuple[int, ...]] = []  # per neuron its row's input indices
        self.keys: list[tuple[int, ...]] = []  # per neuron live_key(row)
        for row, b in zip(rows, bias):
            idx, ws = tuple(zip(*row)) or ((), ())
            key = (b, ws, tuple(map(lo.__getitem__, idx)), tuple(map(hi.__getitem__, idx)))
            if key not in plans:
                plans[key] = RowPlan(row, b, lo, hi)
            plan = plans[key]
            self.plans.append(plan)
            self.inputs.append(idx)
            self.keys.append(idx if len(plan.live) == len(idx) else tuple(idx[k] for k in plan.live))
        self.offsets = self._offsets()

    def _offsets(self) -> list[int]:
        """choose_offsets: each neuron's offset, kept where its input set's neurons together
        save more digits than their shared sum's len - 1 adders."""
        savings: dict[tuple[int, ...], int] = {}
        for plan, key in zip(self.plans, self.keys):
            if plan.offset:
                savings[key] = savings.get(key, 0) + plan.gain
        return [plan.offset if plan.offset and savings[key] > len(key) - 1 else 0 for plan, key in zip(self.plans, self.keys)]

    def sum_keys(self) -> list[tuple[int, ...]]:
        """The keys of the shared sums some neuron reads, sorted."""
        return sorted({key for key, c in zip(self.keys, self.offsets) if c})

    def sums(self) -> dict[tuple[int, ...], Term]:
        """The shared sums by key (plan_shared, one tree per shape: a convolution's windows over
        inputs of one range are all alike), sorted."""
        planner, lo, hi = SumPlanner(), self.lo, self.hi
        return {key: planner.plan([leaf(i, lo, hi) for i in key], []) for key in self.sum_keys()}

    def sum_bits(self) -> int:
        """adder_bits of the shared sums, counted per class."""
        sums = {key: plan for plan, key, c in zip(self.plans, self.keys, self.offsets) if c}
        return sum(plan.shared_bits for plan in sums.values())

    def terms(self, j: int) -> tuple[list[Term], list[Term], int]:
        """neuron_terms of neuron j: its class's, relabelled."""
        pos, neg, const = self.plans[j].terms(self.offsets[j])
        idx, ref = self.inputs[j], Shared(self.keys[j])
        leaf = lambda t: Term(t.lo, t.hi, t.shift, ref if isinstance(t.ref, Shared) else idx[t.ref])
        return [leaf(t) for t in pos], [leaf(t) for t in neg], const

    def signed(self, j: int) -> tuple[list[tuple[int, int, object]], int]:
        """Neuron j's leaf terms as (sign, shift, leaf ref), P then N, and their constant."""
        plan, c = self.plans[j], self.offsets[j]
        idx, key = self.inputs[j], self.keys[j]
        ref = Shared(key) if c else None
        return [(s, k, ref if e is None else idx[e]) for s, k, e in plan.signed(c)], plan.terms(c)[2]

    def term_pairs(self) -> int:
        """Pairs of leaf terms within a neuron, summed over the neurons (what sharing counts)."""
        return sum(len(terms) * (len(terms) - 1) // 2 for terms in map(RowPlan.signed, self.plans, self.offsets))

    def trees(self) -> list[Term | None]:
        """Every neuron's adder tree."""
        planner = SumPlanner()
        return [planner.plan(*self.terms(j), exact=self.plans[j].exact) for j in range(len(self.rows))]

    def bits(self) -> int:
        """layer_bits of the per-neuron plan (shared sums and trees), counted per class."""
        return self.sum_bits() + sum(plan.bits(c) for plan, c in zip(self.plans, self.offsets))
