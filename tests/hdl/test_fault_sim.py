"""Fault simulation (bespoke.hdl.faults): fault-free it is the golden model; with faults it is what
the emitted Verilog computes with the same bits forced (Icarus on a Verilog edited to force them)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from bespoke.api import compile_model
from bespoke.compiler.data import read_csv
from bespoke.hdl.faults import FLIP, STUCK_AT_0, STUCK_AT_1, FaultSim
from bespoke.hdl.netlist import Netlist
from bespoke.hdl.write_verilog import _Names
from bespoke.sim.runner import simulate as run_rtl

ROOT = Path(__file__).resolve().parents[2]
CARDIO = ROOT / "examples" / "cardio"
DIGITS = ROOT / "examples" / "bnn_digits"


@pytest.fixture(scope="module")
def cardio():
    model = compile_model(CARDIO / "cardio.onnx", calibration=CARDIO / "train.csv")
    codes = model.encode(read_csv(CARDIO / "test.csv", model.n_features)[0])
    return model, codes, FaultSim(model.netlist, {"x": codes})


def test_fault_free_simulation_is_the_golden_model(cardio):
    model, codes, sim = cardio
    np.testing.assert_array_equal(sim.fault_free(), model.predict_codes(codes))
    digits = compile_model(DIGITS / "bnn_digits.onnx")
    codes = digits.encode(read_csv(DIGITS / "test.csv", digits.n_features)[0])
    np.testing.assert_array_equal(FaultSim(digits.netlist, {"x": codes}).fault_free(), digits.predict_codes(codes))


def test_a_forced_bit_wraps_through_the_declared_widths():
    nl = Netlist("t")
    a, b = nl.net(-8, 7), nl.net(0, 3)
    nl.inputs["x"] = [a, b]
    s = nl.add1("add", (a, b), -8, 10, {"sa": 0, "sb": 0})  # s5: [-16, 15]
    y = nl.add1("shr", (s,), -4, 2, {"k": 2})
    nl.outputs["y"] = [s, y]
    sim = FaultSim(nl, {"x": np.array([[3, 2], [-8, 0]])})
    # stuck-at-1 on a's sign bit: 3 -> 3 - 8 = -5, so s = -3 and s >> 2 = -1; -8 already has it
    out = sim.outputs([[a]], [[3]], [[STUCK_AT_1]])
    np.testing.assert_array_equal(out[0], [[-3, -1], [-8, -2]])
    # stuck-at-1 on s's bit 4 (its sign): 5 -> 5 - 16 = -11, the shift reads the forced value
    out = sim.outputs([[s]], [[4]], [[STUCK_AT_1]])
    np.testing.assert_array_equal(out[0], [[-11, -3], [-8, -2]])
    # two faults of one trial on one net, beside a fault-free trial
    out = sim.outputs([[s, s], [a, b]], [[0, 3], [0, 0]], [[STUCK_AT_1, STUCK_AT_0], [STUCK_AT_0, STUCK_AT_0]])
    np.testing.assert_array_equal(out[0], [[5, 1], [-15, -4]])  # 5 = 00101 has both already; -8 = 11000 -> 10001
    np.testing.assert_array_equal(out[1], [[4, 1], [-8, -2]])  # a: 3 -> 2, b: 2 -> 2 (bit 0 was 0)


def _inject(verilog: str, names: _Names, nl: Netlist, faults: list[tuple[int, int, int]]) -> str:
    """The Verilog with each (net, bit, stuck-at value) forced where the net's cell drives it."""
    for net, bit, value in faults:
        name = names[net]
        width, signed = nl.type_of(net)
        line = re.compile(rf"^  assign {re.escape(name)} = (.*);$", re.M)
        (m,) = list(line.finditer(verilog))
        mask = (1 << bit) if value else ((1 << width) - 1) ^ (1 << bit)
        forced = (f"  wire {'signed ' if signed else ''}[{width - 1}:0] {name}__raw;\n  assign {name}__raw = {m.group(1)};\n"
                  f"  assign {name} = {name}__raw {'|' if value else '&'} {width}'d{mask};")
        verilog = verilog[:m.start()] + forced + verilog[m.end():]
    return verilog


def test_rtl_with_forced_bits_computes_what_the_fault_simulation_says(cardio, tmp_path):
    model, codes, sim = cardio
    nl, names = model.netlist, _Names(model.netlist)
    driven_by_assign = [s for s in sim.sites() if s.net in sim.driver and sim.cells[sim.driver[s.net]].kind != "select"]
    rng = np.random.default_rng(3)
    single = [(sim.outputs([[n]], [[b]], [[STUCK_AT_1]])[0], n, b) for n, b in driven_by_assign]
    worst = max(single, key=lambda t: (t[0] != sim.fault_free()).any(axis=1).sum())  # the most damaging stuck-at-1
    several = [driven_by_assign[k] for k in rng.choice(len(driven_by_assign), 4, replace=False)]
    trials = [[(worst[1], worst[2], 1)], [(n, b, int(v)) for (n, b), v in zip(several, rng.integers(0, 2, 4))]]
    for k, faults in enumerate(trials):
        expected = sim.outputs([[f[0] for f in faults]], [[f[1] for f in faults]], [[f[2] for f in faults]])[0]
        assert (expected != sim.fault_free()).any(), "a fault that changes nothing tests nothing"
        v = tmp_path / f"faulty{k}.v"
        v.write_text(_inject(model.verilog, names, nl, faults))
        rep = run_rtl([v], model.layout, codes, expected, tmp_path / f"sim{k}", simulator="icarus")
        assert rep.vectors == len(codes) and rep.mismatches == 0, rep.first_mismatches


def test_a_register_flip_hits_only_the_vector_it_is_in():
    model = compile_model(CARDIO / "cardio.onnx", calibration=CARDIO / "train.csv", pipeline=True)
    codes = model.encode(read_csv(CARDIO / "test.csv", model.n_features)[0][:50])
    sim = FaultSim(model.netlist, {"x": codes})
    np.testing.assert_array_equal(sim.fault_free(), model.predict_codes(codes))
    regs = sim.sites(registers_only=True)
    assert regs and {s.net for s in regs} <= {c.outs[0] for c in model.netlist.cells if c.kind == "reg"}
    nets, bits = [[s.net] for s in regs], [[s.bit] for s in regs]
    out = sim.outputs(nets, bits, [[FLIP]] * len(regs), [[7]] * len(regs))
    changed = (out != sim.fault_free()[None]).any(axis=2)  # [trials, vectors]
    assert changed[:, 7].any() and not np.delete(changed, 7, axis=1).any()


def test_a_netlist_with_feedback_is_refused():
    folded = compile_model(DIGITS / "bnn_digits.onnx", arch="folded", pe=4, simd=8)
    with pytest.raises(ValueError, match="feedback"):
        FaultSim(folded.netlist, {"x": np.zeros((2, folded.n_features), np.int64)})
