"""Hand-built ONNX models for tests: QDQ int8 MLPs and malformed / unsupported graphs."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _init(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def qdq_mlp(n_in=6, n_hidden=5, n_out=4, seed=0, per_channel=True, argmax=False, float_scales=False) -> onnx.ModelProto:
    """A QDQ int8 MLP as onnxruntime's quantiser writes them: Q/DQ around every activation,
    DQ on int8 weights (per output channel) and int32 biases, power-of-two scales (so the
    integer semantics are exact), or with float_scales each scale moved off its power of two by
    a random factor in [0.7, 1.3] (float32 values, bias scales s_x * s_w as quantisers write
    them). Output: int8 codes of the last layer, or their ArgMax."""
    rng = np.random.default_rng(seed)
    jitter = (lambda a: (np.asarray(a) * rng.uniform(0.7, 1.3, np.shape(a))).astype(np.float32).astype(np.float64)) if float_scales else np.asarray
    s_x, s_h, s_y = (float(jitter(2.0**-k)) for k in (4, 3, 2))
    w1 = rng.integers(-127, 128, (n_in, n_hidden)).astype(np.int8)
    w2 = rng.integers(-127, 128, (n_hidden, n_out)).astype(np.int8)
    sw1 = jitter((2.0 ** -rng.integers(6, 9, n_hidden)) if per_channel else np.array(2.0**-7))
    sw2 = jitter((2.0 ** -rng.integers(6, 9, n_out)) if per_channel else np.array(2.0**-7))
    b1 = rng.integers(-2000, 2000, n_hidden).astype(np.int32)
    b2 = rng.integers(-2000, 2000, n_out).astype(np.int32)
    inits = [
        _init("s_x", np.float32(s_x)), _init("zp_x", np.uint8(0)),
        _init("s_h", np.float32(s_h)), _init("zp_h", np.uint8(0)),
        _init("s_y", np.float32(s_y)), _init("zp_y", np.int8(-3)),
        _init("w1_q", w1), _init("w1_s", sw1.astype(np.float32)), _init("w1_zp", np.zeros(sw1.shape, np.int8)),
        _init("w2_q", w2), _init("w2_s", sw2.astype(np.float32)), _init("w2_zp", np.zeros(sw2.shape, np.int8)),
        _init("b1_q", b1), _init("b1_s", (s_x * sw1).astype(np.float32)), _init("b1_zp", np.zeros(sw1.shape, np.int32)),
        _init("b2_q", b2), _init("b2_s", (s_h * sw2).astype(np.float32)), _init("b2_zp", np.zeros(sw2.shape, np.int32)),
    ]
    axis = {"axis": 1} if per_channel else {}
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s_x", "zp_x"], ["x_q"], name="quant_in"),
        helper.make_node("DequantizeLinear", ["x_q", "s_x", "zp_x"], ["x_dq"], name="dequant_in"),
        helper.make_node("DequantizeLinear", ["w1_q", "w1_s", "w1_zp"], ["w1"], name="dq_w1", **axis),
        helper.make_node("DequantizeLinear", ["b1_q", "b1_s", "b1_zp"], ["b1"], name="dq_b1", **({"axis": 0} if per_channel else {})),
        helper.make_node("MatMul", ["x_dq", "w1"], ["h_mm"], name="fc1"),
        helper.make_node("Add", ["h_mm", "b1"], ["h_add"], name="fc1_bias"),
        helper.make_node("Relu", ["h_add"], ["h_relu"], name="relu1"),
        helper.make_node("QuantizeLinear", ["h_relu", "s_h", "zp_h"], ["h_q"], name="quant_h"),
        helper.make_node("DequantizeLinear", ["h_q", "s_h", "zp_h"], ["h_dq"], name="dequant_h"),
        helper.make_node("DequantizeLinear", ["w2_q", "w2_s", "w2_zp"], ["w2"], name="dq_w2", **axis),
        helper.make_node("DequantizeLinear", ["b2_q", "b2_s", "b2_zp"], ["b2"], name="dq_b2", **({"axis": 0} if per_channel else {})),
        helper.make_node("MatMul", ["h_dq", "w2"], ["y_mm"], name="fc2"),
        helper.make_node("Add", ["y_mm", "b2"], ["y_add"], name="fc2_bias"),
        helper.make_node("QuantizeLinear", ["y_add", "s_y", "zp_y"], ["y_q"], name="quant_out"),
    ]
    out_name, out_type, out_shape = "y_q", TensorProto.INT8, ["N", n_out]
    if argmax:
        nodes.append(helper.make_node("DequantizeLinear", ["y_q", "s_y", "zp_y"], ["y_dq"], name="dequant_out"))
        nodes.append(helper.make_node("ArgMax", ["y_dq"], ["cls"], name="argmax", axis=1, keepdims=1))
        out_name, out_type, out_shape = "cls", TensorProto.INT64, ["N", 1]
    graph = helper.make_graph(
        nodes, "qdq_mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", n_in])],
        [helper.make_tensor_value_info(out_name, out_type, out_shape)], inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model


def quantize_static_mlp(folder, seed: int = 0):
    """A 6-8-4 float MLP (Gemm, Relu, Gemm, ArgMax) quantised by onnxruntime's own quantize_static
    (QDQ, uint8 activations, int8 weights, float scales from 100 calibration rows); its path."""
    from pathlib import Path

    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    folder = Path(folder)
    rng = np.random.default_rng(seed)
    params = {"w1": rng.normal(size=(8, 6)), "b1": rng.normal(size=8), "w2": rng.normal(size=(4, 8)), "b2": rng.normal(size=4)}
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], transB=1), helper.make_node("Relu", ["h"], ["r"]),
         helper.make_node("Gemm", ["r", "w2", "b2"], ["y"], transB=1), helper.make_node("ArgMax", ["y"], ["cls"], axis=1, keepdims=1)],
        "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 6])],
        [helper.make_tensor_value_info("cls", TensorProto.INT64, ["N", 1])],
        [numpy_helper.from_array(v.astype(np.float32), k) for k, v in params.items()])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), folder / "f.onnx")
    calibration = iter([{"x": rng.random((1, 6)).astype(np.float32)} for _ in range(100)])

    class Reader(CalibrationDataReader):
        def get_next(self):
            return next(calibration, None)

    quantize_static(str(folder / "f.onnx"), str(folder / "q.onnx"), Reader(), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    return folder / "q.onnx"


def float_mlp_with(extra_op: str | None = None, n_in=4, dynamic_features=False) -> onnx.ModelProto:
    """A small float Gemm-Relu-Gemm MLP; optionally with an unsupported operator in the middle,
    or with a dynamic feature dimension."""
    rng = np.random.default_rng(1)
    inits = [_init("w1", rng.normal(size=(3, n_in)).astype(np.float32)), _init("b1", np.zeros(3, np.float32)),
             _init("w2", rng.normal(size=(2, 3)).astype(np.float32)), _init("b2", np.zeros(2, np.float32))]
    nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], name="fc1", transB=1)]
    h = "h"
    if extra_op == "Tanh":
        nodes.append(helper.make_node("Tanh", ["h"], ["h2"], name="squash"))
        h = "h2"
    else:
        nodes.append(helper.make_node("Relu", ["h"], ["h2"], name="relu1"))
        h = "h2"
    nodes.append(helper.make_node("Gemm", [h, "w2", "b2"], ["y"], name="fc2", transB=1))
    feat = "F" if dynamic_features else n_in
    graph = helper.make_graph(nodes, "float_mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", feat])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
