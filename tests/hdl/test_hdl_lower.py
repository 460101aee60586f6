# amaranth: UnusedElaboratable=no
"""Whole IRs lowered (combinational and pipelined) against sim.golden.run; contract and output."""

import os
import re
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from bespoke.compiler.errors import BespokeError
from bespoke.compiler.ir import IR, ArgMax, Dense, Input, Relu, Requant, bits_for_range
from bespoke.compiler.passes.ranges import InferRanges
from bespoke.hdl.unrolled import plan_unrolled
from bespoke.hdl.lower import lower, port_layout, summary, to_verilog
from bespoke.hdl.unrolled_summary import netlist_summary
from rtl_testing import simulate_comb, simulate_iverilog, simulate_pipeline
from bespoke.sim import golden

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def mlp(seed=0, n_in=16, hidden=5, n_out=10, in_lo=0, in_hi=15, rounding="floor", mult=1, zp=0,
        shift=4, relu=False, head="argmax", tie_rows=False, zero_row=False):
    """Input -> Dense -> [Relu] -> Requant(qmin=0) -> Dense -> (ArgMax | nothing | Requant)."""
    rng = np.random.default_rng(seed)
    ir = IR(f"mlp{seed}")
    ir.add("x", Input(size=n_in, lo=in_lo, hi=in_hi))
    w1 = rng.integers(-90, 90, size=(hidden, n_in))
    w1[rng.random(w1.shape) < 0.3] = 0
    if zero_row:
        w1[-1] = 0  # a constant neuron: no adders, and no pipeline register
    ir.add("fc1", Dense(weight=w1, bias=rng.integers(-4000, 4000, size=hidden)), ["x"])
    prev = "fc1"
    if relu:
        prev = ir.add("act", Relu(), [prev])
    ir.add("q1", Requant(mult=np.full(hidden, mult), shift=np.full(hidden, shift), zero_point=np.full(hidden, zp),
                         qmin=0, qmax=15, rounding=rounding), [prev])
    w2 = rng.integers(-8, 8, size=(n_out, hidden))
    b2 = rng.integers(-40, 40, size=n_out)
    w2[:, 0] = 0  # a dead input column
    if tie_rows:  # classes 3 and 7 (and 1 and 2) always tie: the lower index must win
        w2[7], b2[7] = w2[3], b2[3]
        w2[2], b2[2] = w2[1], b2[1]
    ir.add("fc2", Dense(weight=w2, bias=b2), ["q1"])
    if head == "argmax":
        ir.add("out", ArgMax(), ["fc2"])
    elif head == "requant":
        ir.add("out", Requant(mult=np.full(n_out, 1), shift=np.full(n_out, 2), zero_point=np.zeros(n_out, int),
                              qmin=-8, qmax=7, rounding="half_even"), ["fc2"])
    ir, _ = InferRanges()(ir)
    return ir


VARIANTS = {
    "unsigned-floor": dict(seed=1, zero_row=True),
    "signed-half_even-ties": dict(seed=2, in_lo=-8, in_hi=7, rounding="half_even", mult=3, zp=2, shift=6, tie_rows=True),
    "relu-dense_head": dict(seed=3, relu=True, head="none", rounding="half_even"),
    "requant_head": dict(seed=4, in_lo=-30, in_hi=100, head="requant", zp=-1),
}


def random_batch(ir, n, seed):
    layer = ir.layer(ir.input_node())
    rng = np.random.default_rng(seed)
    x = rng.integers(layer.lo, layer.hi + 1, size=(n, layer.size))
    return np.vstack([x, np.full((1, layer.size), layer.lo), np.full((1, layer.size), layer.hi)])


@pytest.mark.parametrize("pipeline", [False, True], ids=["comb", "pipe"])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_lowered_network_matches_golden(variant, pipeline):
    ir = mlp(**VARIANTS[variant])
    x = random_batch(ir, 250, seed=len(variant))
    top = lower(ir, pipeline)
    got = simulate_pipeline(top, x, port_layout(ir, True)["latency"]) if pipeline else simulate_comb(top, x)
    want = golden.run(ir, x)
    np.testing.assert_array_equal(got, want)
    if variant == "signed-half_even-ties":
        # the tie rows really tie on some samples, so tie handling was exercised
        fc2 = golden.run_all(ir, x)["fc2"]
        assert (fc2[:, 3] == fc2[:, 7]).all() and (want[:, 0] != 7).all()


def test_port_layout():
    ir = mlp(seed=1)
    assert port_layout(ir) == dict(top="mlp1", n_in=16, in_width=4, in_signed=False, n_out=1, out_width=4,
                                   out_signed=False, pipelined=False, latency=0)
    assert port_layout(ir, True, name="net")["latency"] == 4  # fc1, q1, fc2, argmax
    assert port_layout(mlp(seed=3, relu=True), True)["latency"] == 4  # the relu has no stage of its own
    lay = port_layout(mlp(seed=3, head="none"))
    fc2 = mlp(seed=3, head="none").out("fc2")
    assert (lay["n_out"], lay["out_signed"]) == (10, True)
    assert lay["out_width"] == max(bits_for_range(lo, hi)[0] for lo, hi in zip(fc2.lo, fc2.hi))
    signed_in = port_layout(mlp(seed=2, in_lo=-8, in_hi=7))
    assert (signed_in["in_width"], signed_in["in_signed"]) == (4, True)


def test_verilog_ports_follow_the_layout():
    for pipeline in (False, True):
        ir = mlp(seed=2, in_lo=-8, in_hi=7)
        lay = port_layout(ir, pipeline, name="net")
        text = to_verilog(ir, "net", pipeline)
        module = re.search(r"^module net\((.*?)\);", text, re.M).group(1)
        ports = sorted(p.strip() for p in module.split(","))
        assert ports == sorted(["x", "y"] + (["clk", "rst", "in_valid", "out_valid"] if pipeline else []))
        assert f"input [{lay['n_in'] * lay['in_width'] - 1}:0] x;" in text
        assert f"output [{lay['n_out'] * lay['out_width'] - 1}:0] y;" in text


def strip_non_code(text):
    """Verilog without comments, attributes and `@*` sensitivity lists (all legitimately hold '*')."""
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"\(\*.*?\*\)", "", text, flags=re.S)
    return text.replace("@*", "")


def test_no_multiplication_in_the_verilog():
    ir = mlp(seed=2, in_lo=-8, in_hi=7, rounding="half_even", mult=3)
    for pipeline, writer in [(False, "amaranth"), (True, "amaranth"), (False, "direct"), (True, "direct")]:
        text = to_verilog(ir, "net", pipeline, writer=writer)
        assert "*" not in strip_non_code(text)
        assert "*" not in text.split("/* Generated")[0]  # our own header is star-free too


def test_verilog_is_deterministic_across_processes():
    ir = mlp(seed=2, in_lo=-8, in_hi=7, rounding="half_even", tie_rows=True)
    first = to_verilog(ir, "net", True)
    assert to_verilog(ir, "net", True) == first
    assert to_verilog(ir.copy(), "net", True) == first
    code = (
        "import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]\n"
        "from test_hdl_lower import mlp; from bespoke.hdl.lower import to_verilog\n"
        "sys.stdout.write(to_verilog(mlp(seed=2, in_lo=-8, in_hi=7, rounding='half_even', tie_rows=True), 'net', True))\n"
    )
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run([sys.executable, "-c", code, os.path.join(ROOT, "tests"), os.path.dirname(__file__)], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout == first


def test_header_documents_encodings_and_timing():
    ir = mlp(seed=1)
    ir.out("x").scale = np.full(16, 0.25)
    ir.out("x").offset = np.full(16, -1.5)
    ir.meta["labels"] = ["setosa", "versi*color"] + [f"c{i}" for i in range(2, 10)]
    ir.meta["input_name"] = "X"
    text = to_verilog(ir, "net", pipeline=True)
    head = text.split("/* Generated")[0]
    assert "input  [63:0] x : 16 elements of 4 bits, unsigned; element i at x[4i+3:4i]" in head
    assert "elements 0..15: codes [0, 15], real = 0.25 x code - 1.5" in head
    assert '// Input encoding (model input "X")' in head
    assert 'class 0: "setosa"' in head and "class 1:" in head and "*" not in head
    assert "latency 4" in head and "after rising edge t+3" in head
    comb = to_verilog(ir, "net").split("/* Generated")[0]
    assert "combinational" in comb and "clk" not in comb


def test_pipeline_reset_signal():
    from amaranth import ClockDomain, Module
    from amaranth.sim import Simulator

    top = lower(mlp(seed=1), pipeline=True)
    m = Module()
    m.domains.sync = sync = ClockDomain("sync")  # a handle on the top's rst
    m.submodules.top = top
    seen = []

    async def tb(ctx):
        ctx.set(top.in_valid, 1)
        for _ in range(5):
            await ctx.tick()
        seen.append(ctx.get(top.out_valid))
        ctx.set(top.in_valid, 0)
        ctx.set(sync.rst, 1)
        await ctx.tick()
        ctx.set(sync.rst, 0)
        for _ in range(5):
            seen.append(ctx.get(top.out_valid))  # the vectors in flight were dropped
            await ctx.tick()

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    assert seen == [1, 0, 0, 0, 0, 0]


def test_summary_counts():
    ir = mlp(seed=1)
    s = summary(ir)
    fc1 = s["layers"][0]
    w = ir.layer("fc1").weight
    assert fc1["name"] == "fc1" and fc1["nonzero_weights"] == int(np.count_nonzero(w))
    # every CSD digit and bias is a term; a neuron's n terms need n - 1 adders (+1 if it is all negative);
    # shared sub-expressions (hdl.mcm, the default) take fewer
    alone = netlist_summary(plan_unrolled(ir, sharing=False), ir)["layers"][0]
    assert fc1["csd_digits"] - len(w) <= alone["adders"] <= fc1["csd_digits"]
    assert fc1["adders"] < alone["adders"]
    assert s["total"]["adders"] == sum(layer.get("adders", 0) for layer in s["layers"])
    assert s["total"]["acc_width"] >= 13 and s["latency"] == 0 and s["total"]["register_bits"] == 0
    piped = summary(ir, pipeline=True)
    assert piped["latency"] == 4 and piped["total"]["register_bits"] > 4
    assert s["layers"][-1]["comparators"] <= 9
    const = summary(mlp(seed=1, zero_row=True), pipeline=True)["layers"][0]
    fc1 = mlp(seed=1, zero_row=True).out("fc1")
    assert fc1.lo[-1] == fc1.hi[-1]
    assert const["register_bits"] == sum(bits_for_range(lo, hi)[0] for lo, hi in zip(fc1.lo[:-1], fc1.hi[:-1]))


def test_user_errors():
    ir = mlp(seed=1)
    with pytest.raises(BespokeError, match="not a Verilog identifier"):
        to_verilog(ir, "my-net")
    bare = ir.copy()
    bare.clear_ranges()
    with pytest.raises(BespokeError, match="infer-ranges"):
        lower(bare)
    floaty = ir.copy()
    floaty.replace_layer("fc1", Dense(weight=np.ones((5, 16)) * 0.5, bias=np.zeros(5)))
    with pytest.raises(BespokeError, match="node fc1: dense is a float layer"):
        port_layout(floaty)
    two_outputs = ir.copy()
    two_outputs.add("extra", Relu(), ["fc1"])
    two_outputs, _ = InferRanges()(two_outputs)
    with pytest.raises(BespokeError, match="exactly one output"):
        to_verilog(two_outputs, "net")


def test_lowering_is_fast():
    ir = mlp(seed=5)
    t = time.perf_counter()
    to_verilog(ir, "net", pipeline=True)
    assert time.perf_counter() - t < 10


@pytest.mark.skipif(shutil.which("iverilog") is None, reason="iverilog not installed")
def test_iverilog_accepts_the_verilog(tmp_path):
    path = tmp_path / "net.v"
    path.write_text(to_verilog(mlp(seed=2, in_lo=-8, in_hi=7, rounding="half_even"), "net", True))
    subprocess.run(["iverilog", "-g2012", "-o", str(tmp_path / "a.out"), str(path)], check=True, capture_output=True)


# --------------------------------------------------------------------------- the direct writer


@pytest.mark.skipif(shutil.which("iverilog") is None, reason="iverilog not installed")
@pytest.mark.parametrize("pipeline", [False, True], ids=["comb", "pipe"])
@pytest.mark.parametrize("variant", ["signed-half_even-ties", "relu-dense_head"])
def test_direct_verilog_matches_golden(variant, pipeline, tmp_path):
    ir = mlp(**VARIANTS[variant])
    x = random_batch(ir, 300, seed=7)
    text = to_verilog(ir, "net", pipeline, writer="direct")  # a module per layer, written directly
    assert text.count("\nmodule net__") == len(plan_unrolled(ir, pipeline).groups())
    got = simulate_iverilog(text, port_layout(ir, pipeline, "net"), x, tmp_path)
    np.testing.assert_array_equal(got, golden.run(ir, x))


def test_writer_choice():
    assert "\nmodule mlp1__fc1(" in to_verilog(mlp(seed=1), "mlp1")  # direct: a module per layer
    assert "\nmodule \\mlp1.fc1 " in to_verilog(mlp(seed=1), "mlp1", writer="amaranth")  # Amaranth's submodule names
    with pytest.raises(BespokeError, match="unknown Verilog writer 'yosys'; supported: direct, amaranth"):
        to_verilog(mlp(seed=1), "mlp1", writer="yosys")


def test_large_dense_is_written_directly_and_fast():
    rng = np.random.default_rng(9)
    ir = IR("big")
    ir.add("x", Input(size=784, lo=0, hi=255))
    ir.add("fc", Dense(weight=rng.integers(-127, 128, size=(32, 784)), bias=rng.integers(-999, 999, size=32)), ["x"])
    ir.add("out", ArgMax(), ["fc"])
    ir, _ = InferRanges()(ir)
    t = time.perf_counter()
    text = to_verilog(ir, "big", pipeline=True)
    assert time.perf_counter() - t < 20  # ~70k adders; through Amaranth this took ~80 s
    assert "\nmodule big__fc(" in text and "*" not in strip_non_code(text)
