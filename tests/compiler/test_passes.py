import numpy as np
import pytest

from bespoke.compiler.errors import BespokeError
from bespoke.compiler.ir import IR, Affine, ArgMax, Dense, Input, Relu, Requant
from bespoke.compiler.passes import PassManager, parse_passes
from bespoke.compiler.passes.fold import FoldAffine, FuseRelu, MergeDense
from bespoke.compiler.passes.quantize import Quantize, _as_fraction, _shift_to_fit
from bespoke.compiler.passes.ranges import InferRanges
from bespoke.sim.golden import run, run_all

rng = np.random.default_rng(0)


def float_ir() -> IR:
    ir = IR("f")
    ir.add("x", Input(size=4))
    ir.add("norm", Affine(scale=np.array([2.0, 0.5, 1.0, 3.0]), offset=np.array([-1.0, 0.0, 0.5, 0.0])), ["x"])
    ir.add("fc1", Dense(weight=rng.normal(size=(5, 4)), bias=rng.normal(size=5)), ["norm"])
    ir.add("bn", Affine(scale=rng.uniform(0.5, 2, 5), offset=rng.normal(size=5)), ["fc1"])
    ir.add("r", Relu(), ["bn"])
    ir.add("fc2", Dense(weight=rng.normal(size=(3, 5)), bias=rng.normal(size=3)), ["r"])
    ir.add("lin", Dense(weight=rng.normal(size=(2, 3)), bias=rng.normal(size=2)), ["fc2"])
    ir.add("am", ArgMax(), ["lin"])
    return ir


def test_parse_passes_and_spec_round_trip():
    passes = parse_passes("fold-affine, quantize{input_bits=3,per_channel=true},infer-ranges")
    assert [p.name for p in passes] == ["fold-affine", "quantize", "infer-ranges"]
    assert passes[1] == Quantize(input_bits=3, per_channel=True)
    assert parse_passes(",".join(p.spec() for p in passes)) == passes


@pytest.mark.parametrize("text,needle", [("no-such-pass", "unknown pass"), ("quantize{bits=3}", "no option"),
                                         ("quantize{input_bits=x}", "not a int"), ("quantize{", "cannot parse")])
def test_parse_passes_errors(text, needle):
    with pytest.raises(BespokeError, match=needle):
        parse_passes(text)


def test_folding_preserves_the_float_function():
    ir = float_ir()
    x = rng.normal(size=(500, 4))
    folded, changed = FoldAffine()(ir)
    assert changed and not any(isinstance(folded.layer(n), Affine) for n in folded.graph)
    merged, changed = MergeDense()(folded)
    assert changed and len(merged.graph) == len(folded.graph) - 1
    ref, got = run_all(ir, x), run_all(merged, x)
    np.testing.assert_allclose(got["lin"], ref["lin"], rtol=1e-9, atol=1e-9)


def test_passes_do_not_edit_their_input():
    ir = float_ir()
    before = ir.to_json()
    FoldAffine()(ir)
    assert ir.to_json() == before


def test_integer_passes_need_integer_ir():
    with pytest.raises(BespokeError, match="integer IR"):
        InferRanges()(float_ir())


def test_pass_manager_dumps_every_step(tmp_path):
    pm = PassManager.from_string("fold-affine,merge-dense,quantize,fuse-relu,infer-ranges", dump_dir=tmp_path)
    out = pm.run(float_ir(), {"input_range": (-1.0, 1.0)})
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["00-input.json", "01-fold-affine.json", "02-merge-dense.json", "03-quantize.json", "04-fuse-relu.json", "05-infer-ranges.json"]
    assert IR.from_json((tmp_path / "05-infer-ranges.json").read_text()) == out


def test_quantize_without_ranges_is_a_user_error():
    with pytest.raises(BespokeError, match="calibration"):
        PassManager.from_string("fold-affine,merge-dense,quantize").run(float_ir())


def test_quantized_ir_tracks_float_model_and_stays_in_ranges():
    calib = rng.uniform(-1, 1, size=(2000, 4))
    model = float_ir()
    ir = PassManager.from_string("fold-affine,merge-dense,quantize{input_bits=8,weight_bits=10,act_bits=10},fuse-relu,infer-ranges").run(
        model, {"calibration": calib})
    assert ir.is_integer() and ir.has_ranges()
    x = rng.uniform(-1, 1, size=(2000, 4))
    agree = np.mean(run(ir, ir.encode_inputs(x)) == run(model, x))
    assert agree > 0.97  # fine quantisation: nearly every decision equals the float model's
    # run() checks every value against the proven ranges; the extreme input codes too
    run(ir, np.array([[0] * 4, [255] * 4, [0, 255, 0, 255]]))


def test_fuse_relu_is_exact():
    ir = IR("r")
    ir.add("x", Input(size=2, lo=0, hi=15))
    ir.add("d", Dense(weight=np.array([[3, -5], [-7, 2]]), bias=np.array([-20, 9])), ["x"])
    ir.add("r", Relu(), ["d"])
    ir.add("q", Requant(mult=np.array([1, 3]), shift=np.array([2, 3]), zero_point=np.array([2, 2]), qmin=-8, qmax=7, rounding="half_even"), ["r"])
    fused, changed = FuseRelu()(ir)
    assert changed and "r" not in fused.graph and fused.layer("q").qmin == 2
    x = np.array([[a, b] for a in range(16) for b in range(16)])
    np.testing.assert_array_equal(run(ir, x, check_ranges=False), run(fused, x, check_ranges=False))


def test_shift_to_fit():
    assert _shift_to_fit(255, 255) == 0
    assert _shift_to_fit(256, 255) == 1
    assert _shift_to_fit(509, 255) == 1  # (509 + 1) >> 1 = 255
    assert _shift_to_fit(510, 255) == 1  # (510 + 1) >> 1 = 255
    assert _shift_to_fit(511, 255) == 2
    assert _shift_to_fit(0, 255) == 0


def test_as_fraction_exact_for_dyadic_scales():
    assert _as_fraction(2.0**-9, "n") == (1, 9)
    assert _as_fraction(3 * 2.0**-5, "n") == (3, 5)
    m, s = _as_fraction(0.3, "n")
    assert abs(m / 2**s - 0.3) < 1e-6
