# amaranth: UnusedElaboratable=no
"""Unrolled binarized networks: popcount plans, hand-built IRs with every BNN layer against the
golden model (Amaranth simulator, directly written Verilog in Icarus), the arch API, and the
bundled 8x8-digits BNN end to end in Verilator."""

import dataclasses
import shutil
import time

import numpy as np
import pytest

from bespoke.compiler.errors import BespokeError
from bespoke.compiler.ir import IR, ArgMax, Conv2d, Dense, Input, MaxPool2d, Threshold, XnorPopcount
from bespoke.compiler.passes.ranges import InferRanges
from bespoke.hdl.lower import lower, port_layout, summary, to_verilog
from bespoke.hdl.netlist import ints
from bespoke.hdl.popcount import ge_addend, plan_popcount
from bespoke.hdl.stages import binary_rows
from bespoke.hdl.unrolled import plan_unrolled
from bespoke.hdl.xnor_plan import plan_neuron
from rtl_testing import simulate_comb, simulate_iverilog, simulate_pipeline
from bespoke.sim import golden
from bespoke.sim.runner import simulate
from test_hdl_lower import random_batch, strip_non_code

# --------------------------------------------------------------------------- popcount plans


def evaluate_plan(plan, x, addend=0):
    """The plan's result on bit rows x, evaluated cell by cell in numpy."""
    nets = {i: x[:, i] for i in range(plan.n)}
    for k in range(plan.width if plan.ge else 0):
        nets[plan.n + k] = np.full(len(x), (addend >> k) & 1)
    for cell in plan.cells:
        total = sum(nets[i] for i in cell.ins)
        if cell.s is not None:
            nets[cell.s] = total & 1
        if cell.co is not None:
            nets[cell.co] = total >> 1
    out = np.zeros(len(x), dtype=np.int64)
    for k, group in enumerate(plan.out):
        bit = np.zeros(len(x), dtype=np.int64)
        for i in group:
            bit |= nets[i]
        out += bit << k
    return out


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 8, 9, 16, 31, 33, 144])
def test_popcount_plan_counts_and_compares(n):
    rng = np.random.default_rng(n)
    x = np.vstack([np.zeros(n, int), np.ones(n, int), rng.integers(0, 2, (200, n))])
    plan = plan_popcount(n)
    np.testing.assert_array_equal(evaluate_plan(plan, x), x.sum(axis=1))
    # a full adder removes one bit: n bits down to `width` result bits is the minimum
    assert plan.stats()["full_adders"] == n - plan.width
    assert plan.stats()["half_adders"] <= plan.width
    ge = plan_popcount(n, ge=True)
    for t in range(1, n + 1):
        np.testing.assert_array_equal(evaluate_plan(ge, x, ge_addend(n, t)), x.sum(axis=1) >= t)


# --------------------------------------------------------------------------- hand-built IRs


def bnn_mlp(seed=0):
    """x u4 -> dense +-1 -> threshold (two constant neurons) -> xnor -> threshold (fused: every
    kind of neuron) -> xnor (count, constant inputs) -> 3-level threshold -> argmax (ties)."""
    rng = np.random.default_rng(seed)
    ir = IR(f"bnn_mlp{seed}")
    ir.add("x", Input(size=16, lo=0, hi=15))
    w1 = rng.choice([-1, 1], size=(12, 16))
    ir.add("fc1", Dense(weight=w1, bias=rng.integers(-20, 20, 12)), ["x"])
    t1 = rng.integers(-30, 30, (12, 1))
    t1[0, 0], t1[1, 0] = -10_000, 10_000  # at or below lo: always 1; above hi: always 0
    ir.add("s1", Threshold(thresholds=t1), ["fc1"])
    w2 = rng.integers(0, 2, (10, 12))
    # inputs 0 (always 1) and 1 (always 0) are constants: rows 0-3 agree with both, so they need
    # t - 2 of the 10 live bits: 0 -> constant 1, 3 -> OR, 12 -> AND, 13 -> constant 0
    w2[:4, 0], w2[:4, 1] = 1, 0
    t2 = rng.integers(4, 9, (10, 1))
    t2[:4, 0] = [0, 3, 12, 13]
    ir.add("p2", XnorPopcount(weight=w2), ["s1"])
    ir.add("s2", Threshold(thresholds=t2), ["p2"])
    w3 = rng.integers(0, 2, (6, 10))
    w3[:, 0] = 1  # agrees with the constant s2[0]: every count has a constant part
    w3[4] = w3[1]  # classes 1 and 4 always tie
    ir.add("p3", XnorPopcount(weight=w3), ["s2"])
    t3 = np.sort(rng.integers(2, 9, (6, 3)), axis=1)
    t3[4] = t3[1]
    t3[5] = [0, 5, 20]  # one always passed, one never
    ir.add("s3", Threshold(thresholds=t3), ["p3"])
    ir.add("out", ArgMax(), ["s3"])
    ir, _ = InferRanges()(ir)
    return ir


def bnn_cnn(seed=0):
    """x 1x10x10 u4 -> int conv 3x3 (bias) -> int maxpool 2 -> threshold -> binary conv 2x2 ->
    threshold (fused) -> OR-maxpool 2 stride 1 -> xnor -> argmax (ties)."""
    rng = np.random.default_rng(seed)
    ir = IR(f"bnn_cnn{seed}")
    ir.add("x", Input(size=100, lo=0, hi=15))
    ir.add("c1", Conv2d(weight=rng.choice([-1, 0, 1], size=(3, 1, 3, 3)), bias=rng.integers(-9, 9, 3), in_shape=(1, 10, 10)), ["x"])
    ir.add("m1", MaxPool2d(in_shape=(3, 8, 8), kernel=2, stride=2), ["c1"])
    ir.add("s1", Threshold(thresholds=rng.integers(-5, 25, (48, 1))), ["m1"])
    ir.add("c2", Conv2d(weight=rng.integers(0, 2, (4, 3, 2, 2)), in_shape=(3, 4, 4), binary=True), ["s1"])
    ir.add("s2", Threshold(thresholds=rng.integers(4, 10, (36, 1))), ["c2"])
    ir.add("m2", MaxPool2d(in_shape=(4, 3, 3), kernel=2, stride=1), ["s2"])
    w = rng.integers(0, 2, (5, 16))
    w[3] = w[0]
    ir.add("p3", XnorPopcount(weight=w), ["m2"])
    ir.add("out", ArgMax(), ["p3"])
    ir, _ = InferRanges()(ir)
    return ir


BUILDERS = {"mlp": bnn_mlp, "cnn": bnn_cnn}


def test_fused_thresholds_cover_every_neuron_kind():
    ir = bnn_mlp()
    nl = plan_unrolled(ir)
    assert sorted(nl.meta["layers"]) == ["fc1", "out", "p3", "s1", "s2", "s3"]  # p2 lives inside s2
    (src,) = ir.inputs_of("p2")
    lo, hi = ints(ir.out(src).lo), ints(ir.out(src).hi)
    rows, thresholds = binary_rows(ir.layer("p2")), ints(ir.layer("s2").thresholds[:, 0])
    kinds = [plan_neuron(row, lo, hi, t).kind for row, t in zip(rows, thresholds)]
    assert kinds[:4] == ["const", "or", "and", "const"] and set(kinds[4:]) == {"ge"}
    (src,) = ir.inputs_of("p3")
    assert plan_neuron(binary_rows(ir.layer("p3"))[0], ints(ir.out(src).lo), ints(ir.out(src).hi)).const > 0  # constants join the count
    assert nl.count("s1")["cmp"] == 10  # two thresholds outside the range
    # the netlist builds exactly those kinds: nothing for constants, an OR, an AND, compressor cells
    s2: dict = {}
    for c in nl.cells:
        if c.group == "s2":
            s2.setdefault(c.neuron, set()).add(c.kind)
    assert 0 not in s2 and 3 not in s2 and "or" in s2[1] and "and" in s2[2] and "fa" in s2[4]


@pytest.mark.parametrize("pipeline", [False, True], ids=["comb", "pipe"])
@pytest.mark.parametrize("net", list(BUILDERS))
def test_bnn_matches_golden_in_amaranth(net, pipeline):
    ir = BUILDERS[net]()
    x = random_batch(ir, 200, seed=3)
    top = lower(ir, pipeline)
    got = simulate_pipeline(top, x, top.latency) if pipeline else simulate_comb(top, x)
    want = golden.run(ir, x)
    np.testing.assert_array_equal(got, want)
    scores = golden.run_all(ir, x)["s3" if net == "mlp" else "p3"]
    tie = (1, 4) if net == "mlp" else (0, 3)
    assert (scores[:, tie[0]] == scores[:, tie[1]]).all() and (want[:, 0] != tie[1]).all()


def test_pipeline_registers_sit_after_thresholds_and_pools():
    # mlp: fc1 compared in s1 | p2+s2 | p3 compared in s3 | argmax
    # cnn: c1 pooled in m1, compared in s1 | c2+s2 pooled in m2 | p3 | argmax
    assert port_layout(bnn_mlp(), True)["latency"] == 4
    assert port_layout(bnn_cnn(), True)["latency"] == 4
    s = summary(bnn_mlp(), pipeline=True)
    assert [r["name"] for r in s["layers"] if "register_bits" in r] == ["s1", "s2", "s3", "out"]
    # non-constant elements of s1 and s2 (1 bit), s3 (2 bits), the class index, the valid chain
    assert s["total"]["register_bits"] == 10 + 8 + 6 * 2 + 3 + 4


@pytest.mark.skipif(shutil.which("iverilog") is None, reason="iverilog not installed")
def test_direct_verilog_matches_golden_in_icarus(tmp_path):
    ir = bnn_mlp()
    x = random_batch(ir, 300, seed=5)
    text = to_verilog(ir, "net", writer="direct")  # the direct writer, a module per layer
    assert "module net__s2(" in text and "*" not in strip_non_code(text)
    got = simulate_iverilog(text, port_layout(ir, name="net"), x, tmp_path)
    np.testing.assert_array_equal(got, golden.run(ir, x))


def test_direct_conv_verilog_matches_golden_in_verilator(tmp_path):
    # Icarus re-evaluates every reader of a wide bus per partial write: this CNN takes it ~5 s per vector
    ir = bnn_cnn()
    x = random_batch(ir, 300, seed=5)
    text = to_verilog(ir, "net", True, writer="direct")
    assert "module net__m1(" in text and "always @(posedge clk)" in text
    (tmp_path / "net.v").write_text(text)
    res = simulate([tmp_path / "net.v"], port_layout(ir, True, "net"), x, golden.run(ir, x), tmp_path / "build")
    assert res.ok and res.vectors == len(x) and res.latency_cycles == 4


def test_summary_counts_popcount_cells():
    s = summary(bnn_mlp())
    row = {r["name"]: r for r in s["layers"]}
    assert row["s2"]["op"] == "xnor_popcount+threshold" and row["s2"]["xnor_bits"] == 8 * 10  # 2 constant neurons
    assert row["s2"]["gates"] == 9 + 9  # the OR and the AND neuron
    assert row["p3"]["full_adders"] == 6 * (8 - 4)  # 8 live bits each, counted into 4 bits
    assert s["total"]["full_adders"] == sum(r.get("full_adders", 0) for r in s["layers"])


# --------------------------------------------------------------------------- API and errors


def test_folded_is_delegated_and_unrolled_refuses_pe_simd(monkeypatch):
    from bespoke.hdl import folded

    calls = []
    monkeypatch.setattr(folded, "to_verilog", lambda ir, name, **kw: calls.append(("to_verilog", name, kw)) or "folded")
    monkeypatch.setattr(folded, "port_layout", lambda ir, **kw: calls.append(("port_layout", kw)) or {})
    monkeypatch.setattr(folded, "summary", lambda ir, **kw: calls.append(("summary", kw)) or {})
    ir = bnn_mlp()
    assert to_verilog(ir, "net", True, arch="folded", pe=2, simd=4) == "folded"
    port_layout(ir, True, "net", arch="folded", pe=2)
    summary(ir, arch="folded", simd=4)
    assert calls == [("to_verilog", "net", dict(pipeline=True, arch="folded", pe=2, simd=4, writer="direct")),
                     ("port_layout", dict(pipeline=True, name="net", arch="folded", pe=2, simd=None)),
                     ("summary", dict(pipeline=False, arch="folded", pe=None, simd=4))]
    with pytest.raises(BespokeError, match="takes neither"):
        port_layout(ir, arch="unrolled", pe=4)
    with pytest.raises(BespokeError, match="unknown architecture 'systolic'"):
        summary(ir, arch="systolic")


def test_bnn_user_errors():
    ir = bnn_mlp()
    bad = ir.copy()
    weight = bad.layer("p2").weight.copy()
    weight[0, 0] = -1
    bad.replace_layer("p2", dataclasses.replace(bad.layer("p2"), weight=weight))
    with pytest.raises(BespokeError, match="node p2: xnor_popcount is binarized but has weights other than 0/1"):
        lower(bad)
    wide = IR("wide")
    wide.add("x", Input(size=4, lo=0, hi=3))
    wide.add("p", XnorPopcount(weight=np.ones((2, 4), dtype=np.int64)), ["x"])
    wide, _ = InferRanges()(wide)
    with pytest.raises(BespokeError, match="inputs must be bits"):
        to_verilog(wide, "net")


# --------------------------------------------------------------------------- the bundled example


def test_bnn_digits_unrolled_in_verilator(tmp_path):
    from bnn_builders import ROOT

    from bespoke.api import compile_model

    digits = ROOT / "examples" / "bnn_digits"
    t = time.perf_counter()
    model = compile_model(digits / "bnn_digits.onnx", tmp_path / "out", arch="unrolled", pipeline=True)
    assert time.perf_counter() - t < 20
    report = model.simulate(digits / "test.csv")
    assert report.vectors == 360 and report.mismatches == 0 and report.latency_cycles == model.layout["latency"] == 5
    assert report.hardware_accuracy == report.float_accuracy
