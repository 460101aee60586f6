"""The IR graph: the contract between frontend, passes, golden model and HDL lowering.

An `IR` is a networkx DiGraph. Each node is one layer (`node["layer"]`, a class of
compiler/layers.py, which declares what it computes) and produces one tensor, a vector described
by `node["out"]` (a `TensorInfo`). An edge u -> v with attribute `port` k says "the tensor of u
is input k of v"; every edge carries the tensor of its source node. Real-valued scales are
metadata on tensors; hardware only ever sees the integers. `IR.verify()` checks the graph's
invariants; `IR.is_integer()` tells an integer IR from a float one.

This module re-exports the layer classes and `bits_for_range`, so `bespoke.compiler.ir` stays the
one import for everything that reads or builds IRs.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import dataclass

import networkx as nx
import numpy as np

from bespoke.compiler.layers import (LAYER_TYPES, Affine, ArgMax, Bipolar, Conv2d, Dense, FakeQuant, Input,  # noqa: F401
                                     IntQuant, Layer, LogicGates, GroupSum, MaxPool2d, MultiThreshold, Pad2d, Relu, Requant, Thermometer,
                                     Threshold, XnorPopcount)
from bespoke.compiler import input_encoding
from bespoke.compiler.ops import bits_for_range, frozen

IR_FORMAT_VERSION = 1


class IRError(ValueError):
    """A broken invariant of an IR (a compiler bug, not a user error); the message names the node."""


@dataclass
class TensorInfo:
    """A vector tensor: its size, proven per-element integer range, and real-value mapping.

    real[i] = scale[i] * q[i] + offset[i] for the integer value q. `lo`/`hi` are filled by the
    range analysis pass (None until then); `scale`/`offset` by the quantiser (None in float IRs).
    Arrays are stored read-only (assign a new one to change it), so copies of an IR share them.
    """

    size: int
    lo: np.ndarray | None = None
    hi: np.ndarray | None = None
    scale: np.ndarray | None = None
    offset: np.ndarray | None = None

    def __setattr__(self, key, value):
        object.__setattr__(self, key, frozen(value))

    def has_ranges(self) -> bool:
        return self.lo is not None and self.hi is not None

    def element_type(self, i: int) -> tuple[int, bool]:
        """(width, signed) of element i, from its proven range."""
        return bits_for_range(self.lo[i], self.hi[i])

    def element_types(self) -> list[tuple[int, bool]]:
        return [self.element_type(i) for i in range(self.size)]


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

    def node_values(self, x: np.ndarray, check=None) -> dict[str, np.ndarray]:
        """Every node's output for the batch `x` bound to the input node: each layer's own
        `evaluate`, in topological order (the walk behind the golden model, sim.golden);
        `check(node, value)`, if given, sees each node's value before the next node is evaluated."""
        values: dict[str, np.ndarray] = {}
        for n in self.order():
            layer = self.layer(n)
            values[n] = x if isinstance(layer, Input) else layer.evaluate(*[values[i] for i in self.inputs_of(n)])
            if check is not None:
                check(n, values[n])
        return values

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
        QuantizeLinear; or, for a model that quantises its own input (meta "input_program"), its
        own input stage replayed in float32 (compiler.input_encoding).
        """
        n = self.input_node()
        layer, info = self.layer(n), self.out(n)
        x = np.asarray(x_real, dtype=np.float64)
        if "input_program" in self.meta:
            return input_encoding.encode(self.meta["input_program"], x)
        if info.scale is None:
            raise ValueError("the IR has no input quantiser (it is not quantised)")
        return np.clip(self._affine_codes(x), layer.lo, layer.hi).astype(np.int64)

    def clamped_inputs(self, x_real: np.ndarray) -> tuple[int, int]:
        """(rows, features) of real inputs that encode_inputs clamps: values outside the range the
        input quantiser was calibrated or declared for."""
        layer = self.layer(self.input_node())
        if "input_program" in self.meta:
            bad = input_encoding.clamped(self.meta["input_program"], x_real)
        else:
            codes = self._affine_codes(np.asarray(x_real, dtype=np.float64))
            bad = (codes < layer.lo) | (codes > layer.hi)
        return int(bad.any(axis=1).sum()), int(bad.any(axis=0).sum())

    def _affine_codes(self, x: np.ndarray) -> np.ndarray:
        """rint((x - offset) / scale) of the input's encoding, before the clip to its code range."""
        info = self.out(self.input_node())
        return np.rint((x - info.offset) / info.scale)

    def is_integer(self) -> bool:
        return all(self.layer(n).is_integer_valued() for n in self.graph)

    def has_ranges(self) -> bool:
        return all(self.out(n).has_ranges() for n in self.graph)

    # -- editing
    def copy(self) -> IR:
        """A copy whose graph, tensor infos and meta are its own; layers and arrays, read-only, are shared."""
        new = IR(self.name)
        new.graph = self.graph.copy()  # new node/edge attribute dicts, same values
        for n in new.graph:
            new.graph.nodes[n]["out"] = dataclasses.replace(self.out(n))
        new.meta = copy.deepcopy(self.meta)
        return new

    def remove_passthrough(self, name: str) -> None:
        """Delete a single-input node, wiring its input to all of its users (ports kept)."""
        (src,) = self.inputs_of(name)
        for _, user, port in list(self.graph.out_edges(name, data="port")):
            self.graph.add_edge(src, user, port=port)
        self.graph.remove_node(name)

    def insert_before(self, name: str, base: str, layer: Layer) -> str:
        """Put a single-input `layer` between single-input node `name` and its input; returns
        the new node's name (`base`, made unique)."""
        (src,) = self.inputs_of(name)
        new = self.add(self.unique_name(base), layer, [src])
        self.graph.remove_edge(src, name)
        self.graph.add_edge(new, name, port=0)
        return new

    def replace_layer(self, name: str, layer: Layer, keep_scale: bool = True) -> None:
        """Put `layer` at node `name`. Its proven range is dropped (the new layer may compute other
        values); its real scale/offset are kept when the output size is unchanged, unless the
        caller says the new layer changes what the integers stand for (keep_scale=False)."""
        old = self.out(name)
        size = layer.out_size([self.out(i).size for i in self.inputs_of(name)])
        info = TensorInfo(size)
        if keep_scale and size == old.size:
            info.scale, info.offset = old.scale, old.offset
        self.graph.nodes[name]["layer"] = layer
        self.graph.nodes[name]["out"] = info

    def clear_ranges(self) -> None:
        for n in self.graph:
            self.out(n).lo = self.out(n).hi = None

    # -- invariants
    def verify(self) -> None:
        """Check the graph's invariants; raise IRError naming the first node that breaks one.

        Structure: acyclic, one Input, one output, every edge has a `port`, each node's ports are
        0..k-1 with k its layer's arity. Per node: the layer's fields are well-formed, its output
        size is what the layer makes of its inputs' sizes, the TensorInfo arrays have that size and
        lo <= hi. In an integer IR, every stored range contains what range inference derives from
        the stored ranges of the node's inputs (the ranges are sound).
        """
        if not nx.is_directed_acyclic_graph(self.graph):
            cycle = [u for u, _ in nx.find_cycle(self.graph)]
            raise IRError(f"node {cycle[0]!r}: on a cycle {' -> '.join(cycle + cycle[:1])}")
        inputs = [n for n in self.order() if isinstance(self.layer(n), Input)]
        if len(inputs) != 1:
            raise IRError(f"an IR has exactly one input node, this one has {inputs}")
        self.output_node()
        integer = self.is_integer()
        for n in self.order():
            try:
                self._verify_node(n, integer)
            except ValueError as e:
                raise IRError(f"node {n!r} ({self.layer(n).op}): {e}") from None

    def _verify_node(self, n: str, integer: bool) -> None:
        layer, info = self.layer(n), self.out(n)
        ports = sorted(p for _, _, p in self.graph.in_edges(n, data="port"))
        if None in ports or ports != list(range(len(ports))):
            raise ValueError(f"input ports {ports} are not 0..{len(ports) - 1}")
        if len(ports) != layer.arity:
            raise ValueError(f"takes {layer.arity} inputs, has {len(ports)}")
        srcs = self.inputs_of(n)
        sizes = [self.out(i).size for i in srcs]
        layer.verify(sizes)
        if info.size != layer.out_size(sizes):
            raise ValueError(f"output size {info.size}, but the layer makes {layer.out_size(sizes)} of inputs {sizes}")
        for key in ("lo", "hi", "scale", "offset"):
            v = getattr(info, key)
            if v is not None and (not isinstance(v, np.ndarray) or v.shape != (info.size,)):
                raise ValueError(f"tensor {key} must be a vector of {info.size} elements, has shape {np.shape(v)}")
        if (info.lo is None) != (info.hi is None):
            raise ValueError("tensor has only one of lo / hi")
        if info.has_ranges():
            if np.any(info.lo > info.hi):
                raise ValueError(f"empty range at element {int(np.argmax(info.lo > info.hi))}")
            if integer and all(self.out(i).has_ranges() for i in srcs):
                self._verify_sound(layer, info, srcs)

    def _verify_sound(self, layer: Layer, info: TensorInfo, srcs: list[str]) -> None:
        lo, hi = layer.infer_range(*[(self.out(i).lo, self.out(i).hi) for i in srcs])
        bad = (np.asarray(lo) < info.lo) | (np.asarray(hi) > info.hi)
        if bad.any():
            k = int(np.argmax(bad))
            raise ValueError(f"proven range [{info.lo[k]}, {info.hi[k]}] of element {k} does not contain "
                             f"[{lo[k]}, {hi[k]}], what its inputs' ranges give")

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
