"""Malformed and hostile inputs for the bad-input corpus and the frontend fuzzer: a small valid
float MLP with every part replaceable, and mutations of the bundled examples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parent.parent
N_IN = 4


def mlp(w1=None, b1=None, w2=None, b2=None, opset: int = 17, two_outputs: bool = False, in_shape=None,
        name: str = "mlp") -> onnx.ModelProto:
    """Gemm-Relu-Gemm, 4 inputs -> 3 -> 2 raw scores, with any weight, bias or shape replaced."""
    rng = np.random.default_rng(1)
    w1 = rng.normal(size=(3, N_IN)).astype(np.float32) if w1 is None else np.asarray(w1)
    b1 = np.zeros(w1.shape[0], np.float32) if b1 is None else np.asarray(b1)
    w2 = rng.normal(size=(2, w1.shape[0])).astype(np.float32) if w2 is None else np.asarray(w2)
    b2 = np.zeros(w2.shape[0], np.float32) if b2 is None else np.asarray(b2)
    inits = [numpy_helper.from_array(a, n) for a, n in ((w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2"))]
    nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], name="fc1", transB=1),
             helper.make_node("Relu", ["h"], ["h2"], name="relu1"),
             helper.make_node("Gemm", ["h2", "w2", "b2"], ["y"], name="fc2", transB=1)]
    outs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", w2.shape[0]])]
    if two_outputs:
        outs.append(helper.make_tensor_value_info("h2", TensorProto.FLOAT, ["N", w1.shape[0]]))
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape or ["N", w1.shape[1]])
    return helper.make_model(helper.make_graph(nodes, name, [x], outs, inits), opset_imports=[helper.make_opsetid("", opset)])


def weights_with(value: float, where: str = "w1") -> onnx.ModelProto:
    """The MLP with one element of a weight ("w1") or bias ("b1") set to `value` (NaN, inf, ...)."""
    rng = np.random.default_rng(1)
    w1, b1 = rng.normal(size=(3, N_IN)).astype(np.float32), np.zeros(3, np.float32)
    (w1 if where == "w1" else b1).flat[0] = value
    return mlp(w1=w1, b1=b1)


def with_initializer(model: onnx.ModelProto, name: str, value) -> onnx.ModelProto:
    """`model` with initializer `name` replaced by the array `value` (any dtype)."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    for init in model.graph.initializer:
        if init.name == name:
            init.CopyFrom(numpy_helper.from_array(np.asarray(value), name))
            return model
    raise KeyError(name)


def cycle() -> onnx.ModelProto:
    """Two Relus feeding each other: not a DAG (the checker's topological-order rule)."""
    nodes = [helper.make_node("Relu", ["b"], ["a"], name="r1"), helper.make_node("Relu", ["a"], ["b"], name="r2")]
    g = helper.make_graph(nodes, "cyc", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", N_IN])],
                          [helper.make_tensor_value_info("b", TensorProto.FLOAT, ["N", N_IN])])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def empty_graph() -> onnx.ModelProto:
    """No nodes: the output is the input."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", N_IN])
    return helper.make_model(helper.make_graph([], "empty", [x], [x]), opset_imports=[helper.make_opsetid("", 17)])


def external_data(tmp: Path) -> Path:
    """A model whose weights live in a side file that is missing."""
    model = mlp()
    path = tmp / "ext.onnx"
    onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True, location="ext.data",
                    size_threshold=0)
    (tmp / "ext.data").unlink()
    return path


def bnn_digits_with_bits(bits) -> onnx.ModelProto:
    """The bnn_digits example with its input Quant's bit width replaced."""
    model = onnx.load(str(ROOT / "examples" / "bnn_digits" / "bnn_digits.onnx"))
    return with_initializer(model, "in_bits_3", np.float32(bits))


def bnn_digits_with_head_offset(value: float) -> onnx.ModelProto:
    """The bnn_digits example with one class's batch-norm shift before the ArgMax set to `value`."""
    model = onnx.load(str(ROOT / "examples" / "bnn_digits" / "bnn_digits.onnx"))
    beta = next(numpy_helper.to_array(i) for i in model.graph.initializer if i.name == "beta_32").copy()
    beta[0] = value
    return with_initializer(model, "beta_32", beta)


def bnn_digits_with(name: str, value: float) -> onnx.ModelProto:
    """The bnn_digits example with element 0 of initializer `name` set to `value`."""
    model = onnx.load(str(ROOT / "examples" / "bnn_digits" / "bnn_digits.onnx"))
    arr = next(numpy_helper.to_array(i) for i in model.graph.initializer if i.name == name).copy()
    arr.flat[0] = value
    return with_initializer(model, name, arr)


def bnn_digits_rounding(mode: bytes) -> onnx.ModelProto:
    """The bnn_digits example with its input Quant's rounding_mode attribute set to raw bytes."""
    model = onnx.load(str(ROOT / "examples" / "bnn_digits" / "bnn_digits.onnx"))
    attr = next(a for a in model.graph.node[0].attribute if a.name == "rounding_mode")
    attr.s = mode
    return model
