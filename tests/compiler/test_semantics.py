"""Each layer's declared semantics against independent references, range soundness on random
inputs, IR.verify() rejecting every kind of broken IR, and the pass contract on the bundled
examples (verify after every pass, scales kept, inputs not edited)."""

import dataclasses
import json
from fractions import Fraction
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from bespoke.flow import passes_for
from bespoke.compiler.data import read_csv
from bespoke.compiler.ir import (IR, Affine, ArgMax, Bipolar, Conv2d, Dense, FakeQuant, Input, IntQuant, IRError, MaxPool2d,
                                 MultiThreshold, Relu, Requant, Threshold, XnorPopcount)
from bespoke.compiler.onnx_frontend import load_onnx, lower_onnx
from bespoke.compiler.passes import PassManager, parse_passes
from bespoke.compiler.passes.ranges import InferRanges
from bespoke.sim.golden import run

rng = np.random.default_rng(7)
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


# --------------------------------------------------------------------------- semantics vs references


def _round_shift_ref(v: int, shift: int, rounding: str) -> int:
    q = Fraction(v, 2**shift)
    if rounding == "floor":
        return q.__floor__()
    return round(q)  # Python's round of a Fraction is half-to-even


def _windows_ref(img, kh, kw, stride):
    _, h, w = img.shape
    for i in range(0, h - kh + 1, stride):
        for j in range(0, w - kw + 1, stride):
            yield img[:, i:i + kh, j:j + kw]


def _conv_ref(layer: Conv2d, row):
    img = row.reshape(layer.in_shape)
    out = np.zeros(layer.out_shape, dtype=np.int64)
    c_out, _, kh, kw = layer.weight.shape
    for k, win in enumerate(_windows_ref(img, kh, kw, layer.stride)):
        i, j = divmod(k, layer.out_shape[2])
        for o in range(c_out):
            w = layer.weight[o]
            out[o, i, j] = np.sum(win == w) if layer.binary else np.sum(win * w) + layer.bias[o]
    return out.ravel()


def _maxpool_ref(layer: MaxPool2d, row):
    img = row.reshape(layer.in_shape)
    c, ho, wo = layer.out_shape
    vals = [win.reshape(c, -1).max(axis=1) for win in _windows_ref(img, layer.kernel, layer.kernel, layer.stride)]
    return np.array(vals).T.reshape(c, ho, wo).ravel()


N_IN = 12
INT_CASES = {  # name: (layer, input lo, input hi, per-sample reference)
    "dense": (Dense(weight=rng.integers(-9, 10, (5, N_IN)), bias=rng.integers(-50, 50, 5)), -8, 7,
              lambda L, x: [sum(int(L.weight[j, i]) * int(x[i]) for i in range(N_IN)) + int(L.bias[j]) for j in range(5)]),
    "relu": (Relu(), -20, 20, lambda L, x: [max(int(v), 0) for v in x]),
    "requant-floor": (Requant(mult=rng.integers(-3, 4, N_IN), shift=rng.integers(0, 5, N_IN), zero_point=rng.integers(-2, 3, N_IN),
                              qmin=-8, qmax=7), -100, 100, None),
    "requant-half-even": (Requant(mult=rng.integers(1, 4, N_IN), shift=rng.integers(0, 5, N_IN), zero_point=rng.integers(-2, 3, N_IN),
                                  qmin=0, qmax=15, rounding="half_even"), -100, 100, None),
    "requant-exceptions": (Requant(mult=rng.integers(1, 4, N_IN), shift=rng.integers(0, 5, N_IN), zero_point=rng.integers(-2, 3, N_IN),
                                   qmin=-3, qmax=12, rounding="half_even",
                                   exceptions=np.array([[0, 5, 9], [0, -7, -30], [3, 100, 2], [11, 0, 40]])), -100, 100, None),
    "argmax": (ArgMax(), -3, 3, lambda L, x: [min(i for i in range(N_IN) if x[i] == max(x))]),
    "xnor": (XnorPopcount(weight=rng.integers(0, 2, (6, N_IN))), 0, 1,
             lambda L, x: [sum(int(x[i] == L.weight[j, i]) for i in range(N_IN)) for j in range(6)]),
    "threshold": (Threshold(thresholds=np.sort(rng.integers(-10, 10, (N_IN, 3)), axis=1)), -12, 12,
                  lambda L, x: [sum(int(x[j] >= t) for t in L.thresholds[j]) for j in range(N_IN)]),
    "conv": (Conv2d(weight=rng.integers(-3, 4, (2, 3, 2, 2)), bias=rng.integers(-5, 5, 2), in_shape=(3, 2, 2)), -4, 4, _conv_ref),
    "conv-binary": (Conv2d(weight=rng.integers(0, 2, (2, 3, 2, 2)), bias=np.zeros(2, dtype=np.int64), in_shape=(3, 2, 2), binary=True),
                    0, 1, _conv_ref),
    "maxpool": (MaxPool2d(in_shape=(3, 2, 2), kernel=2, stride=1), -9, 9, _maxpool_ref),
}


def _requant_ref(L: Requant, x):
    fixed = {(e, at): value for e, at, value in (L.exceptions if L.exceptions is not None else [])}
    unclipped = [fixed.get((i, int(x[i])), _round_shift_ref(int(x[i]) * int(L.mult[i]), int(L.shift[i]), L.rounding) + int(L.zero_point[i]))
                 for i in range(len(x))]
    return [min(max(v, L.qmin), L.qmax) for v in unclipped]


def _single(layer, lo, hi) -> IR:
    ir = IR("one")
    ir.add("x", Input(size=N_IN, lo=lo, hi=hi))
    ir.add("y", layer, ["x"])
    return InferRanges()(ir).ir


@pytest.mark.parametrize("case", sorted(INT_CASES))
def test_integer_semantics_match_references_and_ranges_are_sound(case):
    layer, lo, hi, ref = INT_CASES[case]
    ref = ref or _requant_ref
    x = rng.integers(lo, hi + 1, (300, N_IN))
    x[0], x[1] = lo, hi  # the corners of the box
    for k, (e, at, _) in enumerate(getattr(layer, "exceptions", None) if getattr(layer, "exceptions", None) is not None else []):
        x[2 + k, e] = at  # every exception's input value
    want = np.array([ref(layer, row) for row in x])
    np.testing.assert_array_equal(layer.evaluate(x), want)
    ir = _single(layer, lo, hi)
    ir.verify()
    np.testing.assert_array_equal(run(ir, x), want)  # the golden model, checking every value against the ranges
    out = ir.out("y")
    assert np.all(want >= out.lo) and np.all(want <= out.hi)


FLOAT_CASES = {  # name: (layer, elementwise scalar reference)
    "affine": (Affine(scale=rng.normal(size=N_IN), offset=rng.normal(size=N_IN)), lambda L, i, v: v * L.scale[i] + L.offset[i]),
    "fakequant": (FakeQuant(scale=0.25, zero_point=3, qmin=-8, qmax=7),
                  lambda L, i, v: (min(max(round(v / L.scale) + L.zero_point, L.qmin), L.qmax) - L.zero_point) * L.scale),
    "bipolar": (Bipolar(scale=rng.uniform(0.5, 2, N_IN)), lambda L, i, v: L.scale[i] if v >= 0 else -L.scale[i]),
    "intquant-u3": (IntQuant(scale=np.full(N_IN, 0.5), zero_point=np.zeros(N_IN), bit_width=3, signed=False),
                    lambda L, i, v: min(max(round(v / 0.5), 0), 7) * 0.5),
    "intquant-sign": (IntQuant(scale=np.full(N_IN, 2.0), zero_point=np.zeros(N_IN), bit_width=1, signed=True),
                      lambda L, i, v: 2.0 if v >= 0 else -2.0),
    "multithreshold": (MultiThreshold(thresholds=np.sort(rng.normal(size=(N_IN, 4)), axis=1), out_scale=2.0, out_bias=-1.0),
                       lambda L, i, v: 2.0 * sum(v >= t for t in L.thresholds[i]) - 1.0),
}


@pytest.mark.parametrize("case", sorted(FLOAT_CASES))
def test_float_semantics_match_references(case):
    layer, ref = FLOAT_CASES[case]
    x = rng.normal(scale=3, size=(100, N_IN))
    x[0] = 0.0
    want = np.array([[ref(layer, i, v) for i, v in enumerate(row)] for row in x])
    np.testing.assert_allclose(layer.evaluate(x), want)
    ir = IR("f")
    ir.add("x", Input(size=N_IN))
    ir.add("y", layer, ["x"])
    ir.verify()
    np.testing.assert_allclose(run(ir, x), want)


# --------------------------------------------------------------------------- IR.verify


def chain() -> IR:
    ir = IR("c")
    ir.add("x", Input(size=3, lo=0, hi=15))
    ir.add("d", Dense(weight=np.array([[1, -2, 3], [0, 5, -7]]), bias=np.array([4, -1])), ["x"])
    ir.add("r", Relu(), ["d"])
    ir.add("q", Requant(mult=np.array([1, 1]), shift=np.array([2, 1]), zero_point=np.array([0, 0]), qmin=0, qmax=15), ["r"])
    ir.add("a", ArgMax(), ["q"])
    return InferRanges()(ir).ir


def _cycle(ir):
    ir.graph.add_edge("a", "d", port=1)


def _two_inputs(ir):
    ir.add("x2", Input(size=2))
    ir.graph.remove_edge("d", "r")
    ir.graph.add_edge("x2", "r", port=0)
    ir.out("x2").lo, ir.out("x2").hi = ir.out("d").lo, ir.out("d").hi
    ir.graph.remove_node("d")


def _no_port(ir):
    ir.graph.edges["d", "r"].pop("port")


def _port_gap(ir):
    ir.graph.edges["d", "r"]["port"] = 1


def _arity(ir):
    ir.graph.add_edge("x", "r", port=1)


def _out_size(ir):
    ir.graph.nodes["r"]["out"] = dataclasses.replace(ir.out("r"), size=3)


def _array_length(ir):
    ir.out("q").scale = np.ones(5)


def _empty_range(ir):
    ir.out("r").lo = np.array([0, 9])
    ir.out("r").hi = np.array([5, 8])


def _unsound_range(ir):
    ir.out("d").hi = ir.out("d").hi - 1


def _xnor_weights(ir):
    ir.replace_layer("d", XnorPopcount(weight=np.array([[1, 0, 2], [0, 1, 1]])))
    ir.graph.nodes["x"]["layer"] = Input(size=3, lo=0, hi=1)


def _descending_thresholds(ir):
    ir.replace_layer("r", Threshold(thresholds=np.array([[3, 1], [0, 2]])))


def _requant_rounding(ir):
    layer = ir.layer("q")
    object.__setattr__(layer, "rounding", "ceil")  # past the constructor's own check


def _requant_vector(ir):
    ir.replace_layer("q", dataclasses.replace(ir.layer("q"), shift=np.array([2])))


def _dense_columns(ir):
    ir.replace_layer("d", Dense(weight=np.ones((2, 4), dtype=np.int64)))


BROKEN = {"cycle": (_cycle, "cycle"), "two inputs": (_two_inputs, "one input"), "no port": (_no_port, "ports"),
          "port gap": (_port_gap, "ports"), "arity": (_arity, "takes 1 inputs, has 2"), "out size": (_out_size, "output size 3"),
          "array length": (_array_length, "scale must be a vector of 2"), "empty range": (_empty_range, "empty range"),
          "unsound range": (_unsound_range, "does not contain"), "xnor weights": (_xnor_weights, "0/1"),
          "thresholds": (_descending_thresholds, "ascending"), "rounding": (_requant_rounding, "rounding 'ceil'"),
          "requant vector": (_requant_vector, "shift must be a vector of 2"), "dense columns": (_dense_columns, "takes 4 inputs")}


def test_a_sound_ir_verifies():
    chain().verify()


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_verify_rejects_broken_irs(kind):
    edit, needle = BROKEN[kind]
    ir = chain()
    edit(ir)
    with pytest.raises(IRError, match=needle):
        ir.verify()


def test_verify_names_the_node():
    ir = chain()
    _unsound_range(ir)
    with pytest.raises(IRError, match="node 'r'|node 'd'"):
        ir.verify()


# --------------------------------------------------------------------------- passes on the bundled examples


def _examples():
    for d in sorted(EXAMPLES.iterdir()):
        for model in sorted(d.glob("*.onnx")):
            yield f"{d.name}/{model.name}"


def _float_ir_and_ctx(example: str):
    """The example's float IR and the pass context its default passes need (calibration for the printed MLPs)."""
    path = EXAMPLES / example
    fir = lower_onnx(load_onnx(path))
    ctx = {}
    if (path.parent / "train.csv").exists() and not json.loads((path.parent / "meta.json").read_text()).get("binarized"):
        ctx["calibration"] = read_csv(path.parent / "train.csv", fir.out(fir.input_node()).size)[0]
    return fir, ctx


@pytest.mark.parametrize("example", list(_examples()))
def test_default_passes_verify_keep_scales_and_leave_inputs_alone(example):
    fir, ctx = _float_ir_and_ctx(example)
    passes = passes_for(fir)
    PassManager.from_string(passes, verify_each=True).run(fir, ctx)  # IR.verify() after every pass
    ir = fir
    for p in parse_passes(passes):
        before = ir.to_json()
        new, modified = p(ir, ctx)
        assert ir.to_json() == before, f"{p.name} edited its input"
        assert modified or new.to_json() == before
        for n in ir.graph:  # every tensor that had a real scale keeps it
            if n in new.graph and ir.out(n).scale is not None and new.out(n).size == ir.out(n).size:
                assert new.out(n).scale is not None, f"{p.name} dropped the scale of {n}"
                np.testing.assert_array_equal(new.out(n).scale, ir.out(n).scale)
        ir = new
    assert ir.is_integer() and ir.has_ranges()
    if "calibration" in ctx:  # a quantised MLP: every tensor but the class index has its real scale (Relu_q too)
        assert [n for n in ir.graph if ir.out(n).scale is None and not isinstance(ir.layer(n), ArgMax)] == []


def test_fuse_relu_keeps_the_requant_scale():
    ir = chain()
    for n in ir.graph:
        ir.out(n).scale, ir.out(n).offset = np.full(ir.out(n).size, 0.5), np.zeros(ir.out(n).size)
    fused, modified = parse_passes("fuse-relu")[0](ir)
    assert modified and "r" not in fused.graph
    np.testing.assert_array_equal(fused.out("q").scale, ir.out("q").scale)


def test_pass_results_and_declared_properties():
    pm = PassManager.from_string("fuse-relu,infer-ranges")
    out = pm.run(chain())
    assert [(spec, modified) for spec, modified, _ in pm.trace] == [("fuse-relu", True), ("infer-ranges", True)]
    assert "ranges" not in pm.trace[0][2] and {"integer", "ranges"} <= set(pm.trace[1][2])
    assert out.has_ranges() and nx.is_directed_acyclic_graph(out.graph)
