"""The bundled printed-MLP examples: quantised (4-bit inputs, 8-bit weights) accuracy within
2 points of the float model on the test split, by the golden model (fast; the RTL is checked
against the golden model in tests/test_end_to_end.py)."""

import json
from pathlib import Path

import numpy as np
import pytest

from bespoke.flow import default_passes
from bespoke.compiler.data import read_csv
from bespoke.compiler.onnx_frontend import load_onnx, lower_onnx
from bespoke.compiler.passes import PassManager
from bespoke.sim.golden import run

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MODELS = sorted(p.name for p in EXAMPLES.iterdir()  # the printed MLPs; the binarized ones: test_bnn_examples.py
                if (p / f"{p.name}.onnx").exists() and not json.loads((p / "meta.json").read_text()).get("binarized"))


def test_the_printed_benchmarks_are_bundled():
    topologies = {json.loads((EXAMPLES / m / "meta.json").read_text())["topology"] for m in MODELS}
    assert {"21-3-3", "16-5-10", "11-2-6", "7-3-3"} <= topologies
    assert any(t.count("-") >= 3 for t in topologies)  # a model with two hidden layers


@pytest.mark.parametrize("name", MODELS)
def test_quantised_accuracy_within_two_points(name):
    d = EXAMPLES / name
    fir = lower_onnx(load_onnx(d / f"{name}.onnx"))
    n = fir.out(fir.input_node()).size
    x_tr, _ = read_csv(d / "train.csv", n)
    x_te, y_te = read_csv(d / "test.csv", n)
    ir = PassManager.from_string(default_passes(input_bits=4, weight_bits=8)).run(fir, {"calibration": x_tr})
    labels = np.asarray(fir.meta["labels"])
    float_acc = np.mean(labels[run(fir, x_te)[:, 0]] == y_te)
    hw_acc = np.mean(labels[run(ir, ir.encode_inputs(x_te))[:, 0]] == y_te)
    assert abs(hw_acc - float_acc) <= 0.02, (hw_acc, float_acc)
    assert float_acc == pytest.approx(json.loads((d / "meta.json").read_text())["float_test_accuracy"], abs=1e-4)
