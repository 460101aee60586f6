"""Learned gate networks in hardware: netlist interpreter == golden model on random networks
(every op id, constant and fixed-range inputs, unsimplified), and one RTL simulation."""

from __future__ import annotations

import numpy as np
import pytest

from bespoke.api import compile_model, load_compiled
from bespoke.compiler.gates_format import to_irs
from bespoke.compiler.ir import IR, ArgMax, GroupSum, Input, LogicGates, Thermometer
from bespoke.hdl import interpret
from bespoke.hdl.unrolled import plan_unrolled
from bespoke.sim.golden import run, run_all

from gates_builders import all_codes, random_network


def raw_ir(seed: int, features: int = 4, gates: int = 60, classes: int = 3) -> IR:
    """input -> thermometer (some bits constant: thresholds 0 and 16) -> random gates reading any
    earlier net, every op id 0..15 among them, unsimplified -> group sum -> argmax."""
    rng = np.random.default_rng(seed)
    feat = np.concatenate([np.arange(features), rng.integers(0, features, 6)])
    thr = np.concatenate([rng.integers(1, 16, features), [0, 16], rng.integers(1, 16, 4)])
    n_in = len(feat)
    a = np.array([rng.integers(0, n_in + g) for g in range(gates)])
    b = np.array([rng.integers(0, n_in + g) for g in range(gates)])
    ops = np.concatenate([np.arange(16), rng.integers(0, 16, gates - 16)])
    outputs = rng.integers(0, n_in + gates, classes * 5)
    ir = IR(f"raw{seed}")
    x = ir.add("x", Input(size=features, lo=0, hi=15))
    t = ir.add("thermometer", Thermometer(feat, thr), [x])
    g = ir.add("gates", LogicGates(a, b, ops, outputs), [t])
    s = ir.add("group_sum", GroupSum(classes=classes), [g])
    ir.add("argmax", ArgMax(), [s])
    for n in ir.order():
        lo, hi = ir.layer(n).infer_range(*[(ir.out(i).lo, ir.out(i).hi) for i in ir.inputs_of(n)])
        ir.out(n).lo, ir.out(n).hi = np.asarray(lo, np.int64), np.asarray(hi, np.int64)
    ir.verify()
    return ir


def check_netlist(ir: IR, codes: np.ndarray) -> None:
    nl = plan_unrolled(ir)
    nl.verify()
    values = interpret.run(nl, {"x": codes})  # checks every net against its range
    golden = run_all(ir, codes)
    for n in ("thermometer", "gates", "group_sum", "argmax"):
        got = np.stack([values[o] for o in nl.meta["layers"][n]["out"]], axis=1)
        assert np.array_equal(got, golden[n]), n


@pytest.mark.parametrize("seed", range(8))
def test_raw_random_gates_interpreter_equals_golden(seed):
    ir = raw_ir(seed)
    check_netlist(ir, all_codes(4, 4, 4000, seed))


@pytest.mark.parametrize("seed", range(4))
def test_simplified_networks_interpreter_equals_golden(seed):
    net = random_network(seed + 10)
    _, ir = to_irs(net)
    codes = all_codes(net.n_features, net.bits, 4000, seed)
    check_netlist(ir, codes)
    assert np.array_equal(interpret.outputs(plan_unrolled(ir), {"x": codes})["y"][:, 0], net.predict_codes(codes))


def test_rtl_simulation_of_a_gate_network(tmp_path):
    """compile gates.json -> Verilog -> Icarus, every vector against the golden model; reopened
    from its build directory, as `bespoke simulate` does."""
    net = random_network(7, features=6, sizes=(40, 30, 12))
    path = net.save(tmp_path / "g.json")
    compile_model(path, tmp_path / "out")
    model = load_compiled(tmp_path / "out")
    rng = np.random.default_rng(0)
    x = rng.random((300, 6))
    y = np.asarray(net.labels)[net.predict_codes(net.encode(x))]
    rep = model.simulate(x, y, simulator="icarus")
    assert rep.passed and rep.vectors == 300 and rep.mismatches == 0
    assert rep.hardware_accuracy == 1.0
    assert model.summary["layers"][1]["op"] == "logic_gates"


def test_a_stage_of_wiring_only_compiles(tmp_path):
    """One gate per class: the group sums are wires, a stage without cells (found by the fuzzer:
    the summary's cell counts had no entry for it)."""
    path = tmp_path / "gates.json"
    path.write_text('{"format":"bespoke-gates","version":1,"name":"gates","inputs":{"features":5,"bits":4,'
                    '"scale":[0.0667,0.0667,0.0667,0.0667,0.0667],"offset":[0,0,0,0,0],'
                    '"thresholds":[[],[1,9],[9,12,13],[1],[3]]},"layers":[{"a":[0,4,2],"b":[5,0,3],"op":[9,13,7]}],'
                    '"head":{"classes":3,"tau":1.0},"labels":[10,11,12]}')
    model = compile_model(path)
    group_sum = next(row for row in model.summary["layers"] if row["op"] == "group_sum")
    assert not any(v for k, v in group_sum.items() if k not in ("name", "op", "out_width"))
    codes = all_codes(5, 4, 500)
    np.testing.assert_array_equal(interpret.outputs(model.netlist, {"x": codes})["y"], run(model.ir, codes))
