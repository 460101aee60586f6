"""Issue 14 part 4: requantisation equal to onnxruntime's float32 kernels on every accumulator value.

`fit` is checked exhaustively against the float32 reference it is fitted to; the compiled
Requant layers of random QDQ MLPs with float scales and of onnxruntime `quantize_static` models
are checked against onnxruntime itself, on every accumulator value of each channel's proven
range, through a probe model that feeds onnxruntime exactly those accumulators.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from bespoke.compiler.ir import Dense, Requant
from bespoke.compiler.ops import round_shift
from bespoke.compiler.requant_fit import exceptions, fit, kernel_requant, kernel_scale, signed_digits, sparsest
from bespoke.api import compile_model

STEP = 127  # probe weights: acc = x0 + STEP * (x1 + ... + xK), every x in [0, STEP)


def test_fit_equals_the_float32_kernel_on_every_accumulator_value():
    rng = np.random.default_rng(1)
    fitted = 0
    for t in range(60):
        s_acc = float(np.float32(rng.uniform(0.3, 3) * 2**-11)) * float(np.float32(rng.uniform(0.3, 3)))
        s_out = float(np.float32(rng.uniform(0.3, 3) * 2.0 ** -int(rng.integers(1, 5))))
        f = kernel_requant(kernel_scale(s_acc, s_out))
        width = int(rng.integers(100, 200_000))
        lo = int(rng.integers(-width, 1))
        hi = lo + width
        qmin, qmax, zp = (-128, 127, int(rng.integers(-10, 10))) if t % 2 else (0, 255, int(rng.integers(0, 10)))
        found = fit(f, lo, hi, qmin - zp, qmax - zp)
        if found is None:
            continue
        fitted += 1
        m, s = found
        acc = np.arange(lo, hi + 1, dtype=np.int64)
        want = np.clip(f(acc) + zp, qmin, qmax)
        got = np.clip(round_shift(acc * m, np.int64(s), "half_even") + zp, qmin, qmax)
        assert np.array_equal(want, got), (t, m, s)
    assert fitted >= 55


def test_fit_finds_the_power_of_two_of_a_dyadic_scale_and_refuses_the_impossible():
    assert fit(kernel_requant(np.float32(2.0**-7)), -50_000, 50_000, -128, 127) == (1, 7)
    # a reference that is not a rounded line: 0 up to 9, then 2 from 10 on (no code 1 anywhere)
    assert fit(lambda a: np.where(np.asarray(a) >= 10, 2, 0), 0, 100, -1, 5) is None


def test_sparsest_takes_the_fewest_signed_digits_in_the_range():
    assert sparsest(1000, 1030) == 1024 and sparsest(5, 5) == 5
    assert signed_digits(sparsest(0b101101101, 0b101101111)) <= signed_digits(0b101101101)


def _probe_model(s_acc: np.ndarray, s_out: float, zp: int, signed: bool, lo: np.ndarray, n_features: int):
    """DQ -> MatMul -> Add -> Q with unit input scale, weight scales fl32(s_acc) per channel, positional
    weights (1, STEP, STEP, ...) and bias lo: row p gives channel c the accumulator lo[c] + p."""
    a_type, a_np = (TensorProto.INT8, np.int8) if signed else (TensorProto.UINT8, np.uint8)
    n = len(s_acc)
    weight = np.full((n_features, n), STEP, np.int8)
    weight[0] = 1
    inits = [numpy_helper.from_array(np.float32(1.0), "s_a"), numpy_helper.from_array(a_np(0), "z_a"),
             numpy_helper.from_array(weight, "w"), numpy_helper.from_array(s_acc.astype(np.float32), "s_w"),
             numpy_helper.from_array(np.zeros(n, np.int8), "z_w"),
             numpy_helper.from_array(lo.astype(np.int32), "b"), numpy_helper.from_array(s_acc.astype(np.float32), "s_b"),
             numpy_helper.from_array(np.zeros(n, np.int32), "z_b"),
             numpy_helper.from_array(np.float32(s_out), "s_y"), numpy_helper.from_array(a_np(zp), "z_y")]
    nodes = [helper.make_node("DequantizeLinear", ["x", "s_a", "z_a"], ["xd"]),
             helper.make_node("DequantizeLinear", ["w", "s_w", "z_w"], ["wd"], axis=1),
             helper.make_node("DequantizeLinear", ["b", "s_b", "z_b"], ["bd"], axis=0),
             helper.make_node("MatMul", ["xd", "wd"], ["mm"]), helper.make_node("Add", ["mm", "bd"], ["acc"]),
             helper.make_node("QuantizeLinear", ["acc", "s_y", "z_y"], ["y"])]
    graph = helper.make_graph(nodes, "probe", [helper.make_tensor_value_info("x", a_type, ["N", n_features])],
                              [helper.make_tensor_value_info("y", a_type, ["N", n])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _positions(width: int, n_features: int, signed: bool) -> np.ndarray:
    """Inputs giving x0 + STEP * (x1 + ...) = 0 .. width - 1."""
    p = np.arange(width, dtype=np.int64)
    x = np.zeros((width, n_features), np.int64)
    x[:, 0], q = p % STEP, p // STEP
    for k in range(1, n_features):
        x[:, k] = np.minimum(q, STEP - 1)
        q = q - x[:, k]
    assert not q.any()
    return x.astype(np.int8 if signed else np.uint8)


def _onnxruntime_kernel(model):
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return session


def _check_every_accumulator(ir) -> int:
    """Each Requant after a dense layer against onnxruntime's fused kernel; the accumulators checked."""
    checked = 0
    for name in ir.order():
        layer = ir.layer(name)
        if not isinstance(layer, Requant):
            continue
        (src,) = ir.inputs_of(name)
        assert isinstance(ir.layer(src), Dense)
        acc, out = ir.out(src), ir.out(name)
        lo, hi = np.array(acc.lo, dtype=np.int64), np.array(acc.hi, dtype=np.int64)
        signed = int(np.min(layer.qmin)) < 0
        zp = int(layer.zero_point[0])
        assert np.all(layer.zero_point == zp) and np.allclose(out.scale, out.scale[0])
        width = int((hi - lo).max()) + 1
        n_features = 1 + max(1, -(-((width - 1) // STEP) // (STEP - 1)))
        model = _probe_model(np.asarray(acc.scale, float), float(out.scale[0]), zp, signed, lo, n_features)
        got = _onnxruntime_kernel(model).run(None, {"x": _positions(width, n_features, signed)})[0].astype(np.int64)
        accs = lo[None, :] + np.arange(width)[:, None]
        inside = accs <= hi[None, :]  # each channel's proven range (the probe runs on beyond it)
        assert np.array_equal(layer.evaluate(accs)[inside], got[inside]), name
        checked += int((hi - lo + 1).sum())
    return checked


def test_the_probe_runs_as_onnxruntime_s_fused_integer_kernel(tmp_path):
    """The probe's graph is what onnxruntime turns into one QGemm: the kernel's float32 requantisation."""
    opts = ort.SessionOptions()
    opts.optimized_model_filepath = str(tmp_path / "opt.onnx")
    opts.log_severity_level = 3
    for signed in (False, True):
        model = _probe_model(np.array([1e-3, 2e-3]), 0.05, 3, signed, np.array([-10, 0]), 3)
        ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        assert [n.op_type for n in onnx.load(tmp_path / "opt.onnx").graph.node] == ["QGemm"]


def test_qdq_mlps_with_float_scales_requantise_as_onnxruntime_on_every_accumulator_value():
    from onnx_builders import qdq_mlp

    checked = 0
    for seed in range(20):
        compiled = compile_model(qdq_mlp(seed=seed, per_channel=bool(seed % 2), float_scales=True))
        inexact = compiled.ir.meta.get("inexact", [])
        assert not any("requantisation" in why for why in inexact), (seed, inexact)
        checked += _check_every_accumulator(compiled.ir)
    assert checked > 10**6


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_quantize_static_models_requantise_as_onnxruntime_on_every_accumulator_value(tmp_path, seed):
    from onnx_builders import quantize_static_mlp

    path = quantize_static_mlp(tmp_path, seed)
    compiled = compile_model(path)
    assert _check_every_accumulator(compiled.ir) > 10**4


# a float-scale QDQ MLP whose output layer's kernel rounds off every multiplier's line (fuzz seed 7)
OFF_THE_LINE = dict(n_in=6, n_hidden=8, n_out=3, seed=806728989, per_channel=True, argmax=True, float_scales=True)


def test_exceptions_list_where_the_kernel_rounds_off_the_line():
    """S = fl32(0.3) = 5033165 / 2^24: 15 * S = 4.50000018 rounds in float32 to 4.5 and then to 4,
    while 5 * S = 1.50000006 needs a ratio of at least 0.3 for its 2: no line gives both."""
    f = kernel_requant(np.float32(0.3))
    assert fit(f, -1000, 1000, -128, 127) is None
    apart = exceptions(f, 5033165, 24, -1000, 1000, -128, 127)
    assert (15, 4) in apart and (-15, -4) in apart and len(apart) <= 64
    dyadic = kernel_requant(np.float32(0.375))
    assert exceptions(dyadic, *fit(dyadic, -1000, 1000, -128, 127), -1000, 1000, -128, 127) == []


def test_a_model_with_exceptions_equals_onnxruntime_on_every_accumulator_and_is_proven(tmp_path):
    from onnx_builders import qdq_mlp

    from bespoke.api import verify_formal

    compiled = compile_model(qdq_mlp(**OFF_THE_LINE), tmp_path / "out")
    assert not compiled.ir.meta.get("inexact")
    fixed = [compiled.ir.layer(n).exceptions for n in compiled.ir.order() if isinstance(compiled.ir.layer(n), Requant)]
    assert sum(len(e) for e in fixed if e is not None) >= 1
    assert _check_every_accumulator(compiled.ir) > 10**5
    assert verify_formal(tmp_path / "out", simulate=False).verdict == "proven"
    x = np.random.default_rng(3).random((300, 6)) * 40
    sim = compiled.simulate(x)
    assert sim.passed and sim.mismatches == 0


def _has_vnni() -> bool:
    """onnxruntime's u8 x s8 kernels sum exactly with VNNI; AVX2's vpmaddubsw saturates pairs at 16 bits."""
    from pathlib import Path

    flags = Path("/proc/cpuinfo").read_text().split() if Path("/proc/cpuinfo").is_file() else []
    return "avx512_vnni" in flags or "avx_vnni" in flags


@pytest.mark.skipif(not _has_vnni(), reason="onnxruntime's integer kernels saturate in 16 bits on CPUs without VNNI")
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_quantize_static_models_equal_onnxruntime_s_integer_kernels_on_every_vector(tmp_path, seed):
    """With its graph optimisations on, onnxruntime runs a quantize_static model as integer kernels
    only (QuantizeLinear, QGemm, QGemm): the golden model must give the output layer's codes (not
    just their ArgMax) on every row, inside and beyond the calibration range."""
    from onnx_builders import quantize_static_mlp

    from bespoke.sim.golden import run_all

    path = quantize_static_mlp(tmp_path, seed)
    compiled = compile_model(path)
    model = onnx.load(path)
    codes = next(n.output[0] for n in model.graph.node if n.op_type == "QuantizeLinear" and n.input[0] == "y")
    model.graph.ClearField("output")
    model.graph.output.append(helper.make_tensor_value_info(codes, TensorProto.UINT8, ["N", 4]))
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.optimized_model_filepath = str(tmp_path / "opt.onnx")
    session = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    ops = [n.op_type for n in onnx.load(tmp_path / "opt.onnx").graph.node]
    assert ops[:3] == ["QuantizeLinear", "QGemm", "QGemm"] and set(ops[3:]) <= {"ArgMax"}  # the unused class is left in
    x = (np.random.default_rng(seed).random((20000, 6)) * 1.4 - 0.2).astype(np.float32)
    golden = run_all(compiled.ir, compiled.encode(x))[compiled.ir.inputs_of("cls")[0]]
    reference = session.run(None, {"x": x})[0]
    assert len(np.unique(reference)) > 20  # the codes vary: a real comparison, not one constant
    np.testing.assert_array_equal(golden, reference)
