"""streamline: binarized float IRs -> integer threshold IRs, equal to the float graph on every input."""

from fractions import Fraction
from itertools import product

import numpy as np
import pytest
from bnn_builders import export, tiny_cnn, tiny_mlp

from bespoke.compiler.errors import BespokeError
from bespoke.compiler.ir import (IR, Affine, ArgMax, Bipolar, Conv2d, Dense, Input, IntQuant, MaxPool2d, Pad2d, Relu, Threshold,
                                 XnorPopcount)
from bespoke.compiler.onnx_frontend import lower_onnx
from bespoke.compiler.passes import PassManager
from bespoke.compiler.passes.streamline import is_binarized
from bespoke.compiler.passes.thresholds import argmax_head, exact, first_at_least
from bespoke.sim.golden import run, run_all

BNN = "streamline,infer-ranges"


def streamline(float_ir: IR) -> IR:
    return PassManager.from_string(BNN).run(float_ir)


def predictions(float_ir: IR, x: np.ndarray):
    """(float model, streamlined integer model) outputs; the integer one also checks its ranges."""
    ir = streamline(float_ir)
    return run(float_ir, x), run(ir, ir.encode_inputs(x)), ir


@pytest.mark.parametrize("form", ["qonnx", "sign", "mt"])
@pytest.mark.parametrize("head", ["scale", "bn"])
def test_mlp_streamlines_to_xnor_thresholds_with_equal_predictions(form, head):
    rng = np.random.default_rng(1)
    layers, x = tiny_mlp(rng, head=head)
    float_ir = lower_onnx(export(layers, 8, (20,), form))
    assert is_binarized(float_ir)
    ref, got, ir = predictions(float_ir, x)
    np.testing.assert_array_equal(got, ref)
    ops = [ir.layer(n).op for n in ir.order()]
    assert ops[:6] == ["input", "dense", "threshold", "xnor_popcount", "threshold", "xnor_popcount"]
    assert ir.is_integer() and ir.has_ranges()
    first = ir.layer(ir.order()[1])
    assert set(np.unique(first.weight)) <= {-1, 1} and not first.bias.any()  # +-1 integer MAC on the 8-bit codes


@pytest.mark.parametrize("pad", [0, 1])
def test_cnn_streamlines_to_binary_convolutions_and_pooling_on_bits(pad):
    """Padded too: the zeros around a +-1 image are no bit; the border is code 0 (-1) and each
    output position's offset takes out what that adds (a threshold per position)."""
    rng = np.random.default_rng(2)
    layers, x = tiny_cnn(rng, pad=pad)
    for form in ("qonnx",) if pad else ("qonnx", "mt"):
        float_ir = lower_onnx(export(layers, 4, (1, 10, 10), form))
        ref, got, ir = predictions(float_ir, x.reshape(len(x), -1))
        np.testing.assert_array_equal(got, ref)
        kinds = [(type(ir.layer(n)), getattr(ir.layer(n), "binary", None)) for n in ir.order() if not isinstance(ir.layer(n), Pad2d)]
        assert kinds[1] == (Conv2d, False) and (Conv2d, True) in kinds and (MaxPool2d, None) in kinds
        assert sum(isinstance(ir.layer(n), Pad2d) for n in ir.order()) == 2 * pad
        pool = next(n for n in ir.order() if isinstance(ir.layer(n), MaxPool2d))
        assert isinstance(ir.layer(ir.inputs_of(pool)[0]), Threshold)  # max-pool of bits: an OR


def test_the_three_export_forms_agree():
    rng = np.random.default_rng(3)
    layers, x = tiny_mlp(rng, sizes=(30, 16, 16, 6))
    outs = [predictions(lower_onnx(export(layers, 8, (30,), form)), x)[1] for form in ("qonnx", "sign", "mt")]
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_array_equal(outs[0], outs[2])


def test_negative_batchnorm_scale_inverts_xnor_weights_and_keeps_ge():
    rng = np.random.default_rng(4)
    layers, x = tiny_mlp(rng)
    for layer in layers:  # every scale negative
        if hasattr(layer, "gamma"):
            layer.gamma = -np.abs(layer.gamma) - 0.1
    float_ir = lower_onnx(export(layers, 8, (20,), "qonnx"))
    ref, got, ir = predictions(float_ir, x)
    np.testing.assert_array_equal(got, ref)
    xnor = next(n for n in ir.order() if isinstance(ir.layer(n), XnorPopcount))
    float_dense = [n for n in float_ir.order() if isinstance(float_ir.layer(n), Dense)][1]
    bits = (float_ir.layer(float_dense).weight > 0).astype(int)
    np.testing.assert_array_equal(ir.layer(xnor).weight, 1 - bits)  # every neuron flipped: P -> n - P


def exact_tie_ir() -> IR:
    """2-bit input codes, +-1 weights, affine with dyadic constants: the real pre-activation hits 0 exactly."""
    ir = IR("tie")
    ir.add("x", Input(size=3))
    ir.add("q", IntQuant(scale=np.full(3, 0.5), zero_point=np.zeros(3), bit_width=2, signed=False), ["x"])
    ir.add("fc", Dense(weight=np.array([[1.0, -1, 1], [-1, -1, 1], [1, 1, 1]]), bias=np.array([0.5, 0.0, -1.5])), ["q"])
    ir.add("bn", Affine(scale=np.array([2.0, -0.25, 1.0]), offset=np.array([-1.0, 0.25, 0.0])), ["fc"])
    ir.add("s", Bipolar(scale=np.ones(3)), ["bn"])
    return ir


def test_thresholds_are_exact_at_ties():
    ir = exact_tie_ir()
    x = np.array(list(product(range(4), repeat=3)), dtype=float) * 0.5  # every input code
    pre = run_all(ir, x)["bn"]
    assert (pre == 0).any()  # the inequality is decided exactly at 0 for some inputs
    ref, got, out = predictions(ir, x)
    np.testing.assert_array_equal(2 * got - 1, ref)  # code 1 = +1, sign(0) = +1


def test_multibit_quant_activation_becomes_a_multi_threshold():
    ir = exact_tie_ir()
    ir.graph.remove_node("s")
    ir.add("a", IntQuant(scale=np.full(3, 0.5), zero_point=np.zeros(3), bit_width=3, signed=True, narrow=True), ["bn"])
    x = np.array(list(product(range(4), repeat=3)), dtype=float) * 0.5
    ref, got, out = predictions(ir, x)
    np.testing.assert_array_equal(got * 0.5 + out.out("a").offset, ref)  # real = 0.5 * count + 0.5 * qmin
    assert out.layer("a").thresholds.shape == (3, 6)


def test_first_at_least_solves_the_real_inequality():
    half = Fraction(1, 2)
    assert first_at_least(Fraction(1), Fraction(0), Fraction(3), False, 0, 10) == 3
    assert first_at_least(Fraction(1), Fraction(0), Fraction(3), True, 0, 10) == 4
    assert first_at_least(half, Fraction(0), Fraction(1), False, 0, 10) == 2
    assert first_at_least(Fraction(3), Fraction(1), Fraction(-100), False, -5, 5) == -5  # always true: the range's low end
    assert first_at_least(Fraction(3), Fraction(1), Fraction(100), False, -5, 5) == 6  # never: past the high end
    assert first_at_least(Fraction(0), Fraction(1), Fraction(0), False, 0, 5) == 0
    assert first_at_least(Fraction(0), Fraction(-1), Fraction(0), False, 0, 5) == 6
    third = Fraction(1, 3)  # 1/3 * a >= 1 at a = 3 exactly, where float 1/3 * 3 rounds to 1.0 anyway
    assert first_at_least(third, Fraction(0), Fraction(1), False, 0, 10) == 3
    assert first_at_least(Fraction(0.1), Fraction(0), Fraction(0.3), False, 0, 10) == 3  # float 0.1*3 > 0.3: true at 3


def test_argmax_head_keeps_the_winner_on_every_input():
    rng = np.random.default_rng(5)
    for trial in range(20):
        n = 4
        alpha = exact(rng.uniform(0.2, 3, n))
        beta = exact(rng.normal(0, 3, n))
        if trial % 4 == 0:
            alpha[:] = alpha[0]  # shared scale, per-class offsets
        mult, bias = argmax_head(alpha, beta, [0] * n, [6] * n)
        for a in product(range(7), repeat=n):
            real = [alpha[i] * a[i] + beta[i] for i in range(n)]
            ints = [int(mult[i]) * a[i] + int(bias[i]) for i in range(n)]
            assert real.index(max(real)) == ints.index(max(ints))


def test_unsupported_layer_and_raw_input_are_user_errors():
    ir = exact_tie_ir()
    ir.add("r", Relu(), ["s"])
    with pytest.raises(BespokeError, match="'r' \\(relu\\): not supported in a binarized network"):
        streamline(ir)
    raw = IR("raw")
    raw.add("x", Input(size=3))
    raw.add("fc", Dense(weight=np.ones((2, 3)), bias=np.zeros(2)), ["x"])
    raw.add("s", Bipolar(scale=np.ones(2)), ["fc"])
    with pytest.raises(BespokeError, match="raw model input; quantise the input first"):
        streamline(raw)


def test_negative_scale_after_maxpool_is_refused():
    ir = IR("pool")
    ir.add("x", Input(size=16))
    ir.add("q", IntQuant(scale=np.ones(16), zero_point=np.zeros(16), bit_width=4, signed=False), ["x"])
    conv = Conv2d(weight=np.where(np.random.default_rng(0).random((2, 1, 3, 3)) < 0.5, -1.0, 1.0), bias=np.zeros(2), in_shape=(1, 4, 4))
    ir.add("c", conv, ["q"])
    ir.add("p", MaxPool2d(in_shape=conv.out_shape, kernel=2, stride=2), ["c"])
    ir.add("bn", Affine(scale=np.array([1.0, -1.0]), offset=np.zeros(2)), ["p"])
    ir.add("s", Bipolar(scale=np.ones(2)), ["bn"])
    with pytest.raises(BespokeError, match="cannot be negated"):
        streamline(ir)
    ir.replace_layer("bn", Affine(scale=np.array([1.0, 2.0]), offset=np.array([0.5, -3.0])))
    x = np.random.default_rng(1).integers(0, 16, (300, 16)).astype(float)
    ref, got, out = predictions(ir, x)  # positive scales: pooling the accumulator commutes
    np.testing.assert_array_equal(2 * got - 1, ref)


def test_non_binary_float_weights_are_refused():
    ir = exact_tie_ir()
    ir.replace_layer("fc", Dense(weight=np.array([[0.3, -1, 1], [-1, -1, 1], [1, 1, 1]]), bias=np.zeros(3)))
    with pytest.raises(BespokeError, match="neither binary .* nor on an integer grid"):
        streamline(ir)


def test_streamlined_ir_round_trips_json_and_records_real_scales():
    rng = np.random.default_rng(6)
    layers, x = tiny_mlp(rng)
    ir = streamline(lower_onnx(export(layers, 8, (20,), "qonnx")))
    assert IR.from_json(ir.to_json()) == ir
    inp = ir.out(ir.input_node())
    assert np.all(inp.scale == 1.0) and np.all(inp.offset == 0.0)  # codes are the pixel values
    assert isinstance(ir.layer(ir.output_node()), ArgMax)


def test_raw_scores_keep_their_real_scale_and_negative_scores_flip_for_argmax():
    ir = exact_tie_ir()
    ir.add("fc2", Dense(weight=np.array([[1.0, -1, 1], [-1, 1, 1]]), bias=np.array([0.25, 0.25])), ["s"])
    ir.add("neg", Affine(scale=np.array([-0.5, -0.5]), offset=np.array([1.0, 1.0])), ["fc2"])
    x = np.array(list(product(range(4), repeat=3)), dtype=float) * 0.5
    ref, got, out = predictions(ir, x)
    info = out.out(out.output_node())
    np.testing.assert_array_equal(got * info.scale + info.offset, ref)  # the popcounts' real meaning is recorded
    ir.add("am", ArgMax(), ["neg"])
    ref, got, out = predictions(ir, x)
    np.testing.assert_array_equal(got, ref)
    assert not any(isinstance(out.layer(n), Dense) and out.layer(n).weight.shape == (2, 2) for n in out.graph)  # no score head


def test_padding_where_zero_is_no_code_is_exact_on_a_mac_convolution():
    """Codes of a quantiser with zero point 1/2 stand for s(q - 1/2): real 0, the model's padding,
    is none of them. The border gets the nearest code and the next conv's offsets take out its
    excess at each output position: the scores equal the float graph's exactly."""
    rng = np.random.default_rng(12)
    ir = IR("pad_mac")
    ir.add("x", Input(size=2 * 5 * 5))
    ir.add("q", IntQuant(scale=np.ones(50), zero_point=np.zeros(50), bit_width=4, signed=False), ["x"])
    ir.add("c1", Conv2d(weight=rng.integers(-3, 4, (3, 2, 3, 3)).astype(float), bias=rng.normal(size=3), in_shape=(2, 5, 5)), ["q"])
    ir.add("a", IntQuant(scale=np.full(27, 0.5), zero_point=np.full(27, 0.5), bit_width=3, signed=False), ["c1"])
    ir.add("p", Pad2d(in_shape=(3, 3, 3), pads=(1, 2, 0, 1), value=np.zeros(3)), ["a"])
    ir.add("c2", Conv2d(weight=rng.integers(-2, 3, (2, 3, 2, 2)).astype(float), bias=np.zeros(2), in_shape=(3, 4, 6)), ["p"])
    x = rng.integers(0, 16, (300, 50)).astype(float)
    integer = streamline(ir)
    pad = next(n for n in integer.order() if isinstance(integer.layer(n), Pad2d))
    assert integer.layer(pad).value.dtype.kind == "i"
    out = integer.out(integer.output_node())
    scores = run(integer, integer.encode_inputs(x)) * out.scale + out.offset
    np.testing.assert_allclose(scores, run(ir, x), rtol=0, atol=1e-9)
    assert len(set(np.round(out.offset, 9))) > 2  # the border taps differ between positions
