"""The integer and float arithmetic the layers' semantics are written in (pure numpy, no IR).

Shared by the layers' evaluation and range rules (compiler/layers.py), so that the golden model,
range analysis and passes compute with the very same functions: rounding shifts, sliding
windows, exact interval products, QONNX rounding, and the bit width of an integer range.
"""

from __future__ import annotations

import numpy as np


def bits_for_range(lo: int, hi: int) -> tuple[int, bool]:
    """Minimal (width, signed) of a two's-complement/unsigned integer holding every value in [lo, hi]."""
    lo, hi = int(lo), int(hi)
    if lo > hi:
        raise ValueError(f"empty range [{lo}, {hi}]")
    if lo >= 0:
        return max(1, hi.bit_length()), False
    # signed: need -2^(w-1) <= lo and hi <= 2^(w-1)-1
    width = max((-lo - 1).bit_length(), max(hi, 0).bit_length()) + 1
    return width, True


def round_shift(v: np.ndarray, shift: np.ndarray, rounding: str) -> np.ndarray:
    """v / 2^shift rounded as `rounding` says ("floor" or "half_even"), elementwise, integer."""
    shift = np.asarray(shift, dtype=np.int64)
    q = v >> shift  # arithmetic shift: floor division by 2^shift
    if rounding == "floor":
        return q
    rem = v - (q << shift)
    half = np.where(shift > 0, np.int64(1) << np.maximum(shift - 1, 0), 1)  # shift 0: rem is 0, never rounds
    up = (rem > half) | ((rem == half) & (shift > 0) & (q % 2 == 1))
    return q + up


def windows(x: np.ndarray, in_shape: tuple, kh: int, kw: int, stride: int) -> np.ndarray:
    """Sliding windows of CHW-flattened rows: [batch, C, H', W', kh, kw] (a view, no copy)."""
    c, h, w = in_shape
    img = x.reshape(x.shape[0], c, h, w)
    win = np.lib.stride_tricks.sliding_window_view(img, (kh, kw), axis=(2, 3))
    return win[:, :, ::stride, ::stride]


def correlate(win: np.ndarray, w: np.ndarray) -> np.ndarray:
    """sum over (c, i, j) of win[b, c, h, w, i, j] * w[o, c, i, j] -> [b, o, h, w]."""
    return np.tensordot(win, w, axes=([1, 4, 5], [1, 2, 3])).transpose(0, 3, 1, 2)


def dense_range(weight: np.ndarray, bias: np.ndarray, lo: np.ndarray, hi: np.ndarray):
    """Exact per-output [lo, hi] of weight @ x + bias over the box lo <= x <= hi."""
    w = weight.astype(object)  # Python ints: no overflow however wide the accumulator
    lo_o, hi_o = lo.astype(object), hi.astype(object)
    pos = np.where(w > 0, w, 0)
    neg = np.where(w < 0, w, 0)
    out_lo = pos @ lo_o + neg @ hi_o + bias.astype(object)
    out_hi = pos @ hi_o + neg @ lo_o + bias.astype(object)
    return out_lo, out_hi


def conv_range(weight: np.ndarray, bias: np.ndarray, in_shape: tuple, stride: int, lo: np.ndarray, hi: np.ndarray):
    """Exact per-output range of an integer convolution: dense_range over each window."""
    _, _, kh, kw = weight.shape
    w = weight.astype(np.int64)
    pos, neg = np.where(w > 0, w, 0), np.where(w < 0, w, 0)
    win_lo = windows(lo[None, :].astype(np.int64), in_shape, kh, kw, stride)
    win_hi = windows(hi[None, :].astype(np.int64), in_shape, kh, kw, stride)
    b = bias.astype(np.int64)[None, :, None, None]
    out_lo = np.einsum("bchwij,ocij->bohw", win_lo, pos) + np.einsum("bchwij,ocij->bohw", win_hi, neg) + b
    out_hi = np.einsum("bchwij,ocij->bohw", win_hi, pos) + np.einsum("bchwij,ocij->bohw", win_lo, neg) + b
    return out_lo.ravel(), out_hi.ravel()


def mask_runs(mask: int) -> list[tuple[int, int]]:
    """The runs of set bits of a non-negative mask, LSB first: (lowest bit, length) each."""
    runs, a, m = [], 0, int(mask)
    while m:
        while not m & 1:
            m, a = m >> 1, a + 1
        n = 0
        while m & 1:
            m, n = m >> 1, n + 1
        runs.append((a, n))
        a += n
    return runs


def masked_max(hi: int, mask: int) -> int:
    """A bound on x & mask over 0 <= x <= hi: each run of the mask at its largest (what the circuit
    of hdl.unrolled's masked columns reads: bits a..a+n-1 of x are at most min(2^n - 1, hi >> a))."""
    return sum(min((1 << n) - 1, int(hi) >> a) << a for a, n in mask_runs(mask))


def keeps_all_bits(hi: int, mask: int) -> bool:
    """Whether x & mask == x for every 0 <= x <= hi (the mask covers x's width)."""
    full = (1 << int(hi).bit_length()) - 1
    return int(mask) & full == full


def masked_dense_range(weight: np.ndarray, bias: np.ndarray, mask: np.ndarray, lo: np.ndarray, hi: np.ndarray):
    """Per-output [lo, hi] of sum_i w[j, i] * (x_i & mask[j, i]) + bias over lo <= x <= hi, x >= 0:
    a connection whose mask keeps every bit of x_i reads [lo_i, hi_i], any other [0, masked_max]."""
    out_lo, out_hi = [], []
    for w_row, m_row, b in zip(weight.tolist(), mask.tolist(), bias.tolist()):
        a = z = int(b)
        for w, m, l, h in zip(w_row, m_row, lo.tolist(), hi.tolist()):
            l, h = (l, h) if keeps_all_bits(h, m) else (0, masked_max(h, m))
            a, z = a + w * (l if w > 0 else h), z + w * (h if w > 0 else l)
        out_lo.append(a)
        out_hi.append(z)
    return np.array(out_lo, dtype=object), np.array(out_hi, dtype=object)


# QONNX's rounding modes (qonnx.custom_op.general.intquant.resolve_rounding_mode); np.round is half-even
ROUNDING_FUNCTIONS = {"ROUND": np.round, "HALF_EVEN": np.round, "FLOOR": np.floor, "CEIL": np.ceil}


def is_integer_array(a) -> bool:
    return isinstance(a, np.ndarray) and np.issubdtype(a.dtype, np.integer)


def frozen(v):
    """A read-only view of an array (the caller's array stays writable), anything else unchanged.

    Layers and tensor metadata hold their arrays read-only, so IR copies can share them.
    """
    if isinstance(v, np.ndarray) and v.flags.writeable:
        v = v.view()
        v.flags.writeable = False
    return v
