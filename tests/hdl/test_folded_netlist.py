"""The folded engine's netlist (hdl.folded_netlist) run by the netlist interpreter: bit-exact
against the golden model at the analytic latency, on the hand-built IRs at many foldings
(padded and dividing) and on random networks; every net checked against its range in every
cycle, and the check bites."""

import numpy as np
import pytest
from folded_irs import IRS, cnn_ir, inputs, mlp_ir, padded_ir, strided_ir

from bespoke.hdl import folded
from bespoke.hdl.folded_netlist import plan_folded, run
from bespoke.hdl.interpret import RangeViolation
from bespoke.sim import golden
from bespoke.targets.estimate import estimate


def check(ir, pe, simd, n=12, seed=0):
    nl = plan_folded(ir, pe, simd)
    nl.verify()
    x = inputs(ir, n, seed=seed)
    got, cycles = run(nl, x)
    want = golden.run(ir, x).reshape(got.shape)
    assert (got == want).all(), np.argwhere(got != want)[:5]
    assert set(cycles.tolist()) == {folded.port_layout(ir, pe=pe, simd=simd)["latency"]}
    return nl


@pytest.mark.parametrize("name,pe,simd", [
    ("mlp", 1, 1), ("mlp", 2, 3), ("mlp", 3, 5), ("mlp", 4, 8), ("mlp", 10, 12), ("mlp", 9, 11),
    ("cnn", 3, 5), ("cnn", 4, 8), ("cnn", 6, 16), ("cnn", 2, 24),
    ("strided", 1, 1), ("strided", 3, 5), ("strided", 2, 12),
    ("padded", 1, 1), ("padded", 3, 5), ("padded", 4, 36),
    ("input_threshold", 1, 1), ("input_threshold", 4, 7),
])
def test_interpreter_equals_golden_at_the_analytic_latency(name, pe, simd):
    check(IRS[name](), pe, simd)


@pytest.mark.parametrize("seed", range(1, 25))
def test_random_networks(seed):
    """Random weights and thresholds of the three shapes at random foldings."""
    rng = np.random.default_rng(seed)
    make = [mlp_ir, strided_ir, cnn_ir, padded_ir][seed % 4]
    ir = make(seed)
    pe, simd = int(rng.integers(1, 4)), int(rng.integers(2, 10))  # within every shape's largest layer
    if make in (cnn_ir, padded_ir):
        pe, simd = 3, max(simd, 8)  # few cycles: the interpreter runs every one
    check(ir, pe, simd, n=8, seed=seed)


def test_range_check_bites():
    nl = plan_folded(mlp_ir(), 3, 5)
    acc = next(n for n, name in enumerate(nl.names) if name == "l0_acc0")
    nl.hi[acc] = nl.lo[acc]  # claim the accumulator never moves
    with pytest.raises(RangeViolation, match="l0_acc0|cycle"):
        run(nl, inputs(mlp_ir(), 4, seed=0))


def test_cost_model_prices_every_layer():
    nl = plan_folded(cnn_ir(), 3, 5)
    e = estimate(nl, "nangate45")
    assert set(e.groups) >= {layer["nodes"][0] for layer in nl.meta["layers"].values()}
    assert all(part.area_um2 > 0 for part in e.groups.values())


def test_cost_model_refuses_vectors_for_a_folded_netlist():
    from bespoke.compiler.errors import BespokeError

    with pytest.raises(BespokeError, match="default activity"):
        estimate(plan_folded(mlp_ir(), 3, 5), "nangate45", vectors=inputs(mlp_ir(), 5, seed=0))
