"""Shrinking a failing fuzz case (benchmarks/fuzz_shrink.py) keeps the failure, makes the case
smaller and leaves no single weight that could still go; saved cases replay."""

import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import fuzz_shrink  # noqa: E402

from bespoke.api import compile_model  # noqa: E402


def _mlp(rng, widths=(4, 6, 5, 3)) -> onnx.ModelProto:
    nodes, inits, x = [], [], "x"
    for k, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        inits += [numpy_helper.from_array(rng.normal(size=(b, a)).astype(np.float32), f"w{k}"),
                  numpy_helper.from_array(rng.normal(size=b).astype(np.float32), f"b{k}")]
        nodes.append(helper.make_node("Gemm", [x, f"w{k}", f"b{k}"], [f"h{k}"], transB=1))
        x = f"h{k}"
        if k < len(widths) - 2:
            nodes.append(helper.make_node("Relu", [x], [f"r{k}"]))
            x = f"r{k}"
    nodes.append(helper.make_node("ArgMax", [x], ["cls"], axis=1, keepdims=1))
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", widths[0]])],
                              [helper.make_tensor_value_info("cls", TensorProto.INT64, ["N", 1])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


OPTIONS = {"input_range": (-2.0, 2.0), "input_bits": 4}


def _class_is_2(model, x, options=OPTIONS):
    """A stand-in for a mismatch that needs the real flow: the compiled design answers class 2."""
    return int(compile_model(model, **options).predict(np.asarray(x).reshape(1, -1)).reshape(-1)[0]) == 2


def test_a_failing_case_shrinks_to_one_where_every_weight_matters(tmp_path):
    rng = np.random.default_rng(4)
    model, x = next((m, xs) for m, xs in ((_mlp(rng), rng.uniform(-2, 2, 4)) for _ in range(50)) if _class_is_2(m, xs))
    small, row = fuzz_shrink.shrink(model, x, _class_is_2)
    assert _class_is_2(small, row)
    (n0, w0), (n1, w1) = fuzz_shrink.size(model), fuzz_shrink.size(small)
    assert n1 < n0 and w1 < w0 / 3, (fuzz_shrink.size(model), fuzz_shrink.size(small))
    for name, w in fuzz_shrink.parameters(small).items():  # 1-minimal: no single weight or bias left can be zeroed
        for i in np.flatnonzero(w):
            z = w.copy()
            z.reshape(-1)[i] = 0
            assert not fuzz_shrink._holds(_class_is_2, fuzz_shrink._with(small, {name: z}), row), (name, i)
    fuzz_shrink.save(tmp_path, "case", small, row, OPTIONS)
    assert fuzz_shrink.replay(tmp_path, lambda m, xs, o: _class_is_2(m, xs, o)) == ["case"]
    assert fuzz_shrink.replay(tmp_path, lambda m, xs, o: not _class_is_2(m, xs, o)) == []
