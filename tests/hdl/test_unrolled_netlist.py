"""The unrolled planner's netlist (hdl.unrolled) computes what the layer golden model computes, on
every vector of every bundled example and on random networks, combinational and pipelined; it is
well formed (Netlist.verify) and built without Amaranth."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bespoke.flow import passes_for
from bespoke.compiler.data import read_csv
from bespoke.compiler.onnx_frontend import load_onnx, lower_onnx
from bespoke.compiler.passes import PassManager
from bespoke.hdl import interpret
from bespoke.hdl.lower import summary
from bespoke.hdl.unrolled import plan_unrolled
from bespoke.hdl.unrolled_summary import netlist_summary
from bespoke.sim import golden
from bnn_builders import export, tiny_cnn, tiny_mlp
from onnx_builders import qdq_mlp
from test_hdl_bnn import bnn_cnn, bnn_mlp
from test_hdl_lower import mlp, random_batch

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# the bundled (tracked) examples; bnn_sfc is a local, untracked benchmark model
BUNDLED = sorted(p.name for p in EXAMPLES.iterdir() if (p / f"{p.name}.onnx").exists() and p.name != "bnn_sfc")


def integer_ir(model, calibration=None):
    """The integer IR compile_model builds (same frontend and default pass pipeline), without the
    Verilog it also writes."""
    float_ir = lower_onnx(model)
    ctx = {}
    if calibration is not None:
        ctx["calibration"] = read_csv(calibration, float_ir.out(float_ir.input_node()).size)[0]
    return PassManager.from_string(passes_for(float_ir)).run(float_ir, ctx)


def example(name):
    """(integer IR, test-set input codes) of a bundled example."""
    d = EXAMPLES / name
    cal = d / "train.csv"
    ir = integer_ir(load_onnx(d / f"{name}.onnx"), cal if cal.exists() else None)
    x, _ = read_csv(d / "test.csv", ir.out(ir.input_node()).size)
    return ir, ir.encode_inputs(x)


def check(ir, x, registers=False):
    """Netlist == golden model on every vector of x; pipelined: vector k enters at cycle k and
    is on y `latency` cycles later, with out_valid."""
    nl = plan_unrolled(ir, registers)
    nl.verify()
    want = golden.run(ir, x)
    if not registers:
        np.testing.assert_array_equal(interpret.outputs(nl, {"x": x})["y"], want)
        return nl
    latency = nl.meta["latency"]
    feed = np.vstack([x, np.repeat(x[:1], latency, axis=0)])
    valid = np.r_[np.ones(len(x), np.int64), np.zeros(latency, np.int64)][:, None]
    out = interpret.outputs(nl, {"x": feed, "in_valid": valid})
    np.testing.assert_array_equal(out["y"][latency:], want)
    np.testing.assert_array_equal(out["out_valid"][latency:], np.ones((len(x), 1), np.int64))
    assert not out["out_valid"][:latency].any()
    assert nl.is_clocked() == (latency > 0)
    return nl


@pytest.mark.parametrize("name", BUNDLED)
def test_every_bundled_example_on_every_test_vector(name):
    ir, x = example(name)
    nl = check(ir, x)
    assert nl.meta["arch"] == "unrolled" and nl.meta["latency"] == 0 and not nl.is_clocked()
    assert {c.group for c in nl.cells} <= set(ir.order())
    if name in ("seeds", "bnn_digits"):
        assert check(ir, x, registers=True).meta["latency"] > 0


# --------------------------------------------------------------------------- random networks


def random_mlp(seed):
    """The hand-built MLPs of test_hdl_lower with random shapes, signs, roundings and heads."""
    rng = np.random.default_rng(seed)
    lo, n_out = int(rng.choice([0, -8, -30])), int(rng.integers(2, 11))
    return mlp(seed=seed, n_in=int(rng.integers(2, 20)), hidden=int(rng.integers(1, 9)), n_out=n_out,
               in_lo=lo, in_hi=int(rng.choice([1, 7, 15, 100])), rounding=str(rng.choice(["floor", "half_even"])),
               mult=int(rng.choice([1, 3, 5, -7, 1000])), zp=int(rng.integers(-3, 4)), shift=int(rng.choice([0, 1, 4, 9])),
               relu=bool(rng.integers(2)), head=str(rng.choice(["argmax", "none", "requant"])),
               tie_rows=bool(rng.integers(2)) and n_out >= 8, zero_row=bool(rng.integers(2)))


@pytest.mark.parametrize("seed", range(24))
def test_random_mlps(seed):
    ir = random_mlp(seed)
    check(ir, random_batch(ir, 300, seed), registers=bool(seed % 2))


@pytest.mark.parametrize("seed", range(10))
def test_random_qdq_int8_models(seed):
    ir = integer_ir(qdq_mlp(n_in=int(3 + seed % 5), n_hidden=int(2 + seed % 4), seed=seed, per_channel=bool(seed % 2),
                            argmax=seed % 3 == 0))
    # grid points, exact halves (rounding ties) and values beyond the input range (saturation)
    x = np.random.default_rng(seed).integers(-40, 600, (2000, ir.out(ir.input_node()).size)) / 32
    check(ir, ir.encode_inputs(x), registers=seed % 3 == 1)


def test_requant_exceptions_are_comparators_on_every_input():
    """A Requant's exceptions (compiler.requant_fit): its value at those inputs, inside and at the
    ends of the range, beyond the clamp, and one outside the range (no hardware for it)."""
    from bespoke.compiler.ir import IR, Input, Requant
    from bespoke.compiler.passes.ranges import InferRanges

    ir = IR("exceptions")
    ir.add("x", Input(size=3, lo=-40, hi=40))
    ir.add("y", Requant(mult=np.array([3, 5, 7]), shift=np.array([2, 3, 4]), zero_point=np.array([1, 0, -2]), qmin=-9, qmax=9,
                        rounding="half_even", exceptions=np.array([[0, -40, 4], [0, 11, 3], [1, 40, 20], [2, 0, -1], [2, 99, 0]])), ["x"])
    ir = InferRanges()(ir).ir
    x = np.stack([np.arange(-40, 41)] * 3, axis=1)
    nl = check(ir, x)
    assert sum(c.kind == "cmp" and c.params.get("op") == "==" for c in nl.cells) == 4


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("net", ["mlp", "cnn"])
def test_random_hand_built_bnns(net, seed):
    ir = (bnn_mlp if net == "mlp" else bnn_cnn)(seed)
    check(ir, random_batch(ir, 200, seed), registers=bool(seed % 2))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("net", ["mlp", "cnn", "padded_cnn"])
def test_random_exported_bnns(net, seed):
    """QONNX BNNs (dense, conv, padded conv) through the frontend and the BNN streamlining pipeline."""
    rng = np.random.default_rng(100 + seed)
    layers, x = tiny_mlp(rng) if net == "mlp" else tiny_cnn(rng, pad=int(net == "padded_cnn"))
    ir = integer_ir(export(layers, 8 if net == "mlp" else 4, (20,) if net == "mlp" else (1, 10, 10), "qonnx"))
    check(ir, ir.encode_inputs(x.reshape(len(x), -1)), registers=bool(seed % 2))


# --------------------------------------------------------------------------- structure


def test_cells_carry_layer_and_neuron():
    ir = mlp(seed=5, hidden=4)
    nl = plan_unrolled(ir)
    dense = [c for c in nl.cells if c.group == "fc1" and c.kind in ("add", "sub")]
    assert dense and {c.neuron for c in dense} <= set(range(4)) | {None}
    assert nl.groups() == [n for n in ir.order() if n != "x"]
    assert len(nl.inputs["x"]) == 16 and len(nl.outputs["y"]) == 1


def test_registers_follow_the_stage_rule_and_are_range_wide():
    ir = bnn_cnn(1)
    nl = plan_unrolled(ir, registers=True)
    regs = [c for c in nl.cells if c.kind == "reg" and c.group]
    # registered: after c1 (integer conv: no, its only user is a pool), m1 (pool: no, feeds a
    # threshold), s1, s2 (fused conv + threshold: no, feeds a pool), m2, p3, out
    assert sorted({c.group for c in regs}) == ["m2", "out", "p3", "s1"]
    for c in regs:
        (q,) = c.outs
        assert nl.lo[q] != nl.hi[q] and (nl.lo[q], nl.hi[q]) == (int(ir.out(c.group).lo[c.neuron]), int(ir.out(c.group).hi[c.neuron]))
    valid = [c for c in nl.cells if c.kind == "reg" and not c.group]
    assert len(valid) == nl.meta["latency"] == 4


def test_planner_imports_no_amaranth():
    code = "import sys, bespoke.hdl.unrolled; sys.exit('amaranth' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# --------------------------------------------------------------------------- summary


@pytest.mark.parametrize("registers", [False, True], ids=["comb", "pipe"])
@pytest.mark.parametrize("name", [n for n in BUNDLED if n != "bnn_cnn"] + ["mlp", "bnn_mlp", "bnn_cnn_hand"])
def test_netlist_summary_equals_lowering_summary(name, registers):
    """Figures from the netlist == hdl.lower.summary's (bnn_cnn's Amaranth summary takes ~6 s:
    its hand-built sibling covers conv, pools and fused thresholds)."""
    ir = {"mlp": lambda: mlp(seed=2), "bnn_mlp": lambda: bnn_mlp(0), "bnn_cnn_hand": lambda: bnn_cnn(0)}.get(
        name, lambda: example(name)[0])()
    assert netlist_summary(plan_unrolled(ir, registers), ir) == summary(ir, registers)
