"""ONNX frontend: load, check and lower an ONNX classifier/regressor to a float IR.

The lowering is a symbolic walk over the nodes in graph order. Every ONNX tensor becomes either
a constant (numpy array) or a view of an IR node's output (`Act`), tagged with what it means:
plain activations, monotone transforms of scores (softmax / sigmoid, only good for an ArgMax), a
class index, a class label, or an integer code produced by QuantizeLinear. Elementwise
arithmetic with constants becomes `Affine` layers, QuantizeLinear->DequantizeLinear pairs become
`FakeQuant` layers; the folding and quantisation passes turn the result into an integer IR.

Binarized and low-bit networks (QONNX, as Brevitas and FINN write them) lower to float layers
too: Quant -> `IntQuant`, BipolarQuant and Sign -> `Bipolar` (sign(0) = +1), MultiThreshold ->
`MultiThreshold`, Conv -> `Conv2d` (a padded one -> `Pad2d` + `Conv2d`), MaxPool -> `MaxPool2d`; quantisers on constant weights are
evaluated here and remembered (`Const.declared`) so the weight grid is known exactly. Activations
carry their per-sample shape (C, H, W for images); IR vectors are that shape flattened in C, H, W
order, as ONNX Flatten/Reshape of an NCHW tensor lay it out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper, shape_inference

from bespoke.compiler.errors import BespokeError, first_line
from bespoke.compiler.ir import IR, Affine, ArgMax, Bipolar, Conv2d, Dense, FakeQuant, Input, IntQuant, MaxPool2d, MultiThreshold, Pad2d, Relu

# What a symbolic activation tensor means.
ACT = "activation"  # real-valued vector, the output of IR node `node`
MONOTONE = "monotone"  # a monotone transform of `node` (softmax, sigmoid): only ArgMax may use it
NEG_SIGMOID = "neg-sigmoid"  # 1 - sigmoid(node), half of skl2onnx's binary classifier head
INDEX = "index"  # argmax class index
LABEL = "label"  # class label looked up from the index
QCODE = "qcode"  # integer code from QuantizeLinear (real value: FakeQuant node `node`)
IGNORED = "ignored"  # side outputs we do not build (ZipMap's probability map)

# Preference when a graph has several outputs: the first kind found is compiled.
OUTPUT_PREFERENCE = (LABEL, INDEX, QCODE, ACT)


@dataclass
class Act:
    node: str
    kind: str = ACT
    labels: list | None = None  # for LABEL: index -> class label
    shape: tuple | None = None  # per-sample shape when not a plain vector, e.g. (C, H, W)


@dataclass
class Const:
    value: np.ndarray
    # set when the constant came from DequantizeLinear of an integer tensor: (ints, scale, zero_point)
    quantized: tuple | None = field(default=None, repr=False)
    # set by a QONNX quantiser or a FINN datatype annotation: "bipolar" or "int" (quantized holds the grid)
    declared: str | None = None


SUPPORTED_OPS = (
    "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Relu", "BatchNormalization", "Scaler",
    "Flatten", "Reshape", "Identity", "Cast", "Dropout", "Softmax", "LogSoftmax", "Sigmoid",
    "Concat", "ArgMax", "ArrayFeatureExtractor", "ZipMap", "QuantizeLinear", "DequantizeLinear",
    "Constant", "Conv", "MaxPool", "Sign",
)

# QONNX custom operators (Brevitas' and FINN's domains) and the ones lowered here.
QONNX_DOMAINS = ("qonnx.custom_op.general", "finn.custom_op.general", "finn", "onnx.brevitas")
QONNX_OPS = ("Quant", "IntQuant", "BipolarQuant", "MultiThreshold")

# Versions of the default ONNX domain lowered here: opsets before 7 have other Gemm/Add
# broadcasting rules, opsets after the installed onnx package's newest are unknown to it.
MIN_OPSET = 7
MAX_QUANT_BITS = 32  # a QONNX quantiser's bit width; the integer IR computes in int64


def load_onnx(path: str | Path) -> onnx.ModelProto:
    """Read, check and shape-infer a model; every failure is a one-line BespokeError."""
    path = Path(path)
    if not path.is_file():
        raise BespokeError(f"{path}: no such model file")
    try:
        model = onnx.load(str(path))
    except Exception as e:  # protobuf raises several types for garbage
        raise BespokeError(f"{path}: not a readable ONNX model ({type(e).__name__}: {first_line(e)})") from None
    model = repair_opsets(model)
    try:
        onnx.checker.check_model(model)
    except Exception as e:
        raise BespokeError(f"{path}: invalid ONNX model: {first_line(e)}") from None
    try:
        model = shape_inference.infer_shapes(model)
    except Exception as e:
        raise BespokeError(f"{path}: ONNX shape inference failed: {first_line(e)}") from None
    return model


def repair_opsets(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model, or a copy with the opset import of each QONNX/FINN custom domain its nodes use
    but it lacks: qonnx's model merge (FINN's pre-processing step) drops it, and the checker then
    refuses the model."""
    missing = sorted(d for d in {n.domain for n in model.graph.node} - {o.domain for o in model.opset_import} if d in QONNX_DOMAINS)
    if not missing:
        return model
    repaired = onnx.ModelProto()
    repaired.CopyFrom(model)
    repaired.opset_import.extend(onnx.helper.make_opsetid(d, 1) for d in missing)
    return repaired


def lower_onnx(model: onnx.ModelProto, name: str = "model") -> IR:
    return _Lowering(model, name).run()


class _Lowering:
    def __init__(self, model: onnx.ModelProto, name: str):
        self.model = model
        self.graph = model.graph
        self.ir = IR(name)
        self.values: dict[str, Act | Const] = {}

    # -- driver
    def run(self) -> IR:
        _check_opsets(self.model)
        _check_names(self.graph)
        self.datatypes = _datatype_annotations(self.graph)
        for init in self.graph.initializer:
            self.values[init.name] = self._annotated_const(init.name, _to_array(init, f"initializer {init.name!r}"))
        self._add_input()
        for node in self.graph.node:
            self._lower_node(node)
        self._select_output()
        self.ir.meta["source"] = {
            "producer": f"{self.model.producer_name} {self.model.producer_version}".strip(),
            "opsets": {o.domain or "ai.onnx": o.version for o in self.model.opset_import},
        }
        return self.ir

    def _add_input(self):
        inits = {i.name for i in self.graph.initializer}
        inputs = [i for i in self.graph.input if i.name not in inits]
        if len(inputs) != 1:
            raise BespokeError(f"model has {len(inputs)} inputs ({', '.join(i.name for i in inputs)}); exactly one is supported")
        inp = inputs[0]
        dims = [d.dim_value if d.HasField("dim_value") else None for d in inp.type.tensor_type.shape.dim]
        if not dims or dims[-1] is None or any(d is None for d in dims[1:]):
            shape = "[" + ", ".join("?" if d is None else str(d) for d in dims) + "]"
            raise BespokeError(f"model input {inp.name!r} has no static feature size (shape {shape}); export it with a fixed number of features")
        size = int(np.prod(dims[1:])) if len(dims) > 1 else dims[0]
        if size < 1:
            raise BespokeError(f"model input {inp.name!r} has no features (shape {['N', *dims[1:]]})")
        self.ir.meta["input_name"] = inp.name
        node = self.ir.add("input", Input(size=size))
        shape = tuple(dims[1:]) if len(dims) > 2 else None
        self.values[inp.name] = self._annotated_input(inp.name, Act(node, shape=shape))

    def _annotated_input(self, name: str, x: Act) -> Act:
        """A FINN datatype annotation on the input (e.g. UINT8) says it carries integer codes: quantise to them."""
        dt = self.datatypes.get(name)
        grid = _integer_datatype(dt) if dt else None
        if grid is None:
            return x
        bits, signed, narrow = grid
        n = self._size(x)
        layer = IntQuant(scale=np.ones(n), zero_point=np.zeros(n), bit_width=bits, signed=signed, narrow=narrow)
        name = self.ir.add(self.ir.unique_name("input_codes"), layer, [x.node])
        return Act(name, shape=x.shape)

    def _annotated_const(self, name: str, value: np.ndarray) -> Const:
        """An initializer with a FINN datatype annotation: check its values and remember the grid."""
        dt = self.datatypes.get(name)
        if dt is None or _integer_datatype(dt) is None:
            return Const(value)
        bits, signed, narrow = _integer_datatype(dt)
        v = np.asarray(value, dtype=np.float64)
        if dt == "BIPOLAR":
            if not np.all(np.abs(v) == 1):
                bad = v[np.abs(v) != 1].ravel()[0]
                raise BespokeError(f"initializer {name!r}: declared binary (datatype BIPOLAR) but holds the non-binary weight {bad:g}; "
                                   "binary weights must be -1 or +1")
            return Const(value, quantized=(v.astype(np.int64), np.float64(1.0), 0), declared="bipolar")
        lo, hi = IntQuant(bit_width=bits, signed=signed, narrow=narrow).qmin, IntQuant(bit_width=bits, signed=signed, narrow=narrow).qmax
        if not (np.all(v == np.rint(v)) and v.min(initial=lo) >= lo and v.max(initial=hi) <= hi):
            raise BespokeError(f"initializer {name!r}: declared {dt} but holds values outside that integer grid")
        return Const(value, quantized=(v.astype(np.int64), np.float64(1.0), 0), declared="int")

    def _select_output(self):
        outs = [(o.name, self.values.get(o.name)) for o in self.graph.output]
        for kind in OUTPUT_PREFERENCE:
            found = [(name, v) for name, v in outs if isinstance(v, Act) and v.kind == kind]
            if len(found) > 1:  # which one to build would depend on the order in the file
                raise BespokeError(f"model has {len(found)} outputs of the same kind ({kind}: "
                                   f"{', '.join(n for n, _ in found)}); exactly one is compiled: remove the others")
            for name, v in found:
                if isinstance(self.ir.layer(v.node), Input):
                    raise BespokeError(f"model output {name!r} is its input: the model computes nothing")
                if v.labels is not None:
                    self.ir.meta["labels"] = [_plain(x) for x in v.labels]
                self.ir.meta["output_name"] = name
                self._prune_to(v.node)
                return
        kinds = ", ".join(f"{n}: {v.kind if isinstance(v, Act) else 'constant'}" for n, v in outs)
        raise BespokeError(
            f"no model output can be compiled ({kinds}); supported outputs are a class label, an ArgMax index, "
            "QuantizeLinear codes, or raw scores (a Softmax/Sigmoid output only before an ArgMax)"
        )

    def _prune_to(self, out: str):
        import networkx as nx

        keep = nx.ancestors(self.ir.graph, out) | {out}
        self.ir.graph.remove_nodes_from([n for n in list(self.ir.graph) if n not in keep])

    # -- helpers
    def _err(self, node, what: str) -> BespokeError:
        return BespokeError(f"node {node.name or '(unnamed)'!r} ({node.op_type}): {what}")

    def _arg(self, node, k: int):
        if k >= len(node.input) or not node.input[k]:
            return None
        name = node.input[k]
        if name not in self.values:
            raise self._err(node, f"input {name!r} is not produced by any supported node")
        return self.values[name]

    def _args(self, node) -> list:
        """The node's inputs (None for omitted optional ones); a missing first input is a user error."""
        args = [self._arg(node, k) for k in range(len(node.input))]
        if node.op_type != "Constant" and (not args or args[0] is None):
            raise self._err(node, "its first input is missing")
        return args

    def _attrs(self, node) -> dict:
        return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}

    def _emit(self, node, layer, src: str, kind: str = ACT, shape: tuple | None = None) -> Act:
        name = self.ir.unique_name(_safe(node.name or node.output[0]))
        self.ir.add(name, layer, [src])
        return Act(name, kind, shape=shape)

    def _act(self, node, v, allowed=(ACT,)) -> Act:
        if not isinstance(v, Act) or v.kind not in allowed:
            got = "a constant" if isinstance(v, Const) else "no input" if v is None else f"a {v.kind} tensor"
            raise self._err(node, f"expects an activation input, got {got}")
        return v

    def _vector(self, node, c: Const, size: int) -> np.ndarray:
        """A constant broadcast to one value per feature (scalars, [F], [1, F])."""
        v = np.asarray(c.value, dtype=np.float64)
        if v.size == 1:
            return np.full(size, float(v.ravel()[0]))
        if v.size == size and (v.ndim == 1 or (v.ndim == 2 and v.shape[0] == 1)):
            return v.ravel()
        raise self._err(node, f"constant of shape {list(v.shape)} does not broadcast over {size} features")

    def _size(self, a: Act) -> int:
        return self.ir.out(a.node).size

    def _shape(self, a: Act) -> tuple:
        """Per-sample shape: (features,) for vectors, (C, H, W) for images."""
        return a.shape if a.shape is not None else (self._size(a),)

    def _image(self, node, x: Act) -> tuple:
        shape = self._shape(x)
        if len(shape) != 3:
            raise self._err(node, f"expects a 4-D NCHW input, got per-sample shape {list(shape)}")
        return shape

    def _elementwise(self, node, c: Const, x: Act) -> np.ndarray:
        """A constant broadcast over one sample (numpy/ONNX broadcasting), flattened in CHW order."""
        v = np.asarray(c.value, dtype=np.float64)
        target = (1, *self._shape(x))
        try:
            fits = np.broadcast_shapes(v.shape, target) == target
        except ValueError:
            fits = False
        if not fits:
            raise self._err(node, f"constant of shape {list(v.shape)} does not broadcast over a tensor of shape {['N', *target[1:]]}")
        return np.broadcast_to(v, target).ravel().copy()

    def _per_channel(self, node, c: Const, x: Act) -> np.ndarray:
        """One value per channel (or a scalar), expanded to every element of the sample."""
        v = np.asarray(c.value, dtype=np.float64).ravel()
        shape = self._shape(x)
        if v.size == 1:
            return np.full(self._size(x), v[0])
        if v.size != shape[0]:
            raise self._err(node, f"{v.size} per-channel values for a tensor with {shape[0]} channels (shape {['N', *shape]})")
        return np.repeat(v, int(np.prod(shape[1:])))

    # -- the operators
    def _lower_node(self, node):
        op = node.op_type
        if node.domain in QONNX_DOMAINS:
            return self._lower_qonnx(node)
        handler = getattr(self, f"_op_{op}", None)
        if handler is None or node.domain not in ("", "ai.onnx", "ai.onnx.ml"):
            raise self._err(node, f"unsupported operator (domain {node.domain or 'ai.onnx'!r}); supported: {', '.join(SUPPORTED_OPS)}; "
                            f"QONNX: {', '.join(QONNX_OPS)}")
        args = self._args(node)
        if all(isinstance(a, Const) or a is None for a in args) and op not in ("Constant", "DequantizeLinear", "QuantizeLinear"):
            result = self._fold_constant(node)
        else:
            result = handler(node, args, self._attrs(node))
        results = result if isinstance(result, list) else [result]
        for out_name, value in zip(node.output, results):
            if out_name:
                self.values[out_name] = value

    def _lower_qonnx(self, node):
        """QONNX custom ops run on constants too (quantised weights): no ONNX evaluator knows them."""
        handler = getattr(self, f"_qonnx_{node.op_type}", None)
        if handler is None:
            raise self._err(node, f"unsupported QONNX operator (domain {node.domain!r}); supported QONNX operators: {', '.join(QONNX_OPS)}")
        args = self._args(node)
        if not node.output or not node.output[0]:
            raise self._err(node, "has no output")
        self.values[node.output[0]] = handler(node, args, self._attrs(node))

    def _fold_constant(self, node):
        """Evaluate a node whose inputs are all constants with the ONNX reference evaluator."""
        from onnx.reference import ReferenceEvaluator

        graph = onnx.helper.make_graph(
            [node], "const",
            [], [onnx.helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None) for o in node.output if o],
            [numpy_helper.from_array(np.asarray(self.values[i].value), i) for i in node.input if i],
        )
        opsets = list(self.model.opset_import)
        try:
            outs = ReferenceEvaluator(onnx.helper.make_model(graph, opset_imports=opsets)).run(None, {})
        except Exception as e:
            raise self._err(node, f"cannot evaluate on constants: {first_line(e)}") from None
        return [Const(np.asarray(o)) for o in outs]

    def _op_Constant(self, node, args, attrs):
        value = attrs.get("value")
        if value is None:
            raise self._err(node, "only the 'value' attribute of Constant is supported")
        return Const(_to_array(value, f"node {node.name!r} (Constant)"))

    def _passthrough(self, node, args, attrs):
        return args[0]

    _op_Identity = _op_Cast = _op_Dropout = _passthrough

    def _op_Flatten(self, node, args, attrs):
        x = args[0]
        if isinstance(x, Act) and attrs.get("axis", 1) != 1:
            raise self._err(node, "only Flatten with axis=1 is supported")
        return Act(x.node, x.kind, x.labels) if isinstance(x, Act) else x  # CHW order is the vector order

    def _op_Reshape(self, node, args, attrs):
        x = args[0]
        if isinstance(x, Act) and x.kind in (ACT, QCODE, MONOTONE):
            if len(args) < 2 or not isinstance(args[1], Const):
                raise self._err(node, "the target shape must be a constant")
            target = [int(s) for s in np.asarray(args[1].value).ravel()]
            sample = _reshape_sample(target, self._size(x))
            if sample is None:
                raise self._err(node, f"reshape of a {self._size(x)}-element sample to {target} is not supported; "
                                "only [N, ...] keeping the batch axis (N = -1, 0 or 1) is")
            return Act(x.node, x.kind, x.labels, shape=sample if len(sample) > 1 else None)
        return x  # class indices and labels: reshapes only change their rank

    def _op_MatMul(self, node, args, attrs):
        x, w = args
        if not isinstance(w, Const) or w.value.ndim != 2:
            raise self._err(node, "only activation x constant 2-D matrix products are supported")
        x = self._act(node, x)
        return self._dense(node, x, w.value.T, None, w, transposed=True)

    def _op_Gemm(self, node, args, attrs):
        x, b, c = args[0], args[1], args[2] if len(args) > 2 else None
        if attrs.get("transA", 0):
            raise self._err(node, "transA=1 is not supported")
        if not isinstance(b, Const) or (c is not None and not isinstance(c, Const)):
            raise self._err(node, "weights and bias must be constants")
        if np.ndim(b.value) != 2 or (c is not None and np.ndim(c.value) > 2):
            raise self._err(node, f"weights must be a 2-D matrix and the bias at most 2-D, got shapes {list(np.shape(b.value))}"
                            + ("" if c is None else f" and {list(np.shape(c.value))}"))
        x = self._act(node, x)
        weight = b.value if attrs.get("transB", 0) else b.value.T
        weight = weight * attrs.get("alpha", 1.0)
        n_out = weight.shape[0]
        bias = None if c is None else self._vector(node, c, n_out) * attrs.get("beta", 1.0)
        if b.declared:  # a QONNX-quantised weight: its grid survives alpha as a scale factor
            return self._dense(node, x, weight, bias, b, transposed=not attrs.get("transB", 0), alpha=attrs.get("alpha", 1.0))
        exact = b if attrs.get("alpha", 1.0) == 1.0 else None
        return self._dense(node, x, weight, bias, exact)

    def _dense(self, node, x: Act, weight, bias, wconst: Const | None, transposed: bool = False, alpha: float = 1.0) -> Act:
        if len(self._shape(x)) != 1:
            raise self._err(node, f"expects a flat input, got per-sample shape {list(self._shape(x))}; add a Flatten")
        if weight.shape[1] != self._size(x):
            raise self._err(node, f"weight has {weight.shape[1]} inputs, the activation has {self._size(x)}")
        if weight.size == 0:
            raise self._err(node, f"weight of shape {list(weight.shape)} is empty: a layer without outputs")
        weight = np.asarray(weight, dtype=np.float64)
        bias = np.zeros(weight.shape[0]) if bias is None else np.asarray(bias, dtype=np.float64)
        weight_scale = None
        if wconst is not None and wconst.declared:
            ints = wconst.quantized[0].T if transposed else wconst.quantized[0]
            value = np.asarray(wconst.value, np.float64)
            weight_scale = self._grid_scale(node, value.T if transposed else value, ints, wconst.declared) * alpha
            weight = np.rint(weight / weight_scale[:, None]) * weight_scale[:, None]
        elif wconst is not None and wconst.quantized is not None:
            _, scale, _ = wconst.quantized
            scale = np.asarray(scale, dtype=np.float64).ravel()
            weight_scale = np.broadcast_to(scale, (weight.shape[0],)).copy()
        return self._emit(node, Dense(weight=weight, bias=bias, weight_scale=weight_scale), x.node)

    def _grid_scale(self, node, value: np.ndarray, ints: np.ndarray, declared: str) -> np.ndarray:
        """Per-output-channel scale s with value == ints' * s exactly (axis 0 is the output channel).

        A quantiser may use any sign or per-channel scale; what the hardware needs is one positive
        real factor per output channel over an integer grid (for binary layers: over -1/+1).
        """
        n_out = value.shape[0]
        v, q = value.reshape(n_out, -1), np.asarray(ints).reshape(n_out, -1)
        peak_q = np.abs(q).max(axis=1, initial=0)
        scale = np.where(peak_q > 0, np.abs(v).max(axis=1, initial=0.0) / np.maximum(peak_q, 1), 1.0)
        grid = np.rint(v / np.where(scale > 0, scale, 1.0)[:, None])
        exact = np.array_equal(grid * scale[:, None], v)
        if declared == "bipolar" and (not exact or not np.all(np.abs(grid) == 1)):
            bad = v[np.abs(grid) != 1].ravel()[0] if not np.all(np.abs(grid) == 1) else None
            what = f"the weight {bad:g} is not +-scale" if bad is not None else "its scale differs within an output channel"
            raise self._err(node, f"weights declared binary (BipolarQuant) are not +-1 times one scale per output channel after "
                            f"quantisation: {what}")
        if not exact:
            raise self._err(node, "quantised weights are not an integer grid times one scale per output channel")
        return np.where(scale > 0, scale, 1.0)

    def _affine(self, node, x: Act, scale, offset, divisor=None) -> Act:
        n = self._size(x)
        with np.errstate(all="ignore"):
            finite = np.all(np.isfinite(scale)) and np.all(np.isfinite(offset))
        if not finite:
            raise self._err(node, "its constants give a NaN or infinite scale or offset (a batch-norm variance of 0 or "
                            "below, a division by 0, or values beyond float range)")
        layer = Affine(scale=np.broadcast_to(scale, (n,)).astype(float).copy(), offset=np.broadcast_to(offset, (n,)).astype(float).copy(),
                       divisor=None if divisor is None else np.broadcast_to(divisor, (n,)).astype(float).copy())
        return self._emit(node, layer, x.node, shape=x.shape)

    def _binary(self, node, args):
        """(activation, constant vector, activation-was-first) of a binary elementwise op."""
        a, b = args
        if isinstance(a, Act) and isinstance(b, Const):
            return a, b, True
        if isinstance(b, Act) and isinstance(a, Const):
            return b, a, False
        raise self._err(node, "only elementwise operations between an activation and a constant are supported")

    def _op_Add(self, node, args, attrs):
        x, c, _ = self._binary(node, args)
        x = self._act(node, x)
        return self._affine(node, x, 1.0, self._elementwise(node, c, x))

    def _op_Sub(self, node, args, attrs):
        x, c, x_first = self._binary(node, args)
        if not x_first and x.kind == MONOTONE and np.allclose(np.asarray(c.value, dtype=float), 1.0):
            return Act(x.node, NEG_SIGMOID)  # 1 - sigmoid(z): skl2onnx's binary head
        x = self._act(node, x)
        c = self._elementwise(node, c, x)
        return self._affine(node, x, 1.0, -c) if x_first else self._affine(node, x, -1.0, c)

    def _op_Mul(self, node, args, attrs):
        x, c, _ = self._binary(node, args)
        x = self._act(node, x)
        return self._affine(node, x, self._elementwise(node, c, x), 0.0)

    def _op_Div(self, node, args, attrs):
        x, c, x_first = self._binary(node, args)
        if not x_first:
            raise self._err(node, "division of a constant by an activation is not supported")
        x = self._act(node, x)
        divisor = self._elementwise(node, c, x)
        with np.errstate(divide="ignore", over="ignore"):  # x / 0 is refused by _affine
            scale = 1.0 / divisor
        return self._affine(node, x, scale, 0.0, divisor)

    def _op_BatchNormalization(self, node, args, attrs):
        x = self._act(node, args[0])
        if not all(isinstance(a, Const) for a in args[1:5]):
            raise self._err(node, "batch-norm parameters must be constants")
        gamma, beta, mean, var = (self._per_channel(node, a, x) for a in args[1:5])
        if not np.all(var + attrs.get("epsilon", 1e-5) > 0):
            raise self._err(node, "variance + epsilon must be positive")
        with np.errstate(all="ignore"):  # overflow is refused by _affine
            s = gamma / np.sqrt(var + attrs.get("epsilon", 1e-5))
            offset = beta - mean * s
        return self._affine(node, x, s, offset)

    def _op_Scaler(self, node, args, attrs):
        x = self._act(node, args[0])
        n = self._size(x)
        offset = self._vector(node, Const(np.asarray(attrs.get("offset", [0.0]))), n)
        scale = self._vector(node, Const(np.asarray(attrs.get("scale", [1.0]))), n)
        return self._affine(node, x, scale, -offset * scale)  # y = (x - offset) * scale

    def _op_Relu(self, node, args, attrs):
        x = self._act(node, args[0])
        return self._emit(node, Relu(), x.node, shape=x.shape)

    def _monotone(self, node, args, attrs):
        x = self._act(node, args[0])
        if node.op_type != "Sigmoid" and attrs.get("axis", -1) not in (-1, 1):
            raise self._err(node, "only the feature axis is supported")
        return Act(x.node, MONOTONE)

    _op_Softmax = _op_LogSoftmax = _op_Sigmoid = _monotone

    def _op_Concat(self, node, args, attrs):
        # skl2onnx's binary classifier: Concat(1 - sigmoid(z), sigmoid(z)). argmax of that equals
        # argmax of [0, z] (ties, z = 0, both give index 0), a 2-row linear layer the folding merges.
        if (len(args) == 2 and isinstance(args[0], Act) and isinstance(args[1], Act)
                and args[0].kind == NEG_SIGMOID and args[1].kind == MONOTONE and args[0].node == args[1].node
                and self._size(args[1]) == 1):
            head = self._emit(node, Dense(weight=np.array([[0.0], [1.0]]), bias=np.zeros(2)), args[1].node)
            return Act(head.node, MONOTONE)
        raise self._err(node, "Concat is only supported as the binary-classifier head (1 - sigmoid(z), sigmoid(z))")

    def _op_ArgMax(self, node, args, attrs):
        x = self._act(node, args[0], allowed=(ACT, MONOTONE, QCODE))
        if attrs.get("axis", 0) not in (1, -1):
            raise self._err(node, "ArgMax must reduce the feature axis (axis=1 or -1)")
        if attrs.get("select_last_index", 0):
            raise self._err(node, "select_last_index=1 is not supported (ties go to the lowest index)")
        return self._emit(node, ArgMax(), x.node, INDEX)

    def _op_ArrayFeatureExtractor(self, node, args, attrs):
        table, idx = args
        if not (isinstance(table, Const) and isinstance(idx, Act) and idx.kind == INDEX):
            raise self._err(node, "only the class-label lookup (constant classes, ArgMax index) is supported")
        return Act(idx.node, LABEL, labels=list(np.asarray(table.value).ravel()))

    def _op_ZipMap(self, node, args, attrs):
        return Act(args[0].node if isinstance(args[0], Act) else "", IGNORED)

    def _op_QuantizeLinear(self, node, args, attrs):
        x, scale, zp = args[0], args[1], args[2] if len(args) > 2 else None
        if not isinstance(scale, Const) or (zp is not None and not isinstance(zp, Const)):
            raise self._err(node, "scale and zero point must be constants")
        if np.asarray(scale.value).size != 1:
            raise self._err(node, "only per-tensor activation quantisation is supported")
        self._check_qparams(node, scale, zp)
        zp_arr = np.asarray(zp.value) if zp is not None else np.array(0, dtype=np.uint8)
        info = np.iinfo(zp_arr.dtype)
        if isinstance(x, Const):
            q = np.clip(np.rint(np.asarray(x.value) / scale.value) + zp_arr, info.min, info.max).astype(zp_arr.dtype)
            return Const(q)
        x = self._act(node, x)
        fq = FakeQuant(scale=float(np.asarray(scale.value).ravel()[0]), zero_point=int(zp_arr.ravel()[0]), qmin=int(info.min), qmax=int(info.max))
        return self._emit(node, fq, x.node, QCODE)

    def _op_DequantizeLinear(self, node, args, attrs):
        x, scale, zp = args[0], args[1], args[2] if len(args) > 2 else None
        if not isinstance(scale, Const) or (zp is not None and not isinstance(zp, Const)):
            raise self._err(node, "scale and zero point must be constants")
        self._check_qparams(node, scale, zp)
        if isinstance(x, Act):
            if x.kind != QCODE:
                raise self._err(node, "expects the output of a QuantizeLinear")
            fq = self.ir.layer(x.node)
            if not np.isclose(fq.scale, float(np.asarray(scale.value).ravel()[0])) or fq.zero_point != int(np.asarray(zp.value if zp else 0).ravel()[0]):
                raise self._err(node, "DequantizeLinear parameters differ from its QuantizeLinear's")
            return Act(x.node, ACT)
        ints = np.asarray(x.value)
        if not np.issubdtype(ints.dtype, np.integer):
            raise self._err(node, "dequantises a non-integer constant")
        s = np.asarray(scale.value, dtype=np.float64)
        z = np.asarray(zp.value, dtype=np.int64) if zp is not None else np.zeros_like(s, dtype=np.int64)
        axis = attrs.get("axis", 1)
        if z.size not in (1, s.size):
            raise self._err(node, f"{z.size} zero points for {s.size} scales")
        if s.size > 1 and not (-ints.ndim <= axis < ints.ndim and ints.shape[axis] == s.size):
            raise self._err(node, f"{s.size} per-axis scales do not match axis {axis} of a tensor of shape {list(ints.shape)}")
        if s.size > 1:  # per-axis: reshape for broadcasting along `axis`
            shape = [1] * ints.ndim
            shape[axis] = s.size
            s, z = s.reshape(shape), np.broadcast_to(z.ravel(), (s.size,)).reshape(shape)
        real = (ints.astype(np.int64) - z) * s
        return Const(real, quantized=(ints.astype(np.int64) - z, s, z))


    def _check_qparams(self, node, scale: Const, zp: Const | None) -> None:
        """ONNX's rule for Q/DQ parameters: a positive finite float scale, an integer zero point."""
        s = np.asarray(scale.value)
        if not np.issubdtype(s.dtype, np.floating) or not (np.all(np.isfinite(s)) and np.all(s > 0)):
            raise self._err(node, f"the scale must be positive finite floats, got {s.dtype} {s.ravel()[:4].tolist()}")
        if zp is not None and not np.issubdtype(np.asarray(zp.value).dtype, np.integer):
            raise self._err(node, f"the zero point must be an integer tensor, got {np.asarray(zp.value).dtype}")

    # -- convolutional layers
    def _op_Conv(self, node, args, attrs):
        x, w, b = args[0], args[1], args[2] if len(args) > 2 else None
        x = self._act(node, x)
        c, h, wd = self._image(node, x)
        if not isinstance(w, Const) or w.value.ndim != 4 or (b is not None and not isinstance(b, Const)):
            raise self._err(node, "weights must be a constant [C_out, C_in, kh, kw] tensor and the bias a constant")
        if attrs.get("group", 1) != 1 or any(d != 1 for d in attrs.get("dilations", [1, 1])):
            raise self._err(node, "only group=1, dilation 1 convolutions are supported")
        if _text(attrs.get("auto_pad", "NOTSET")) not in ("NOTSET", "VALID"):
            raise self._err(node, "auto_pad SAME_UPPER/SAME_LOWER is not supported; export the convolution with explicit pads")
        pads = [int(p) for p in attrs.get("pads", [0, 0, 0, 0])]
        if len(pads) != 4 or min(pads) < 0:
            raise self._err(node, f"pads must be 4 non-negative counts (top, left, bottom, right), got {pads}")
        if any(pads):  # ONNX order (top, left, bottom, right); the padding is real zero
            pad = Pad2d(in_shape=(c, h, wd), pads=(pads[0], pads[1], pads[2], pads[3]), value=np.zeros(c))
            name = self.ir.unique_name(_safe(node.name or node.output[0]) + "_pad")
            self.ir.add(name, pad, [x.node])
            x = Act(name, ACT, shape=pad.out_shape)
            c, h, wd = pad.out_shape
        stride = _square(attrs.get("strides", [1, 1]))
        if stride is None or w.value.shape[1] != c:
            raise self._err(node, f"needs equal strides and {c} input channels; got strides {attrs.get('strides')} and weights {list(w.value.shape)}")
        weight = np.asarray(w.value, np.float64)
        scale = None
        if w.declared:
            scale = self._grid_scale(node, weight, w.quantized[0], w.declared)
            weight = np.rint(weight / scale[:, None, None, None]) * scale[:, None, None, None]
        bias = np.zeros(weight.shape[0]) if b is None else np.asarray(b.value, np.float64).ravel()
        layer = Conv2d(weight=weight, bias=bias, in_shape=(c, h, wd), stride=stride, weight_scale=scale)
        if min(layer.out_shape) < 1:
            raise self._err(node, f"kernel {list(weight.shape[2:])} does not fit the {h}x{wd} input")
        return self._emit(node, layer, x.node, shape=layer.out_shape)

    def _op_MaxPool(self, node, args, attrs):
        x = self._act(node, args[0])
        shape = self._image(node, x)
        kernel, stride = _square(attrs.get("kernel_shape", [])), _square(attrs.get("strides", [1, 1]))
        if kernel is None or stride is None or any(p != 0 for p in attrs.get("pads", [0])) or attrs.get("ceil_mode", 0) \
                or any(d != 1 for d in attrs.get("dilations", [1, 1])) or _text(attrs.get("auto_pad", "NOTSET")) not in ("NOTSET", "VALID"):
            raise self._err(node, "only square, unpadded, undilated max-pooling with equal strides is supported")
        layer = MaxPool2d(in_shape=shape, kernel=kernel, stride=stride)
        return self._emit(node, layer, x.node, shape=layer.out_shape)

    def _op_Sign(self, node, args, attrs):
        # sign(0) = +1 like BipolarQuant and FINN's Sign->MultiThreshold conversion (ONNX's Sign gives 0 there)
        x = self._act(node, args[0])
        return self._emit(node, Bipolar(scale=np.ones(self._size(x))), x.node, shape=x.shape)

    # -- QONNX custom operators
    def _qonnx_Quant(self, node, args, attrs):
        x, scale, zp, bits = (args + [None] * 4)[:4]
        if not all(isinstance(a, Const) for a in (scale, zp, bits)):
            raise self._err(node, "scale, zero point and bit width must be constants")
        bit_width = float(np.asarray(bits.value).ravel()[0])
        rounding = _text(attrs.get("rounding_mode", "ROUND")).upper()
        if np.asarray(bits.value).size != 1 or not np.isfinite(bit_width) or bit_width != int(bit_width) or bit_width < 1:
            raise self._err(node, f"bit width {np.asarray(bits.value).ravel().tolist()} is not one positive integer")
        if bit_width > MAX_QUANT_BITS:
            raise self._err(node, f"bit width {bit_width:g} is above the supported {MAX_QUANT_BITS}")
        if rounding not in IntQuant.ROUNDINGS:
            raise self._err(node, f"rounding mode {rounding} is not supported; supported: {', '.join(IntQuant.ROUNDINGS)}")
        params = dict(bit_width=int(bit_width), signed=bool(attrs.get("signed", 1)), narrow=bool(attrs.get("narrow", 0)), rounding=rounding)
        if isinstance(x, Const):
            return self._quantize_const(node, x, np.asarray(scale.value, np.float64), np.asarray(zp.value, np.float64), params)
        x = self._act(node, x)
        s, z = self._elementwise(node, scale, x), self._elementwise(node, zp, x)
        if np.any(s <= 0):
            raise self._err(node, "quantiser scales must be positive")
        return self._emit(node, IntQuant(scale=s, zero_point=z, **params), x.node, shape=x.shape)

    _qonnx_IntQuant = _qonnx_Quant

    def _quantize_const(self, node, c: Const, scale: np.ndarray, zp: np.ndarray, params: dict) -> Const:
        """Quantised weights: evaluated as QONNX does; the integer grid is kept for the streamliner."""
        layer = IntQuant(scale=scale, zero_point=zp, **params)
        v = np.asarray(c.value, np.float64)
        value = layer.evaluate(v)
        if np.any(zp != np.rint(zp)):
            raise self._err(node, "weights with a fractional zero point are not supported")
        ints = np.rint(value / np.broadcast_to(scale, v.shape)).astype(np.int64) if np.all(scale != 0) else np.zeros(v.shape, np.int64)
        return Const(value, quantized=(ints, scale, zp), declared="bipolar" if layer.bipolar else "int")

    def _qonnx_BipolarQuant(self, node, args, attrs):
        x, scale = args[0], args[1] if len(args) > 1 else None
        if not isinstance(scale, Const):
            raise self._err(node, "the scale must be a constant")
        s = np.asarray(scale.value, np.float64)
        if isinstance(x, Const):
            signs = np.where(np.asarray(x.value) >= 0, 1, -1)  # qonnx: x >= 0 -> +1, before scaling
            return Const(signs * s, quantized=(signs, s, 0), declared="bipolar")
        x = self._act(node, x)
        return self._emit(node, Bipolar(scale=self._elementwise(node, scale, x)), x.node, shape=x.shape)

    def _qonnx_MultiThreshold(self, node, args, attrs):
        x, thr = args[0], args[1] if len(args) > 1 else None
        x = self._act(node, x)
        shape = self._shape(x)
        if not isinstance(thr, Const) or np.asarray(thr.value).ndim != 2:
            raise self._err(node, "thresholds must be a constant [channels, steps] matrix")
        t = np.asarray(thr.value, np.float64)
        layout = _text(attrs.get("data_layout", ""))
        if layout and layout.find("C") != 1:
            raise self._err(node, f"data layout {layout} is not supported; tensors must be channels-first (NC, NCHW)")
        if t.shape[0] not in (1, shape[0]):
            raise self._err(node, f"thresholds of shape {list(t.shape)} do not match the {shape[0]} channels of its input "
                            f"(shape {['N', *shape]}); expected [{shape[0]}, steps] or [1, steps]")
        rows = np.repeat(np.arange(shape[0]), int(np.prod(shape[1:]))) if t.shape[0] > 1 else np.zeros(self._size(x), np.int64)
        layer = MultiThreshold(thresholds=t[rows], out_scale=float(attrs.get("out_scale", 1.0)), out_bias=float(attrs.get("out_bias", 0.0)))
        return self._emit(node, layer, x.node, shape=x.shape)


def _check_opsets(model: onnx.ModelProto) -> None:
    newest = onnx.defs.onnx_opset_version()
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx") and not MIN_OPSET <= o.version <= newest:
            raise BespokeError(f"model uses ONNX opset {o.version}; supported: opsets {MIN_OPSET} to {newest} "
                               "(convert it with onnx.version_converter)")


def _check_names(graph) -> None:
    """Names that are not valid UTF-8 come out of protobuf as bytes: refuse them once, here."""
    items = [("node", n.name) for n in graph.node] + [("tensor", t) for n in graph.node for t in [*n.input, *n.output]]
    items += [("tensor", v.name) for v in [*graph.input, *graph.output, *graph.initializer]]
    for what, name in items:
        if not isinstance(name, str):
            raise BespokeError(f"a {what} name is not valid UTF-8 text ({bytes(name)[:40]!r})")


def _to_array(tensor, what: str) -> np.ndarray:
    """A TensorProto's values; an unknown data type or data that does not match the shape, and
    NaN or infinite values, are user errors naming the tensor."""
    try:
        value = numpy_helper.to_array(tensor)
    except Exception as e:  # numpy_helper raises KeyError, ValueError, TypeError, ... on corrupt tensors
        raise BespokeError(f"{what}: unreadable tensor data ({type(e).__name__}: {first_line(e)})") from None
    if np.issubdtype(value.dtype, np.floating) or np.issubdtype(value.dtype, np.complexfloating):
        bad = int(np.sum(~np.isfinite(value)))
        if bad:
            raise BespokeError(f"{what}: {bad} of {value.size} values are NaN or infinite")
    return value


def _datatype_annotations(graph) -> dict[str, str]:
    """FINN/QONNX tensor datatype annotations (graph.quantization_annotation, key finn_datatype)."""
    out = {}
    for ann in graph.quantization_annotation:
        for kv in ann.quant_parameter_tensor_names:
            if kv.key == "finn_datatype":
                out[ann.tensor_name] = kv.value
    return out


def _integer_datatype(dt: str) -> tuple[int, bool, bool] | None:
    """(bits, signed, narrow) of an integer FINN datatype name, None for float/scaled ones."""
    if dt == "BIPOLAR":
        return 1, True, False
    if dt == "BINARY":
        return 1, False, False
    for prefix, signed in (("UINT", False), ("INT", True)):
        if dt.startswith(prefix) and dt[len(prefix):].isdigit():
            return int(dt[len(prefix):]), signed, False
    return None


def _reshape_sample(target: list[int], size: int) -> tuple | None:
    """The per-sample shape a Reshape to `target` gives a sample of `size` elements, None if it is not one."""
    if len(target) <= 1:
        return (size,) if target in ([size], [-1]) else None
    if target[0] not in (-1, 0, 1) or any(d == 0 or d < -1 for d in target[1:]) or target[1:].count(-1) > 1:
        return None
    known = int(np.prod([d for d in target[1:] if d != -1]))
    if -1 in target[1:]:
        if known == 0 or size % known:
            return None
        return tuple(size // known if d == -1 else d for d in target[1:])
    return tuple(target[1:]) if known == size else None


def _square(values) -> int | None:
    values = list(values)
    return int(values[0]) if len(values) == 2 and values[0] == values[1] and values[0] > 0 else None


def _text(v) -> str:
    return v.decode(errors="replace") if isinstance(v, bytes) else str(v)  # a garbled attribute is refused by its check


def _safe(name: str) -> str:
    """A node name usable as a Verilog identifier part."""
    out = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    return out if out and not out[0].isdigit() else f"n_{out}"


def _plain(v):
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.generic):
        return v.item()
    return v
