"""Input quantisers as exporters write them: the model's own affine (Brevitas' `2x - 1`) in front
of the input Quant, a BipolarQuant or MultiThreshold directly on the float input (the usual input
binariser), an input annotated BIPOLAR. Each is the input encoding (real feature -> code), and the
golden model on the encoded features equals qonnx's execution of the model on the features."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from bespoke.api import compile_model
from bespoke.compiler.errors import BespokeError
from bnn_builders import export, tiny_mlp

pytest.importorskip("qonnx")
from bespoke.sim.onnx_reference import check_against_model  # noqa: E402

QONNX = "qonnx.custom_op.general"


def _base():
    layers, _ = tiny_mlp(np.random.default_rng(11))
    return export(layers, 8, (20,))


def _input_stage(model: onnx.ModelProto, nodes, inits=(), annotate=None) -> onnx.ModelProto:
    """Replace the model's input Quant (the node reading "x") by `nodes`, which read "x" and write
    the Quant's output."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    quant = next(n for n in g.node if n.input and n.input[0] == "x")
    out = quant.output[0]
    position = list(g.node).index(quant)
    g.node.remove(quant)
    for k, node in enumerate(nodes):
        node.output[-1] = out if node.output[-1] == "OUT" else node.output[-1]
        g.node.insert(position + k, node)
    domains = {o.domain for o in m.opset_import}
    m.opset_import.extend(helper.make_opsetid(d, 1) for d in {n.domain for n in nodes} - domains - {""})
    g.initializer.extend(numpy_helper.from_array(np.asarray(v, np.float32), name) for name, v in inits)
    if annotate:
        ann = g.quantization_annotation.add()
        ann.tensor_name = "x"
        kv = ann.quant_parameter_tensor_names.add()
        kv.key, kv.value = "finn_datatype", annotate
    return m


def _affine_then(q_node, q_inits):
    nodes = [helper.make_node("Mul", ["x", "two"], ["x2"]), helper.make_node("Sub", ["x2", "one"], ["v"]), q_node]
    return nodes, [("two", 2.0), ("one", 1.0), *q_inits]


CASES = {
    "affine before a signed 8-bit Quant": _affine_then(
        helper.make_node("Quant", ["v", "s", "z", "b"], ["OUT"], domain=QONNX, signed=1, narrow=1, rounding_mode="ROUND"),
        [("s", 1 / 127), ("z", 0.0), ("b", 8.0)]),
    "affine before a BipolarQuant (input binariser)": _affine_then(
        helper.make_node("BipolarQuant", ["v", "s"], ["OUT"], domain=QONNX), [("s", 1.0)]),
    "MultiThreshold on the input": ([helper.make_node("MultiThreshold", ["x", "t"], ["OUT"], domain="finn.custom_op.general",
                                                      out_dtype="UINT2")],
                                    [("t", np.tile([0.25, 0.5, 0.75], (20, 1)))]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_input_quantiser_is_the_input_encoding(case):
    nodes, inits = CASES[case]
    model = _input_stage(_base(), [onnx.NodeProto.FromString(n.SerializeToString()) for n in nodes], inits)
    compiled = compile_model(model)
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.random((400, 20)), rng.integers(0, 5, (100, 20)) / 4])  # grid points: thresholds hit exactly
    check = check_against_model(compiled.ir, compiled.source, x, compiled.encode(x))
    assert check.exact and check.error is None
    assert check.agree + check.ties == len(x) and check.agree >= len(x) - 5, check.first_disagreements


def test_bipolar_annotated_input_takes_plus_minus_one():
    base = _base()
    m = _input_stage(base, [helper.make_node("Identity", ["x"], ["OUT"])], annotate="BIPOLAR")
    compiled = compile_model(m)
    x = np.where(np.random.default_rng(1).random((300, 20)) < 0.5, -1.0, 1.0)
    np.testing.assert_array_equal(compiled.encode(x), (x > 0).astype(np.int64))
    check = compiled.check_reference(x)
    assert check.exact and check.agree + check.ties == 300


def test_a_decreasing_affine_in_front_of_the_input_quantiser_is_encoded_as_the_model_runs_it():
    nodes = [helper.make_node("Mul", ["x", "neg"], ["v"]),
             helper.make_node("BipolarQuant", ["v", "s"], ["OUT"], domain=QONNX)]
    compiled = compile_model(_input_stage(_base(), nodes, [("neg", -1.0), ("s", 1.0)]))
    x = np.random.default_rng(4).normal(size=(200, 20))
    np.testing.assert_array_equal(compiled.encode(x), (-x >= 0).astype(np.int64))
    assert compiled.check_reference(x).agree == 200


def test_random_float32_features_meet_the_quantiser_as_the_model_computes_them():
    """Features the model casts to float32 and puts through 2x - 1 and a 1/128 quantiser. Features
    1e-9 off a rounding tie become the tie in float32 (then half to even): a float64 encoder rounds
    them the other way on about half the elements; replayed in float32 they all agree with qonnx."""
    nodes = [helper.make_node("Mul", ["x", "two"], ["x2"]), helper.make_node("Sub", ["x2", "one"], ["v"]),
             helper.make_node("Quant", ["v", "s", "z", "b"], ["OUT"], domain=QONNX, signed=1, narrow=0, rounding_mode="ROUND")]
    compiled = compile_model(_input_stage(_base(), nodes, [("two", 2.0), ("one", 1.0), ("s", 1 / 128), ("z", 0.0), ("b", 8.0)]))
    rng = np.random.default_rng(5)
    x = (rng.integers(-128, 127, (2000, 20)) + 128.5) / 256 + rng.choice([-1e-9, 1e-9], (2000, 20))
    v = (x.astype(np.float32) * np.float32(2) - np.float32(1)) / np.float32(1 / 128)
    codes = compiled.encode(x)
    np.testing.assert_array_equal(codes, np.round(np.clip(v, -128, 127)).astype(np.int64))
    assert np.mean(codes != np.clip(np.rint((2 * x - 1) * 128), -128, 127)) > 0.3  # what float64 would have given
    check = compiled.check_reference(x)
    assert check.exact and check.agree == 2000


def test_the_verilog_header_states_the_thresholds():
    nodes, inits = CASES["affine before a BipolarQuant (input binariser)"]
    compiled = compile_model(_input_stage(_base(), [onnx.NodeProto.FromString(n.SerializeToString()) for n in nodes], inits))
    assert "code = number of thresholds t with (2 x feature) - 1 >= t, t in 0 (float32" in compiled.verilog


def test_a_model_whose_custom_opset_import_was_dropped_is_repaired(tmp_path):
    """qonnx's model merge (FINN's pre-processing) drops the custom domain's opset import."""
    model = _base()
    del model.opset_import[:]
    model.opset_import.extend([helper.make_opsetid("", 13)])
    onnx.save(model, tmp_path / "merged.onnx")
    with pytest.raises(onnx.checker.ValidationError, match="No opset import for domain"):
        onnx.checker.check_model(onnx.load(tmp_path / "merged.onnx"))
    compiled = compile_model(tmp_path / "merged.onnx")
    x = np.random.default_rng(2).integers(0, 256, (100, 20)).astype(float)
    assert compiled.check_reference(x).agree == 100
    assert len(model.opset_import) == 1  # the caller's model is left as it was
    assert compile_model(model).n_features == 20 and len(model.opset_import) == 1
