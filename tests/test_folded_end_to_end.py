"""The bundled binarized examples compiled folded (compile_model(..., arch="folded")) and run in
Verilator (bnn_digits: the whole test set; bnn_cnn: its first 300 images, as its element-level
engine simulates at ~15k cycles/s unoptimised; benchmarks/bnn_folded.py runs all 1,000): every
class index equals the golden model's, and every inference takes exactly the analytic number of
cycles. The netlist interpreter equals the golden model on the whole bnn_digits test set."""

import json
from pathlib import Path

import pytest
from cli_testing import assert_user_error, run_cli

from bespoke import compile_model
from bespoke.compiler.data import read_csv
from bespoke.hdl.folded_netlist import run
from bespoke.sim.runner import simulate

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name,pe,simd,latency,images", [
    # digits 64-32-32-10 and a 10x10 per-class scale: 4*4 + 4*2 + 2*2 + 2*1 issue cycles + fill 10
    ("bnn_digits", 8, 16, 16 + 8 + 4 + 2 + 10, None),
    # cnn: 676 positions * 1 * 1 + 121 * 1 * 9 + 1 * 25 (400 inputs, SIMD 16) + fill 10 (2 window loads)
    ("bnn_cnn", 16, 16, 676 + 1089 + 25 + 10, 300),
])
def test_example_folded_matches_golden_on_the_test_set(name, pe, simd, latency, images, tmp_path):
    model = compile_model(ROOT / "examples" / name / f"{name}.onnx", tmp_path / "out", arch="folded", pe=pe, simd=simd)
    assert model.layout["latency"] == latency and model.layout["handshake"]
    assert f"{latency} cycles per inference" in (tmp_path / "out" / "summary.txt").read_text()
    x, _ = read_csv(ROOT / "examples" / name / "test.csv", model.n_features)
    x = x[:images]
    codes = model.encode(x)
    expected = model.predict_codes(codes)
    r = simulate([tmp_path / "out" / f"{name}.v"], model.layout, codes, expected, tmp_path / "sim", backpressure=0.2, seed=1)
    assert r.ok, r.problems or r.first_mismatches
    assert (r.vectors, r.mismatches) == (len(x), 0)
    assert r.latency_min == r.latency_cycles == latency


def test_folded_netlist_interpreter_equals_golden_on_the_digits_test_set():
    model = compile_model(ROOT / "examples" / "bnn_digits" / "bnn_digits.onnx", arch="folded", pe=8, simd=16)
    x, _ = read_csv(ROOT / "examples" / "bnn_digits" / "test.csv", model.n_features)
    codes = model.encode(x)
    got, cycles = run(model.netlist, codes)
    assert (got[:, 0] == model.predict_codes(codes).reshape(-1)).all()
    assert set(cycles.tolist()) == {model.layout["latency"]}


def test_cli_dataflow_digits_takes_an_input_every_interval(capsys, tmp_path):
    """`--arch dataflow` from the command line: the summary names the interval, and `simulate` on
    the whole test set measures it (inputs back to back) with every class equal to the golden model's."""
    onnx, data = ROOT / "examples" / "bnn_digits" / "bnn_digits.onnx", ROOT / "examples" / "bnn_digits" / "test.csv"
    code, out, err = run_cli(capsys, "compile", onnx, "-o", tmp_path / "out", "--arch", "dataflow", "--pe", "8", "--simd", "16")
    assert code == 0, err
    layout = json.loads((tmp_path / "out" / "manifest.json").read_text())["layout"]
    interval, latency = layout["interval"], layout["latency"]
    assert layout["dataflow"] and interval == 16 < latency == 40  # the slowest layer: ceil(32/8) x ceil(64/16)
    assert f"one input every {interval} cycles" in (tmp_path / "out" / "summary.txt").read_text()
    code, out, err = run_cli(capsys, "simulate", tmp_path / "out", "--data", data)
    assert code == 0, out + err
    assert "simulated 360 vectors" in out and "golden model: 0\n" in out and f"latency: {latency} cycles\n" in out, out
    assert f"throughput: one input every {interval} cycles (design claims {interval})" in out, out


def test_cli_target_interval_chooses_the_folding(capsys, tmp_path):
    onnx = ROOT / "examples" / "bnn_digits" / "bnn_digits.onnx"
    code, out, err = run_cli(capsys, "compile", onnx, "-o", tmp_path / "out", "--arch", "dataflow", "--target-interval", "8")
    assert code == 0, err
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    pe, simd = manifest["options"]["pe"], manifest["options"]["simd"]
    assert len(pe) == len(simd) == 4 and manifest["layout"]["interval"] <= 8 and manifest["options"]["target_interval"] == 8
    # the chosen folding, given back per layer, builds the same design
    code, _, err = run_cli(capsys, "compile", onnx, "-o", tmp_path / "again", "--arch", "dataflow",
                           "--pe", ",".join(map(str, pe)), "--simd", ",".join(map(str, simd)))
    assert code == 0, err
    assert (tmp_path / "again" / "bnn_digits.v").read_text() == (tmp_path / "out" / "bnn_digits.v").read_text()


@pytest.mark.parametrize("argv,needle", [
    (["--arch", "folded", "--target-interval", "8"], "a target interval chooses the folding of the dataflow engine"),
    (["--arch", "dataflow", "--target-interval", "8", "--pe", "4"], "give a target interval or pe/simd, not both"),
    (["--arch", "dataflow", "--target-interval", "1"], "below the fastest this network streams at"),
    (["--arch", "dataflow", "--pe", "4,4"], "pe has 2 values for 4 matrix layers"),
])
def test_cli_folding_errors(capsys, tmp_path, argv, needle):
    onnx = ROOT / "examples" / "bnn_digits" / "bnn_digits.onnx"
    code, _, err = run_cli(capsys, "compile", onnx, "-o", tmp_path / "out", *argv)
    assert_user_error(code, err, needle)
    assert not (tmp_path / "out").exists()
