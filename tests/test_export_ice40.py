"""bespoke export --ice40: the iCEBreaker project's UART top, simulated through a host on the other
end of the UART, equals the golden model on every vector, for combinational, pipelined and
ready/valid designs and at divided clocks; a top with a broken UART is caught; the project is
synthesised, placed and routed by nextpnr and packed into a bitstream."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bespoke.api import compile_model, export_ice40, load_compiled
from bespoke.cli import main
from bespoke.sim.runner import simulate as run_rtl
from bespoke.targets import ice40, tool_progress

from bnn_builders import export, save, tiny_mlp

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SEEDS = EXAMPLES / "seeds"


@pytest.fixture(scope="module")
def seeds_build(tmp_path_factory):
    out = tmp_path_factory.mktemp("ice40") / "seeds"
    compile_model(SEEDS / "seeds.onnx", out, calibration=SEEDS / "train.csv")
    return out


def test_every_clock_keeps_115200_baud_and_the_clock_follows_fmax():
    assert [ice40.clks_per_bit(d) for d in range(ice40.MAX_DIV_LOG2 + 1)] == [104, 52, 26, 13]
    for d in range(ice40.MAX_DIV_LOG2 + 1):
        assert abs(ice40.clock_hz(d) / ice40.clks_per_bit(d) / ice40.BAUD - 1) < 0.002
    assert [ice40.div_for(f * 1e6) for f in (50, 12, 11.9, 6, 3.1, 1.5, 1.4)] == [0, 0, 1, 1, 2, 3, None]
    report = {"fmax": {"clk_$glb_clk": {"achieved": 7.0}, "clk_12$SB_IO_IN_$glb_clk": {"achieved": 250.0}}}
    assert ice40.timing_problem(report, 1) is None
    assert "7.0 MHz on clk_$glb_clk" in ice40.timing_problem(report, 0)
    report["fmax"]["clk_12$SB_IO_IN_$glb_clk"]["achieved"] = 11.0  # the oscillator's net runs at 12 MHz always
    assert "on clk_12" in ice40.timing_problem(report, 1)


def test_a_ready_valid_design_is_built_into_a_bitstream(tmp_path, capsys):
    layers, _ = tiny_mlp(np.random.default_rng(3), sizes=(8, 6, 4), bits=4, n=30)
    onnx_path = save(export(layers, 4, (8,)), tmp_path / "bnn.onnx")
    build = tmp_path / "bnn"
    compile_model(onnx_path, build, arch="folded", pe=2, simd=4)
    seen = []
    with tool_progress.watching(seen.append):  # what a terminal's spinner shows
        assert main(["export", str(build), "--ice40"]) == 0
    # polled a few times a second, so which passes show depends on the machine's speed
    assert any(t.startswith("SYNTH_ICE40 / ") for t in seen) and any(t.startswith("nextpnr ") for t in seen), seen
    text = capsys.readouterr().out
    assert "UART top: 4 input bytes in, 1 result bytes back per vector" in text
    assert "simulated 200 vectors through host, wrapper and design (verilator): 0 mismatches" in text
    assert "placed and routed" in text and "ICESTORM_LC" in text and text.rstrip().endswith("PASS")
    project = build / "ice40"
    assert (project / "build" / "top.bin").stat().st_size > 100_000  # an UP5K bitstream is ~104 kB
    assert sorted(p.name for p in project.iterdir()) == ["build", "build.sh", "host.py", "icebreaker.pcf", "src",
                                                           "synth.ys", "test"]
    assert "set_io -nowarn clk_12 35" in (project / "icebreaker.pcf").read_text()
    compile((project / "host.py").read_text(), "host.py", "exec")  # the board's host script is valid Python


@pytest.mark.parametrize("div_log2", [0, 2])
def test_a_combinational_design_through_the_uart_equals_the_golden_model(seeds_build, tmp_path, div_log2):
    r = export_ice40(seeds_build, tmp_path / "p", data=SEEDS / "test.csv", clock_div=div_log2, bitstream=False)
    assert r.sim.ok and r.sim.vectors == 63 and r.sim.mismatches == 0 and r.build is None
    top = (tmp_path / "p" / "src" / f"{ice40.TOP}.v").read_text()
    assert f"parameter CLKS_PER_BIT = {ice40.clks_per_bit(div_log2)}, parameter DIV_LOG2 = {div_log2}" in top


def test_a_pipelined_design_through_the_uart_equals_the_golden_model(tmp_path):
    out = tmp_path / "piped"
    compile_model(SEEDS / "seeds.onnx", out, calibration=SEEDS / "train.csv", pipeline=True)
    r = export_ice40(out, data=SEEDS / "test.csv", bitstream=False)
    assert r.sim.ok and r.sim.vectors == 63 and r.directory == out / "ice40"


def test_a_uart_receiving_bits_in_the_wrong_order_fails_the_simulation(seeds_build, tmp_path):
    r = export_ice40(seeds_build, tmp_path / "p", vectors=50, bitstream=False)
    assert r.sim.ok
    top_v = tmp_path / "p" / "src" / f"{ice40.TOP}.v"
    broken = top_v.read_text().replace("rx_byte <= {rxd, rx_byte[7:1]};", "rx_byte <= {rx_byte[6:0], rxd};")
    assert broken != top_v.read_text()
    top_v.write_text(broken)
    model = load_compiled(seeds_build)
    codes = model.encode(model._data(SEEDS / "test.csv")[0])
    sources = [tmp_path / "p" / "test" / f"{ice40.HOST}.v", top_v, tmp_path / "p" / "src" / "seeds.v"]
    sim = run_rtl(sources, ice40.host_layout(model.layout), codes, model.predict_codes(codes), tmp_path / "sim")
    assert sim.mismatches > 0


def test_bad_options_are_refused_and_a_users_directory_is_left_alone(seeds_build, tmp_path, capsys):
    assert main(["export", str(seeds_build), "--ice40", "--clock-div", "4"]) == 2
    assert "--clock-div 4: expected 0 to 3" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["export", str(seeds_build), "--ice40", "--tinytapeout"])
    assert exit_.value.code == 2 and "not allowed with argument --ice40" in capsys.readouterr().err
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("a user's file")
    assert main(["export", str(seeds_build), "--ice40", "-o", str(mine)]) == 2
    assert "not an iCE40 project written by bespoke" in capsys.readouterr().err
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]


def test_the_bitstreams_own_baud_divisor_is_simulated_too(seeds_build, tmp_path):
    """The export simulates 8 clocks per bit for speed; here the top runs with the divisor the
    bitstream has (52 board clocks per bit at 6 MHz: 115200 baud) on a few vectors."""
    r = export_ice40(seeds_build, tmp_path / "p", vectors=4, clock_div=1, bitstream=False)
    model = load_compiled(seeds_build)
    host = tmp_path / "real_baud_host.v"
    host.write_text(ice40.host_verilog(model.layout, 1, ice40.clks_per_bit(1)))
    codes = np.random.default_rng(1).integers(0, 16, (4, model.layout["n_in"]))
    sources = [host, r.directory / "src" / f"{ice40.TOP}.v", r.directory / "src" / "seeds.v"]
    sim = run_rtl(sources, ice40.host_layout(model.layout, 1, ice40.clks_per_bit(1)), codes, model.predict_codes(codes),
                  tmp_path / "sim")
    assert sim.ok and sim.vectors == 4 and sim.mismatches == 0
