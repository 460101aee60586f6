"""QONNX / binarized ONNX lowering: each operator's float semantics against qonnx's reference, and the user errors."""

import numpy as np
import onnx
import pytest
from bnn_builders import export, qonnx_run, save, tiny_mlp
from onnx import TensorProto, helper, numpy_helper

from bespoke.cli import main
from bespoke.compiler.errors import BespokeError
from bespoke.compiler.onnx_frontend import QONNX_OPS, lower_onnx
from bespoke.sim.golden import run

QONNX = "qonnx.custom_op.general"
rng = np.random.default_rng(0)


def one_op_model(nodes, inits, in_shape, out_shape, annotations=None, domain=QONNX) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, *in_shape])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, *out_shape])],
                              [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in inits.items()])
    for tensor, dt in (annotations or {}).items():
        ann = onnx.TensorAnnotation(tensor_name=tensor)
        ann.quant_parameter_tensor_names.append(onnx.StringStringEntryProto(key="finn_datatype", value=dt))
        graph.quantization_annotation.append(ann)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(domain, 1)])


def qonnx_output(model, x):
    pytest.importorskip("qonnx")
    return qonnx_run(model, x, output="y")


QUANTS = [(bits, signed, narrow, rounding) for bits in (1, 2, 4) for signed in (0, 1) for narrow in (0, 1)
          for rounding in ("ROUND", "FLOOR", "CEIL")]


@pytest.mark.parametrize("bits,signed,narrow,rounding", QUANTS)
def test_quant_on_activations_equals_qonnx(bits, signed, narrow, rounding):
    scale = np.array([0.25, 0.5, 0.25, 1.0, 0.125, 0.5], np.float32)
    zp = 1.0 if not signed else 0.0
    node = helper.make_node("Quant", ["x", "s", "z", "b"], ["y"], domain=QONNX, signed=signed, narrow=narrow, rounding_mode=rounding)
    model = one_op_model([node], {"s": scale, "z": zp, "b": bits}, (6,), (6,))
    x = np.concatenate([rng.normal(0, 2, (200, 6)), np.arange(-12, 12)[:, None] * 0.5 * scale[None, :]])  # halves: ties
    x = x.astype(np.float32)
    np.testing.assert_array_equal(run(lower_onnx(model), x), qonnx_output(model, x))


@pytest.mark.parametrize("signed,narrow,rounding,expected", [
    (1, 0, "ROUND", [-2, -2, -2, -0, 0, 1, 1, 1, 0]),   # [-2, 1]; half to even
    (1, 1, "ROUND", [-1, -1, -1, -0, 0, 1, 1, 1, 0]),   # narrow: [-1, 1]
    (0, 0, "FLOOR", [0, 0, 0, 0, 0, 1, 3, 1, 0]),       # [0, 3]
    (0, 1, "CEIL", [0, 0, 0, 0, 1, 2, 2, 1, 1]),        # narrow unsigned: [0, 2]
])
def test_quant_semantics_by_hand(signed, narrow, rounding, expected):
    """QONNX Quant: clip(x / s + z) to the 2-bit range, then round (hand-computed, no qonnx needed)."""
    node = helper.make_node("Quant", ["x", "s", "z", "b"], ["y"], domain=QONNX, signed=signed, narrow=narrow, rounding_mode=rounding)
    model = one_op_model([node], {"s": 0.5, "z": 0.0, "b": 2.0}, (9,), (9,))
    x = np.array([[-5, -1.25, -0.75, -0.25, 0.25, 0.75, 5, 0.5, 0.2]])  # x / s: -10 -2.5 -1.5 -0.5 0.5 1.5 10 1 0.4
    np.testing.assert_array_equal(run(lower_onnx(model), x), np.array([expected]) * 0.5)


def test_bipolar_quant_maps_zero_to_plus_one_like_qonnx():
    node = helper.make_node("BipolarQuant", ["x", "s"], ["y"], domain=QONNX)
    model = one_op_model([node], {"s": 0.5}, (4,), (4,))
    x = np.array([[0.0, -0.0, 1e-30, -1e-30], [3, -3, 0, 0]], np.float32)
    got = run(lower_onnx(model), x)
    np.testing.assert_array_equal(got, [[0.5, 0.5, 0.5, -0.5], [0.5, -0.5, 0.5, 0.5]])
    np.testing.assert_array_equal(got, qonnx_output(model, x))


def test_sign_follows_the_exporters_convention_at_zero():
    model = one_op_model([helper.make_node("Sign", ["x"], ["y"])], {}, (3,), (3,))
    got = run(lower_onnx(model), np.array([[-2.0, 0.0, 5.0]]))
    np.testing.assert_array_equal(got, [[-1, 1, 1]])  # sign(0) = +1 (onnxruntime's Sign would give 0)


@pytest.mark.parametrize("rows", [1, 3])
def test_multithreshold_per_channel_on_nchw_equals_qonnx(rows):
    thr = np.sort(rng.normal(0, 1, (rows, 4)), axis=1)
    node = helper.make_node("MultiThreshold", ["x", "t"], ["y"], domain="finn.custom_op.general", out_scale=2.0, out_bias=-3.0,
                            out_dtype="INT3")
    model = one_op_model([node], {"t": thr}, (3, 2, 2), (3, 2, 2), domain="finn.custom_op.general")
    x = rng.normal(0, 1.5, (100, 12)).astype(np.float32)
    x[0, :4] = thr.ravel()[:4]  # on a threshold: counted (>=)
    np.testing.assert_array_equal(run(lower_onnx(model), x), qonnx_output(model, x))


def test_conv_maxpool_flatten_lower_in_chw_order():
    w = rng.normal(size=(2, 3, 3, 3)).astype(np.float32)
    b = rng.normal(size=2).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3]),
             helper.make_node("MaxPool", ["c"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Flatten", ["p"], ["y"], axis=1)]
    model = one_op_model(nodes, {"w": w, "b": b}, (3, 7, 8), (2 * 2 * 3,))
    x = rng.normal(size=(20, 3 * 7 * 8)).astype(np.float32)
    import onnxruntime as ort

    sess = ort.InferenceSession(model.SerializeToString())
    ref = np.concatenate([sess.run(None, {"x": row.reshape(1, 3, 7, 8)})[0] for row in x])
    np.testing.assert_allclose(run(lower_onnx(model), x), ref, rtol=1e-5, atol=1e-5)


def test_a_tiny_bnn_float_ir_equals_qonnx_execution():
    layers, x = tiny_mlp(np.random.default_rng(7))
    model = export(layers, 8, (20,), "qonnx")
    pytest.importorskip("qonnx")
    np.testing.assert_array_equal(run(lower_onnx(model), x)[:, 0], qonnx_run(model, x)[:, 0])
    scores = qonnx_run(model, x, output="scores")
    ir = lower_onnx(model)
    ir.graph.remove_node(ir.output_node())  # drop the ArgMax: compare the scores themselves
    np.testing.assert_allclose(run(ir, x), scores, rtol=1e-5)


# --------------------------------------------------------------------------- user errors


def test_unsupported_qonnx_op_names_it_and_the_supported_set(tmp_path):
    node = helper.make_node("Trunc", ["x", "s", "z", "b", "b"], ["y"], domain=QONNX, name="trunc0")
    model = one_op_model([node], {"s": 1.0, "z": 0.0, "b": 8.0}, (4,), (4,))
    with pytest.raises(BespokeError, match="'trunc0' \\(Trunc\\): unsupported QONNX operator .*supported QONNX operators: "
                       + ", ".join(QONNX_OPS)):
        lower_onnx(model)
    assert main(["compile", str(save(model, tmp_path / "m.onnx")), "-o", str(tmp_path / "out")]) == 2


def test_multithreshold_with_mismatched_channels_is_refused():
    node = helper.make_node("MultiThreshold", ["x", "t"], ["y"], domain="finn.custom_op.general", name="mt", out_dtype="BIPOLAR")
    model = one_op_model([node], {"t": np.zeros((3, 1))}, (5,), (5,), domain="finn.custom_op.general")
    with pytest.raises(BespokeError, match="'mt' \\(MultiThreshold\\): thresholds of shape \\[3, 1\\] do not match the 5 channels"):
        lower_onnx(model)


def test_bipolar_annotation_on_a_non_binary_weight_is_refused(tmp_path):
    w = np.where(rng.random((4, 3)) < 0.5, -1.0, 1.0)
    w[2, 1] = 0.5
    model = one_op_model([helper.make_node("MatMul", ["x", "w"], ["y"])], {"w": w}, (4,), (3,), {"w": "BIPOLAR"})
    with pytest.raises(BespokeError, match="'w': declared binary \\(datatype BIPOLAR\\) but holds the non-binary weight 0.5"):
        lower_onnx(model)
    assert main(["compile", str(save(model, tmp_path / "m.onnx")), "-o", str(tmp_path / "out")]) == 2


@pytest.mark.parametrize("scale,needle", [(np.zeros((1, 1)), "is not \\+-scale"), (rng.uniform(0.5, 1, (4, 3)), "scale differs")])
def test_bipolar_quant_weights_without_one_scale_per_channel_are_refused(scale, needle):
    nodes = [helper.make_node("BipolarQuant", ["w", "s"], ["wq"], domain=QONNX),
             helper.make_node("MatMul", ["x", "wq"], ["y"], name="fc")]
    model = one_op_model(nodes, {"w": rng.normal(size=(4, 3)), "s": scale}, (4,), (3,))
    with pytest.raises(BespokeError, match="'fc' \\(MatMul\\): weights declared binary \\(BipolarQuant\\) are not \\+-1 .*" + needle):
        lower_onnx(model)


@pytest.mark.parametrize("pads", [[1, 1, 1, 1], [2, 0, 1, 3]])
def test_padded_convolution_equals_onnxruntime(pads):
    """ONNX pads (top, left, bottom, right) of zeros: a Pad2d in front of an unpadded Conv2d."""
    w = rng.normal(size=(2, 3, 3, 3)).astype(np.float32)
    node = helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3, 3], pads=pads, name="c")
    out = (2, 5 + pads[0] + pads[2] - 2, 6 + pads[1] + pads[3] - 2)
    model = one_op_model([node], {"w": w}, (3, 5, 6), out)
    ir = lower_onnx(model)
    assert [ir.layer(n).op for n in ir.order()] == ["input", "pad2d", "conv2d"]
    x = rng.normal(size=(10, 3 * 5 * 6)).astype(np.float32)
    import onnxruntime as ort

    sess = ort.InferenceSession(model.SerializeToString())
    ref = np.concatenate([sess.run(None, {"x": row.reshape(1, 3, 5, 6)})[0].reshape(1, -1) for row in x])
    np.testing.assert_allclose(run(ir, x), ref, rtol=1e-5, atol=1e-5)


def test_same_auto_pad_is_refused_with_what_to_do():
    node = helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3, 3], auto_pad="SAME_UPPER", name="c")
    model = one_op_model([node], {"w": np.ones((1, 1, 3, 3))}, (1, 4, 4), (1, 4, 4))
    with pytest.raises(BespokeError, match="'c' \\(Conv\\): auto_pad SAME_UPPER/SAME_LOWER is not supported; export .* explicit pads"):
        lower_onnx(model)


def test_binarized_float_ir_round_trips_json():
    """The build saves the float IR (float_ir.json); its QONNX layers must survive the round trip."""
    from bnn_builders import tiny_cnn

    from bespoke.compiler.ir import IR

    layers, x = tiny_cnn(np.random.default_rng(8))
    for form in ("qonnx", "mt"):
        ir = lower_onnx(export(layers, 4, (1, 10, 10), form))
        again = IR.from_json(ir.to_json())
        assert again == ir
        np.testing.assert_array_equal(run(again, x.reshape(len(x), -1)), run(ir, x.reshape(len(x), -1)))
