"""The bundled binarized examples: the streamlined integer IR predicts exactly what the float model
(and qonnx's reference execution of the ONNX file) predicts, on every test image."""

import json
from functools import lru_cache

import numpy as np
import pytest
from bnn_builders import ROOT, qonnx_run

from bespoke.compiler.data import read_csv
from bespoke.compiler.onnx_frontend import load_onnx, lower_onnx
from bespoke.compiler.passes import PassManager
from bespoke.sim.golden import run

EXAMPLES = ROOT / "examples"
MODELS = ["bnn_digits", "bnn_cnn"]
FORMS = ["", "_mt"]  # the QONNX export and FINN's MultiThreshold form of the same network


def onnx_path(name: str, form: str):
    return EXAMPLES / name / f"{name}{form}.onnx"


@lru_cache(maxsize=None)
def test_set(name: str):
    meta = json.loads((EXAMPLES / name / "meta.json").read_text())
    x, y = read_csv(EXAMPLES / name / "test.csv", int(np.prod(meta["input_shape"])))
    return x, y, meta


@lru_cache(maxsize=None)
def hardware_predictions(name: str, form: str) -> np.ndarray:
    """The streamlined integer IR's classes on the test set (golden model, ranges checked)."""
    ir = PassManager.from_string("streamline,infer-ranges").run(lower_onnx(load_onnx(onnx_path(name, form)), name))
    assert ir.is_integer()
    x = test_set(name)[0]
    return run(ir, ir.encode_inputs(x))[:, 0]


test_set.__test__ = hardware_predictions.__test__ = False


@pytest.mark.parametrize("name", MODELS)
def test_streamlined_example_equals_float_model_on_every_test_image(name):
    x, y, meta = test_set(name)
    hw = hardware_predictions(name, "")
    np.testing.assert_array_equal(hw, run(lower_onnx(load_onnx(onnx_path(name, ""))), x)[:, 0])
    assert np.mean(hw == y) == pytest.approx(meta["float_test_accuracy"], abs=1e-4)
    assert np.mean(hw == y) > 0.85
    np.testing.assert_array_equal(hardware_predictions(name, "_mt"), hw)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("name", MODELS)
def test_streamlined_example_equals_qonnx_execution_on_every_test_image(name, form):
    pytest.importorskip("qonnx")
    ref = qonnx_run(str(onnx_path(name, form)), test_set(name)[0])[:, 0]
    np.testing.assert_array_equal(hardware_predictions(name, form), ref)
