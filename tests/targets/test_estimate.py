"""The in-memory cost model (targets.estimate) on unrolled netlists of the bundled examples."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from bespoke.api import compile_model
from bespoke.compiler.data import read_csv
from bespoke.compiler.errors import BespokeError
from bespoke.hdl.unrolled import plan_unrolled
from bespoke.targets.estimate import estimate

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def designs():
    out = {}
    for name in ("seeds", "cardio"):
        model = compile_model(EXAMPLES / name / f"{name}.onnx", calibration=EXAMPLES / name / "train.csv")
        x, _ = read_csv(EXAMPLES / name / "test.csv", model.n_features)
        out[name] = (plan_unrolled(model.ir), model.encode(x))
    return out


@pytest.mark.parametrize("target", ["egfet", "nangate45", "sky130hd"])
def test_estimate_is_deterministic_and_adds_up(designs, target):
    nl, codes = designs["cardio"]
    a, b = estimate(nl, target, codes), estimate(nl, target, codes)
    assert a == b
    assert a.area_um2 > 0 and a.total.leakage_w > 0 and a.total.dynamic_w > 0 and a.total.critical_path_s > 0
    assert sum(g.area_um2 for g in a.groups.values()) == pytest.approx(a.area_um2)
    assert sum(g.dynamic_w for g in a.groups.values()) == pytest.approx(a.total.dynamic_w)
    assert max(g.critical_path_s for g in a.groups.values()) <= a.total.critical_path_s * (1 + 1e-9)


def test_bigger_design_costs_more(designs):
    small, big = designs["seeds"][0], designs["cardio"][0]
    for target in ("egfet", "nangate45"):
        assert estimate(big, target).area_um2 > estimate(small, target).area_um2


def test_dynamic_power_follows_activity_and_clock_leakage_does_not(designs):
    nl, codes = designs["cardio"]
    busy = estimate(nl, "nangate45", codes, clock_hz=100e6)
    still = estimate(nl, "nangate45", np.repeat(codes[:1], len(codes), axis=0), clock_hz=100e6)
    fast = estimate(nl, "nangate45", codes, clock_hz=200e6)
    assert still.total.dynamic_w < busy.total.dynamic_w
    assert fast.total.dynamic_w == pytest.approx(2 * busy.total.dynamic_w)
    assert fast.total.leakage_w == busy.total.leakage_w == still.total.leakage_w


def test_estimate_is_fast(designs):
    nl, codes = designs["cardio"]
    t0 = time.perf_counter()
    estimate(nl, "egfet", codes)
    assert time.perf_counter() - t0 < 0.5  # the budget is 50 ms; CI machines are shared


def test_unknown_target_is_a_one_line_user_error(designs):
    with pytest.raises(BespokeError, match="unknown cost-model target 'tsmc5'; supported: ") as err:
        estimate(designs["seeds"][0], "tsmc5")
    assert "\n" not in str(err.value)
