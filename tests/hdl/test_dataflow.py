# amaranth: UnusedElaboratable=no
"""The dataflow engine (arch="dataflow"): the folded MVUs with two slots per buffer, so layer k
works on input n while layer k+1 works on input n-1. Checked in the netlist interpreter (every
folding, streams back to back and under backpressure) and in Verilator through sim.runner: outputs
equal sim.golden in order, inputs are taken exactly every claimed interval, every inference takes
exactly the claimed latency, and a wrong claim is caught."""

import numpy as np
import pytest
from folded_irs import IRS, inputs

from bespoke.compiler.errors import BespokeError
from bespoke.hdl import folded
from bespoke.hdl.folded_netlist import stream
from bespoke.hdl.folded_plan import dataflow_interval, plan_network
from bespoke.hdl.folding import cost, divisors, fold_for_interval, occupancy
from bespoke.sim import golden
from bespoke.sim.runner import simulate

# the interpreter steps every cycle in Python: the convolutions run at wide foldings, few inputs
FOLDINGS = [("mlp", 1, 1), ("mlp", 3, 5), ("mlp", 10, 12), ("cnn", 6, 16), ("strided", 2, 3), ("strided", 3, 5),
            ("padded", 4, 8), ("input_threshold", 3, 5)]
CONVS = ("cnn", "padded")


def test_interval_is_below_the_latency_and_at_least_the_slowest_layer():
    for name, pe, simd in FOLDINGS:
        ir = IRS[name]()
        seq, flow = plan_network(ir, pe, simd), plan_network(ir, pe, simd, dataflow=True)
        assert seq.interval == seq.latency == flow.latency  # dataflow costs no latency
        assert max(layer.occupancy for layer in flow.layers) <= flow.interval < flow.latency, (name, pe, simd)


def test_layout_and_summary_carry_the_interval():
    ir = IRS["mlp"]()
    lay = folded.port_layout(ir, name="d", arch="dataflow", pe=3, simd=5)
    assert (lay["dataflow"], lay["interval"], lay["latency"]) == (True, plan_network(ir, 3, 5, True).interval, 38)
    assert folded.port_layout(ir, pe=3, simd=5)["interval"] == 38
    s = folded.summary(ir, arch="dataflow", pe=3, simd=5)
    assert s["cycles_text"].endswith(f"one input every {lay['interval']} cycles")
    text = folded.to_verilog(ir, "d", arch="dataflow", pe=3, simd=5)
    assert f"in_ready rises at most every {lay['interval']} edges" in text


@pytest.mark.parametrize("name,pe,simd", FOLDINGS)
def test_interpreter_streams_at_the_claimed_interval_and_latency(name, pe, simd):
    ir = IRS[name]()
    nl = folded.netlist(ir, pe, simd, arch="dataflow")
    x = inputs(ir, 4 if name in CONVS else 10, seed=pe + simd)
    y, taken, given = stream(nl, x)
    assert (y == golden.run(ir, x)).all()
    assert set(np.diff(taken)) == {nl.meta["interval"]}
    assert set(given - taken) == {nl.meta["latency"]}


@pytest.mark.parametrize("name,pe,simd", [("mlp", 3, 5), ("strided", 3, 5), ("cnn", 6, 16)])
def test_interpreter_under_backpressure_keeps_order_and_never_beats_the_claims(name, pe, simd):
    ir = IRS[name]()
    nl = folded.netlist(ir, pe, simd, arch="dataflow")
    x = inputs(ir, 5 if name in CONVS else 20, seed=7)
    rng = np.random.default_rng(pe)
    ready = rng.random(100_000) >= 0.6
    y, taken, given = stream(nl, x, take=lambda t: int(ready[t]))
    assert (y == golden.run(ir, x)).all()
    assert np.diff(taken).min() >= nl.meta["interval"] and (given - taken).min() >= nl.meta["latency"]
    assert (given - taken).max() > nl.meta["latency"]  # the stalls did reach the inputs


def test_sequential_folded_streams_one_inference_at_a_time():
    ir = IRS["mlp"]()
    nl = folded.netlist(ir, 3, 5)
    y, taken, given = stream(nl, inputs(ir, 5, seed=1))
    assert set(np.diff(taken)) == {nl.meta["latency"]} and set(given - taken) == {nl.meta["latency"]}


# --------------------------------------------------------------------------- Verilator (sim.runner)


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("dataflow_build")


def verilog(ir, top, pe, simd, build_dir):
    path = build_dir / f"{top}.v"
    path.write_text(folded.to_verilog(ir, top, arch="dataflow", pe=pe, simd=simd))
    return path, folded.port_layout(ir, name=top, arch="dataflow", pe=pe, simd=simd)


@pytest.mark.parametrize("name,pe,simd", [("mlp", 3, 5), ("cnn", 3, 4), ("padded", 2, 7)])
def test_verilator_takes_an_input_every_interval(name, pe, simd, build_dir):
    ir = IRS[name]()
    path, lay = verilog(ir, f"d_{name}", pe, simd, build_dir)
    x = inputs(ir, 200, seed=5)
    want = golden.run(ir, x)
    r = simulate([path], lay, x, want, build_dir)
    assert r.ok, r.problems or r.first_mismatches
    assert (r.mismatches, r.latency_min, r.latency_cycles) == (0, lay["latency"], lay["latency"])
    assert r.interval_min == r.interval_max == lay["interval"] < lay["latency"]
    stalled = simulate([path], lay, x, want, build_dir, backpressure=0.4, in_gaps=0.2, seed=3)
    assert stalled.ok, stalled.problems or stalled.first_mismatches
    assert stalled.interval_min >= lay["interval"] and stalled.latency_min == lay["latency"]


def test_verilator_catches_a_wrong_interval_claim(build_dir):
    ir = IRS["mlp"]()
    path, lay = verilog(ir, "d_mlp", 3, 5, build_dir)
    x = inputs(ir, 20, seed=5)
    for wrong in (lay["interval"] - 1, lay["interval"] + 1):
        r = simulate([path], {**lay, "interval": wrong}, x, golden.run(ir, x), build_dir)
        assert not r.ok and any(p.startswith("interval: measured") for p in r.problems), r.problems


# --------------------------------------------------------------------------- folding search (hdl.folding)


@pytest.mark.parametrize("name", ["mlp", "cnn", "strided"])
def test_folding_search_meets_each_target_at_the_least_cost(name):
    ir = IRS[name]()
    shapes = plan_network(ir, 1, 1, dataflow=True).layers
    fastest = dataflow_interval([occupancy(layer, layer.rows, layer.cols) for layer in shapes])
    for target in sorted({fastest, fastest + 1, 2 * fastest + 3, 40, 100, 1000} - set(range(fastest))):
        pe, simd = fold_for_interval(ir, target)
        net = plan_network(ir, pe, simd, dataflow=True)
        assert net.interval <= target
        for layer, p, s in zip(net.layers, pe, simd):
            assert layer.rows % p == 0 and layer.cols % s == 0 and (layer.pe, layer.simd) == (p, s)
            # nothing cheaper fits the bound this layer was given (its own occupancy at most)
            cheaper = [(q, t) for q in divisors(layer.rows) for t in divisors(layer.cols)
                       if cost(layer, q, t) < cost(layer, p, s) and occupancy(layer, q, t) <= layer.occupancy]
            assert not cheaper, (name, target, layer.name, p, s, cheaper)
    with pytest.raises(BespokeError, match=f"below the fastest this network streams at .* every {fastest} cycles"):
        fold_for_interval(ir, fastest - 1)


def test_searched_folding_streams_at_its_interval():
    ir = IRS["mlp"]()
    pe, simd = fold_for_interval(ir, 8)
    nl = folded.netlist(ir, pe, simd, arch="dataflow")
    x = inputs(ir, 10, seed=2)
    y, taken, given = stream(nl, x)
    assert (y == golden.run(ir, x)).all() and nl.meta["interval"] <= 8
    assert set(np.diff(taken)) == {nl.meta["interval"]} and set(given - taken) == {nl.meta["latency"]}


@pytest.mark.parametrize("kw,message", [
    ({"pe": [2, 2]}, "pe has 2 values for 4 matrix layers (fc1, fc2, x3, x4); give one value or one per layer"),
    ({"simd": [1, 1, 9, 1]}, "simd 9 of layer x3 must be an integer 1..8, its columns (inputs per neuron)"),
    ({"pe": [1, 0, 1, 1]}, "pe 0 of layer fc2 must be an integer 1..8"),
])
def test_per_layer_folding_errors_name_the_layer(kw, message):
    with pytest.raises(BespokeError) as e:
        plan_network(IRS["mlp"](), **kw)
    assert str(e.value).startswith(message)
