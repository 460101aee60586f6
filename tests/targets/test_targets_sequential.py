"""The cycle-by-cycle simulator against the time-parallel one, and reports of folded (ready/valid) designs."""

from pathlib import Path

import numpy as np
import pytest

from bespoke.targets import liberty, netlist, power, synth
from bespoke.targets.report import make_report

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# A counter with an asynchronous clear, a small state machine with a synchronous reset and an
# enabled accumulator: flip-flops that feed back into their own inputs.
SEQUENTIAL = """\
module seq (
  input  wire       clk,
  input  wire       rst,
  input  wire       rst_n,
  input  wire       go,
  input  wire [3:0] d,
  output reg  [7:0] acc,
  output reg  [2:0] cnt,
  output reg        busy,
  output wire       done
);
  assign done = busy & (cnt == 3'd7);
  always @(posedge clk or negedge rst_n)
    if (!rst_n) cnt <= 3'd0;
    else if (go | busy) cnt <= cnt + 3'd1;
  always @(posedge clk)
    if (rst) begin
      busy <= 1'b0; acc <= 8'd0;
    end else begin
      if (go & ~busy) busy <= 1'b1;
      else if (done) busy <= 1'b0;
      if (busy) acc <= acc + {4'd0, d};
    end
endmodule
"""

# A two-stage pipeline: flip-flops, but no feedback.
PIPELINE = """\
module pipe (input wire clk, input wire [3:0] a, input wire [3:0] b, output reg [4:0] s, output reg [3:0] p);
  reg [3:0] a1, b1;
  always @(posedge clk) begin
    a1 <= a; b1 <= b;
    s <= a1 + b1; p <= a1 ^ (b1 & a);
  end
endmodule
"""


def _synth(tmp_path, text, top, key="sky130hd"):
    path = tmp_path / f"{top}.v"
    path.write_text(text)
    lib = liberty.load(key)
    return netlist.from_yosys(synth.synth_cells([path], top, lib).netlist, top, lib)


def _random_bits(nl, T, seed):
    rng = np.random.default_rng(seed)
    return {p: rng.random((T, len(n))) < 0.5 for p, n in nl.data_inputs().items()}


@pytest.mark.parametrize("key", ["sky130hd", "nangate45"])
def test_cycle_by_cycle_equals_time_parallel_with_feedback(tmp_path, key):
    nl = _synth(tmp_path, SEQUENTIAL, "seq", key)
    assert nl.feedback and any(nl.lib.cells[nl.instances[i].type].ff.clear for i in nl.flops)
    T = 400
    bits = _random_bits(nl, T, seed=3)
    bits["rst"][:] = False
    bits["rst"][[0, 150]] = True
    bits["rst_n"][:] = True
    bits["rst_n"][[0, 90, 91, 300]] = False  # the asynchronous clear, also for two cycles
    bits["go"] = np.random.default_rng(4).random((T, 1)) < 0.1
    ref = netlist.simulate(nl, bits, method="passes")
    assert netlist.port_values(nl, ref, "acc").max() > 20  # the accumulator did accumulate
    for restarts in (None, [37, 100, 101, 250], np.arange(0, T, 7)):  # hints change the lanes, not the values
        v = netlist.simulate(nl, bits, method="cycles", restarts=restarts)
        assert v.shape == ref.shape and np.array_equal(v, ref)
    assert np.array_equal(netlist.simulate(nl, bits), ref)  # "auto" picks cycle by cycle here
    toggles, cycles = netlist.toggle_counts(nl, bits, restarts=[37, 250])
    assert cycles == T and np.array_equal(toggles, np.count_nonzero(ref[:, 1:] != ref[:, :-1], axis=1))


def test_cycle_by_cycle_equals_time_parallel_without_feedback(tmp_path):
    nl = _synth(tmp_path, PIPELINE, "pipe")
    assert nl.sequential and not nl.feedback
    bits = _random_bits(nl, 300, seed=5)
    ref = netlist.simulate(nl, bits)
    assert np.array_equal(netlist.simulate(nl, bits, method="cycles"), ref)
    a, b = (netlist.port_values(nl, ref, p) for p in ("a", "b"))
    assert np.array_equal(netlist.port_values(nl, ref, "s")[2:], (a + b)[:-2])
    toggles, _ = netlist.toggle_counts(nl, bits)
    assert np.array_equal(toggles, np.count_nonzero(ref[:, 1:] != ref[:, :-1], axis=1))


@pytest.fixture(scope="module")
def folded_digits(tmp_path_factory):
    from bespoke.api import compile_model, load_codes

    ex = EXAMPLES / "bnn_digits"
    out = tmp_path_factory.mktemp("folded") / "d"
    model = compile_model(ex / "bnn_digits.onnx", out, arch="folded", pe=8, simd=16)
    return model, out / f"{model.name}.v", load_codes(out, ex / "test.csv")


@pytest.mark.skipif(not (EXAMPLES / "bnn_digits" / "bnn_digits.onnx").is_file(), reason="no bnn_digits example")
def test_folded_handshake_stimulus_runs_inferences_back_to_back(folded_digits):
    model, verilog, codes = folded_digits
    lib = liberty.load("nangate45")
    nl = netlist.from_yosys(synth.synth_cells([verilog], model.name, lib).netlist, model.name, lib)
    lat = model.layout["latency"]
    stim = power.layout_stimulus(nl, model.layout, codes[:50])
    assert stim.cycles_per_inference == lat and stim.bits["x"].shape[0] == 1 + 50 * lat
    assert stim.bits["out_ready"].all() and stim.bits["in_valid"].all() and stim.bits["rst"][:, 0].tolist() == [
        True] + [False] * 50 * lat
    v = netlist.simulate(nl, stim.bits, restarts=stim.restarts)
    valid = np.flatnonzero(netlist.port_values(nl, v, "out_valid"))
    assert valid.tolist() == (1 + lat * np.arange(1, 50)).tolist()  # one result every `latency` cycles
    expected = np.asarray(model.predict_codes(codes[:50])).reshape(-1)
    assert np.array_equal(netlist.port_values(nl, v, "y")[valid], expected[:49])
    # a long run is capped, and says so
    capped = power.layout_stimulus(nl, model.layout, np.tile(codes, (2, 1)))
    assert capped.capped and capped.inferences == power.MAX_CYCLES // lat and "only the first" in capped.note


@pytest.mark.skipif(not (EXAMPLES / "bnn_digits" / "bnn_digits.onnx").is_file(), reason="no bnn_digits example")
def test_folded_report_energy_per_inference_counts_the_latency(folded_digits):
    model, verilog, codes = folded_digits
    rep = make_report([verilog], model.name, "nangate45", vectors=codes, layout=model.layout)
    lat, p = model.layout["latency"], rep["power"]
    assert rep["area"]["um2"] > 0 and rep["area"]["flip_flops"] > 0 and rep["timing"]["critical_path_s"] > 0
    assert p["dynamic_w"] > 0 and p["cycles_per_inference"] == lat
    assert p["energy_per_inference_j"] == pytest.approx(p["total_w"] * lat / p["clock_hz"])
    assert p["dynamic_energy_per_inference_j"] == pytest.approx(p["dynamic_w"] * lat / p["clock_hz"])
    assert p["inferences_per_s"] == pytest.approx(p["clock_hz"] / lat)
    assert p["activity"]["vectors"] == len(codes) and p["activity"]["cycles"] == len(codes) * lat
    assert "presented on x for" in p["activity"]["note"]
    assert rep["runtime_s"]["analysis"] < 30
