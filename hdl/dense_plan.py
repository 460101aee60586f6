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
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from bespoke.compiler.ir import bits_for_range
from bespoke.hdl.adder_tree import Term, huffman_sum, plan_sum
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
    best, savings = [], {}
    for row in rows:
        plain = digits(row, lo, hi, 0)
        c = min((1, -1), key=lambda c: digits(row, lo, hi, c))
        gain = plain - digits(row, lo, hi, c)
        best.append(c if gain > 0 else 0)
        if gain > 0:
            key = live_key(row, lo, hi)
            savings[key] = savings.get(key, 0) + gain
    return [c if c and savings[key] > len(key) - 1 else 0 for c, key in zip(best, (live_key(r, lo, hi) for r in rows))]


def leaf(i: int, lo: list[int], hi: list[int], shift: int = 0) -> Term:
    """Input i as an unsigned leaf (sign-offset when signed)."""
    off = sign_offset(lo[i], hi[i])
    return Term(lo[i] + off, hi[i] + off, shift, i)


def plan_shared(key: tuple[int, ...], lo: list[int], hi: list[int]) -> Term:
    """The shared sum U of the sign-offset inputs `key`."""
    return huffman_sum([leaf(i, lo, hi) for i in key])


def plan_neuron(row: Row, bias: int, lo: list[int], hi: list[int], c: int = 0, shared: Term | None = None) -> Term | None:
    """The adder tree of one output: CSD terms of every nonzero (offset) weight, plus the bias;
    with c != 0, the terms of w - c plus c times the shared sum `shared` of the row's inputs."""
    return plan_sum(*neuron_terms(row, bias, lo, hi, c, shared), exact=linear_range(row, bias, lo, hi))


def neuron_terms(row: Row, bias: int, lo: list[int], hi: list[int], c: int = 0, shared: Term | None = None,
                 ) -> tuple[list[Term], list[Term], int]:
    """The leaves of plan_neuron's tree: positive terms, negative terms, and the constant."""
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


def plan_layer(rows: list[Row], bias: list[int], lo: list[int], hi: list[int], offsets: list[int] | None = None,
               ) -> tuple[dict[tuple[int, ...], Term], list[Term | None]]:
    """The shared sums (by input key, in a deterministic order) and each neuron's adder tree
    (`offsets`: choose_offsets's, when the caller has them already)."""
    offsets = choose_offsets(rows, lo, hi) if offsets is None else offsets
    keys = sorted({live_key(row, lo, hi) for row, c in zip(rows, offsets) if c})
    shared = {key: plan_shared(key, lo, hi) for key in keys}
    trees = [plan_neuron(row, b, lo, hi, c, shared.get(live_key(row, lo, hi)) if c else None)
             for row, b, c in zip(rows, bias, offsets)]
    return shared, trees
