import warnings

import numpy as np
import onnx
import pytest

from bespoke.flow import default_passes
from bespoke.compiler.errors import BespokeError
from bespoke.compiler.ir import ArgMax
from bespoke.compiler.onnx_frontend import load_onnx, lower_onnx
from bespoke.compiler.passes import PassManager
from onnx_builders import float_mlp_with, qdq_mlp
from bespoke.sim.golden import run
from bespoke.sim.onnx_reference import run_reference

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is in the test extra")
sklearn = pytest.importorskip("sklearn", reason="scikit-learn is in the test extra")
skl2onnx = pytest.importorskip("skl2onnx", reason="skl2onnx is in the test extra")

from sklearn.neural_network import MLPClassifier  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import MinMaxScaler, StandardScaler  # noqa: E402

rng = np.random.default_rng(0)
X = rng.uniform(0, 10, size=(300, 5))


def labels_for(n_classes):
    score = X[:, 0] + 2 * X[:, 1] - X[:, 2]
    return np.digitize(score, np.quantile(score, np.linspace(0, 1, n_classes + 1)[1:-1])) + 3  # labels 3, 4, ...


def export(model, zipmap=True):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X if isinstance(model, Pipeline) else X / 10, labels_for(3 if not hasattr(model, "_n") else model._n))
    x0 = (X[:1] if isinstance(model, Pipeline) else X[:1] / 10).astype(np.float32)
    return skl2onnx.to_onnx(model, x0, options=None if zipmap else {id(model): {"zipmap": False}})


@pytest.mark.parametrize("n_classes,hidden", [(3, (4,)), (2, (3,)), (4, (5, 3))])
def test_sklearn_mlp_lowers_to_the_same_classifier(n_classes, hidden):
    y = labels_for(n_classes)
    clf = MLPClassifier(hidden, max_iter=500, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X / 10, y)
    ir = lower_onnx(skl2onnx.to_onnx(clf, (X[:1] / 10).astype(np.float32)))
    assert isinstance(ir.layer(ir.output_node()), ArgMax)
    assert ir.meta["labels"] == sorted(set(y.tolist()))
    pred = np.asarray(ir.meta["labels"])[run(ir, X / 10)[:, 0]]
    np.testing.assert_array_equal(pred, clf.predict(X / 10))


@pytest.mark.parametrize("scaler", [MinMaxScaler, StandardScaler])
def test_pipeline_scaler_is_folded_into_the_first_layer(scaler):
    y = labels_for(3)
    pipe = Pipeline([("s", scaler()), ("m", MLPClassifier((4,), max_iter=500, random_state=0))])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe.fit(X, y)
    fir = lower_onnx(skl2onnx.to_onnx(pipe, X[:1].astype(np.float32)))
    pred = np.asarray(fir.meta["labels"])[run(fir, X)[:, 0]]
    np.testing.assert_array_equal(pred, pipe.predict(X))
    ir = PassManager.from_string(default_passes(input_bits=8)).run(fir, {"calibration": X})
    assert ir.is_integer()
    agree = np.mean(np.asarray(ir.meta["labels"])[run(ir, ir.encode_inputs(X))[:, 0]] == pipe.predict(X))
    assert agree > 0.95


@pytest.mark.parametrize("per_channel", [True, False])
@pytest.mark.parametrize("argmax", [False, True])
def test_qdq_golden_equals_onnxruntime_on_every_vector(per_channel, argmax):
    model = qdq_mlp(per_channel=per_channel, argmax=argmax, seed=int(per_channel) + 2 * int(argmax))
    ir = PassManager.from_string(default_passes()).run(lower_onnx(model))
    assert ir.is_integer()
    # grid points, exact halves (rounding ties) and values beyond the input range (saturation)
    x = (np.random.default_rng(5).integers(-40, 600, (20000, 6)) / 32).astype(np.float32)
    ref = run_reference(model, x)  # ONNX semantics: onnxruntime unoptimised (see sim/onnx_reference.py)
    np.testing.assert_array_equal(run(ir, ir.encode_inputs(x)), ref.astype(np.int64))


def test_unsupported_operator_names_node_and_op():
    with pytest.raises(BespokeError, match=r"node 'squash' \(Tanh\): unsupported operator.*supported: Gemm"):
        lower_onnx(float_mlp_with("Tanh"))


def test_dynamic_feature_size_is_refused(tmp_path):
    path = tmp_path / "dyn.onnx"
    onnx.save(float_mlp_with(dynamic_features=True), path)
    with pytest.raises(BespokeError, match="no static feature size"):
        lower_onnx(load_onnx(path))


@pytest.mark.parametrize("content", [b"", b"garbage\x00\x01 not protobuf", None])
def test_broken_files_give_one_line_errors(tmp_path, content):
    path = tmp_path / "bad.onnx"
    if content is None:  # a real model cut in half
        content = float_mlp_with().SerializeToString()[:60]
    path.write_bytes(content)
    with pytest.raises(BespokeError) as e:
        load_onnx(path)
    assert "\n" not in str(e.value) and str(path) in str(e.value)


def test_raw_score_model_outputs_scores():
    ir = PassManager.from_string(default_passes()).run(lower_onnx(float_mlp_with()), {"input_range": (0.0, 1.0)})
    assert ir.out(ir.output_node()).size == 2 and not isinstance(ir.layer(ir.output_node()), ArgMax)
