"""infer-ranges: interval analysis giving every integer tensor element a proven [lo, hi].

The HDL sizes every signal from these ranges, and the golden model checks every value against
them, so they must be sound (never too narrow); they are as tight as interval arithmetic allows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bespoke.compiler.ir import IR, ArgMax, Conv2d, Dense, Input, MaxPool2d, Relu, Requant, Threshold, XnorPopcount
from bespoke.compiler.passes import Pass, register
from bespoke.sim.golden import round_shift, windows


def dense_range(weight: np.ndarray, bias: np.ndarray, lo: np.ndarray, hi: np.ndarray):
    """Exact per-output [lo, hi] of weight @ x + bias over the box lo <= x <= hi."""
    w = weight.astype(object)  # Python ints: no overflow however wide the accumulator
    lo_o, hi_o = lo.astype(object), hi.astype(object)
    pos = np.where(w > 0, w, 0)
    neg = np.where(w < 0, w, 0)
    out_lo = pos @ lo_o + neg @ hi_o + bias.astype(object)
    out_hi = pos @ hi_o + neg @ lo_o + bias.astype(object)
    return out_lo, out_hi


def conv_range(layer: Conv2d, lo: np.ndarray, hi: np.ndarray):
    """Exact per-output range of a convolution: dense_range over each window."""
    c_out, c_in, kh, kw = layer.weight.shape
    if layer.binary:
        n = layer.out_size([])
        return np.zeros(n, dtype=np.int64), np.full(n, c_in * kh * kw)
    w = layer.weight.astype(np.int64)
    pos, neg = np.where(w > 0, w, 0), np.where(w < 0, w, 0)
    win_lo = windows(lo[None, :].astype(np.int64), layer.in_shape, kh, kw, layer.stride)
    win_hi = windows(hi[None, :].astype(np.int64), layer.in_shape, kh, kw, layer.stride)
    bias = layer.bias.astype(np.int64)[None, :, None, None]
    out_lo = np.einsum("bchwij,ocij->bohw", win_lo, pos) + np.einsum("bchwij,ocij->bohw", win_hi, neg) + bias
    out_hi = np.einsum("bchwij,ocij->bohw", win_hi, pos) + np.einsum("bchwij,ocij->bohw", win_lo, neg) + bias
    return out_lo.ravel(), out_hi.ravel()


def layer_range(layer, lo: np.ndarray, hi: np.ndarray):
    if isinstance(layer, Dense):
        return dense_range(layer.weight, layer.bias, lo, hi)
    if isinstance(layer, Relu):
        return np.maximum(lo, 0), np.maximum(hi, 0)
    if isinstance(layer, Requant):
        # monotone in x for mult >= 0, antitone for mult < 0: evaluate at both ends
        a = round_shift(lo.astype(np.int64) * layer.mult, layer.shift, layer.rounding) + layer.zero_point
        b = round_shift(hi.astype(np.int64) * layer.mult, layer.shift, layer.rounding) + layer.zero_point
        return np.clip(np.minimum(a, b), layer.qmin, layer.qmax), np.clip(np.maximum(a, b), layer.qmin, layer.qmax)
    if isinstance(layer, ArgMax):
        return np.array([0]), np.array([len(lo) - 1])
    if isinstance(layer, XnorPopcount):
        n_out, n_in = layer.weight.shape
        return np.zeros(n_out, dtype=np.int64), np.full(n_out, n_in)
    if isinstance(layer, Threshold):  # monotone: count the thresholds each end of the range passes
        t = layer.thresholds
        return (lo[:, None] >= t).sum(axis=1), (hi[:, None] >= t).sum(axis=1)
    if isinstance(layer, Conv2d):
        return conv_range(layer, lo, hi)
    if isinstance(layer, MaxPool2d):
        k, s = layer.kernel, layer.stride
        return tuple(windows(v[None, :].astype(np.int64), layer.in_shape, k, k, s).max(axis=(4, 5)).ravel() for v in (lo, hi))
    raise TypeError(f"no range rule for layer {layer.op!r}")


@register
@dataclass(frozen=True)
class InferRanges(Pass):
    name = "infer-ranges"
    requires = ("integer",)

    def apply(self, ir: IR, ctx):
        for n in ir.order():
            layer, info = ir.layer(n), ir.out(n)
            if isinstance(layer, Input):
                lo, hi = np.full(layer.size, layer.lo), np.full(layer.size, layer.hi)
            else:
                (src,) = ir.inputs_of(n)
                lo, hi = layer_range(layer, ir.out(src).lo, ir.out(src).hi)
            info.lo = np.array([int(v) for v in lo], dtype=np.int64)
            info.hi = np.array([int(v) for v in hi], dtype=np.int64)
        return ir, True
