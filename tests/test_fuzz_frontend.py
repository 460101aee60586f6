"""A property-based fuzzer of the frontend and the data loading (hypothesis, seeded, bounded).

Property: a mutated model file (protobuf fields or raw bytes) either compiles or raises a
one-line BespokeError, never another exception; a random CSV either reads as a finite table of
the model's width or raises a one-line BespokeError. derandomize=True makes every run try the
same examples (CI is reproducible); max_examples keeps the whole file under 30 s (about 10 s of CPU).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import onnx
import pytest
from bad_models import ROOT, mlp
from onnx_builders import qdq_mlp

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from bespoke import BespokeError, compile_model  # noqa: E402
from bespoke.compiler.data import read_csv  # noqa: E402

EXAMPLES = int(os.environ.get("BESPOKE_FUZZ_EXAMPLES", "200"))  # more for a longer local hunt
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=not os.environ.get("BESPOKE_FUZZ_RANDOM"), suppress_health_check=list(HealthCheck), database=None)
BASES = {"float": mlp(), "qdq": qdq_mlp(n_in=4), "sklearn": onnx.load(str(ROOT / "examples/seeds/seeds.onnx")),
         "qonnx": onnx.load(str(ROOT / "examples/bnn_digits/bnn_digits.onnx"))}
NEEDS_RANGE = ("float", "sklearn")  # float models need an input range to quantise
OPS = ["Gemm", "MatMul", "Add", "Mul", "Div", "Sub", "Relu", "Sigmoid", "Softmax", "ArgMax", "Flatten", "Reshape",
       "Identity", "QuantizeLinear", "DequantizeLinear", "Conv", "MaxPool", "Concat", "Tanh", "Constant", ""]
FLOATS = st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.5, 1e-45, 1e-20, 1e20, 1e38, 3.4e38, float("nan"), float("inf"), -float("inf")])


def compiles_or_user_error(data: bytes, **options) -> None:
    """The property: compile the file `data`; only a one-line BespokeError may come out."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.onnx"
        path.write_bytes(data)
        try:
            compile_model(path, **options)
        except BespokeError as e:
            assert str(e) and "\n" not in str(e), repr(str(e))


@st.composite
def field_mutations(draw):
    """A base model with 1-3 of its protobuf fields changed: data types, dims, raw data,
    values, operator types, attributes, tensor names, opsets, input shapes, outputs."""
    kind = draw(st.sampled_from(sorted(BASES)))
    model = onnx.ModelProto.FromString(BASES[kind].SerializeToString())
    g = model.graph
    for _ in range(draw(st.integers(1, 3))):
        what = draw(st.sampled_from(["dtype", "dims", "raw", "value", "op", "attr", "input", "opset", "shape", "outputs", "drop"]))
        init = g.initializer[draw(st.integers(0, len(g.initializer) - 1))]
        node = g.node[draw(st.integers(0, len(g.node) - 1))] if len(g.node) else None
        if what == "dtype":
            init.data_type = draw(st.integers(0, 80))
        elif what == "dims":
            init.dims[:] = draw(st.lists(st.integers(0, 5), max_size=3))
        elif what == "raw":
            init.raw_data = draw(st.binary(max_size=64))
        elif what == "value":
            try:
                arr = onnx.numpy_helper.to_array(init).copy()
            except Exception:  # an earlier mutation broke this tensor already
                continue
            if arr.size and np.issubdtype(arr.dtype, np.floating):
                arr.flat[draw(st.integers(0, arr.size - 1))] = draw(FLOATS)
                init.CopyFrom(onnx.numpy_helper.from_array(arr, init.name))
        elif what == "op" and node is not None:
            node.op_type = draw(st.sampled_from(OPS))
        elif what == "attr" and node is not None and len(node.attribute):
            attr = node.attribute[draw(st.integers(0, len(node.attribute) - 1))]
            attr.i = draw(st.integers(-3, 3))
            attr.f = draw(FLOATS)
        elif what == "input" and node is not None and len(node.input):
            node.input[draw(st.integers(0, len(node.input) - 1))] = draw(st.sampled_from(["x", "nowhere", "", init.name]))
        elif what == "opset":
            model.opset_import[0].version = draw(st.integers(0, 40))
        elif what == "shape":
            dims = g.input[0].type.tensor_type.shape.dim
            dims[draw(st.integers(0, len(dims) - 1))].dim_value = draw(st.integers(0, 9))
        elif what == "outputs":
            g.output.add().CopyFrom(onnx.helper.make_tensor_value_info(g.node[-1].output[0] if len(g.node) else "x", 1, ["N", 2]))
        elif what == "drop" and node is not None:
            g.node.remove(node)
    return kind, model.SerializeToString()


@FUZZ
@given(field_mutations())
def test_mutated_protobuf_fields_compile_or_fail_in_one_line(case):
    kind, data = case
    compiles_or_user_error(data, **({"input_range": (0.0, 1.0)} if kind in NEEDS_RANGE else {}))


@st.composite
def byte_mutations(draw):
    kind = draw(st.sampled_from(sorted(BASES)))
    data = bytearray(BASES[kind].SerializeToString())
    for _ in range(draw(st.integers(1, 8))):
        k = draw(st.integers(0, len(data) - 1))
        op = draw(st.sampled_from(["flip", "set", "cut", "insert"]))
        if op == "flip":
            data[k] ^= 1 << draw(st.integers(0, 7))
        elif op == "set":
            data[k] = draw(st.integers(0, 255))
        elif op == "cut":
            del data[k:k + draw(st.integers(1, 16))]
        else:
            data[k:k] = draw(st.binary(min_size=1, max_size=8))
        if not data:
            break
    return kind, bytes(data)


@FUZZ
@given(byte_mutations())
def test_mutated_bytes_compile_or_fail_in_one_line(case):
    kind, data = case
    compiles_or_user_error(data, **({"input_range": (0.0, 1.0)} if kind in NEEDS_RANGE else {}))


NUMBERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), st.integers(-10**20, 10**20).map(str),
                    st.sampled_from(["0", "1", "-1", "0.5", "2", "nan", "NaN", "inf", "-inf", "1e308", "-1e308", "1e-400"]))
ODD = st.sampled_from(["", " ", "x", "label", "x0", "1,2", "\"", "0x10", "--1", "1e", "."])
CELLS = st.one_of(NUMBERS, NUMBERS, NUMBERS, ODD)  # mostly numbers: tables that almost read
HEADERS = st.sampled_from([None, "x0,x1,x2,x3", "x0,x1,x2,x3,label", "label,x0,x1,x2,x3", "x0,x1,x2", "a,b,c,d,e,f"])


@st.composite
def csv_texts(draw) -> str:
    width = draw(st.integers(3, 6))
    rows = draw(st.lists(st.lists(CELLS, min_size=width, max_size=width), max_size=6))
    if rows and draw(st.booleans()):  # now and then a ragged row
        rows[draw(st.integers(0, len(rows) - 1))].append(draw(CELLS))
    header = draw(HEADERS)
    return "\n".join(([header] if header else []) + [",".join(r) for r in rows])


@FUZZ
@given(csv_texts())
def test_random_csvs_read_or_fail_in_one_line(text):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.csv"
        path.write_text(text)
        try:
            x, y = read_csv(path, 4)
        except BespokeError as e:
            assert str(e) and "\n" not in str(e)
            return
    assert x.ndim == 2 and x.shape[1] == 4 and len(x) and np.all(np.isfinite(x))
    assert y is None or len(y) == len(x)
