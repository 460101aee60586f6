"""Exact integer arithmetic for streamlining: thresholds and argmax heads over integer accumulators.

Every real number here is a `Fraction`. Float parameters (batch-norm, scales, biases) convert to
fractions exactly, so a threshold is the true boundary of the real inequality at the integers,
never a float division rounded the wrong way at a tie.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from bespoke.compiler.errors import BespokeError

# The argmax head searches integer scores with up to this many fractional bits.
_MAX_HEAD_BITS = 40
# ... and checks pairwise decisions over at most this many accumulator values in total.
_MAX_HEAD_WORK = 5_000_000


def exact(values) -> np.ndarray:
    """Float (or int) values -> object array of Fractions, exactly."""
    arr = np.asarray(values)
    if arr.dtype != object and np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
        raise BespokeError("the model's constants combine to NaN or infinite scales or offsets (values beyond float "
                           "range); check its batch-norm, scale and quantiser parameters")
    out = np.empty(arr.shape, dtype=object)
    flat = out.reshape(-1)
    for k, v in enumerate(arr.reshape(-1)):
        flat[k] = Fraction(int(v)) if isinstance(v, (int, np.integer)) else Fraction(float(v))
    return out


def first_at_least(alpha: Fraction, beta: Fraction, t: Fraction, strict: bool, lo: int, hi: int) -> int:
    """Smallest integer a in [lo, hi] with alpha*a + beta >= t (> t when strict); hi + 1 if none.

    alpha >= 0. The candidate comes from the exact root and is then checked against the
    inequality itself at the candidate and just below it.
    """

    def holds(a: int) -> bool:
        v = alpha * a + beta
        return v > t if strict else v >= t

    if alpha == 0:
        return lo if holds(lo) else hi + 1
    if alpha < 0:
        raise ValueError("first_at_least needs a non-negative slope; flip the accumulator first")
    root = (t - beta) / alpha
    a = min(max(math.floor(root) + 1 if strict else math.ceil(root), lo), hi + 1)
    if not ((a > hi or holds(a)) and (a == lo or not holds(a - 1))):
        raise AssertionError(f"threshold {a} does not bound {alpha}*a + {beta} {'>' if strict else '>='} {t}")
    return a


def thresholds(alpha, beta, steps, lo, hi) -> np.ndarray:
    """Integer thresholds [size, K] of count_k [alpha*a + beta >= step_k] per element, rows ascending.

    steps: list of K (thr, strict) pairs of per-element arrays. Elements sharing their
    parameters (a convolution channel) are solved once.
    """
    size, k = len(alpha), len(steps)
    out = np.zeros((size, k), dtype=np.int64)
    memo: dict = {}
    for e in range(size):
        key = (alpha[e], beta[e], int(lo[e]), int(hi[e])) + tuple((s[0][e], bool(s[1][e])) for s in steps)
        if key not in memo:
            row = [first_at_least(alpha[e], beta[e], thr[e], bool(strict[e]), int(lo[e]), int(hi[e])) for thr, strict in steps]
            memo[key] = sorted(row)
        out[e] = memo[key]
    return out


def argmax_head(alpha, beta, lo, hi) -> tuple[np.ndarray, np.ndarray]:
    """Integer scores m*a + c whose argmax (lowest index on ties) equals that of alpha*a + beta.

    alpha >= 0 per class (0: a constant score). Candidates are the real scores times 2^k / max(alpha), rounded, for
    growing k; one is accepted when, for every pair of classes i < j and every value of a_i in its
    range, the largest a_j that class i still beats (>=) is the same for the real and the
    integer scores. That is exactly "the same winner on every input".
    """
    n = len(alpha)
    lo, hi = [int(v) for v in lo], [int(v) for v in hi]
    if sum(hi[i] - lo[i] + 1 for i in range(n)) * n > _MAX_HEAD_WORK:
        raise BespokeError("the scores before ArgMax have per-class scales and ranges too wide to check exactly; "
                           "use one positive scale for all classes (e.g. a scalar Mul or TensorNorm)")
    real = {(i, j): _beaten_up_to(lambda a, i=i: alpha[i] * a + beta[i], alpha[j], beta[j], lo[i], hi[i], lo[j], hi[j])
            for i in range(n) for j in range(i + 1, n)}
    top = max(alpha) or max(abs(b) for b in beta) or Fraction(1)
    for bits in range(0, _MAX_HEAD_BITS + 1):
        m = [round(a / top * 2**bits) for a in alpha]
        c = [round(b / top * 2**bits) for b in beta]
        if any(mi == 0 and a != 0 for mi, a in zip(m, alpha)):
            continue
        if all(_int_beaten_up_to(m[i], c[i], m[j], c[j], lo[i], hi[i], lo[j], hi[j]) == real[i, j] for (i, j) in real):
            g = math.gcd(*m, *c)
            m, c = [v // g for v in m], [v // g for v in c]
            if max(map(abs, m + c)).bit_length() > 62:  # scales or offsets out of all proportion (e.g. 1e38)
                raise BespokeError("the integer scores before ArgMax would need more than 62 bits: the per-class scales "
                                   "and offsets differ by too many orders of magnitude")
            return np.array(m, dtype=np.int64), np.array(c, dtype=np.int64)
    raise BespokeError(f"cannot realise the per-class score scales before ArgMax with integers of up to {_MAX_HEAD_BITS} "
                       "fractional bits; use one positive scale for all classes")


def _beaten_up_to(score_i, alpha_j, beta_j, lo_i, hi_i, lo_j, hi_j) -> tuple[int, ...]:
    """For each a_i: the largest a_j (clamped to [lo_j - 1, hi_j]) with score_i(a_i) >= alpha_j*a_j + beta_j."""
    out = []
    for a in range(lo_i, hi_i + 1):
        if alpha_j == 0:  # a constant score j: beaten by all of its range or by none
            out.append(hi_j if score_i(a) >= beta_j else lo_j - 1)
        else:
            out.append(min(max(math.floor((score_i(a) - beta_j) / alpha_j), lo_j - 1), hi_j))
    return tuple(out)


def _int_beaten_up_to(m_i, c_i, m_j, c_j, lo_i, hi_i, lo_j, hi_j) -> tuple[int, ...]:
    return _beaten_up_to(lambda a: m_i * a + c_i, Fraction(m_j), Fraction(c_j), lo_i, hi_i, lo_j, hi_j)
