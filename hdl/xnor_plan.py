"""The plan of binarized neurons: XNOR with hard-wired weights, popcount, and an optional fused threshold.

y[j] = #{i in row j : x[i] == w[j, i]} (a count), or with a K = 1 threshold fused in, the bit
y[j] = count >= T[j]. With the weight a constant, the XNOR is a wire (w = 1) or an inverter
(w = 0). Inputs whose range is a single value are constants: their agreements join a constant
count, and only the other bits reach the compressor tree (hdl.popcount).

A fused threshold is decided from the count's reach: always true or false (a constant), "at
least one" (an OR), "all" (an AND), or else the popcount's ge form, which folds the comparison
into the tree and saves the comparator and the top sum bits (measured 1-2.5 % smaller than
count-then-compare in nangate45 area at 32, 256 and 784 inputs; see hdl.popcount).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bespoke.compiler.errors import BespokeError
from bespoke.hdl.popcount import ge_addend

BitRow = list[tuple[int, int]]  # a neuron's (input index, weight bit) pairs


@dataclass(frozen=True)
class Neuron:
    """One output: `bits` (input index, inverted) are the non-constant inputs, `const` the
    agreements of the constant ones; `threshold` None gives the count, else count >= threshold."""

    bits: tuple[tuple[int, bool], ...]
    const: int
    threshold: int | None = None

    @property
    def kind(self) -> str:
        return neuron_kind(len(self.bits), self.const, self.threshold)

    @property
    def out_range(self) -> tuple[int, int]:
        if self.threshold is None:
            return self.const, self.const + len(self.bits)
        if self.kind == "const":
            value = int(self.const >= self.threshold)
            return value, value
        return 0, 1

    @property
    def addend(self) -> int:
        """The ge form's addend coding the live bits' threshold."""
        return ge_addend(len(self.bits), self.threshold - self.const)


def neuron_kind(n: int, const: int, threshold: int | None) -> str:
    """Neuron.kind of a neuron with n live bits."""
    if threshold is None:
        return "count" if n else "const"
    need = threshold - const  # agreements still needed from the live bits
    if need <= 0 or need > n:
        return "const"
    return "or" if need == 1 else "and" if need == n else "ge"


def plan_neuron(row: BitRow, lo: list[int], hi: list[int], threshold: int | None = None) -> Neuron:
    bits, const = [], 0
    for i, w in row:
        if lo[i] == hi[i]:
            const += int(lo[i] == w)
        else:
            bits.append((i, w == 0))
    return Neuron(tuple(bits), const, threshold)


def plan_neurons(idx: np.ndarray, w: np.ndarray, lo: list[int], hi: list[int], thresholds=None) -> list[Neuron]:
    """plan_neuron of every neuron of a layer, vectorised: row j of the [neurons, fan-in] arrays
    idx, w is neuron j's row (hdl.stages.binary_taps); thresholds one per neuron, or None."""
    live, const = _live(idx, w, lo, hi)
    ends = np.cumsum(live.sum(axis=1)).tolist()
    inputs, inverted = idx[live].tolist(), (w[live] == 0).tolist()  # the live bits, row after row
    ts = [None] * len(idx) if thresholds is None else thresholds
    return [Neuron(tuple(zip(inputs[a:b], inverted[a:b])), c, t) for a, b, c, t in zip([0] + ends, ends, const, ts)]


def xnor_bits(idx: np.ndarray, w: np.ndarray, lo: list[int], hi: list[int], thresholds=None) -> int:
    """The live bits of the neurons plan_neurons plans that are not constants (the layer's XNOR
    wires and inverters), counted without making the neurons."""
    live, const = _live(idx, w, lo, hi)
    ts = [None] * len(idx) if thresholds is None else thresholds
    return sum(n for n, c, t in zip(live.sum(axis=1).tolist(), const, ts) if neuron_kind(n, c, t) != "const")


def _live(idx: np.ndarray, w: np.ndarray, lo: list[int], hi: list[int]) -> tuple[np.ndarray, list[int]]:
    """Which taps [neurons, fan-in] read a non-constant input, and per neuron the agreements of
    its constant ones."""
    lo, hi = np.asarray(lo)[idx], np.asarray(hi)[idx]
    live = lo != hi
    return live, ((lo == w) & ~live).sum(axis=1).tolist()


def check_bits(lo: list[int], hi: list[int], what: str) -> None:
    if any(a < 0 or b > 1 for a, b in zip(lo, hi)):
        raise BespokeError(f"{what}: inputs must be bits (range [0, 1]); a binarized layer needs a sign or threshold before it")
