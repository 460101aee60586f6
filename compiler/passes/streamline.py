"""streamline: a binarized / low-bit float IR (QONNX-style) -> an integer IR of thresholds, after FINN.

One walk over the float graph. Every tensor of the new IR is an integer vector v whose real value
is known exactly: real = scale * v + offset per element (Fractions). Layers act on that:
- a quantiser on the raw input becomes the `Input` codes (real = scale * (q - zero_point));
- elementwise affines (batch-norm, bias, scalar Mul/Add) only change scale and offset: absorbed;
- a linear layer (Gemm/MatMul/Conv) on codes with one common scale becomes an integer MAC
  (`Dense` / `Conv2d` with the integer weight grid), or, when its inputs are bits standing for
  +-s and its weights +-w, an XNOR-popcount (`XnorPopcount` / binary `Conv2d`), real = 2ws*P - nws;
- a monotone activation (sign, Quant, MultiThreshold) of an accumulator becomes a `Threshold`
  with integer thresholds solved exactly (compiler/passes/thresholds.py). A negative slope is
  turned positive first by negating the producing layer for that neuron (integer weights -> -w,
  XNOR weights inverted so popcount P -> n - P), as the IR's thresholds are always ">=";
- max-pooling commutes with increasing maps: it runs on codes (on bits it is an OR);
- ArgMax keeps the accumulators when every class shares one positive scale and one offset, and
  otherwise gets integer per-class scores whose winner is proven equal on every input.

The sign convention is the exporters': sign(0) = +1.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np

from bespoke.compiler.errors import BespokeError
from bespoke.compiler.ir import (IR, Affine, ArgMax, Bipolar, Conv2d, Dense, Input, IntQuant, MaxPool2d, MultiThreshold, Pad2d,
                         Threshold, XnorPopcount)
from bespoke.compiler.ops import windows
from bespoke.compiler.passes import Pass, PassResult, register
from bespoke.compiler.passes.thresholds import argmax_head, exact, thresholds

SUPPORTED = "input, Quant/IntQuant, BipolarQuant/Sign, MultiThreshold, Gemm/MatMul, Conv (padded too), BatchNormalization/Add/Mul, MaxPool, ArgMax"


@dataclass
class _T:
    """An integer tensor of the new IR: real = scale * v + offset (object arrays of Fractions)."""

    node: str
    scale: np.ndarray
    offset: np.ndarray
    lo: np.ndarray  # proven integer range (Python ints)
    hi: np.ndarray
    shape: tuple
    negatable: bool = False  # its producer is a linear layer the walk may still negate per neuron
    # a padded image: (border mask [size], per channel what the border code stands for minus the
    # model's padding value); the convolution reading it subtracts that from its offsets
    padding: tuple | None = None


@dataclass(frozen=True)
class _Raw:
    """The float model input before its quantiser, through the elementwise operations the model
    puts in front of it (Brevitas' `2x - 1`, FINN's `x / 255`), kept as the model runs them
    (compiler.input_encoding)."""

    size: int
    ops: tuple = ()


@register
@dataclass(frozen=True)
class Streamline(Pass):
    name = "streamline"
    ensures = ("integer",)
    in_place = False  # builds a new IR

    def apply(self, ir: IR, ctx):
        return PassResult(_Walk(ir).run(), True)


def is_binarized(ir: IR) -> bool:
    """Whether a float IR has the QONNX activations only the streamlining pass can lower."""
    return any(isinstance(ir.layer(n), (Bipolar, IntQuant, MultiThreshold)) for n in ir.graph)


class _Walk:
    def __init__(self, src: IR):
        self.src = src
        self.dst = IR(src.name)
        self.dst.meta = dict(src.meta)
        self.t: dict[str, _T | _Raw] = {}

    def run(self) -> IR:
        handlers = {Input: self._input, IntQuant: self._intquant, Bipolar: self._bipolar, MultiThreshold: self._multithreshold,
                    Affine: self._affine, Dense: self._linear, Conv2d: self._linear, MaxPool2d: self._maxpool, ArgMax: self._argmax,
                    Pad2d: self._pad}
        for n in self.src.order():
            layer = self.src.layer(n)
            handler = handlers.get(type(layer))
            if handler is None:
                raise BespokeError(f"node {n!r} ({layer.op}): not supported in a binarized network; supported: {SUPPORTED}")
            arg = self._arg(n) if self.src.inputs_of(n) else None
            if isinstance(arg, _T) and arg.padding is not None and not isinstance(layer, Conv2d):
                raise BespokeError(f"node {n!r} ({layer.op}) reads a padded image; padding is supported only in front of a convolution")
            if isinstance(layer, (Dense, Conv2d, MaxPool2d, ArgMax, Pad2d)) and isinstance(arg, _Raw):
                raise BespokeError(f"node {n!r} ({layer.op}) reads the raw model input; quantise the input first "
                                   "(a QONNX Quant, BipolarQuant or MultiThreshold node, or an integer datatype annotation on the input)")
            self.t[n] = handler(n, layer)
        out = self.t[self.src.output_node()]
        if isinstance(out, _Raw):
            raise BespokeError("the model computes nothing from its input")
        self._record_scales()
        self.dst.meta["streamline"] = {"sign_of_zero": 1}
        self.dst.meta["inexact"] = []  # every quantiser is the model's own: the IR is its arithmetic, exactly
        return self.dst

    # -- helpers
    def _arg(self, n: str):
        (src,) = self.src.inputs_of(n)
        return self.t[src]

    def _add(self, n: str, layer, src: _T | None) -> str:
        name = self.dst.unique_name(n)
        self.dst.add(name, layer, [src.node] if src else [])
        return name

    def _ranges(self, node: str, src: _T) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self.dst.layer(node).infer_range((src.lo, src.hi))
        return _ints(lo), _ints(hi)

    def _record_scales(self):
        """Real scale / offset of every tensor as float metadata (the hardware never sees them):
        each node's last view, i.e. with the affines that follow it absorbed. Not the input's:
        its scale / offset are the input quantiser's own (set by `_input_codes`), the encoding
        of a real feature into a code; with the model's `2x - 1` after the quantiser absorbed,
        the encoder would turn pixel 0 into code 128."""
        for t in self.t.values():
            if isinstance(t, _T) and t.node in self.dst.graph and not isinstance(self.dst.layer(t.node), Input):
                info = self.dst.out(t.node)
                info.scale = np.array([float(v) for v in t.scale])
                info.offset = np.array([float(v) for v in t.offset])

    # -- input and quantisers
    def _input(self, n, layer: Input):
        return _Raw(layer.size)

    def _intquant(self, n, layer: IntQuant):
        x = self._arg(n)
        s, z = exact(layer.scale), exact(layer.zero_point)
        if isinstance(x, _Raw) and not layer.bipolar:
            q = {"kind": "round", "scale": layer.scale, "zero_point": layer.zero_point, "lo": layer.qmin, "hi": layer.qmax,
                 "rounding": layer.rounding}
            return self._input_codes(n, x, q, layer.qmin, layer.qmax, s, -s * z)
        if isinstance(x, _Raw):  # y = x/s + z >= 0 -> +s(1 - z), else -s(1 + z)
            q = {"kind": "steps", "scale": layer.scale, "zero_point": layer.zero_point, "thresholds": np.zeros((x.size, 1))}
            return self._input_codes(n, x, q, 0, 1, 2 * s, -s - s * z)
        if layer.bipolar:  # y = x/s + z >= 0  <=>  x >= -s z; q = 2c - 1; real = s (q - z)
            return self._activate(n, x, [(-s * z, _none(x))], 2 * s, -s - s * z)
        steps = [_quant_step(m, s, z, layer.rounding) for m in range(layer.qmin + 1, layer.qmax + 1)]
        return self._activate(n, x, steps, s, (layer.qmin - z) * s)

    def _input_codes(self, n, x: _Raw, quantiser: dict, lo: int, hi: int, scale, offset) -> _T:
        """The model's own input quantiser (after its elementwise prefix): the `Input` codes, whose
        encoding the IR keeps as the model computes it (meta["input_program"]); codes stand for
        scale * code + offset."""
        name = self._add(n, Input(size=x.size, lo=lo, hi=hi), None)
        size = x.size
        q = {k: (np.broadcast_to(np.asarray(v, float), (size,) + np.shape(v)[1:]).tolist() if isinstance(v, np.ndarray) else v)
             for k, v in quantiser.items()}
        self.dst.meta["input_program"] = {"ops": [list(op[:1]) + [np.asarray(a, float).tolist() for a in op[1:]] for op in x.ops],
                                          "quantiser": q}
        scale, offset = _full(scale, size), _full(offset, size)
        info = self.dst.out(name)
        info.scale, info.offset = np.array([float(v) for v in scale]), np.array([float(v) for v in offset])
        return _T(name, scale, offset, _ints(np.full(size, lo)), _ints(np.full(size, hi)), (size,))

    def _bipolar(self, n, layer: Bipolar):
        x = self._arg(n)
        b = exact(layer.scale)  # x >= 0 -> +b: code 1 stands for +b, code 0 for -b
        if isinstance(x, _Raw):
            q = {"kind": "steps", "scale": np.ones(x.size), "zero_point": np.zeros(x.size), "thresholds": np.zeros((x.size, 1))}
            return self._input_codes(n, x, q, 0, 1, 2 * b, -b)
        return self._activate(n, x, [(_zeros(x), _none(x))], 2 * b, -b)

    def _multithreshold(self, n, layer: MultiThreshold):
        x = self._arg(n)
        out_scale, out_offset = Fraction(layer.out_scale), Fraction(layer.out_bias)
        if isinstance(x, _Raw):
            q = {"kind": "steps", "scale": np.ones(x.size), "zero_point": np.zeros(x.size), "thresholds": layer.thresholds}
            return self._input_codes(n, x, q, 0, layer.thresholds.shape[1], out_scale, out_offset)
        steps = [(exact(layer.thresholds[:, k]), _none(x)) for k in range(layer.thresholds.shape[1])]
        size = len(x.scale)
        return self._activate(n, x, steps, np.full(size, out_scale), np.full(size, out_offset))

    def _activate(self, n, x: _T, steps, out_scale, out_offset) -> _T:
        """count_k [real(x) >= step_k] as an integer Threshold on x; negative slopes negate x's producer first."""
        if not steps:
            raise BespokeError(f"node {n!r}: an activation without thresholds is a constant; not supported")
        x = self._negate(n, x, x.scale < 0)
        layer = Threshold(thresholds=thresholds(x.scale, x.offset, steps, x.lo, x.hi))
        name = self._add(n, layer, x)
        lo, hi = self._ranges(name, x)
        size = len(x.scale)
        return _T(name, _full(out_scale, size), _full(out_offset, size), lo, hi, x.shape)

    def _negate(self, n, x: _T, mask: np.ndarray) -> _T:
        """Negate the accumulator x where mask holds, inside its producer (v -> -v, or P -> n - P)."""
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return x
        if not x.negatable or self.dst.users_of(x.node):
            raise BespokeError(f"node {n!r}: a decreasing activation (negative scale) follows a value that cannot be negated "
                               "(it is max-pooled, shared, or not a linear layer's output); supported: negative batch-norm "
                               "scales directly after Gemm/MatMul/Conv")
        layer = self.dst.layer(x.node)
        rows = _rows(layer, mask, n)
        span = np.zeros(len(mask), dtype=object)  # v -> span - v for the XNOR popcounts, v -> -v for MACs
        if isinstance(layer, XnorPopcount) or (isinstance(layer, Conv2d) and layer.binary):
            weight = layer.weight.copy()
            weight[rows] = 1 - weight[rows]
            span[mask] = int(np.prod(layer.weight.shape[1:]))
            new = replace(layer, weight=weight)
        else:
            weight, bias = layer.weight.copy(), layer.bias.copy()
            weight[rows], bias[rows] = -weight[rows], -bias[rows]
            new = replace(layer, weight=weight, bias=bias)
        self.dst.replace_layer(x.node, new, keep_scale=False)  # the accumulator's sign flips
        for key, t in self.t.items():  # every view of the old accumulator now reads the new one
            if isinstance(t, _T) and t.node == x.node:
                self.t[key] = _reparametrised(t, mask, span)
        return _reparametrised(x, mask, span)

    # -- elementwise affine: absorbed into the real interpretation
    def _affine(self, n, layer: Affine):
        x = self._arg(n)
        if isinstance(x, _Raw):  # in front of the input quantiser: part of the input encoding
            op = ("div", layer.divisor) if layer.divisor is not None else ("affine", layer.scale, layer.offset)
            return replace(x, ops=x.ops + (op,))
        s, o = exact(layer.scale), exact(layer.offset)
        return replace(x, scale=x.scale * s, offset=x.offset * s + o)

    # -- linear layers
    def _linear(self, n, layer):
        x = self._arg(n)
        common = _common_scale(x.scale)
        if common is None:
            raise BespokeError(f"node {n!r} ({layer.op}): its inputs do not share one scale; a binarized/integer layer needs "
                               "per-tensor activation scales")
        ints, w_scale = _weight_grid(n, layer)
        bias = exact(layer.bias)
        is_bits = all(v >= 0 for v in x.lo) and all(v <= 1 for v in x.hi) and all(o == -common / 2 for o in x.offset)
        if is_bits and np.all(np.abs(ints) == 1):  # inputs +-s (s = common/2), weights +-w: XNOR-popcount
            fan_in = int(np.prod(ints.shape[1:]))
            alpha = w_scale * common
            beta = bias - w_scale * (common / 2) * fan_in
            new = self._xnor_layer(layer, (ints > 0).astype(np.int64))
        else:  # integer MAC over the codes; the input offsets move into the real offset
            alpha = w_scale * common
            beta = bias + w_scale * _offset_dot(n, layer, ints, x)
            new = self._mac_layer(layer, ints)
        name = self._add(n, new, x)
        lo, hi = self._ranges(name, x)
        out_shape = new.out_shape if isinstance(new, Conv2d) else (new.weight.shape[0],)
        per_elem = int(np.prod(out_shape[1:]))
        offset = np.repeat(beta, per_elem)
        if x.padding is not None:
            offset = offset - _padding_error(layer, ints, w_scale, *x.padding)
        return _T(name, np.repeat(alpha, per_elem), offset, lo, hi, out_shape, negatable=True)

    @staticmethod
    def _xnor_layer(layer, bits):
        if isinstance(layer, Conv2d):
            return Conv2d(weight=bits, bias=np.zeros(bits.shape[0], dtype=np.int64), in_shape=layer.in_shape, stride=layer.stride, binary=True)
        return XnorPopcount(weight=bits)

    @staticmethod
    def _mac_layer(layer, ints):
        bias = np.zeros(ints.shape[0], dtype=np.int64)
        if isinstance(layer, Conv2d):
            return Conv2d(weight=ints, bias=bias, in_shape=layer.in_shape, stride=layer.stride)
        return Dense(weight=ints, bias=bias)

    # -- padding
    def _pad(self, n, layer: Pad2d):
        """The border as one integer code per channel: the one nearest the model's padding value
        within the channel's range (exactly it when the value is a code, e.g. a zero point; for
        +-1 bits, 0 stands for -1). What the code over-states is taken out by the convolution."""
        x = self._arg(n)
        c = layer.in_shape[0]
        scale, offset = x.scale.reshape(c, -1), x.offset.reshape(c, -1)
        if not _channel_uniform(scale, offset):
            raise BespokeError(f"node {n!r} (pad2d): padding needs one scale and offset per channel at its input")
        lo, hi = x.lo.reshape(c, -1), x.hi.reshape(c, -1)
        codes, excess = [], []
        for k, want in enumerate(exact(layer.value)):
            s, o = scale[k, 0], offset[k, 0]
            code = min(max(round((want - o) / s), min(lo[k])), max(hi[k]))
            codes.append(int(code))
            excess.append(s * code + o - want)
        pad = Pad2d(in_shape=layer.in_shape, pads=layer.pads, value=np.array(codes, dtype=np.int64))
        name = self._add(n, pad, x)
        rlo, rhi = self._ranges(name, x)
        per = int(np.prod(pad.out_shape[1:]))
        return _T(name, np.repeat(scale[:, 0], per), np.repeat(offset[:, 0], per), rlo, rhi, pad.out_shape,
                  padding=(pad.border(), np.array(excess, dtype=object)))

    # -- pooling
    def _maxpool(self, n, layer: MaxPool2d):
        x = self._arg(n)
        c = layer.in_shape[0]
        scale, offset = x.scale.reshape(c, -1), x.offset.reshape(c, -1)
        if not _channel_uniform(scale, offset) or any(v <= 0 for v in scale[:, 0]):
            raise BespokeError(f"node {n!r} (maxpool2d): max-pooling needs one positive scale and offset per channel at its input "
                               "(pool after the activation, or after a batch-norm with positive scales)")
        name = self._add(n, MaxPool2d(in_shape=layer.in_shape, kernel=layer.kernel, stride=layer.stride), x)
        lo, hi = self._ranges(name, x)
        per = int(np.prod(layer.out_shape[1:]))
        return _T(name, np.repeat(scale[:, 0], per), np.repeat(offset[:, 0], per), lo, hi, layer.out_shape)

    # -- the classifier head
    def _argmax(self, n, layer: ArgMax):
        x = self._arg(n)
        x = self._negate(n, x, x.scale < 0) if x.negatable else x
        if any(v < 0 for v in x.scale):
            raise BespokeError(f"node {n!r} (argmax): scores with negative scales can only be compared after a linear layer")
        if len(set(x.scale)) != 1 or len(set(x.offset)) != 1:
            mult, bias = argmax_head(x.scale, x.offset, x.lo, x.hi)
            head = self._add(f"{n}_scores", Dense(weight=np.diag(mult), bias=bias), x)
            lo, hi = self._ranges(head, x)
            x = _T(head, _full(Fraction(1), len(lo)), _full(Fraction(0), len(lo)), lo, hi, x.shape)  # only their order counts
        name = self._add(n, ArgMax(), x)
        return _T(name, np.array([Fraction(1)], dtype=object), np.array([Fraction(0)], dtype=object), _ints([0]), _ints([len(x.lo) - 1]), (1,))


# --------------------------------------------------------------------------- small pure helpers


def _ints(values) -> np.ndarray:
    return np.array([int(v) for v in np.asarray(values).ravel()], dtype=object)


def _zeros(x: _T) -> np.ndarray:
    return np.full(len(x.scale), Fraction(0), dtype=object)


def _none(x: _T) -> np.ndarray:
    return np.zeros(len(x.scale), dtype=bool)


def _full(v, size: int) -> np.ndarray:
    arr = np.empty(size, dtype=object)
    arr[:] = list(np.broadcast_to(np.asarray(v, dtype=object), (size,)))
    return arr


def _reparametrised(t: _T, mask: np.ndarray, span: np.ndarray) -> _T:
    """t's real values over the negated accumulator v' = span - v (where mask): same reals, slope flipped."""
    scale = np.where(mask, -t.scale, t.scale)
    offset = t.offset + np.where(mask, t.scale * span, 0)
    lo, hi = np.where(mask, span - t.hi, t.lo), np.where(mask, span - t.lo, t.hi)
    return _T(t.node, scale, offset, _ints(lo), _ints(hi), t.shape, t.negatable)


def _channel_uniform(scale: np.ndarray, offset: np.ndarray) -> bool:
    """Whether each channel (row of the [C, positions] views) has one scale and one offset."""
    return all(len(set(s)) == 1 and len(set(o)) == 1 for s, o in zip(scale, offset))


def _common_scale(scale: np.ndarray) -> Fraction | None:
    values = set(scale)
    return next(iter(values)) if len(values) == 1 and next(iter(values)) != 0 else None


def _quant_step(m: int, s: np.ndarray, z: np.ndarray, rounding: str):
    """(threshold, strict) on the real input x for `q >= m` of a Quant with scale s > 0, zero point z.

    y = x/s + z; round-half-even reaches m from y = m - 1/2 on only when m is even (the tie goes
    to the even neighbour), floor from y = m, ceil from y > m - 1.
    """
    theta, strict = {"FLOOR": (Fraction(m), False), "CEIL": (Fraction(m - 1), True)}.get(rounding, (m - Fraction(1, 2), m % 2 == 1))
    return s * (theta - z), np.full(len(s), strict, dtype=bool)


def _weight_grid(n: str, layer) -> tuple[np.ndarray, np.ndarray]:
    """(integer weights, per-output-channel real scale as Fractions) of a float Dense/Conv2d, exactly."""
    w = layer.weight.astype(np.float64)
    rows = w.reshape(w.shape[0], -1)
    if layer.weight_scale is not None:
        scale = np.asarray(layer.weight_scale, dtype=np.float64)
    else:  # undeclared weights: binary if every output channel is +-one magnitude, else integer-valued
        peak = np.abs(rows).max(axis=1, initial=0.0)
        binary = np.all((np.abs(rows) == peak[:, None]) & (peak[:, None] > 0))
        scale = peak if binary else np.ones(len(rows))
    ints = np.rint(rows / scale[:, None])
    if not np.array_equal(ints * scale[:, None], rows):
        raise BespokeError(f"node {n!r} ({layer.op}): weights are neither binary (+-w per output) nor on an integer grid; "
                           "quantise them with BipolarQuant or Quant")
    return ints.astype(np.int64).reshape(w.shape), exact(scale)


def _padding_error(layer: Conv2d, ints: np.ndarray, w_scale: np.ndarray, border: np.ndarray, excess: np.ndarray) -> np.ndarray:
    """Per conv output element, what the border codes add beyond the model's padding value:
    w_scale[o] * sum over the window's border taps of ints[o, c, i, j] * excess[c], exactly."""
    _, _, kh, kw = ints.shape
    taps = windows(border[None, :].astype(np.int64), layer.in_shape, kh, kw, layer.stride)[0]  # [C, H', W', kh, kw]
    counts = np.einsum("chwij,ocij->ochw", taps, ints)  # border taps per (output, input channel, position)
    error = np.zeros(counts.shape[0] * counts.shape[2] * counts.shape[3], dtype=object)
    for e in set(excess.tolist()) - {0}:
        per_output = counts[:, excess == e].sum(axis=1).reshape(counts.shape[0], -1)  # [O, H'W'] ints
        error = error + (per_output.astype(object) * (w_scale[:, None] * e)).ravel()
    return error


def _offset_dot(n: str, layer, ints: np.ndarray, x: _T) -> np.ndarray:
    """sum_i ints[j, i] * offset[i] per output channel j, exactly (input offsets of a MAC layer)."""
    if isinstance(layer, Dense):
        return ints.astype(object) @ x.offset
    c = layer.in_shape[0]
    per_channel = x.offset.reshape(c, -1)
    if any(len(set(row)) != 1 for row in per_channel):
        raise BespokeError(f"node {n!r} (conv2d): its input offsets differ within a channel; need one per channel")
    return ints.sum(axis=(2, 3)).astype(object) @ per_channel[:, 0]


def _rows(layer, mask: np.ndarray, n: str) -> np.ndarray:
    """Output channels of a dense/conv layer selected by a per-element mask (whole channels only)."""
    if isinstance(layer, Conv2d):
        per = mask.reshape(layer.weight.shape[0], -1)
        if not np.all(per == per[:, :1]):
            raise BespokeError(f"node {n!r}: a negative scale on only part of a convolution channel cannot be folded")
        return per[:, 0]
    return mask
