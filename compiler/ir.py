"""The integer dataflow IR: the contract between frontend, passes, golden model and HDL lowering.

An `IR` is a networkx DiGraph. Each node is one layer (`node["layer"]`, a dataclass below) and
produces one tensor, a vector described by `node["out"]` (a `TensorInfo`). An edge u -> v with
attribute `port` k says "the tensor of u is input k of v"; every edge carries the tensor of its
source node. Real-valued scales are metadata on tensors; hardware only ever sees the integers.

Two families of layers share the graph:
- integer layers (`Input`, `Dense` with integer weights, `Relu`, `Requant`, `ArgMax`), which the
  golden model interprets bit-exactly and the HDL lowers to circuits;
- float layers (`Affine`, `FakeQuant`, `Dense`/`Conv2d` with float weights, and the QONNX
  activations `Bipolar`, `IntQuant`, `MultiThreshold`) that the frontend produces and the
  quantisation / streamlining passes remove. `IR.is_integer()` tells which kind a graph is.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import dataclass, field
from typing import ClassVar

import networkx as nx
import numpy as np

IR_FORMAT_VERSION = 1


# --------------------------------------------------------------------------- integer types


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


@dataclass
class TensorInfo:
    """A vector tensor: its size, proven per-element integer range, and real-value mapping.

    real[i] = scale[i] * q[i] + offset[i] for the integer value q. `lo`/`hi` are filled by the
    range analysis pass (None until then); `scale`/`offset` by the quantiser (None in float IRs).
    """

    size: int
    lo: np.ndarray | None = None
    hi: np.ndarray | None = None
    scale: np.ndarray | None = None
    offset: np.ndarray | None = None

    def has_ranges(self) -> bool:
        return self.lo is not None and self.hi is not None

    def element_type(self, i: int) -> tuple[int, bool]:
        """(width, signed) of element i, from its proven range."""
        return bits_for_range(self.lo[i], self.hi[i])

    def element_types(self) -> list[tuple[int, bool]]:
        return [self.element_type(i) for i in range(self.size)]


# --------------------------------------------------------------------------- layers


@dataclass
class Layer:
    """Base of all layers. `op` is the name used in JSON, dumps and error messages."""

    op: ClassVar[str] = "?"
    integer: ClassVar[bool] = True  # may appear in an integer IR

    def out_size(self, in_sizes: list[int]) -> int:
        return in_sizes[0]

    def describe(self) -> str:
        return self.op


@dataclass
class Input(Layer):
    """The graph input: `size` integer codes, each in [lo, hi] (e.g. unsigned 4-bit: 0..15).

    The codes come from real features by the quantiser recorded on its TensorInfo:
    code = clip(rint((x - offset) / scale), lo, hi).
    """

    op: ClassVar[str] = "input"
    size: int = 0
    lo: int = 0
    hi: int = 15

    def out_size(self, in_sizes):
        return self.size

    def describe(self):
        width, signed = bits_for_range(self.lo, self.hi)
        return f"input[{self.size}] {'s' if signed else 'u'}{width} codes in [{self.lo}, {self.hi}]"


@dataclass
class Dense(Layer):
    """y[j] = sum_i weight[j, i] * x[i] + bias[j]. Integer weights in an integer IR.

    `weight_scale` (per output) records the real scale of integer weights that came from a QDQ
    model, so the QDQ quantiser can rebuild exact integer layers.
    """

    op: ClassVar[str] = "dense"
    weight: np.ndarray = None
    bias: np.ndarray = None
    weight_scale: np.ndarray | None = None

    def __post_init__(self):
        if self.bias is None:
            self.bias = np.zeros(self.weight.shape[0], dtype=self.weight.dtype)

    def out_size(self, in_sizes):
        return int(self.weight.shape[0])

    def is_integer_valued(self) -> bool:
        return np.issubdtype(self.weight.dtype, np.integer) and np.issubdtype(self.bias.dtype, np.integer)

    def describe(self):
        n_out, n_in = self.weight.shape
        nz = int(np.count_nonzero(self.weight))
        kind = "int" if self.is_integer_valued() else "float"
        return f"dense {n_in}->{n_out} ({kind} weights, {nz}/{n_out * n_in} nonzero)"


@dataclass
class Relu(Layer):
    op: ClassVar[str] = "relu"


@dataclass
class Requant(Layer):
    """Requantise an accumulator: y = clip(round_shift(x * mult, shift) + zero_point, qmin, qmax).

    Per-element `mult`, `shift`, `zero_point` (integer vectors). `rounding` is "floor" (an
    arithmetic right shift; round-half-up is had for free by adding 2^(shift-1) to the bias) or
    "half_even" (ONNX QuantizeLinear's rounding, needed for bit-exact QDQ models).
    """

    op: ClassVar[str] = "requant"
    mult: np.ndarray = None
    shift: np.ndarray = None
    zero_point: np.ndarray = None
    qmin: int = 0
    qmax: int = 255
    rounding: str = "floor"

    ROUNDINGS: ClassVar[tuple[str, ...]] = ("floor", "half_even")

    def __post_init__(self):
        if self.rounding not in self.ROUNDINGS:
            raise ValueError(f"requant rounding {self.rounding!r} not in {self.ROUNDINGS}")

    def describe(self):
        width, signed = bits_for_range(self.qmin, self.qmax)
        shifts = sorted(set(int(s) for s in self.shift))
        mults = sorted(set(int(m) for m in self.mult))
        mult = "" if mults == [1] else f" mult {mults}"
        return f"requant to {'s' if signed else 'u'}{width} [{self.qmin}, {self.qmax}], shift {shifts}{mult}, {self.rounding}"


@dataclass
class ArgMax(Layer):
    """Index of the largest element; on a tie the lowest index wins."""

    op: ClassVar[str] = "argmax"

    def out_size(self, in_sizes):
        return 1


@dataclass
class XnorPopcount(Layer):
    """Binarized dense: y[j] = #{i : x[i] == weight[j, i]}, the popcount of XNOR(x, w_j).

    x and weight are bits where 1 stands for +1 and 0 for -1, so the bipolar dot product is
    2 * y[j] - n_in. weight: 0/1 integers [out, in].
    """

    op: ClassVar[str] = "xnor_popcount"
    weight: np.ndarray = None

    def out_size(self, in_sizes):
        return int(self.weight.shape[0])

    def describe(self):
        n_out, n_in = self.weight.shape
        return f"xnor_popcount {n_in}->{n_out}"


@dataclass
class Threshold(Layer):
    """Multi-threshold activation (FINN MultiThreshold): y[j] = #{k : x[j] >= thresholds[j, k]}.

    thresholds: integers [size, K], each row ascending; K = 1 is a step (sign) activation whose
    output bit 1 stands for +1. Any comparison direction is normalised to ">=" by the
    streamlining pass (negating the producer's weights), so the hardware needs one kind.
    """

    op: ClassVar[str] = "threshold"
    thresholds: np.ndarray = None

    def describe(self):
        return f"threshold x{self.thresholds.shape[1]}"


@dataclass
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
        self.in_shape = tuple(int(v) for v in self.in_shape)
        if self.bias is None:
            self.bias = np.zeros(self.weight.shape[0], dtype=np.int64)

    @property
    def out_shape(self) -> tuple[int, int, int]:
        c_out, _, kh, kw = self.weight.shape
        _, h, w = self.in_shape
        return c_out, (h - kh) // self.stride + 1, (w - kw) // self.stride + 1

    def out_size(self, in_sizes):
        return int(np.prod(self.out_shape))

    def is_integer_valued(self) -> bool:
        return np.issubdtype(self.weight.dtype, np.integer) and np.issubdtype(self.bias.dtype, np.integer)

    def describe(self):
        c_out, c_in, kh, kw = self.weight.shape
        kind = "xnor " if self.binary else ""
        return f"{kind}conv2d {kh}x{kw} {self.in_shape}->{self.out_shape} stride {self.stride}"


@dataclass
class MaxPool2d(Layer):
    """Max over kernel x kernel windows of a CHW-flattened vector (on bits: an OR)."""

    op: ClassVar[str] = "maxpool2d"
    in_shape: tuple = (1, 1, 1)
    kernel: int = 2
    stride: int = 2

    def __post_init__(self):
        self.in_shape = tuple(int(v) for v in self.in_shape)

    @property
    def out_shape(self) -> tuple[int, int, int]:
        c, h, w = self.in_shape
        return c, (h - self.kernel) // self.stride + 1, (w - self.kernel) // self.stride + 1

    def out_size(self, in_sizes):
        return int(np.prod(self.out_shape))

    def describe(self):
        return f"maxpool2d {self.kernel}x{self.kernel} {self.in_shape}->{self.out_shape}"


@dataclass
class Affine(Layer):
    """Float-only: y = x * scale + offset, elementwise (normalisers, batch-norm, Sub/Mul/Div)."""

    op: ClassVar[str] = "affine"
    integer: ClassVar[bool] = False
    scale: np.ndarray = None
    offset: np.ndarray = None


@dataclass
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


@dataclass
class Bipolar(Layer):
    """Float-only: sign activation, y = +scale if x >= 0 else -scale (per-element scale).

    sign(0) = +1, as QONNX BipolarQuant, Brevitas' binary quantiser and FINN's Sign conversion
    (ConvertSignToThres) define it.
    """

    op: ClassVar[str] = "bipolar"
    integer: ClassVar[bool] = False
    scale: np.ndarray = None


@dataclass
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

    def describe(self):
        return f"intquant {'s' if self.signed else 'u'}{self.bit_width} [{self.qmin}, {self.qmax}] {self.rounding.lower()}"


@dataclass
class MultiThreshold(Layer):
    """Float-only: FINN/QONNX MultiThreshold, y = out_scale * #{k : x >= thresholds[i, k]} + out_bias.

    thresholds: float [size, K], one row per element (per-channel rows are expanded).
    """

    op: ClassVar[str] = "multithreshold"
    integer: ClassVar[bool] = False
    thresholds: np.ndarray = None
    out_scale: float = 1.0
    out_bias: float = 0.0

    def describe(self):
        return f"multithreshold x{self.thresholds.shape[1]} * {self.out_scale:g} + {self.out_bias:g}"


LAYER_TYPES: dict[str, type[Layer]] = {
    cls.op: cls
    for cls in (Input, Dense, Relu, Requant, ArgMax, XnorPopcount, Threshold, Conv2d, MaxPool2d, Affine, FakeQuant,
                Bipolar, IntQuant, MultiThreshold)
}


# --------------------------------------------------------------------------- the graph


class IR:
    """A network as a DAG of layers. Cheap to copy (`copy()`), serialisable (`to_json`)."""

    def __init__(self, name: str = "model"):
        self.graph = nx.DiGraph()
        self.name = name
        # Free-form metadata: class labels, input feature names, provenance, quantiser options.
        self.meta: dict = {}

    # -- building
    def add(self, name: str, layer: Layer, inputs: list[str] = ()) -> str:
        if name in self.graph:
            raise ValueError(f"duplicate node name {name!r}")
        sizes = [self.out(i).size for i in inputs]
        self.graph.add_node(name, layer=layer, out=TensorInfo(layer.out_size(sizes)))
        for port, src in enumerate(inputs):
            self.graph.add_edge(src, name, port=port)
        return name

    def unique_name(self, base: str) -> str:
        name, k = base, 1
        while name in self.graph:
            name, k = f"{base}_{k}", k + 1
        return name

    # -- queries
    def layer(self, name: str) -> Layer:
        return self.graph.nodes[name]["layer"]

    def out(self, name: str) -> TensorInfo:
        return self.graph.nodes[name]["out"]

    def inputs_of(self, name: str) -> list[str]:
        preds = self.graph.in_edges(name, data="port")
        return [u for u, _, _ in sorted(preds, key=lambda e: e[2])]

    def users_of(self, name: str) -> list[str]:
        return sorted(self.graph.successors(name))

    def order(self) -> list[str]:
        """Topological order, deterministic (ties broken by name)."""
        return list(nx.lexicographical_topological_sort(self.graph))

    def input_node(self) -> str:
        ins = [n for n in self.order() if isinstance(self.layer(n), Input)]
        if len(ins) != 1:
            raise ValueError(f"IR must have exactly one input, has {len(ins)}")
        return ins[0]

    def output_node(self) -> str:
        sinks = [n for n in self.order() if self.graph.out_degree(n) == 0]
        if len(sinks) != 1:
            raise ValueError(f"IR must have exactly one output, has sinks {sinks}")
        return sinks[0]

    def encode_inputs(self, x_real: np.ndarray) -> np.ndarray:
        """Real features -> the integer input codes of this (quantised) IR, as the ADC would give them.

        code = clip(rint((x - offset) / scale), lo, hi), rint rounding half to even like ONNX
        QuantizeLinear.
        """
        n = self.input_node()
        layer, info = self.layer(n), self.out(n)
        if info.scale is None:
            raise ValueError("the IR has no input quantiser (it is not quantised)")
        x = np.asarray(x_real, dtype=np.float64)
        codes = np.rint((x - info.offset) / info.scale)
        return np.clip(codes, layer.lo, layer.hi).astype(np.int64)

    def is_integer(self) -> bool:
        for n in self.graph:
            layer = self.layer(n)
            if not layer.integer or (isinstance(layer, (Dense, Conv2d)) and not layer.is_integer_valued()):
                return False
        return True

    def has_ranges(self) -> bool:
        return all(self.out(n).has_ranges() for n in self.graph)

    # -- editing
    def copy(self) -> IR:
        """Deep copy of layers and tensors (arrays included), cheap enough for exploration loops."""
        new = IR(self.name)
        new.graph = copy.deepcopy(self.graph)
        new.meta = copy.deepcopy(self.meta)
        return new

    def remove_passthrough(self, name: str) -> None:
        """Delete a single-input node, wiring its input to all of its users (ports kept)."""
        (src,) = self.inputs_of(name)
        for _, user, port in list(self.graph.out_edges(name, data="port")):
            self.graph.add_edge(src, user, port=port)
        self.graph.remove_node(name)

    def replace_layer(self, name: str, layer: Layer) -> None:
        self.graph.nodes[name]["layer"] = layer
        sizes = [self.out(i).size for i in self.inputs_of(name)]
        self.graph.nodes[name]["out"] = TensorInfo(layer.out_size(sizes))

    def clear_ranges(self) -> None:
        for n in self.graph:
            self.out(n).lo = self.out(n).hi = None

    # -- serialisation
    def to_dict(self) -> dict:
        nodes = []
        for n in self.order():
            layer = self.layer(n)
            nodes.append(
                {
                    "name": n,
                    "op": layer.op,
                    "inputs": self.inputs_of(n),
                    "attrs": {f.name: _enc(getattr(layer, f.name)) for f in dataclasses.fields(layer)},
                    "out": {f.name: _enc(getattr(self.out(n), f.name)) for f in dataclasses.fields(TensorInfo)},
                }
            )
        return {"format": "bespoke-ir", "version": IR_FORMAT_VERSION, "name": self.name, "meta": _enc(self.meta), "nodes": nodes}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> IR:
        if d.get("format") != "bespoke-ir" or d.get("version") != IR_FORMAT_VERSION:
            raise ValueError(f"not a bespoke IR of version {IR_FORMAT_VERSION}")
        ir = cls(d["name"])
        ir.meta = _dec(d["meta"])
        for nd in d["nodes"]:
            layer_cls = LAYER_TYPES[nd["op"]]
            layer = layer_cls(**{k: _dec(v) for k, v in nd["attrs"].items()})
            ir.add(nd["name"], layer, nd["inputs"])
            for k, v in nd["out"].items():
                setattr(ir.out(nd["name"]), k, _dec(v))
        return ir

    @classmethod
    def from_json(cls, text: str) -> IR:
        return cls.from_dict(json.loads(text))

    def dump(self) -> str:
        """Readable text: one line per layer with its output type."""
        lines = [f"ir {self.name}"]
        for n in self.order():
            out = self.out(n)
            args = ", ".join(self.inputs_of(n))
            typ = ""
            if out.has_ranges():
                types = out.element_types()
                widths = sorted(set(w for w, _ in types))
                signed = any(s for _, s in types)
                typ = f" : {'s' if signed else 'u'}{widths[-1] if len(widths) == 1 else f'{widths[0]}..{widths[-1]}'}"
                typ += f" in [{int(out.lo.min())}, {int(out.hi.max())}]"
            lines.append(f"  %{n}[{out.size}]{typ} = {self.layer(n).describe()}({args})")
        return "\n".join(lines)

    def __eq__(self, other):
        return isinstance(other, IR) and self.to_json() == other.to_json()


def _enc(v):
    """JSON encoding that keeps numpy arrays' dtype, so integer IRs stay integer."""
    if isinstance(v, np.ndarray):
        kind = "int" if np.issubdtype(v.dtype, np.integer) else "float"
        return {"__array__": kind, "shape": list(v.shape), "data": v.ravel().tolist()}
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, dict):
        return {str(k): _enc(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_enc(x) for x in v]
    return v


def _dec(v):
    if isinstance(v, dict):
        if "__array__" in v:
            dtype = np.int64 if v["__array__"] == "int" else np.float64
            return np.array(v["data"], dtype=dtype).reshape(v["shape"])
        return {k: _dec(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_dec(x) for x in v]
    return v
