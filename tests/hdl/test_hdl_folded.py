import dataclasses
# amaranth: UnusedElaboratable=no
"""The folded architecture (hdl.folded) on hand-built IRs: analytic cycles, PE/SIMD choices
(dividing or padded), user errors, the port contract, and bit-exact simulation against
sim.golden in Amaranth (many foldings, fast) and Verilator (a few, through sim.runner)."""

import numpy as np
import pytest
from folded_irs import IRS, cnn_ir, inputs, mlp_ir, ranged, strided_ir

from bespoke.compiler.errors import BespokeError
from bespoke.compiler.ir import Relu, Threshold, XnorPopcount
from bespoke.hdl import folded
from bespoke.hdl.folded_netlist import build
from bespoke.hdl.folded_plan import FILL_PER_LAYER, plan_network
from bespoke.hdl.write_amaranth import NetlistTop
from folded_testing import simulate_handshake
from bespoke.sim import golden
from bespoke.sim.runner import simulate


def ceil(a, b):
    return -(-a // b)


def expected_cycles(shapes, pe, simd, argmax=True):
    """Sum of positions * ceil(rows/PE) * ceil(cols/SIMD) (pe/simd capped at the layer) + fill:
    2 per layer, 1 per conv (window load), 1 for the input capture, 1 for the argmax."""
    issue = sum(pos * ceil(rows, min(pe, rows)) * ceil(cols, min(simd, cols)) for pos, rows, cols in shapes)
    convs = sum(pos > 1 for pos, _, _ in shapes)
    return issue + FILL_PER_LAYER * len(shapes) + convs + 1 + int(argmax)


# (positions, rows, cols) per matrix layer, written out from the IRs' shapes
SHAPES = {
    "mlp": [(1, 10, 12), (1, 8, 10), (1, 9, 8), (1, 5, 9)],
    "cnn": [(64, 4, 18), (4, 6, 16), (1, 4, 24)],
    "strided": [(9, 3, 9), (4, 2, 12)],
}


# --------------------------------------------------------------------------- plans, no simulation


@pytest.mark.parametrize("name", SHAPES)
@pytest.mark.parametrize("pe,simd", [(1, 1), (2, 3), (3, 5), (3, 8)])
def test_latency_is_the_analytic_figure(name, pe, simd):
    ir = IRS[name]()
    lay = folded.port_layout(ir, pe=pe, simd=simd)
    want = expected_cycles(SHAPES[name], pe, simd, argmax=name != "strided")
    assert lay["latency"] == want == folded.summary(ir, pe=pe, simd=simd)["latency"]


def test_summary_prints_cycles_per_layer_and_the_fill():
    s = folded.summary(mlp_ir(), pe=3, simd=5)
    assert [row["cycles"] for row in s["layers"]] == [4 * 3, 3 * 2, 3 * 2, 2 * 2]
    assert s["layers"][0]["formula"] == "ceil(10/3) x ceil(12/5)"
    assert s["cycles_text"] == "38 cycles per inference = 28 (12 + 6 + 6 + 4) + fill 10 (2 x 4 layers + 1 capture + 1 argmax)"
    s = folded.summary(cnn_ir(), pe=3, simd=5)
    assert s["cycles_text"] == ("564 cycles per inference = 554 (512 + 32 + 10) + fill 10 "
                                "(2 x 3 layers + 1 x 2 window loads + 1 capture + 1 argmax)")


def test_pe_and_simd_are_capped_per_layer_and_default_to_divisors():
    net = plan_network(mlp_ir(), pe=9, simd=11)
    assert [(layer.pe, layer.simd) for layer in net.layers] == [(9, 11), (8, 10), (9, 8), (5, 9)]
    net = plan_network(mlp_ir())  # largest divisors <= 16 (rows) and <= 32 (cols): nothing padded
    assert [(layer.pe, layer.simd) for layer in net.layers] == [(10, 12), (8, 10), (9, 8), (5, 9)]


def test_padding_is_neutral_and_reads_use_wide_words_where_aligned():
    net = plan_network(cnn_ir(), pe=3, simd=8)
    c1, c2, fc = net.layers
    assert c1.weights.shape == (6, 24) and not c1.weights[4:].any() and not c1.weights[:, 18:].any()
    assert (c1.read.unit, c2.read.unit, fc.read.unit) == (1, 4, 8)  # CHW input: elements; HWC 4 channels: 4-wide words
    assert (c1.read.window, c1.read.row_len, c2.read.window, c2.read.row_len, fc.read.window) == (3, 2 * 10, 2, 4 * 3, 0)
    assert c1.param_per_position and not c2.param_per_position


def test_weight_codes_follow_the_weights():
    codes = {name: [layer.weight_code for layer in plan_network(make(), 2, 3).layers] for name, make in IRS.items()}
    assert codes == {"mlp": ["bipolar", "ternary", "xnor", "xnor"], "cnn": ["int", "xnor", "xnor"], "strided": ["bipolar", "xnor"],
                     "padded": ["int", "xnor", "xnor"], "input_threshold": ["xnor", "xnor"]}
    ir = mlp_ir()
    fc2 = plan_network(ir, 8, 10).layers[1]  # one fold: a product exists only for a nonzero weight
    assert (fc2.live_lanes() == (ir.layer("fc2").weight != 0)).all() and not fc2.live_lanes()[:, 3].any()
    assert fc2.weight_shape == (2, False)


def test_output_of_the_layout():
    lay = folded.port_layout(strided_ir(), name="s", pe=2, simd=3)
    assert lay == {"top": "s", "n_in": 49, "in_width": 3, "in_signed": True, "n_out": 8, "out_width": 4, "out_signed": False,
                   "pipelined": True, "handshake": True, "latency": lay["latency"], "interval": lay["latency"],
                   "arch": "folded", "dataflow": False}
    lay = folded.port_layout(mlp_ir())
    assert (lay["n_out"], lay["out_width"], lay["top"]) == (1, 3, "fmlp")


def test_verilog_is_deterministic_and_documents_the_timing():
    a = folded.to_verilog(mlp_ir(), "m", pe=3, simd=5)
    assert a == folded.to_verilog(mlp_ir(), "m", pe=3, simd=5)
    assert "// Timing" in a and "latency 38" in a and "module m(" in a


@pytest.mark.parametrize("kw,message", [
    ({"pe": 0}, "pe=0 must be a positive integer (1..10"),
    ({"simd": -2}, "simd=-2 must be a positive integer (1..12"),
    ({"pe": 2.5}, "pe=2.5 must be a positive integer"),
    ({"pe": 11}, "pe=11 exceeds the rows (output neurons or channels) of every layer (fc1: 10, fc2: 8, x3: 9, x4: 5); choose 1..10"),
    ({"simd": 13}, "simd=13 exceeds the columns (inputs per neuron) of every layer (fc1: 12, fc2: 10, x3: 8, x4: 9); choose 1..12"),
    ({"arch": "unrolled"}, "hdl.folded builds arch='folded' or 'dataflow', not 'unrolled'"),
])
def test_bad_options_are_one_line_user_errors(kw, message):
    for fn in (folded.summary, folded.port_layout):
        with pytest.raises(BespokeError) as e:
            fn(mlp_ir(), **kw)
        assert str(e.value).startswith(message) and "\n" not in str(e.value)


def edited(edit):
    ir = mlp_ir()
    edit(ir)
    ir.clear_ranges()
    return ranged(ir)


def test_bad_irs_are_user_errors():
    def non_binary(ir):
        weight = ir.layer("x3").weight.copy()
        weight[0, 0] = 2
        ir.replace_layer("x3", dataclasses.replace(ir.layer("x3"), weight=weight))

    def relu(ir):
        ir.graph.remove_edge("t1", "fc2")
        ir.add("r", Relu(), ["t1"])
        ir.graph.add_edge("r", "fc2", port=0)

    def xnor_on_counts(ir):  # t1 outputs 0..3, not bits
        ir.graph.remove_edge("t1", "fc2")
        ir.graph.remove_node("fc2"), ir.graph.remove_node("t2")
        ir.add("fc2", XnorPopcount(weight=np.ones((8, 10), dtype=np.int64)), ["t1"])
        ir.add("t2", Threshold(thresholds=np.full((8, 1), 5)), ["fc2"])
        ir.graph.add_edge("t2", "x3", port=0)

    def two_input_thresholds(ir):
        ir.graph.remove_edge("x", "fc1")
        ir.add("t0", Threshold(thresholds=np.full((12, 1), 4)), ["x"])
        ir.add("t00", Threshold(thresholds=np.full((12, 1), 1)), ["t0"])
        ir.graph.add_edge("t00", "fc1", port=0)

    cases = [(non_binary, "node x3 (xnor_popcount): weight 2 is not a bit"),
             (two_input_thresholds, "node t00: threshold cannot be placed in the folded architecture here"),
             (relu, "node r: relu cannot be placed in the folded architecture here"),
             (xnor_on_counts, "node fc2 (xnor_popcount): its input t1 is not binary (range [0, 3])")]
    for edit, message in cases:
        with pytest.raises(BespokeError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]")):
            folded.summary(edited(edit))
    unranged = mlp_ir()
    unranged.clear_ranges()
    with pytest.raises(BespokeError, match="needs value ranges"):
        folded.summary(unranged)


# --------------------------------------------------------------------------- Amaranth simulation


def run_amaranth(ir, pe, simd, n=6, backpressure=0.3):
    net = plan_network(ir, pe, simd)
    lay = folded.layout_of(net, "t")
    x = inputs(ir, n, seed=pe * 100 + simd)
    got, latencies = simulate_handshake(NetlistTop(build(net)), x, lay["in_width"], lay["n_out"], lay["out_width"],
                                        lay["out_signed"], backpressure=backpressure, seed=pe)
    return got, golden.run(ir, x), latencies, lay["latency"]


@pytest.mark.parametrize("name,pe,simd", [
    ("mlp", 1, 1), ("mlp", 2, 7), ("mlp", 10, 12), ("mlp", 4, 3),
    ("cnn", 4, 8), ("cnn", 2, 5), ("cnn", 6, 16),
    ("strided", 1, 1), ("strided", 3, 5), ("strided", 2, 12), ("padded", 3, 5), ("input_threshold", 3, 5),
])
def test_amaranth_bit_exact_at_the_analytic_latency(name, pe, simd):
    got, want, latencies, claimed = run_amaranth(IRS[name](), pe, simd)
    assert (got == want).all(), np.argwhere(got != want)[:5]
    assert set(latencies) == {claimed}


# --------------------------------------------------------------------------- Verilator (sim.runner)


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("folded_build")


@pytest.mark.parametrize("name,pe,simd", [("mlp", 3, 5), ("cnn", 3, 4), ("strided", 2, 3), ("padded", 2, 7), ("input_threshold", 4, 8)])
def test_verilator_bit_exact_under_backpressure(name, pe, simd, build_dir):
    ir = IRS[name]()
    top = f"f_{name}"
    path = build_dir / f"{top}.v"
    path.write_text(folded.to_verilog(ir, top, pe=pe, simd=simd))
    lay = folded.port_layout(ir, name=top, pe=pe, simd=simd)
    x = inputs(ir, 300, seed=5)
    r = simulate([path], lay, x, golden.run(ir, x), build_dir, backpressure=0.3, in_gaps=0.3, seed=3)
    assert r.ok, r.problems or r.first_mismatches
    assert (r.vectors, r.mismatches, r.latency_min, r.latency_cycles) == (300, 0, lay["latency"], lay["latency"])
