"""Timing, power and simulation on small hand-written netlists, checked against hand calculation."""

import numpy as np
import pytest

from bespoke.compiler.errors import BespokeError
from bespoke.targets import liberty, netlist, power, timing


def _cell(type_, **conns):
    return {"type": type_, "connections": {p: [n] for p, n in conns.items()}}


def _netlist(lib, ports, cells):
    mod = {"ports": {p: {"direction": d, "bits": bits} for p, (d, bits) in ports.items()},
           "cells": {f"u{k}": c for k, c in enumerate(cells)}}
    return netlist.from_yosys({"modules": {"top": mod}}, "top", lib)


@pytest.fixture
def sky():
    return liberty.load("sky130hd")


def test_inverter_into_nand_timing_and_power_by_hand(sky):
    # y = !(!a & b)
    nl = _netlist(sky, {"a": ("input", [2]), "b": ("input", [3]), "y": ("output", [5])},
                  [_cell("inv_1", A=2, Y=4), _cell("nand2_1", A=4, B=3, Y=5)])
    inv, nand = sky.cells["inv_1"], sky.cells["nand2_1"]
    t = timing.analyse(nl)
    assert t.critical_path_s == pytest.approx(inv.outputs["Y"].delay + nand.outputs["Y"].delay)
    assert t.max_clock_hz == pytest.approx(1 / t.critical_path_s)
    assert [p["cell"] for p in t.path] == ["inv_1", "nand2_1"] and t.startpoint == "input a[0]"

    a = np.array([0, 1, 1, 0, 0], dtype=bool)
    b = np.array([1, 1, 0, 0, 1], dtype=bool)
    stim = power.Stimulus({"a": a[:, None], "b": b[:, None]}, 5, "vectors", "")
    v = netlist.simulate(nl, stim.bits)
    assert np.array_equal(v[5], ~(~a & b))
    p = power.analyse(nl, stim, clock_hz=1e6)
    port_load = np.mean(list(nand.inputs.values()))  # an output port drives one NAND2 input
    vdd2 = sky.voltage ** 2

    def toggles(x):
        return np.count_nonzero(x[1:] != x[:-1])

    e = (toggles(a) * 0.5 * inv.inputs["A"] * vdd2
         + toggles(b) * 0.5 * nand.inputs["B"] * vdd2
         + toggles(~a) * (inv.outputs["Y"].energy + 0.5 * nand.inputs["A"] * vdd2)
         + toggles(~(~a & b)) * (nand.outputs["Y"].energy + 0.5 * port_load * vdd2))
    assert p.energy_per_cycle_j == pytest.approx(e / 4)
    assert p.dynamic_w == pytest.approx(e / 4 * 1e6)
    assert p.leakage_w == pytest.approx(inv.leakage + nand.leakage)


def test_flip_flop_delays_by_one_cycle_and_clock_costs_energy(sky):
    # q <= d ^ q (a toggle flip-flop with enable d): a loop through a flip-flop
    nl = _netlist(sky, {"clk": ("input", [2]), "d": ("input", [3]), "q": ("output", [4])},
                  [_cell("dfxtp_1", CLK=2, D=5, Q=4), _cell("xor2_1", A=3, B=4, X=5)])
    assert nl.clock_ports == ["clk"] and nl.feedback == {0}
    d = np.array([1, 0, 1, 1, 0, 1, 0, 0], dtype=bool)
    v = netlist.simulate(nl, {"d": d[:, None]})
    q, ref = [], False
    for x in d:
        q.append(ref)
        ref = ref ^ x
    assert np.array_equal(v[4], q)
    idle = power.analyse(nl, power.Stimulus({"d": np.zeros((8, 1), bool)}, 8, "vectors", ""), 1e6)
    ff = sky.cells["dfxtp_1"]
    clock_energy = 2 * (ff.clock_energy + 0.5 * ff.inputs["CLK"] * sky.voltage ** 2)
    assert idle.energy_per_cycle_j == pytest.approx(clock_energy)  # nothing toggles but the clock
    assert idle.clock_share == pytest.approx(1.0)
    t = timing.analyse(nl)  # clk->Q, XOR, setup
    assert t.critical_path_s == pytest.approx(ff.outputs["Q"].delay + sky.cells["xor2_1"].outputs["X"].delay
                                              + ff.ff.setup)


def test_combinational_loop_is_a_user_error(sky):
    with pytest.raises(BespokeError, match="combinational loop"):
        _netlist(sky, {"a": ("input", [2]), "y": ("output", [4])},
                 [_cell("nand2_1", A=2, B=4, Y=3), _cell("inv_1", A=3, Y=4)])


def test_gated_clock_is_refused(sky):
    with pytest.raises(BespokeError, match="gated or derived clocks"):
        _netlist(sky, {"clk": ("input", [2]), "en": ("input", [3]), "q": ("output", [5])},
                 [_cell("and2_1", A=2, B=3, X=4), _cell("dfxtp_1", CLK=4, D=5, Q=5)])


def test_random_activity_holds_reset_ports_inactive(sky):
    nl = _netlist(sky, {"clk": ("input", [2]), "rst_n": ("input", [3]), "rst": ("input", [6]),
                        "d": ("input", [4]), "q": ("output", [5])},
                  [_cell("dfrtp_1", CLK=2, D=4, RESET_B=3, Q=5)])
    stim = power.port_stimulus(nl, None)
    assert stim.source == "random" and "reset ports rst_n, rst" in stim.note
    assert not stim.bits["rst_n"][0, 0] and stim.bits["rst_n"][1:].all()  # active low
    assert stim.bits["rst"][0, 0] and not stim.bits["rst"][1:].any()
    assert 0 < stim.bits["d"].mean() < 1
