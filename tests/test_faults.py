"""`bespoke faults` and `--restrict-ranges`: a fault campaign of a build, and the range-restricted
(Ranger) design verified like every other."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cli_testing import assert_user_error, run_cli

from bespoke.api import compile_model, load_accuracy, load_compiled, verify_formal
from bespoke.compiler.data import read_csv
from bespoke.faults import run_campaign
from bespoke.sim.golden import run_all

ROOT = Path(__file__).resolve().parent.parent
CARDIO = ROOT / "examples" / "cardio"
DIGITS = ROOT / "examples" / "bnn_digits"


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("faults")
    compile_model(CARDIO / "cardio.onnx", tmp / "exact", calibration=CARDIO / "train.csv")
    for per in ("layer", "neuron"):
        compile_model(CARDIO / "cardio.onnx", tmp / per, calibration=CARDIO / "train.csv", restrict_ranges=per)
    return tmp / "exact", tmp / "layer", tmp / "neuron"


def test_faults_prints_and_writes_the_campaign(builds, capsys, tmp_path):
    exact = builds[0]
    code, out, err = run_cli(capsys, "faults", exact, "--data", CARDIO / "test.csv", "--trials", 60, "--counts", "1,8,64",
                             "-o", tmp_path, "-q")
    assert code == 0, err
    assert "fault campaign of cardio on test.csv: 638 vectors" in out and "most critical faults" in out
    camp = json.loads((tmp_path / "faults.json").read_text())
    assert (tmp_path / "faults.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert camp["fault_free"] == pytest.approx(load_accuracy(exact, CARDIO / "test.csv")["hardware"])
    single = camp["single"]
    assert single["faults"] == single["of"] == 2 * camp["sites"]  # every site, both polarities
    assert {r["layer"] for r in single["per_layer"]} == {"input", "MatMul", "Relu_q", "MatMul1", "ArgMax"}
    assert 0 < single["critical"] < 1 and single["worst"][0]["metric"] < 0.5 * camp["fault_free"]
    curve = {p["faults"]: p["mean"] for p in camp["curve"]}
    assert list(curve) == [1, 8, 64] and curve[64] < curve[8] < curve[1] < camp["fault_free"]
    assert camp["flips"] is None and "has no registers" in out


def test_a_campaign_is_reproducible_from_its_seed(builds):
    a, b = (run_campaign(builds[0], CARDIO / "test.csv", max_single=300, counts=(4,), trials=40, seed=5) for _ in range(2))
    assert a.single == b.single and a.curve == b.curve and a.single["faults"] == 300


def test_a_pipelined_design_has_register_flips_measured(tmp_path):
    out = tmp_path / "pipe"
    compile_model(CARDIO / "cardio.onnx", out, calibration=CARDIO / "train.csv", pipeline=True)
    camp = run_campaign(out, CARDIO / "test.csv", max_single=500, counts=(1,), trials=20, flips=400)
    assert camp.flips["flips"] == 400 and camp.flips["register_bits"] > 0
    assert 0 < camp.flips["corrupting"] < 1


@pytest.mark.parametrize("per", ["layer", "neuron"])
def test_the_range_restricted_design_is_verified_like_every_other(builds, per):
    exact, build = builds[0], builds[1 if per == "layer" else 2]
    exact, restricted = load_compiled(exact), load_compiled(build)
    layers = [restricted.ir.layer(n) for n in restricted.ir.order()]
    assert [layer.op for layer in layers] == ["input", "dense", "requant", "dense", "requant", "argmax"]
    hidden, scores = layers[2], layers[4]
    assert np.max(hidden.qmax) < 255  # the hidden ReLU clamped below its quantiser's top code
    assert (per == "neuron") == hidden.per_element_clamp() == scores.per_element_clamp()
    assert any("restrict-ranges" in why for why in restricted.ir.meta["inexact"])
    # on the calibration data the clamps never act: every output as without them
    x_train = read_csv(CARDIO / "train.csv", exact.n_features)[0]
    codes = exact.encode(x_train)
    np.testing.assert_array_equal(restricted.predict_codes(codes), exact.predict_codes(codes))
    # and they do act: random input codes, unlike the training data, drive hidden activations past them
    wide = np.random.default_rng(0).integers(0, 16, (4000, exact.n_features))
    assert (run_all(restricted.ir, wide)["Relu_q"] != run_all(exact.ir, wide)["Relu_q"]).any()
    rep = restricted.simulate(CARDIO / "test.csv")
    assert rep.vectors == 638 and rep.mismatches == 0
    assert verify_formal(build, simulate=False).verdict == "proven"
    assert run_campaign(build, CARDIO / "test.csv", max_single=200, counts=(1,), trials=5).restricted == per


def test_fault_campaign_refuses_what_it_cannot_simulate(builds, capsys, tmp_path):
    folded = tmp_path / "folded"
    compile_model(DIGITS / "bnn_digits.onnx", folded, arch="folded", pe=4, simd=8)
    code, _, err = run_cli(capsys, "faults", folded, "--data", DIGITS / "test.csv")
    assert_user_error(code, err, "fault injection simulates unrolled designs")
    assert not (folded / "faults.json").exists()
    code, _, err = run_cli(capsys, "faults", builds[0], "--data", tmp_path / "missing.csv")
    assert_user_error(code, err, "missing.csv: no such data file")
    with pytest.raises(SystemExit) as e:  # argparse's usage error
        run_cli(capsys, "faults", builds[0], "--data", CARDIO / "test.csv", "--counts", "0,4")
    assert e.value.code == 2 and "expected positive fault counts like 1,4,16, got '0,4'" in capsys.readouterr().err
    code, _, err = run_cli(capsys, "compile", DIGITS / "bnn_digits.onnx", "--restrict-ranges", "-o", tmp_path / "r")
    assert_user_error(code, err, "restrict-ranges clamps activations to the ranges seen on calibration data")
    assert not (tmp_path / "r").exists()
