"""The runner and testbench on ready/valid designs (tests/sim/hs_*.v): ordering, backpressure,
input gaps, per-inference latency measurement, and the faults they must report."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from bespoke.sim.runner import simulate

HERE = Path(__file__).parent
HS = {"top": "hs_fixed", "n_in": 3, "in_width": 8, "in_signed": True, "n_out": 1, "out_width": 17, "out_signed": True,
      "pipelined": True, "handshake": True, "latency": 3}


def vectors(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    x = np.random.default_rng(seed).integers(-128, 128, size=(n, 3))
    x[0], x[1] = -128, 127
    return x, (x[:, 0] * x[:, 1] + x[:, 2])[:, None]


def run(layout, x, y, build_dir, **kw):
    return simulate([HERE / f"{layout['top']}.v"], layout, x, y, build_dir, **kw)


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("hs_build")


def test_every_output_in_order_with_the_claimed_latency(build_dir):
    x, y = vectors(2000, seed=1)
    r = run(HS, x, y, build_dir)
    assert r.ok, r.problems or r.first_mismatches
    assert (r.vectors, r.mismatches, r.latency_min, r.latency_cycles) == (2000, 0, 3, 3)


def test_backpressure_and_input_gaps_change_nothing_but_time(build_dir):
    x, y = vectors(1000, seed=2)
    r = run(HS, x, y, build_dir, backpressure=0.5, in_gaps=0.4, seed=7)
    assert r.ok, r.problems or r.first_mismatches
    assert (r.mismatches, r.latency_min, r.latency_cycles) == (0, 3, 3)
    assert not r.rebuilt  # drive options reach the testbench at run time


def test_a_wrong_latency_claim_is_a_problem(build_dir):
    x, y = vectors(50, seed=3)
    r = run(dict(HS, latency=4), x, y, build_dir)
    assert r.mismatches == 0 and not r.ok
    assert r.problems == ["latency: measured 3 cycles, the layout claims 4"]


def test_wrong_outputs_are_counted(build_dir):
    x, y = vectors(100, seed=4)
    y[10] += 1
    r = run(HS, x, y, build_dir, backpressure=0.3)
    assert r.mismatches == 1 and r.first_mismatches[0]["index"] == 10 and not r.ok


def test_varying_latency_and_unstable_output_are_reported(build_dir):
    x, y = vectors(200, seed=5)
    r = run(dict(HS, top="hs_bad"), x, y, build_dir, backpressure=0.5, seed=1)
    assert not r.ok and not r.test_passed
    assert "latency: measured 3 to 4 cycles, the layout claims 3" in r.problems
    assert any("y changed" in p for p in r.problems)
    assert (r.latency_min, r.latency_cycles) == (3, 4)


@pytest.mark.skipif(shutil.which("iverilog") is None or shutil.which("vvp") is None, reason="Icarus Verilog is not on PATH")
def test_icarus_drives_ready_valid_too(build_dir):
    x, y = vectors(300, seed=6)
    r = run(HS, x, y, build_dir, simulator="icarus", backpressure=0.4, in_gaps=0.3)
    assert r.ok, r.problems or r.first_mismatches
    assert (r.mismatches, r.latency_min, r.latency_cycles) == (0, 3, 3)


# --------------------------------------------------------------------------- sharded runs


def shard_over(monkeypatch, cores: int):
    """Make every run long enough to be split over `cores` simulator processes."""
    from bespoke.sim import runner

    monkeypatch.setattr(runner, "SHARD_MIN_CYCLES", 1)
    monkeypatch.setattr(runner, "_cores", lambda: cores)


def test_shard_bounds_cover_every_vector_once():
    from bespoke.sim.runner import shard_bounds

    for n, k in [(7, 3), (1000, 2), (10, 10), (5, 1)]:
        bounds = shard_bounds(n, k)
        assert len(bounds) == k and bounds[0][0] == 0 and bounds[-1][1] == n
        assert all(b == c for (_, b), (c, _) in zip(bounds, bounds[1:]))
        assert max(b - a for a, b in bounds) - min(b - a for a, b in bounds) <= 1


def test_a_sharded_run_checks_every_vector_and_names_mismatches_by_their_row(build_dir, monkeypatch):
    x, y = vectors(601, seed=5)
    y[[3, 350, 600]] += 1  # one in the first slice, two in the second
    shard_over(monkeypatch, 2)
    r = run(HS, x, y, build_dir, backpressure=0.3, in_gaps=0.2)
    assert (r.vectors, r.mismatches) == (601, 3) and not r.ok
    assert [m["index"] for m in r.first_mismatches] == [3, 350, 600]
    assert [m["input"] for m in r.first_mismatches] == [list(x[3]), list(x[350]), list(x[600])]
    assert (r.latency_min, r.latency_cycles) == (3, 3)
    assert sorted((run_dir.name for run_dir in r.build_dir.iterdir() if run_dir.name.startswith("run")))[-2:] == ["run0", "run1"]


def test_a_sharded_run_reports_each_slice_s_problems(build_dir, monkeypatch):
    x, y = vectors(40, seed=6)
    shard_over(monkeypatch, 2)
    r = run(dict(HS, latency=4), x, y, build_dir)
    assert r.mismatches == 0 and not r.ok
    assert r.problems == ["vectors 0..19: latency: measured 3 cycles, the layout claims 4",
                          "vectors 20..39: latency: measured 3 cycles, the layout claims 4"]


def test_short_runs_and_traces_use_one_process():
    from bespoke.sim.runner import _shard_count

    assert _shard_count(HS, 2000, False) == 1  # 6,000 cycles: not worth a second process
    folded = dict(HS, latency=160_000)
    assert _shard_count(folded, 1, False) == 1 and _shard_count(folded, 100, "vcd") == 1
