"""Input reads of the folded engine's MVUs: which source elements feed each SIMD lane, how they
are grouped into aligned words, and the sliding window (line buffer) of conv layers.

Pure Python and numpy, like hdl.folded_plan, which uses it; the buffers are hdl.folded_buffer's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bespoke.compiler.ir import Conv2d
from bespoke.hdl.folded_buffer import Buffer


def conv_columns(layer: Conv2d, src: Buffer, view: tuple) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The conv as a matrix: weight columns, and where each column's input sits in the sliding
    window: (kernel row ky, element index in that window row at output column 0).

    Column order follows the storage: (ky, kx, c) for HWC buffers, so a pixel's channels are
    adjacent columns and adjacent addresses; (c, ky, kx) for CHW buffers (rows of a kernel adjacent).
    """
    _, c_in, kh, kw = layer.weight.shape
    if src.shape is not None:
        cols = [(c, ky, kx) for ky in range(kh) for kx in range(kw) for c in range(c_in)]
    else:
        cols = [(c, ky, kx) for c in range(c_in) for ky in range(kh) for kx in range(kw)]
    weights = np.stack([layer.weight[:, c, ky, kx] for c, ky, kx in cols], axis=1)
    return weights, [(ky, row_addr(src, view, c, kx)) for c, ky, kx in cols]


def row_addr(src: Buffer, view: tuple, ch: int, x: int) -> int:
    """Index of element (ch, x) in a window row: the source's row y, all channels, as stored
    (HWC: x * C + ch; CHW: the channels' row slices one after the other, ch * W + x)."""
    c, _, w = view
    return x * c + ch if src.shape is not None else ch * w + x


def source_row(src: Buffer, view: tuple, y: int) -> list[tuple[int, int]]:
    """The (start, length) element ranges of the source buffer that form window row y."""
    c, h, w = view
    if src.shape is not None:
        return [(y * w * c, w * c)]
    return [(ch * h * w + y * w, w) for ch in range(c)]


@dataclass
class ReadPlan:
    """Where the SIMD inputs of each synapse fold come from, as SIMD/unit words of `unit` elements.

    Dense layers read the source buffer itself (`window` rows = 0; row 0 is the whole buffer).
    Conv layers read a sliding window: kh row registers, each a full source row (all channels),
    loaded once at the start and then shifted up by the stride, with the new rows fetched, at
    each new output row (a line buffer, as FINN's sliding-window generator). Chunk q of fold sf
    is word `offset[sf, q] + ox * step` (in units) of row `row[sf, q]`, ox the output column.
    """

    unit: int
    row: np.ndarray  # [SF, SIMD/unit]
    offset: np.ndarray  # [SF, SIMD/unit]
    step: int  # units per output column
    window: int = 0  # row registers (kernel height) of a conv's sliding window; 0: read the source
    row_len: int = 0  # elements per window row
    view: tuple | None = None  # the conv's input shape (C, H, W)

    @property
    def chunks(self) -> int:
        return self.row.shape[1]


def read_plan(places: list[tuple[int, int]], cols: int, simd: int, src: Buffer, conv: Conv2d | None) -> ReadPlan:
    """The largest `unit` dividing SIMD such that every group of `unit` lanes reads `unit` adjacent
    elements of one row, starting at a multiple of `unit`, at every output column: one wide
    aligned word is far cheaper than `unit` independent element multiplexers."""
    step = row_addr(src, conv.in_shape, 0, conv.stride) - row_addr(src, conv.in_shape, 0, 0) if conv else 0
    sf = -(-cols // simd)
    rows = np.zeros(sf * simd, dtype=np.int64)
    addrs = np.full(sf * simd, -1, dtype=np.int64)  # -1: a padded lane, reads anything
    rows[:cols], addrs[:cols] = zip(*places)
    rows, addrs = rows.reshape(sf, simd), addrs.reshape(sf, simd)
    for unit in sorted((d for d in range(1, simd + 1) if simd % d == 0), reverse=True):
        if step % unit:
            continue
        r, a = rows.reshape(sf, -1, unit), addrs.reshape(sf, -1, unit)
        real = a >= 0
        same_row = np.where(real, r == r[:, :, :1], True).all()
        adjacent = np.where(real, a == a[:, :, :1] + np.arange(unit), True).all()
        if same_row and adjacent and (np.maximum(a[:, :, 0], 0) % unit == 0).all():
            plan = ReadPlan(unit, r[:, :, 0], np.maximum(a[:, :, 0], 0) // unit, step // unit)
            if conv is not None:
                _, _, kh, _ = conv.weight.shape
                plan.window, plan.view = kh, tuple(conv.in_shape)
                plan.row_len = conv.in_shape[0] * conv.in_shape[2]
            return plan
    raise AssertionError("unit 1 always fits")


def padded_words(length: int, unit: int) -> int:
    """Words of `unit` elements covering `length` elements (the tail zero-padded)."""
    return -(-length // unit)
