"""End to end through the CLI: compile bundled models, simulate the RTL over whole data sets
against the golden model, and the one-line errors with exit code 2."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest

from bespoke.api import compile_model, load_compiled
from bespoke.sim.onnx_reference import run_reference
from cli_testing import assert_user_error, run_cli
from onnx_builders import float_mlp_with, qdq_mlp

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def whole_dataset(name: str, tmp_path: Path) -> Path:
    """train.csv + test.csv of an example as one CSV: every sample of the data set."""
    train = (EXAMPLES / name / "train.csv").read_text().splitlines()
    test = (EXAMPLES / name / "test.csv").read_text().splitlines()
    path = tmp_path / f"{name}_all.csv"
    path.write_text("\n".join(train + test[1:]) + "\n")
    return path


def compile_example(capsys, name, out, *extra):
    d = EXAMPLES / name
    return run_cli(capsys, "compile", d / f"{name}.onnx", "-o", out, "--calibration", d / "train.csv", *extra)


@pytest.mark.parametrize("name", ["cardio", "pendigits", "redwine", "seeds", "cardio_2h"])
def test_printed_mlp_zero_mismatches_on_whole_dataset(name, tmp_path, capsys):
    out = tmp_path / "out"
    code, text, _ = compile_example(capsys, name, out)
    assert code == 0, text
    assert "adders" in text and (out / f"{name}.v").exists() and (out / "ir.json").exists()
    verilog = (out / f"{name}.v").read_text()
    body = verilog[verilog.index("module"):]
    assert "*" not in re.sub(r"/\*.*?\*/", "", body, flags=re.S)  # shift-and-add only: no multiplier
    data = whole_dataset(name, tmp_path)
    code, text, _ = run_cli(capsys, "simulate", out, "--data", data)
    n_rows = len(data.read_text().splitlines()) - 1
    assert code == 0, text
    assert f"simulated {n_rows} vectors" in text
    assert "mismatches against the golden model: 0" in text and text.rstrip().endswith("PASS")
    # hardware accuracy within 2 points of the float model (on the test split; golden = RTL here)
    rep = load_compiled(out).simulate(EXAMPLES / name / "test.csv")
    assert rep.mismatches == 0 and abs(rep.hardware_accuracy - rep.float_accuracy) <= 0.02


def test_pipelined_design_measures_its_latency(tmp_path, capsys):
    out = tmp_path / "out"
    code, text, _ = compile_example(capsys, "pendigits", out, "--pipeline")
    assert code == 0, text
    model = load_compiled(out)
    assert model.layout["pipelined"] and model.layout["latency"] >= 1
    rep = model.simulate(EXAMPLES / "pendigits" / "test.csv")
    assert rep.mismatches == 0 and rep.latency_cycles == rep.latency_min == model.layout["latency"]
    assert rep.passed and rep.problems == []


def test_a_wrong_latency_claim_fails_the_simulation(tmp_path, capsys):
    out = tmp_path / "out"
    assert compile_example(capsys, "seeds", out, "--pipeline")[0] == 0
    manifest = out / "manifest.json"
    claim = load_compiled(out).layout["latency"]
    manifest.write_text(manifest.read_text().replace(f'"latency": {claim}', f'"latency": {claim + 1}'))
    model = load_compiled(out)
    assert model.layout["latency"] == claim + 1
    rep = model.simulate(EXAMPLES / "seeds" / "test.csv")
    assert rep.mismatches == 0 and rep.latency_cycles == claim and rep.latency_claimed == claim + 1
    assert not rep.passed and any("latency" in p for p in rep.problems)
    code, text, _ = run_cli(capsys, "simulate", out, "--data", EXAMPLES / "seeds" / "test.csv")
    assert code == 1 and f"{claim} cycles (design claims {claim + 1})" in text and "problem: latency" in text
    assert text.rstrip().endswith("FAIL")


def test_sklearn_pipeline_with_scaler_compiles_and_verifies(tmp_path):
    d = EXAMPLES / "seeds_pipeline"
    model = compile_model(d / "seeds_pipeline.onnx", tmp_path / "out", calibration=d / "train.csv")
    rep = model.simulate(d / "test.csv")
    assert rep.mismatches == 0 and abs(rep.hardware_accuracy - rep.float_accuracy) <= 0.02


def test_qdq_model_rtl_equals_onnxruntime(tmp_path):
    path = tmp_path / "qdq.onnx"
    onnx.save(qdq_mlp(seed=7), path)
    model = compile_model(path, tmp_path / "out")  # QDQ: no calibration needed
    x = (np.random.default_rng(1).integers(-40, 600, (3000, 6)) / 32).astype(np.float32)
    ref = run_reference(onnx.load(path), x).astype(np.int64)
    np.testing.assert_array_equal(model.predict_codes(model.encode(x)), ref)
    rep = model.simulate(x)
    assert rep.vectors == 3000 and rep.mismatches == 0


@pytest.mark.skipif(shutil.which("iverilog") is None, reason="Icarus Verilog (apt-get install iverilog) is not installed")
def test_icarus_simulation(tmp_path, capsys):
    out = tmp_path / "out"
    assert compile_example(capsys, "seeds", out)[0] == 0
    code, text, _ = run_cli(capsys, "simulate", out, "--data", EXAMPLES / "seeds" / "test.csv", "--simulator", "icarus")
    assert code == 0 and "mismatches against the golden model: 0" in text


def test_same_model_same_options_byte_identical(tmp_path, capsys):
    for k in (1, 2):
        assert compile_example(capsys, "cardio", tmp_path / f"o{k}")[0] == 0
    for f in ("cardio.v", "ir.json", "manifest.json"):
        assert (tmp_path / "o1" / f).read_bytes() == (tmp_path / "o2" / f).read_bytes()


# -- user errors: one line on stderr, exit code 2, nothing that looks like a build


def test_unsupported_operator(tmp_path, capsys):
    path = tmp_path / "tanh.onnx"
    onnx.save(float_mlp_with("Tanh"), path)
    code, _, err = run_cli(capsys, "compile", path, "-o", tmp_path / "out", "--input-range", "0:1")
    assert_user_error(code, err, "node 'squash' (Tanh): unsupported operator")
    assert not (tmp_path / "out").exists()


def test_truncated_and_garbage_files(tmp_path, capsys):
    good = (EXAMPLES / "seeds" / "seeds.onnx").read_bytes()
    for name, content in (("cut.onnx", good[: len(good) // 2]), ("garbage.onnx", b"\x08\x96\x01 this is not onnx" * 10)):
        (tmp_path / name).write_bytes(content)
        code, _, err = run_cli(capsys, "compile", tmp_path / name, "-o", tmp_path / "out", "--input-range", "0:1")
        assert_user_error(code, err, name)
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out*"))


def test_dynamic_feature_size(tmp_path, capsys):
    path = tmp_path / "dyn.onnx"
    onnx.save(float_mlp_with(dynamic_features=True), path)
    code, _, err = run_cli(capsys, "compile", path, "-o", tmp_path / "out", "--input-range", "0:1")
    assert_user_error(code, err, "no static feature size")
    assert not (tmp_path / "out").exists()


def test_wrong_number_of_columns(tmp_path, capsys):
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("x0,x1,x2,label\n0.1,0.2,0.3,1\n")
    d = EXAMPLES / "seeds"
    code, _, err = run_cli(capsys, "compile", d / "seeds.onnx", "-o", tmp_path / "out", "--calibration", wrong)
    assert_user_error(code, err, "3 feature columns, the model takes 7")
    assert not (tmp_path / "out").exists()
    assert compile_example(capsys, "seeds", tmp_path / "out")[0] == 0
    code, _, err = run_cli(capsys, "simulate", tmp_path / "out", "--data", wrong)
    assert_user_error(code, err, "3 feature columns, the model takes 7")
    assert not (tmp_path / "out" / "sim_build").exists()


def test_failed_compile_keeps_previous_build_intact(tmp_path, capsys):
    out = tmp_path / "out"
    assert compile_example(capsys, "seeds", out)[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    (tmp_path / "bad.onnx").write_bytes(b"junk")
    code, _, err = run_cli(capsys, "compile", tmp_path / "bad.onnx", "-o", out, "--input-range", "0:1")
    assert code == 2
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_refuses_to_overwrite_a_foreign_directory(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("precious")
    code, _, err = compile_example(capsys, "seeds", out)
    assert_user_error(code, err, "not a bespoke build directory")
    assert (out / "notes.txt").read_text() == "precious"


def test_simulate_needs_a_build(tmp_path, capsys):
    code, _, err = run_cli(capsys, "simulate", tmp_path, "--data", EXAMPLES / "seeds" / "test.csv")
    assert_user_error(code, err, "not a bespoke build directory")
