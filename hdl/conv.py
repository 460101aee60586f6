"""Convolutions unrolled: one dense neuron per output position, sharing its channel's weights.

An unrolled Conv2d is a dense layer whose rows are the kernel laid over each window of the CHW-
flattened input, so it reuses the Dense (integer) and XnorPopcount (binary) machinery unchanged.
"""

from __future__ import annotations

import numpy as np


def window_index(in_shape: tuple, kh: int, kw: int, stride: int) -> np.ndarray:
    """Flat CHW input index of every window tap: [C, H', W', kh, kw]."""
    c, h, w = in_shape
    oh, ow = (h - kh) // stride + 1, (w - kw) // stride + 1
    ch = np.arange(c)[:, None, None, None, None] * h * w
    row = (np.arange(oh) * stride)[None, :, None, None, None] + np.arange(kh)[None, None, None, :, None]
    col = (np.arange(ow) * stride)[None, None, :, None, None] + np.arange(kw)[None, None, None, None, :]
    return ch + row * w + col


def conv_taps(in_shape: tuple, kh: int, kw: int, stride: int) -> np.ndarray:
    """Per output position (row-major), the flat input index of each tap in (c, i, j) order: [H' W', C kh kw]."""
    idx = window_index(in_shape, kh, kw, stride)  # [C, H', W', kh, kw]
    c, oh, ow, _, _ = idx.shape
    return idx.transpose(1, 2, 0, 3, 4).reshape(oh * ow, c * kh * kw)


def conv_rows(weight: np.ndarray, in_shape: tuple, stride: int, keep_zeros: bool = False) -> list[list[tuple[int, int]]]:
    """Per output (CHW order), its (input index, weight) pairs over its window.

    keep_zeros: keep weight-0 taps (a binary weight 0 stands for -1, not for no connection).
    """
    c_out, c_in, kh, kw = weight.shape
    taps = conv_taps(in_shape, kh, kw, stride)
    rows = []
    for o in range(c_out):
        w = weight[o].reshape(-1)
        keep = np.ones(len(w), bool) if keep_zeros else w != 0
        pairs = list(zip(w[keep].tolist(), np.flatnonzero(keep).tolist()))
        for pos in taps.tolist():
            rows.append([(pos[k], wk) for wk, k in pairs])
    return rows
