"""The layer types of the IR, each with its whole meaning declared next to its fields.

Every layer class says, as methods (the IR's one place for op semantics):
- `arity` and `out_size(in_sizes)`: how many inputs it takes and how long its output is;
- `evaluate(*xs)`: its value on a batch (rows are samples), int64 on integer layers, float64 on
  float ones; the golden model (bespoke.sim.golden) is a loop over these;
- `infer_range(*ins)`: a sound per-element [lo, hi] of its output from (lo, hi) of each input,
  the rule of the infer-ranges pass and of IR.verify's soundness check (integer layers only);
- `verify(in_sizes)`: its fields' invariants (shapes, dtypes, value sets), raising ValueError.

Methods rather than a registry keyed by op: a new layer is then one class (plus its frontend and HDL
support); the interpreter, range analysis and verifier need no edit, and a rule a class lacks
raises NotImplementedError naming its op. Layers are frozen dataclasses holding read-only
arrays, so IR copies share them; edit a graph by `IR.replace_layer(name, dataclasses.replace(...))`.

Two families share the graph:
- integer layers (`Input`, `Dense`/`Conv2d` with integer weights, `Relu`, `Requant`, `ArgMax`,
  `XnorPopcount`, `Threshold`, `MaxPool2d`, `Pad2d`; learned gate networks: `Thermometer`, `LogicGates`,
  `GroupSum`), which the golden model interprets bit-exactly and the HDL lowers to circuits;
- float layers (`Affine`, `FakeQuant`, `Dense`/`Conv2d` with float weights, and the QONNX
  activations `Bipolar`, `IntQuant`, `MultiThreshold`) that the frontend produces and the
  quantisation / streamlining passes remove.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from bespoke.compiler import logic
from bespoke.compiler.ops import (ROUNDING_FUNCTIONS, bits_for_range, conv_range, correlate, dense_range, frozen,
                                  is_integer_array, masked_dense_range, round_shift, windows)

Range = tuple[np.ndarray, np.ndarray]


def _expect(cond, message: str) -> None:
    if not cond:
        raise ValueError(message)


def _vector(name: str, v, size: int, integer: bool = False) -> None:
    """v is a 1-D array of `size` elements (integers if asked)."""
    _expect(isinstance(v, np.ndarray) and v.shape == (size,), f"{name} must be a vector of {size} elements, "
            f"has shape {getattr(v, 'shape', type(v).__name__)}")
    _expect(not integer or is_integer_array(v), f"{name} must be integers, has dtype {v.dtype}")


@dataclass(frozen=True)
class Layer:
    """Base of all layers. `op` is the name used in JSON, dumps and error messages."""

    op: ClassVar[str] = "?"
    integer: ClassVar[bool] = True  # may appear in an integer IR
    arity: ClassVar[int] = 1

    def __post_init__(self):
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, frozen(getattr(self, f.name)))

    def is_integer_valued(self) -> bool:
        """Whether this layer computes on integers (what an integer IR may contain)."""
        return self.integer

    def out_size(self, in_sizes: list[int]) -> int:
        return in_sizes[0]

    def evaluate(self, *xs: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"layer {self.op!r} declares no evaluation")

    def infer_range(self, *ins: Range) -> Range:
        raise NotImplementedError(f"layer {self.op!r} has no range rule (it is not an integer layer)")

    def work_peak(self, *ins: Range) -> int:
        """Largest magnitude of an intermediate value evaluate() forms beyond its output (int64 safety)."""
        return 0

    def verify(self, in_sizes: list[int]) -> None:
        """Raise ValueError when a field is malformed for inputs of these sizes."""

    def describe(self) -> str:
        return self.op


@dataclass(frozen=True)
class Input(Layer):
    """The graph input: `size` integer codes, each in [lo, hi] (e.g. unsigned 4-bit: 0..15).

    The codes come from real features by the quantiser recorded on its TensorInfo:
    code = clip(rint((x - offset) / scale), lo, hi). The golden model binds the batch to it.
    """

    op: ClassVar[str] = "input"
    arity: ClassVar[int] = 0
    size: int = 0
    lo: int = 0
    hi: int = 15

    def out_size(self, in_sizes):
        return self.size

    def infer_range(self):
        return np.full(self.size, self.lo, dtype=np.int64), np.full(self.size, self.hi, dtype=np.int64)

    def verify(self, in_sizes):
        _expect(self.size >= 1, f"input size {self.size} must be positive")
        _expect(self.lo <= self.hi, f"input code range [{self.lo}, {self.hi}] is empty")

    def describe(self):
        width, signed = bits_for_range(self.lo, self.hi)
        return f"input[{self.size}] {'s' if signed else 'u'}{width} codes in [{self.lo}, {self.hi}]"


@dataclass(frozen=True)
class Dense(Layer):
    """y[j] = sum_i weight[j, i] * x[i] + bias[j]. Integer weights in an integer IR.

    `weight_scale` (per output) records the real scale of integer weights that came from a QDQ
    model, so the QDQ quantiser can rebuild exact integer layers.

    `mask` (optional, [out, in] non-negative integers; approximation, issue 9): each connection
    reads only the chosen bits of its input, y[j] = sum_i weight[j, i] * (x[i] & mask[j, i]) +
    bias[j]; mask 0 prunes the connection. Only on inputs that are never negative.
    """

    op: ClassVar[str] = "dense"
    weight: np.ndarray = None
    bias: np.ndarray = None
    weight_scale: np.ndarray | None = None
    mask: np.ndarray | None = None

    def __post_init__(self):
        if self.bias is None:
            object.__setattr__(self, "bias", np.zeros(self.weight.shape[0], dtype=self.weight.dtype))
        super().__post_init__()

    def out_size(self, in_sizes):
        return int(self.weight.shape[0])

    def is_integer_valued(self) -> bool:
        return is_integer_array(self.weight) and is_integer_array(self.bias)

    def evaluate(self, x):
        if self.mask is not None:
            masked = x.astype(np.int64)[:, None, :] & self.mask.astype(np.int64)[None]  # [batch, out, in]
            return np.einsum("boi,oi->bo", masked, self.weight.astype(np.int64)) + self.bias.astype(np.int64)
        if self.is_integer_valued():
            return x.astype(np.int64) @ self.weight.T.astype(np.int64) + self.bias.astype(np.int64)
        return x.astype(np.float64) @ self.weight.T.astype(np.float64) + self.bias

    def infer_range(self, x):
        if self.mask is None:
            return dense_range(self.weight, self.bias, *x)
        if np.any(x[0] < 0):
            raise ValueError("a dense layer with input-bit masks reads an input that can be negative")
        return masked_dense_range(self.weight, self.bias, self.mask, *x)

    def verify(self, in_sizes):
        _expect(isinstance(self.weight, np.ndarray) and self.weight.ndim == 2, "dense weight must be a [out, in] matrix")
        n_out, n_in = self.weight.shape
        _expect(n_in == in_sizes[0], f"dense weight takes {n_in} inputs, its input has {in_sizes[0]}")
        _vector("dense bias", self.bias, n_out)
        if self.weight_scale is not None:
            _vector("dense weight_scale", self.weight_scale, n_out)
        if self.mask is not None:
            _expect(isinstance(self.mask, np.ndarray) and self.mask.shape == self.weight.shape,
                    f"dense mask must have the weight's shape {self.weight.shape}")
            _expect(is_integer_array(self.mask) and np.all(self.mask >= 0), "dense mask must be non-negative integers")
            _expect(self.is_integer_valued(), "dense masks need integer weights")

    def describe(self):
        n_out, n_in = self.weight.shape
        nz = int(np.count_nonzero(self.weight))
        kind = "int" if self.is_integer_valued() else "float"
        masked = "" if self.mask is None else f", {int(np.count_nonzero((self.weight != 0) & (self.mask != 0)))} live after masks"
        return f"dense {n_in}->{n_out} ({kind} weights, {nz}/{n_out * n_in} nonzero{masked})"


@dataclass(frozen=True)
class Relu(Layer):
    op: ClassVar[str] = "relu"

    def evaluate(self, x):
        return np.maximum(x, 0)

    def infer_range(self, x):
        lo, hi = x
        return np.maximum(lo, 0), np.maximum(hi, 0)


@dataclass(frozen=True)
class Requant(Layer):
    """Requantise an accumulator: y = clip(round_shift(x * mult, shift) + zero_point, qmin, qmax).

    Per-element `mult`, `shift`, `zero_point` (integer vectors); the clamp `qmin`, `qmax` is one
    pair for the layer (ints) or one per element (integer vectors: range restriction,
    compiler.passes.restrict). `rounding` is "floor" (an
    arithmetic right shift; round-half-up is had for free by adding 2^(shift-1) to the bias) or
    "half_even" (ONNX QuantizeLinear's rounding, needed for bit-exact QDQ models).

    `exceptions` (optional, int [k, 3] rows (element, x, value)): where element e's input equals
    x, its value before the clamp is `value` instead. Float32 requantisation (onnxruntime's
    kernels) sometimes rounds a value next to a rounding boundary off the line that every
    multiplier draws; the fit (compiler.requant_fit) puts those accumulator values here.
    """

    op: ClassVar[str] = "requant"
    mult: np.ndarray = None
    shift: np.ndarray = None
    zero_point: np.ndarray = None
    qmin: int | np.ndarray = 0
    qmax: int | np.ndarray = 255
    rounding: str = "floor"
    exceptions: np.ndarray | None = None

    ROUNDINGS: ClassVar[tuple[str, ...]] = ("floor", "half_even")

    def __post_init__(self):
        if self.rounding not in self.ROUNDINGS:
            raise ValueError(f"requant rounding {self.rounding!r} not in {self.ROUNDINGS}")
        super().__post_init__()

    def _line(self, x):
        return round_shift(x.astype(np.int64) * self.mult, self.shift, self.rounding) + self.zero_point

    def _unclipped(self, x):
        y = self._line(x)
        for e, at, value in self.exception_rows():
            y[..., e] = np.where(x[..., e] == at, value, y[..., e])
        return y

    def exception_rows(self) -> list[tuple[int, int, int]]:
        return [] if self.exceptions is None else [tuple(int(v) for v in row) for row in self.exceptions]

    def evaluate(self, x):
        return np.clip(self._unclipped(x), self.qmin, self.qmax)

    def infer_range(self, x):
        # monotone in x for mult >= 0, antitone for mult < 0: evaluate at both ends; an exception
        # inside the range can reach beyond them
        a, b = self._line(x[0]), self._line(x[1])
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        for e, at, value in self.exception_rows():
            if x[0][e] <= at <= x[1][e]:
                lo[e], hi[e] = min(lo[e], value), max(hi[e], value)
        return np.clip(lo, self.qmin, self.qmax), np.clip(hi, self.qmin, self.qmax)

    def work_peak(self, x):
        # the product x * mult is formed before the shift
        return int(np.abs(np.concatenate(x)).astype(object).max()) * int(np.abs(self.mult).max())

    def verify(self, in_sizes):
        for name in ("mult", "shift", "zero_point"):
            _vector(f"requant {name}", getattr(self, name), in_sizes[0], integer=True)
        _expect(np.all(self.shift >= 0), "requant shifts must be non-negative")
        for name in ("qmin", "qmax"):
            if isinstance(getattr(self, name), np.ndarray):
                _vector(f"requant {name}", getattr(self, name), in_sizes[0], integer=True)
        _expect(np.all(self.qmin <= self.qmax), f"requant clamp [{self.qmin}, {self.qmax}] is empty")
        _expect(self.rounding in self.ROUNDINGS, f"requant rounding {self.rounding!r} not in {self.ROUNDINGS}")
        if self.exceptions is not None:
            e = self.exceptions
            _expect(isinstance(e, np.ndarray) and e.ndim == 2 and e.shape[1] == 3 and is_integer_array(e),
                    f"requant exceptions must be integer rows (element, x, value), have shape {getattr(e, 'shape', '?')}")
            _expect(np.all((e[:, 0] >= 0) & (e[:, 0] < in_sizes[0])), "requant exceptions name elements outside the layer")

    def per_element_clamp(self) -> bool:
        return isinstance(self.qmin, np.ndarray) or isinstance(self.qmax, np.ndarray)

    def describe(self):
        lo, hi = int(np.min(self.qmin)), int(np.max(self.qmax))
        width, signed = bits_for_range(lo, hi)
        shifts = sorted(set(int(s) for s in self.shift))
        mults = sorted(set(int(m) for m in self.mult))
        mult = "" if mults == [1] else f" mult {mults}"
        clamp = " per element" if self.per_element_clamp() else ""
        fixes = f", {len(self.exceptions)} exceptions" if self.exceptions is not None else ""
        return f"requant to {'s' if signed else 'u'}{width} [{lo}, {hi}]{clamp}, shift {shifts}{mult}, {self.rounding}{fixes}"


@dataclass(frozen=True)
class ArgMax(Layer):
    """Index of the largest element; on a tie the lowest index wins."""

    op: ClassVar[str] = "argmax"

    def out_size(self, in_sizes):
        return 1

    def evaluate(self, x):
        return np.argmax(x, axis=1).astype(np.int64)[:, None]  # numpy: first maximum wins ties

    def infer_range(self, x):
        return np.array([0]), np.array([len(x[0]) - 1])

    def verify(self, in_sizes):
        _expect(in_sizes[0] >= 1, "argmax of an empty vector")


@dataclass(frozen=True)
class XnorPopcount(Layer):
    """Binarized dense: y[j] = #{i : x[i] == weight[j, i]}, the popcount of XNOR(x, w_j).

    x and weight are bits where 1 stands for +1 and 0 for -1, so the bipolar dot product is
    2 * y[j] - n_in. weight: 0/1 integers [out, in].
    """

    op: ClassVar[str] = "xnor_popcount"
    weight: np.ndarray = None

    def out_size(self, in_sizes):
        return int(self.weight.shape[0])

    def evaluate(self, x):
        w, x = self.weight.astype(np.int64), x.astype(np.int64)
        return x @ w.T + (1 - x) @ (1 - w).T

    def infer_range(self, x):
        n_out, n_in = self.weight.shape
        return np.zeros(n_out, dtype=np.int64), np.full(n_out, n_in)

    def verify(self, in_sizes):
        _expect(is_integer_array(self.weight) and self.weight.ndim == 2, "xnor_popcount weight must be an integer [out, in] matrix")
        _expect(self.weight.shape[1] == in_sizes[0], f"xnor_popcount weight takes {self.weight.shape[1]} inputs, its input has {in_sizes[0]}")
        _expect(np.isin(self.weight, (0, 1)).all(), "xnor_popcount weights must be 0/1")

    def describe(self):
        n_out, n_in = self.weight.shape
        return f"xnor_popcount {n_in}->{n_out}"


@dataclass(frozen=True)
class Threshold(Layer):
    """Multi-threshold activation (FINN MultiThreshold): y[j] = #{k : x[j] >= thresholds[j, k]}.

    thresholds: integers [size, K], each row ascending; K = 1 is a step (sign) activation whose
    output bit 1 stands for +1. Any comparison direction is normalised to ">=" by the
    streamlining pass (negating the producer's weights), so the hardware needs one kind.
    """

    op: ClassVar[str] = "threshold"
    thresholds: np.ndarray = None

    def evaluate(self, x):
        return (x[:, :, None] >= self.thresholds[None, :, :]).sum(axis=2).astype(np.int64)

    def infer_range(self, x):  # monotone: count the thresholds each end of the range passes
        lo, hi = x
        return (lo[:, None] >= self.thresholds).sum(axis=1), (hi[:, None] >= self.thresholds).sum(axis=1)

    def verify(self, in_sizes):
        t = self.thresholds
        _expect(is_integer_array(t) and t.ndim == 2 and t.shape[0] == in_sizes[0] and t.shape[1] >= 1,
                f"thresholds must be integers [{in_sizes[0]}, K >= 1], are {getattr(t, 'dtype', '?')} {getattr(t, 'shape', '?')}")
        _expect(np.all(np.diff(t, axis=1) >= 0), "threshold rows must be ascending")

    def describe(self):
        return f"threshold x{self.thresholds.shape[1]}"


@dataclass(frozen=True)
class Conv2d(Layer):
    """2-D convolution on a CHW-flattened vector, no padding.

    in_shape (C, H, W); weight [C_out, C, kh, kw]; bias [C_out]; output (C_out, H', W') flattened
    CHW. With binary=True the inputs and weights are bits (1 = +1) and each output is the
    XNOR-popcount over its window (the bias is then unused and zero).
    """

    op: ClassVar[str] = "conv2d"
    weight: np.ndarray = None
    bias: np.ndarray = None
    in_shape: tuple = (1, 1, 1)
    stride: int = 1
    binary: bool = False
    # float IRs only: per-output-channel real scale of weights quantised on an integer grid
    weight_scale: np.ndarray | None = None

    def __post_init__(self):
        object.__setattr__(self, "in_shape", tuple(int(v) for v in self.in_shape))
        if self.bias is None:
            object.__setattr__(self, "bias", np.zeros(self.weight.shape[0], dtype=np.int64))
        super().__post_init__()

    @property
    def out_shape(self) -> tuple[int, int, int]:
        c_out, _, kh, kw = self.weight.shape
        _, h, w = self.in_shape
        return c_out, (h - kh) // self.stride + 1, (w - kw) // self.stride + 1

    def out_size(self, in_sizes):
        return int(np.prod(self.out_shape))

    def is_integer_valued(self) -> bool:
        return is_integer_array(self.weight) and is_integer_array(self.bias)

    def evaluate(self, x):
        _, _, kh, kw = self.weight.shape
        if not self.is_integer_valued():  # a float IR's convolution
            win = windows(x.astype(np.float64), self.in_shape, kh, kw, self.stride)
            y = correlate(win, self.weight.astype(np.float64)) + self.bias[None, :, None, None]
            return y.reshape(x.shape[0], -1)
        win = windows(x.astype(np.int64), self.in_shape, kh, kw, self.stride)
        w = self.weight.astype(np.int64)
        if self.binary:  # popcount of XNOR = agreements on ones + agreements on zeros
            y = correlate(win, w) + correlate(1 - win, 1 - w)
        else:
            y = correlate(win, w) + self.bias.astype(np.int64)[None, :, None, None]
        return y.reshape(x.shape[0], -1)

    def infer_range(self, x):
        if self.binary:
            c_out, c_in, kh, kw = self.weight.shape
            n = self.out_size([])
            return np.zeros(n, dtype=np.int64), np.full(n, c_in * kh * kw)
        return conv_range(self.weight, self.bias, self.in_shape, self.stride, *x)

    def verify(self, in_sizes):
        _expect(isinstance(self.weight, np.ndarray) and self.weight.ndim == 4, "conv2d weight must be [C_out, C, kh, kw]")
        c_out, c_in, kh, kw = self.weight.shape
        c, h, w = self.in_shape
        _expect(int(np.prod(self.in_shape)) == in_sizes[0], f"conv2d in_shape {self.in_shape} does not match its input size {in_sizes[0]}")
        _expect(c_in == c, f"conv2d weight has {c_in} input channels, in_shape {c}")
        _expect(self.stride >= 1 and kh <= h and kw <= w, f"conv2d kernel {kh}x{kw} stride {self.stride} does not fit {self.in_shape}")
        _vector("conv2d bias", self.bias, c_out)
        if self.binary:
            _expect(is_integer_array(self.weight) and np.isin(self.weight, (0, 1)).all(), "binary conv2d weights must be 0/1")
            _expect(not np.any(self.bias), "binary conv2d bias must be zero")

    def describe(self):
        c_out, c_in, kh, kw = self.weight.shape
        kind = "xnor " if self.binary else ""
        return f"{kind}conv2d {kh}x{kw} {self.in_shape}->{self.out_shape} stride {self.stride}"


@dataclass(frozen=True)
class Pad2d(Layer):
    """A CHW-flattened image framed by constants: `pads` (top, left, bottom, right) rows and columns
    of channel c's `value[c]` around it (ONNX Conv's `pads`; the convolution itself stays unpadded).

    In a float IR the value is the model's real padding (0); the streamlining pass chooses an
    integer code per channel and accounts for what that code stands for in the next layer.
    """

    op: ClassVar[str] = "pad2d"
    in_shape: tuple = (1, 1, 1)
    pads: tuple = (0, 0, 0, 0)
    value: np.ndarray = None  # [C]

    def __post_init__(self):
        object.__setattr__(self, "in_shape", tuple(int(v) for v in self.in_shape))
        object.__setattr__(self, "pads", tuple(int(v) for v in self.pads))
        if self.value is None:
            object.__setattr__(self, "value", np.zeros(self.in_shape[0], dtype=np.int64))
        super().__post_init__()

    @property
    def out_shape(self) -> tuple[int, int, int]:
        c, h, w = self.in_shape
        top, left, bottom, right = self.pads
        return c, h + top + bottom, w + left + right

    def out_size(self, in_sizes):
        return int(np.prod(self.out_shape))

    def is_integer_valued(self) -> bool:
        return is_integer_array(self.value)

    def border(self) -> np.ndarray:
        """[C*H'*W'] bool: which output elements are padding (CHW-flattened)."""
        c, h, w = self.out_shape
        top, left, bottom, right = self.pads
        inner = np.zeros((h, w), dtype=bool)
        inner[top:h - bottom, left:w - right] = True
        return np.broadcast_to(~inner, (c, h, w)).ravel()

    def sources(self) -> np.ndarray:
        """[C*H'*W']: the input index each output element copies, -1 on the border."""
        c, h, w = self.in_shape
        top, left, bottom, right = self.pads
        src = np.full((c, h + top + bottom, w + left + right), -1, dtype=np.int64)
        src[:, top:top + h, left:left + w] = np.arange(c * h * w).reshape(c, h, w)
        return src.ravel()

    def evaluate(self, x):
        c, h, w = self.out_shape
        dtype = np.int64 if self.is_integer_valued() and np.issubdtype(x.dtype, np.integer) else np.float64
        out = np.empty((x.shape[0], c, h * w), dtype=dtype)
        out[:] = np.asarray(self.value, dtype=dtype)[None, :, None]
        out = out.reshape(x.shape[0], -1)
        src = self.sources()
        inner = src >= 0
        out[:, inner] = x[:, src[inner]]
        return out

    def infer_range(self, x):
        return tuple(self.evaluate(v[None, :].astype(np.int64)).ravel() for v in x)

    def verify(self, in_sizes):
        _expect(int(np.prod(self.in_shape)) == in_sizes[0], f"pad2d in_shape {self.in_shape} does not match its input size {in_sizes[0]}")
        _expect(len(self.pads) == 4 and min(self.pads) >= 0, f"pad2d pads must be 4 non-negative counts, are {self.pads}")
        _vector("pad2d value", self.value, self.in_shape[0])

    def describe(self):
        return f"pad2d {self.pads} {self.in_shape}->{self.out_shape}"


@dataclass(frozen=True)
class MaxPool2d(Layer):
    """Max over kernel x kernel windows of a CHW-flattened vector (on bits: an OR)."""

    op: ClassVar[str] = "maxpool2d"
    in_shape: tuple = (1, 1, 1)
    kernel: int = 2
    stride: int = 2

    def __post_init__(self):
        object.__setattr__(self, "in_shape", tuple(int(v) for v in self.in_shape))
        super().__post_init__()

    @property
    def out_shape(self) -> tuple[int, int, int]:
        c, h, w = self.in_shape
        return c, (h - self.kernel) // self.stride + 1, (w - self.kernel) // self.stride + 1

    def out_size(self, in_sizes):
        return int(np.prod(self.out_shape))

    def evaluate(self, x):
        win = windows(x, self.in_shape, self.kernel, self.kernel, self.stride)
        return win.max(axis=(4, 5)).reshape(x.shape[0], -1)

    def infer_range(self, x):  # monotone: the max of the bounds bounds the max
        return tuple(self.evaluate(v[None, :].astype(np.int64)).ravel() for v in x)

    def verify(self, in_sizes):
        _, h, w = self.in_shape
        _expect(int(np.prod(self.in_shape)) == in_sizes[0], f"maxpool2d in_shape {self.in_shape} does not match its input size {in_sizes[0]}")
        _expect(self.stride >= 1 and 1 <= self.kernel <= min(h, w), f"maxpool2d kernel {self.kernel} stride {self.stride} does not fit {self.in_shape}")

    def describe(self):
        return f"maxpool2d {self.kernel}x{self.kernel} {self.in_shape}->{self.out_shape}"


@dataclass(frozen=True)
class Affine(Layer):
    """Float-only: y = x * scale + offset, elementwise (normalisers, batch-norm, Sub/Mul/Div)."""

    op: ClassVar[str] = "affine"
    integer: ClassVar[bool] = False
    scale: np.ndarray = None
    offset: np.ndarray = None
    # set when the model divides (Div): scale = 1 / divisor; kept so that an input stage can be
    # replayed in float32 exactly as the model computes it (compiler.input_encoding)
    divisor: np.ndarray | None = None

    def evaluate(self, x):
        return x * self.scale + self.offset

    def verify(self, in_sizes):
        _vector("affine scale", self.scale, in_sizes[0])
        _vector("affine offset", self.offset, in_sizes[0])


@dataclass(frozen=True)
class FakeQuant(Layer):
    """Float-only: QuantizeLinear followed by DequantizeLinear (a QDQ pair on an activation).

    q = clip(rint(x / scale) + zero_point, qmin, qmax); y = (q - zero_point) * scale.
    """

    op: ClassVar[str] = "fakequant"
    integer: ClassVar[bool] = False
    scale: float = 1.0
    zero_point: int = 0
    qmin: int = -128
    qmax: int = 127

    def evaluate(self, x):
        q = np.clip(np.rint(x / self.scale) + self.zero_point, self.qmin, self.qmax)
        return (q - self.zero_point) * self.scale

    def verify(self, in_sizes):
        _expect(self.scale > 0, f"fakequant scale {self.scale} must be positive")
        _expect(self.qmin <= self.qmax, f"fakequant clamp [{self.qmin}, {self.qmax}] is empty")


@dataclass(frozen=True)
class Bipolar(Layer):
    """Float-only: sign activation, y = +scale if x >= 0 else -scale (per-element scale).

    sign(0) = +1, as QONNX BipolarQuant, Brevitas' binary quantiser and FINN's Sign conversion
    (ConvertSignToThres) define it.
    """

    op: ClassVar[str] = "bipolar"
    integer: ClassVar[bool] = False
    scale: np.ndarray = None

    def evaluate(self, x):
        return np.where(x >= 0, self.scale, -self.scale)

    def verify(self, in_sizes):
        _vector("bipolar scale", self.scale, in_sizes[0])


@dataclass(frozen=True)
class IntQuant(Layer):
    """Float-only: the QONNX Quant (IntQuant) operator, per-element scale and zero point.

    y = x / scale + zero_point; q = rounding(clip(y, qmin, qmax)); out = (q - zero_point) * scale,
    with [qmin, qmax] from bit_width / signed / narrow. A signed 1-bit quantiser is bipolar:
    q = +1 if y >= 0 else -1 (QONNX's rule).
    """

    op: ClassVar[str] = "intquant"
    integer: ClassVar[bool] = False
    scale: np.ndarray = None
    zero_point: np.ndarray = None
    bit_width: int = 8
    signed: bool = True
    narrow: bool = False
    rounding: str = "ROUND"

    ROUNDINGS: ClassVar[tuple[str, ...]] = ("ROUND", "HALF_EVEN", "FLOOR", "CEIL")

    def __post_init__(self):
        if self.rounding not in self.ROUNDINGS:
            raise ValueError(f"intquant rounding {self.rounding!r} not in {self.ROUNDINGS}")
        super().__post_init__()

    @property
    def bipolar(self) -> bool:
        return self.bit_width == 1 and self.signed

    @property
    def qmin(self) -> int:
        if self.bipolar:
            return -1
        return -(2 ** (self.bit_width - 1)) + int(self.narrow) if self.signed else 0

    @property
    def qmax(self) -> int:
        if self.bipolar:
            return 1
        return 2 ** (self.bit_width - 1) - 1 if self.signed else 2**self.bit_width - 1 - int(self.narrow)

    def evaluate(self, x):
        """Elementwise on any shape (also the frontend's quantised weights): scale, shift, clip,
        round, and back to reals, in the order qonnx executes."""
        y = x / self.scale + self.zero_point
        if self.bipolar:
            q = np.where(y >= 0, 1.0, -1.0)
        else:
            q = ROUNDING_FUNCTIONS[self.rounding](np.clip(y, self.qmin, self.qmax))
        return (q - self.zero_point) * self.scale

    def verify(self, in_sizes):
        _vector("intquant scale", self.scale, in_sizes[0])
        _vector("intquant zero_point", self.zero_point, in_sizes[0])
        _expect(np.all(self.scale > 0), "intquant scales must be positive")
        _expect(self.bit_width >= 1, f"intquant bit width {self.bit_width} must be positive")
        _expect(self.rounding in self.ROUNDINGS, f"intquant rounding {self.rounding!r} not in {self.ROUNDINGS}")

    def describe(self):
        return f"intquant {'s' if self.signed else 'u'}{self.bit_width} [{self.qmin}, {self.qmax}] {self.rounding.lower()}"


@dataclass(frozen=True)
class MultiThreshold(Layer):
    """Float-only: FINN/QONNX MultiThreshold, y = out_scale * #{k : x >= thresholds[i, k]} + out_bias.

    thresholds: float [size, K], one row per element (per-channel rows are expanded).
    """

    op: ClassVar[str] = "multithreshold"
    integer: ClassVar[bool] = False
    thresholds: np.ndarray = None
    out_scale: float = 1.0
    out_bias: float = 0.0

    def evaluate(self, x):
        count = (x[:, :, None] >= self.thresholds[None, :, :]).sum(axis=2)
        return count * self.out_scale + self.out_bias

    def verify(self, in_sizes):
        t = self.thresholds
        _expect(isinstance(t, np.ndarray) and t.ndim == 2 and t.shape[0] == in_sizes[0],
                f"multithreshold thresholds must be [{in_sizes[0]}, K], are {getattr(t, 'shape', '?')}")

    def describe(self):
        return f"multithreshold x{self.thresholds.shape[1]} * {self.out_scale:g} + {self.out_bias:g}"


@dataclass(frozen=True)
class Thermometer(Layer):
    """Input binarisation: y[j] = [x[feature[j]] >= threshold[j]], one bit per (feature, threshold).

    The thermometer code of a feature is its bits for ascending thresholds (a learned gate
    network's inputs, compiler.gates_format). Integer thresholds on integer codes in an integer
    IR; real thresholds on real features in the float IR of the same model.
    """

    op: ClassVar[str] = "thermometer"
    feature: np.ndarray = None
    threshold: np.ndarray = None

    def out_size(self, in_sizes):
        return int(len(self.feature))

    def is_integer_valued(self) -> bool:
        return is_integer_array(self.threshold)

    def evaluate(self, x):
        return (x[:, self.feature] >= self.threshold).astype(np.int64)

    def infer_range(self, x):
        lo, hi = x
        return (lo[self.feature] >= self.threshold).astype(np.int64), (hi[self.feature] >= self.threshold).astype(np.int64)

    def verify(self, in_sizes):
        n = len(self.feature) if isinstance(self.feature, np.ndarray) else -1
        _vector("thermometer feature", self.feature, n, integer=True)
        _vector("thermometer threshold", self.threshold, n)
        _expect(n >= 1, "a thermometer makes at least one bit")
        _expect(np.all((self.feature >= 0) & (self.feature < in_sizes[0])),
                f"thermometer features must index the {in_sizes[0]} inputs")

    def describe(self):
        return f"thermometer {len(set(self.feature.tolist()))} features -> {len(self.feature)} bits"


@dataclass(frozen=True)
class LogicGates(Layer):
    """A network of two-input gates on bits (a learned logic-gate network, difflogic-style).

    Nets 0..n_in-1 are the input bits, net n_in + g is gate g's output: gate g computes
    logic.apply(op[g], net a[g], net b[g]), op ids 0..15 as compiler.logic declares them, and reads
    only nets before its own (a[g], b[g] < n_in + g: the list is in topological order). The output
    vector is the nets `outputs`.
    """

    op: ClassVar[str] = "logic_gates"
    a: np.ndarray = None
    b: np.ndarray = None
    ops: np.ndarray = None
    outputs: np.ndarray = None

    def out_size(self, in_sizes):
        return int(len(self.outputs))

    def evaluate(self, x):
        nets = [c for c in x.astype(np.int64).T] + [None] * len(self.ops)
        n_in = x.shape[1]
        for g, (a, b, op) in enumerate(zip(self.a.tolist(), self.b.tolist(), self.ops.tolist())):
            nets[n_in + g] = logic.apply(op, nets[a], nets[b])
        if not len(self.outputs):
            return np.zeros((x.shape[0], 0), dtype=np.int64)
        return np.stack([np.broadcast_to(nets[o], (x.shape[0],)) for o in self.outputs.tolist()], axis=1)

    def net_ranges(self, lo, hi) -> tuple[list[int], list[int]]:
        """Every net's exact [lo, hi] from the input bits' ranges (a gate is constant where its
        function or its inputs make it one): the range rule, and the planner's constant folding."""
        if np.any(np.asarray(lo) < 0) or np.any(np.asarray(hi) > 1):
            raise ValueError("logic gates read bits; an input's range is not inside [0, 1]")
        nlo, nhi = [int(v) for v in lo], [int(v) for v in hi]
        for a, b, op in zip(self.a.tolist(), self.b.tolist(), self.ops.tolist()):
            r = logic.out_range(op, nlo[a], nhi[a], nlo[b], nhi[b], a == b)
            nlo.append(r[0])
            nhi.append(r[1])
        return nlo, nhi

    def infer_range(self, x):
        nlo, nhi = self.net_ranges(*x)
        out = self.outputs.tolist()
        return np.array([nlo[o] for o in out], dtype=np.int64), np.array([nhi[o] for o in out], dtype=np.int64)

    def verify(self, in_sizes):
        n = len(self.ops) if isinstance(self.ops, np.ndarray) else -1
        for name in ("a", "b", "ops"):
            _vector(f"logic_gates {name}", getattr(self, name), n, integer=True)
        _expect(isinstance(self.outputs, np.ndarray) and self.outputs.ndim == 1 and is_integer_array(self.outputs),
                "logic_gates outputs must be an integer vector")
        _expect(np.all((self.ops >= 0) & (self.ops < logic.N_OPS)), f"logic_gates op ids must be 0..{logic.N_OPS - 1}")
        limit = in_sizes[0] + np.arange(n)
        for name in ("a", "b"):
            v = getattr(self, name)
            _expect(np.all((v >= 0) & (v < limit)), f"logic_gates {name}: a gate reads only inputs and earlier gates")
        _expect(np.all((self.outputs >= 0) & (self.outputs < in_sizes[0] + n)), "logic_gates outputs must be nets")

    def describe(self):
        return f"logic_gates {len(self.ops)} gates -> {len(self.outputs)} outputs"


@dataclass(frozen=True)
class GroupSum(Layer):
    """y[c] = sum of x[c*k .. (c+1)*k - 1], k = size / classes: difflogic's group-sum head (the
    count of ones in each class's group; its temperature only scales training logits)."""

    op: ClassVar[str] = "group_sum"
    classes: int = 1

    def out_size(self, in_sizes):
        return int(self.classes)

    def evaluate(self, x):
        return x.astype(np.int64).reshape(x.shape[0], self.classes, -1).sum(axis=2)

    def infer_range(self, x):
        return tuple(np.asarray(v, dtype=np.int64).reshape(self.classes, -1).sum(axis=1) for v in x)

    def verify(self, in_sizes):
        _expect(self.classes >= 1 and in_sizes[0] % self.classes == 0 and in_sizes[0] > 0,
                f"group_sum of {in_sizes[0]} inputs into {self.classes} equal groups")

    def describe(self):
        return f"group_sum {self.classes} groups"


LAYER_TYPES: dict[str, type[Layer]] = {
    cls.op: cls
    for cls in (Input, Dense, Relu, Requant, ArgMax, XnorPopcount, Threshold, Conv2d, MaxPool2d, Affine, FakeQuant,
                Bipolar, IntQuant, MultiThreshold, Thermometer, LogicGates, GroupSum, Pad2d)
}
