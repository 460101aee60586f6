"""An integer requantiser equal to onnxruntime's float32 one on every accumulator value of a range.

onnxruntime runs a QDQ layer (DequantizeLinear -> MatMul/Gemm [-> Add] -> QuantizeLinear) as one
integer kernel (QGemm, QLinearMatMul, QLinearConv): it accumulates in int32 and requantises in
float32, as MLAS does it:

    S = fl32(fl32(s_a * s_b) / s_y)                    (once per output channel)
    y = clamp(rne(fl32(fl32(acc) * S)) + zp, qmin, qmax)

with rne rounding half to even. `kernel_requant` is that function. A circuit computes instead
rne(acc * mult / 2^shift) (compiler.layers.Requant). S is itself a dyadic fraction, but the
float32 product rounds: an accumulator whose exact product lies within half a float32 step of a
half-integer rounds differently, so mult / 2^shift = S is not exact.

Both are monotone in acc, so they agree on [lo, hi] exactly when, for every output code r that
the clamp lets through, they switch to r at the same accumulator value. `fit` finds those switch
points of the reference (bisection), turns each into a bound on the ratio mult / 2^shift (an
exact Fraction; open or closed as the tie rule says), and picks, over the few shortest shifts that
admit an integer, the multiplier with the fewest nonzero signed digits (the fewest adders in a
shift-add constant multiplier). None when no multiplier up to int64-safe size fits.

Then (about one channel in ten with float scales) the float32 rounding has put a value next to a
boundary off every line. `exceptions` lists, for the kernel's own multiplier S, the few
accumulator values where it rounds unlike rne(acc * S): the circuit compares the accumulator
with each (an equality comparator and a mux, compiler.layers.Requant.exceptions).
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

import numpy as np

from bespoke.compiler.ops import round_shift

F32 = np.float32
EXTRA_SHIFTS = 6  # shifts tried beyond the shortest that fits, for a sparser multiplier
MAX_EXCEPTIONS = 64  # accumulator values a channel may list apart before the fit gives up
_INT64_SAFE = 1 << 62  # |acc * mult| stays below this (the golden model multiplies in int64)


def kernel_scale(s_acc: float, s_out: float) -> np.float32:
    """onnxruntime's float32 requantisation multiplier fl32(fl32(s_acc) / s_out), where s_acc is
    the accumulator's scale s_a * s_b (exact in float64 for float32 factors)."""
    return F32(F32(s_acc) / F32(s_out))


def kernel_requant(scale: np.float32) -> Callable[[np.ndarray], np.ndarray]:
    """acc (int64 array) -> rne(fl32(fl32(acc) * scale)), before zero point and clamp."""

    def f(acc):
        product = np.asarray(acc).astype(F32) * scale  # float32 times float32: one rounding
        return np.rint(product).astype(np.int64)  # np.rint rounds half to even

    return f


def thresholds(f: Callable, lo: int, hi: int, codes: np.ndarray) -> np.ndarray:
    """For each code r, the least acc in [lo, hi] with f(acc) >= r (hi + 1 when there is none);
    f monotone non-decreasing. One vectorised bisection for all codes."""
    a = np.full(len(codes), lo, dtype=np.int64)
    b = np.full(len(codes), hi + 1, dtype=np.int64)
    while np.any(a < b):
        open_ = a < b
        mid = a + (b - a) // 2
        ok = f(np.minimum(mid, hi)) >= codes
        b = np.where(open_ & ok, mid, b)
        a = np.where(open_ & ~ok, mid + 1, a)
    return a


class _Ratio:
    """The set of ratios R = mult / 2^shift allowed so far: an interval with open or closed ends."""

    def __init__(self):
        self.lo, self.lo_open = Fraction(0), True  # multipliers are positive
        self.hi, self.hi_open = None, False
        self.empty = False

    def at_least(self, v: Fraction, strict: bool) -> None:
        if v > self.lo or (v == self.lo and strict):
            self.lo, self.lo_open = v, strict

    def at_most(self, v: Fraction, strict: bool) -> None:
        if self.hi is None or v < self.hi or (v == self.hi and strict):
            self.hi, self.hi_open = v, strict

    def reaches(self, acc: int, r: int) -> None:
        """rne(acc * R) >= r: acc * R >= r - 1/2, strictly when r is odd (r - 1/2 rounds to r - 1)."""
        self._times_at_least(acc, Fraction(2 * r - 1, 2), strict=r % 2 == 1)

    def stays_below(self, acc: int, r: int) -> None:
        """rne(acc * R) < r: acc * R <= r - 1/2, strictly when r is even."""
        self._times_at_most(acc, Fraction(2 * r - 1, 2), strict=r % 2 == 0)

    def _times_at_least(self, acc: int, v: Fraction, strict: bool) -> None:
        if acc > 0:
            self.at_least(v / acc, strict)
        elif acc < 0:
            self.at_most(v / acc, strict)
        elif not (0 > v if strict else 0 >= v):
            self.empty = True

    def _times_at_most(self, acc: int, v: Fraction, strict: bool) -> None:
        if acc > 0:
            self.at_most(v / acc, strict)
        elif acc < 0:
            self.at_least(v / acc, strict)
        elif not (0 < v if strict else 0 <= v):
            self.empty = True

    def multipliers(self, shift: int) -> tuple[int, int]:
        """The integer range [m_lo, m_hi] of mult with mult / 2^shift in the interval (m_lo > m_hi: none)."""
        x = self.lo * (1 << shift)
        m_lo = max(1, x.numerator + 1 if self.lo_open and x.denominator == 1 else _ceil(x))
        if self.hi is None:
            return m_lo, _INT64_SAFE
        y = self.hi * (1 << shift)
        m_hi = int(y) - 1 if self.hi_open and y.denominator == 1 else y.numerator // y.denominator
        return m_lo, m_hi


def _ceil(x: Fraction) -> int:
    return -((-x.numerator) // x.denominator)


def signed_digits(m: int) -> int:
    """Nonzero digits of m's canonical signed-digit (non-adjacent) form."""
    n = 0
    while m:
        if m & 1:
            m -= 2 - (m & 3)
            n += 1
        m >>= 1
    return n


def sparsest(m_lo: int, m_hi: int) -> int:
    """An integer of [m_lo, m_hi] (m_lo >= 1) with few signed digits: among the multiples of each
    power of two in the range (the smallest and the largest), the one with the fewest, ties to
    the smaller."""
    candidates = {m_lo, m_hi}
    for t in range(m_hi.bit_length()):
        step = 1 << t
        first = -((-m_lo) // step) * step
        if first > m_hi:
            break
        candidates |= {first, (m_hi // step) * step}
    return min(candidates, key=lambda m: (signed_digits(m), m))


def fit(f: Callable, lo: int, hi: int, rmin: int, rmax: int, max_shift: int = 62) -> tuple[int, int] | None:
    """(mult, shift) with clamp(rne(acc * mult / 2^shift), rmin, rmax) == clamp(f(acc), rmin, rmax)
    for every integer acc in [lo, hi]; f monotone non-decreasing. None if no such multiplier keeps
    |acc * mult| int64-safe."""
    lo, hi = int(lo), int(hi)
    codes = np.arange(rmin + 1, rmax + 1, dtype=np.int64)
    switch = thresholds(f, lo, hi, codes)
    ratio = _Ratio()
    for r, t in zip(codes.tolist(), switch.tolist()):
        if t <= hi:
            ratio.reaches(t, r)
        if t > lo:
            ratio.stays_below(t - 1, r)
    if ratio.empty:
        return None
    peak = max(abs(lo), abs(hi), 1)
    best, first = None, None
    for shift in range(max_shift + 1):
        m_lo, m_hi = ratio.multipliers(shift)
        m_hi = min(m_hi, (_INT64_SAFE - 1) // peak)
        if m_lo > m_hi:
            continue
        first = shift if first is None else first
        m, s = _shortest(sparsest(m_lo, m_hi), shift)
        if best is None or (signed_digits(m), s) < (signed_digits(best[0]), best[1]):
            best = (m, s)
        if shift >= first + EXTRA_SHIFTS:
            break
    return best


def _shortest(m: int, shift: int) -> tuple[int, int]:
    """The same ratio m / 2^shift with the shortest shift."""
    while m % 2 == 0 and shift > 0:
        m, shift = m // 2, shift - 1
    return m, shift


def exceptions(f: Callable, mult: int, shift: int, lo: int, hi: int, rmin: int, rmax: int) -> list[tuple[int, int]] | None:
    """The accumulator values of [lo, hi] where clamp(f) and clamp(rne(acc * mult / 2^shift))
    differ (both monotone: between their switch points for the same code), with f's value there;
    None when there are more than MAX_EXCEPTIONS."""
    codes = np.arange(rmin + 1, rmax + 1, dtype=np.int64)
    line = lambda acc: round_shift(np.asarray(acc, dtype=np.int64) * mult, np.int64(shift), "half_even")
    apart: set[int] = set()
    for a, b in zip(thresholds(f, lo, hi, codes).tolist(), thresholds(line, lo, hi, codes).tolist()):
        if abs(a - b) > MAX_EXCEPTIONS:
            return None
        apart.update(range(min(a, b), max(a, b)))
        if len(apart) > MAX_EXCEPTIONS:
            return None
    at = np.array(sorted(apart), dtype=np.int64)
    return list(zip(at.tolist(), np.clip(f(at), rmin, rmax).tolist()))
