"""Write binarized networks as ONNX the way real exporters do, from a plain layer list.

A network is a list of dicts (`spec`), in order:
  {"op": "input_quant", "bits": 8, "scale": 1.0}        unsigned integer input codes
  {"op": "dense", "weight": W[in, out]}                 latent float weights, binarized by sign
  {"op": "conv", "weight": W[out, in, k, k], "pad": p}  same, 3x3 etc., stride 1, p zeros around (qonnx form)
  {"op": "bn", "gamma", "beta", "mean", "var", "eps"}   batch-norm (inference statistics)
  {"op": "sign"}                                        bipolar activation, sign(0) = +1
  {"op": "pool", "k": 2}                                k x k max-pool, stride k
  {"op": "flatten"}
  {"op": "scale", "value": s}                           scalar Mul on the scores

Two forms:
- `qonnx_model`: what Brevitas' export_qonnx writes: Quant on the input, BipolarQuant on weights
  and activations (domain qonnx.custom_op.general), MatMul/Conv, BatchNormalization, MaxPool,
  Flatten; `act="sign"` writes ONNX Sign activations instead (sign(0) = +1 is then the
  convention of FINN's Sign conversion, not onnxruntime's 0).
- `multithreshold_model`: FINN's streamlined form: the input annotated UINT8, weights +-1
  annotated BIPOLAR, each batch-norm + sign as one MultiThreshold (domain finn.custom_op.general)
  with integer thresholds and out_scale 2, out_bias -1; a negative batch-norm scale negates the
  weights of that neuron, as FINN's streamlining does.
Both end in ArgMax (output "label") after the scores (output "scores").
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

QONNX = "qonnx.custom_op.general"
FINN = "finn.custom_op.general"


class _Graph:
    """Collects nodes and initializers with unique names."""

    def __init__(self):
        self.nodes, self.inits, self.annotations, self.k = [], [], {}, 0

    def name(self, base: str) -> str:
        self.k += 1
        return f"{base}_{self.k}"

    def const(self, base: str, value, dtype=np.float32) -> str:
        name = self.name(base)
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def node(self, op: str, inputs: list[str], domain: str = "", **attrs) -> str:
        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, domain=domain, **attrs))
        return out


def binarize(w: np.ndarray) -> np.ndarray:
    """The exporters' sign: +1 for w >= 0."""
    return np.where(w >= 0, 1.0, -1.0)


def qonnx_model(spec: list[dict], input_shape: tuple, name: str = "bnn", act: str = "bipolarquant") -> onnx.ModelProto:
    g = _Graph()
    x = "x"
    for layer in spec:
        x = _qonnx_layer(g, layer, x, act)
    return _finish(g, x, input_shape, name, [(QONNX, 1)])


def _qonnx_layer(g: _Graph, layer: dict, x: str, act: str) -> str:
    op = layer["op"]
    if op == "input_quant":
        args = [g.const("in_scale", layer.get("scale", 1.0)), g.const("in_zp", 0.0), g.const("in_bits", layer["bits"])]
        return g.node("Quant", [x, *args], QONNX, signed=0, narrow=0, rounding_mode="ROUND")
    if op in ("dense", "conv"):
        w = g.node("BipolarQuant", [g.const("w", layer["weight"]), g.const("w_scale", 1.0)], QONNX)
        if op == "dense":
            return g.node("MatMul", [x, w])
        return g.node("Conv", [x, w], **({"pads": [layer["pad"]] * 4} if layer.get("pad") else {}))
    if op == "bn":
        params = [g.const(k, layer[k]) for k in ("gamma", "beta", "mean", "var")]
        return g.node("BatchNormalization", [x, *params], epsilon=float(layer["eps"]))
    if op == "sign":
        return g.node("Sign", [x]) if act == "sign" else g.node("BipolarQuant", [x, g.const("act_scale", 1.0)], QONNX)
    return _common_layer(g, layer, x)


def _common_layer(g: _Graph, layer: dict, x: str) -> str:
    op = layer["op"]
    if op == "pool":
        return g.node("MaxPool", [x], kernel_shape=[layer["k"]] * 2, strides=[layer["k"]] * 2)
    if op == "flatten":
        return g.node("Flatten", [x], axis=1)
    if op == "scale":
        return g.node("Mul", [x, g.const("scale", layer["value"])])
    raise ValueError(f"unknown layer {op!r}")


def multithreshold_model(spec: list[dict], input_shape: tuple, name: str = "bnn_mt") -> onnx.ModelProto:
    """FINN's streamlined form; every bn must be followed by a sign, the input must be quantised."""
    g = _Graph()
    if spec[0]["op"] != "input_quant" or spec[0].get("scale", 1.0) != 1.0:
        raise ValueError("the MultiThreshold form needs integer input codes (input_quant with scale 1)")
    if any(layer.get("pad") for layer in spec):  # FINN streamlines padded +-1 convolutions differently
        raise ValueError("the MultiThreshold form has no padded convolutions")
    g.annotations["x"] = f"UINT{spec[0]['bits']}"
    x, k = "x", 1
    while k < len(spec):
        layer = spec[k]
        if layer["op"] in ("dense", "conv") and k + 2 < len(spec) and spec[k + 1]["op"] == "bn" and spec[k + 2]["op"] == "sign":
            x = _mt_block(g, layer, spec[k + 1], x)
            k += 3
            continue
        if layer["op"] in ("dense", "conv"):
            x = _linear_pm1(g, layer["op"], binarize(layer["weight"]), x)
        elif layer["op"] == "bn":  # a batch-norm on the scores: per-class Mul and Add
            s, o = _bn_affine(layer)
            x = g.node("Add", [g.node("Mul", [x, g.const("bn_scale", s)]), g.const("bn_offset", o)])
        else:
            x = _common_layer(g, layer, x)
        k += 1
    return _finish(g, x, input_shape, name, [(FINN, 1)])


def _linear_pm1(g: _Graph, op: str, w_pm1: np.ndarray, x: str) -> str:
    w = g.const("w", w_pm1)
    g.annotations[w] = "BIPOLAR"
    return g.node("MatMul" if op == "dense" else "Conv", [x, w])


def _mt_block(g: _Graph, linear: dict, bn: dict, x: str) -> str:
    """linear -> bn -> sign as linear(+-1 weights, negated where the bn scale is negative) -> MultiThreshold."""
    w = binarize(linear["weight"])
    neg = np.asarray(bn["gamma"]) < 0
    if linear["op"] == "dense":
        w = w * np.where(neg, -1.0, 1.0)[None, :]
    else:
        w = w * np.where(neg, -1.0, 1.0)[:, None, None, None]
    z = _linear_pm1(g, linear["op"], w, x)
    thr = np.array([[_integer_threshold(bn, j)] for j in range(len(neg))], dtype=np.float32)
    return g.node("MultiThreshold", [z, g.const("thr", thr)], FINN, out_dtype="BIPOLAR", out_scale=2.0, out_bias=-1.0)


def _integer_threshold(bn: dict, j: int) -> float:
    """Smallest integer z' with bn(z) >= 0 for z' = z (gamma > 0) or z' = -z (gamma < 0), exactly.

    FINN rounds thresholds of integer inputs up (RoundAndClipThresholds). The batch-norm is the
    affine z * s + o of the stored float32 parameters, s and o in float64 as bespoke's frontend
    forms them; the root -o / s is then solved in rationals, never by a rounded float division.
    """
    s, o = (Fraction(float(v[j])) for v in _bn_affine(bn))
    if s == 0:
        return -1e9 if o >= 0 else 1e9
    root = -o / s
    return float(math.ceil(root) if s > 0 else math.ceil(-root))


def _bn_affine(bn: dict) -> tuple[np.ndarray, np.ndarray]:
    """Batch-norm as x * s + o from its float32 ONNX parameters (epsilon included)."""
    gamma, beta, mean, var = (np.asarray(bn[k], np.float32).astype(np.float64) for k in ("gamma", "beta", "mean", "var"))
    s = gamma / np.sqrt(var + float(np.float32(bn["eps"])))
    return s, beta - mean * s


def _finish(g: _Graph, scores: str, input_shape: tuple, name: str, domains: list) -> onnx.ModelProto:
    g.nodes.append(helper.make_node("ArgMax", [scores], ["label"], name="argmax", axis=1, keepdims=1))
    g.nodes.append(helper.make_node("Identity", [scores], ["scores"], name="scores"))
    graph = helper.make_graph(
        g.nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, *input_shape])],
        [helper.make_tensor_value_info("label", TensorProto.INT64, [1, 1]), helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, None])],
        g.inits,
    )
    for tensor, dt in g.annotations.items():
        ann = onnx.TensorAnnotation(tensor_name=tensor)
        ann.quant_parameter_tensor_names.append(onnx.StringStringEntryProto(key="finn_datatype", value=dt))
        graph.quantization_annotation.append(ann)
    opsets = [helper.make_opsetid("", 13)] + [helper.make_opsetid(d, v) for d, v in domains]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="bespoke-bnn-train")
    model.ir_version = 8
    return model
