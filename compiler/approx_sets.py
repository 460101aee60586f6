"""Allowed-weight sets of coefficient approximation (issue 9), as projections onto integers.

Each function maps a (float or integer) weight array to the nearest member of its set, as an
int64 array of the same shape: what `bespoke.compiler.retrain.retrain` takes as a layer's
projection (e.g. ``{"MatMul": nearest_pow2}`` or ``{"MatMul": lambda w: nearest_csd(w, 2)}``).

- `nearest_pow2`: {0} and the signed powers of two 2^e, e >= 0 (a multiplier-free shift);
- `nearest_csd`: the integers with at most k nonzero canonical-signed-digit (CSD, non-adjacent
  form) digits, i.e. a shift-add constant with at most k - 1 adders;
- `prune`: rounding to integers, with the weights of magnitude below a threshold set to 0.

Pure numpy; the compiler does not import hdl, so hdl/csd.py (the planners' digit code) is not
used here: the CSD set is generated as sums of signed powers of two, which gives the same set
because the non-adjacent form has the fewest nonzero digits of any signed-binary form.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np


def nearest_pow2(w, max_exp: int | None = None) -> np.ndarray:
    """Each weight to 0 or the signed power of two nearest in the log domain, as int64.

    |w| < 0.5 (closer to 0 than to 1) gives 0, so 0 stays 0; otherwise sign(w) * 2^e with
    e = max(0, floor(log2 |w| + 1/2)): the exponent rounded to nearest, ties (|w| = 2^(k+1/2))
    away from zero in the log domain, i.e. to the larger power. `max_exp` caps e (e.g. 7 keeps
    an int8 layer's magnitudes at most 128).
    """
    w = np.asarray(w, dtype=np.float64)
    a = np.abs(w)
    with np.errstate(divide="ignore"):
        e = np.floor(np.log2(np.where(a > 0, a, 1.0)) + 0.5)
    e = np.maximum(e, 0)
    if max_exp is not None:
        e = np.minimum(e, max_exp)
    out = np.sign(w) * np.exp2(e)
    return np.where(a < 0.5, 0, out).astype(np.int64)


@lru_cache(maxsize=64)
def csd_values(k: int, max_exp: int) -> np.ndarray:
    """The sorted sums of at most k signed powers of two 2^0 .. 2^max_exp: every integer of
    magnitude below 2^max_exp with at most k nonzero CSD digits (whose digits reach 2^max_exp
    at most), and some larger ones. A read-only int64 vector, symmetric about 0."""
    if k < 0 or max_exp < 0:
        raise ValueError(f"csd_values needs k >= 0 and max_exp >= 0, got k={k}, max_exp={max_exp}")
    powers = np.int64(1) << np.arange(max_exp + 1, dtype=np.int64)
    terms = np.concatenate([powers, -powers])
    values = np.zeros(1, dtype=np.int64)
    for _ in range(k):
        values = np.union1d(values, (values[:, None] + terms[None, :]).ravel())
    values.flags.writeable = False
    return values


def nearest_csd(w, k: int, max_exp: int | None = None) -> np.ndarray:
    """Each weight to the nearest integer with at most k nonzero CSD digits, as int64.

    Nearest in the linear domain; ties go to the smaller magnitude. The candidates are
    `csd_values(k, max_exp)`; max_exp is by default one above the exponent of the smallest
    power of two >= the largest |w|, so every weight has a candidate on each side and the result
    is the nearest of all such integers.
    """
    if k < 1:
        raise ValueError(f"nearest_csd needs k >= 1 nonzero digits, got {k}")
    w = np.asarray(w, dtype=np.float64)
    if w.size == 0:
        return w.astype(np.int64)
    if max_exp is None:
        max_exp = int(np.ceil(np.log2(max(float(np.abs(w).max()), 1.0)))) + 1
    table = csd_values(k, max_exp)
    hi = np.clip(np.searchsorted(table, w), 1, len(table) - 1)  # table[hi - 1] < w <= table[hi] inside the table
    below, above = table[hi - 1], table[hi]
    d_below, d_above = np.abs(w - below), np.abs(above - w)
    tie_pick = np.where(np.abs(below) <= np.abs(above), below, above)
    out = np.where(d_below < d_above, below, np.where(d_above < d_below, above, tie_pick))
    return out.astype(np.int64)


def prune(w, threshold: float) -> np.ndarray:
    """Weights rounded to integers (half to even), those with |w| < threshold set to 0, as int64."""
    w = np.asarray(w, dtype=np.float64)
    return np.where(np.abs(w) < threshold, 0, np.rint(w)).astype(np.int64)
