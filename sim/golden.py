"""The golden model: a numpy interpreter of the IR, batched, bit-exact on integer IRs.

This is the reference every circuit is checked against. Integer IRs are evaluated in int64 with
exactly the semantics documented on each layer in compiler/ir.py; float IRs (the frontend's
output, before quantisation) in float64, which gives the float model's predictions.
"""

from __future__ import annotations

import numpy as np

from bespoke.compiler.ir import (IR, Affine, ArgMax, Bipolar, Conv2d, Dense, FakeQuant, Input, IntQuant, MaxPool2d, MultiThreshold, Relu,
                         Requant, Threshold, XnorPopcount)

# int64 must hold every intermediate value; refuse IRs whose proven ranges come near that.
_INT64_SAFE_BITS = 62


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


def _correlate(win: np.ndarray, w: np.ndarray) -> np.ndarray:
    """sum over (c, i, j) of win[b, c, h, w, i, j] * w[o, c, i, j] -> [b, o, h, w]."""
    return np.tensordot(win, w, axes=([1, 4, 5], [1, 2, 3])).transpose(0, 3, 1, 2)


def conv2d(layer: Conv2d, x: np.ndarray) -> np.ndarray:
    c_out, _, kh, kw = layer.weight.shape
    if not layer.is_integer_valued():  # a float IR's convolution
        win = windows(x.astype(np.float64), layer.in_shape, kh, kw, layer.stride)
        y = _correlate(win, layer.weight.astype(np.float64)) + layer.bias[None, :, None, None]
        return y.reshape(x.shape[0], -1)
    win = windows(x.astype(np.int64), layer.in_shape, kh, kw, layer.stride)
    w = layer.weight.astype(np.int64)
    if layer.binary:  # popcount of XNOR = agreements on ones + agreements on zeros
        y = _correlate(win, w) + _correlate(1 - win, 1 - w)
    else:
        y = _correlate(win, w) + layer.bias.astype(np.int64)[None, :, None, None]
    return y.reshape(x.shape[0], -1)


def maxpool2d(layer: MaxPool2d, x: np.ndarray) -> np.ndarray:
    win = windows(x, layer.in_shape, layer.kernel, layer.kernel, layer.stride)
    return win.max(axis=(4, 5)).reshape(x.shape[0], -1)


# QONNX's rounding modes (qonnx.custom_op.general.intquant.resolve_rounding_mode); np.round is half-even
ROUNDING_FUNCTIONS = {"ROUND": np.round, "HALF_EVEN": np.round, "FLOOR": np.floor, "CEIL": np.ceil}


def int_quant(layer: IntQuant, x: np.ndarray) -> np.ndarray:
    """QONNX Quant: scale, shift, clip, round, and back to reals (the order qonnx executes)."""
    y = x / layer.scale + layer.zero_point
    if layer.bipolar:
        q = np.where(y >= 0, 1.0, -1.0)
    else:
        q = ROUNDING_FUNCTIONS[layer.rounding](np.clip(y, layer.qmin, layer.qmax))
    return (q - layer.zero_point) * layer.scale


def eval_layer(layer, args: list[np.ndarray]) -> np.ndarray:
    """Evaluate one layer on a batch (rows are samples)."""
    x = args[0] if args else None
    if isinstance(layer, Dense):
        if layer.is_integer_valued():
            return x.astype(np.int64) @ layer.weight.T.astype(np.int64) + layer.bias.astype(np.int64)
        return x.astype(np.float64) @ layer.weight.T.astype(np.float64) + layer.bias
    if isinstance(layer, Relu):
        return np.maximum(x, 0)
    if isinstance(layer, Requant):
        v = round_shift(x.astype(np.int64) * layer.mult, layer.shift, layer.rounding) + layer.zero_point
        return np.clip(v, layer.qmin, layer.qmax)
    if isinstance(layer, ArgMax):
        return np.argmax(x, axis=1).astype(np.int64)[:, None]  # numpy: first maximum wins ties
    if isinstance(layer, XnorPopcount):
        w = layer.weight.astype(np.int64)
        x = x.astype(np.int64)
        return x @ w.T + (1 - x) @ (1 - w).T
    if isinstance(layer, Threshold):
        return (x[:, :, None] >= layer.thresholds[None, :, :]).sum(axis=2).astype(np.int64)
    if isinstance(layer, Conv2d):
        return conv2d(layer, x)
    if isinstance(layer, MaxPool2d):
        return maxpool2d(layer, x)
    if isinstance(layer, Affine):
        return x * layer.scale + layer.offset
    if isinstance(layer, FakeQuant):
        q = np.clip(np.rint(x / layer.scale) + layer.zero_point, layer.qmin, layer.qmax)
        return (q - layer.zero_point) * layer.scale
    if isinstance(layer, Bipolar):
        return np.where(x >= 0, layer.scale, -layer.scale)
    if isinstance(layer, IntQuant):
        return int_quant(layer, x)
    if isinstance(layer, MultiThreshold):
        count = (x[:, :, None] >= layer.thresholds[None, :, :]).sum(axis=2)
        return count * layer.out_scale + layer.out_bias
    raise TypeError(f"golden model has no semantics for layer {layer.op!r}")


def run_all(ir: IR, x: np.ndarray, check_ranges: bool = True) -> dict[str, np.ndarray]:
    """Every node's output tensor for the batch `x` (integer codes for integer IRs).

    With `check_ranges`, every integer tensor is checked against its proven range: a value
    outside it means the range analysis (and so the hardware widths) would be wrong.
    """
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"golden model expects a 2-D batch, got shape {x.shape}")
    integer = ir.is_integer()
    if integer:
        if not np.issubdtype(x.dtype, np.integer):
            raise ValueError("an integer IR takes integer input codes")
        _check_int64_safe(ir)
    values: dict[str, np.ndarray] = {}
    for n in ir.order():
        layer = ir.layer(n)
        if isinstance(layer, Input):
            if x.shape[1] != layer.size:
                raise ValueError(f"input has {x.shape[1]} features, the model takes {layer.size}")
            values[n] = x.astype(np.int64) if integer else x.astype(np.float64)
        else:
            values[n] = eval_layer(layer, [values[i] for i in ir.inputs_of(n)])
        info = ir.out(n)
        if integer and check_ranges and info.has_ranges():
            bad = (values[n] < info.lo) | (values[n] > info.hi)
            if bad.any():
                row, col = map(int, np.argwhere(bad)[0])
                raise AssertionError(
                    f"node {n}: value {values[n][row, col]} of element {col} (sample {row}) outside its "
                    f"proven range [{info.lo[col]}, {info.hi[col]}]"
                )
    return values


def run(ir: IR, x: np.ndarray, check_ranges: bool = True) -> np.ndarray:
    """The output tensor of the IR for the batch `x`."""
    return run_all(ir, x, check_ranges)[ir.output_node()]


def _check_int64_safe(ir: IR) -> None:
    for n in ir.graph:
        info = ir.out(n)
        if info.has_ranges():
            peak = max(abs(int(info.lo.min())), abs(int(info.hi.max())))
            layer = ir.layer(n)
            if isinstance(layer, Requant):
                # the product x * mult is formed before the shift
                (src,) = ir.inputs_of(n)
                src_info = ir.out(src)
                if src_info.has_ranges():
                    peak = max(peak, int(np.abs(np.concatenate([src_info.lo, src_info.hi])).max()) * int(np.abs(layer.mult).max()))
            if peak.bit_length() > _INT64_SAFE_BITS:
                raise ValueError(f"node {n}: values up to {peak} do not fit the golden model's int64")
