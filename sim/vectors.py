"""Packing test vectors into the flat port words of the port contract, and back.

Element i of a vector sits at bits [i*width, (i+1)*width) of one unsigned word, in two's
complement when signed. Words are Python ints, so any total width works.
"""

from __future__ import annotations

import numpy as np


def check_fits(values: np.ndarray, width: int, signed: bool, what: str) -> None:
    """Raise ValueError when a value cannot be represented in `width` bits of the given signedness."""
    values = np.asarray(values)
    if values.size == 0:
        return
    lo, hi = (-(1 << (width - 1)), (1 << (width - 1)) - 1) if signed else (0, (1 << width) - 1)
    bad = np.argwhere((values < lo) | (values > hi)) if values.dtype != object else _argwhere_obj(values, lo, hi)
    if len(bad):
        row, col = map(int, bad[0])
        kind = f"{'s' if signed else 'u'}{width}"
        raise ValueError(f"{what}[{row}, {col}] = {values[row, col]} does not fit {kind} [{lo}, {hi}]")


def _argwhere_obj(values: np.ndarray, lo: int, hi: int) -> np.ndarray:
    # object arrays hold Python ints (wider than 64 bits): compare element by element
    return np.argwhere(np.vectorize(lambda v: not lo <= v <= hi, otypes=[bool])(values))


def pack(values: np.ndarray, width: int) -> list[int]:
    """One unsigned word per row of `values` (shape (N, n)); negative values wrap to two's complement."""
    values = np.asarray(values)
    n_rows, n_cols = values.shape
    mask = (1 << width) - 1
    if width * n_cols <= 63 and values.dtype.kind in "iu":
        # fast path: the fields are disjoint and the sum fits int64, so the sum is the OR
        fields = (values.astype(np.int64) & mask) << (np.arange(n_cols, dtype=np.int64) * width)
        return fields.sum(axis=1).tolist()
    cols = values.astype(object)
    words = np.zeros(n_rows, dtype=object)
    for i in range(n_cols):
        words |= (cols[:, i] & mask) << (i * width)
    return words.tolist()


def unpack(word: int, n: int, width: int, signed: bool) -> list[int]:
    """The `n` elements of one packed word."""
    mask = (1 << width) - 1
    out = []
    for i in range(n):
        v = (word >> (i * width)) & mask
        if signed and v >> (width - 1):
            v -= 1 << width
        out.append(v)
    return out


def split_bits(bits: str, n: int, width: int) -> list[str]:
    """The `n` element bit strings of a packed binary string (MSB first), e.g. one holding X or Z."""
    total = len(bits)
    return [bits[total - (i + 1) * width : total - i * width] for i in range(n)]
