"""`bespoke explore`: NSGA-II over approximations, deterministic with a seed, the same front on
a Dask cluster as in local processes, resumable, and from the command line the chosen design
built, simulated against its golden model and reported."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bespoke.explore import explore

EX = Path(__file__).resolve().parents[1] / "examples" / "cardio"
SMALL = dict(target="egfet", max_loss=0.02, population=12, generations=4, rounds=2, seed=1, retrain=False)


def front(result):
    return [(p.genome, round(p.train_accuracy, 9), round(p.area, 6)) for p in result.front]


def run(**kw):
    return explore(EX / "cardio.onnx", EX / "train.csv", EX / "test.csv", **{**SMALL, **kw})


def test_explore_is_deterministic_and_respects_the_budget():
    a, b = run(workers=1), run(workers=2)
    assert front(a) == front(b)
    assert a.evaluations > SMALL["population"]
    budget = a.float_train_accuracy - SMALL["max_loss"]
    assert a.chosen is not None and a.chosen.train_accuracy >= budget
    assert a.chosen.area < a.exact.area  # the search found something smaller than the exact design
    assert all(p.test_accuracy is not None for p in a.front)
    areas = [p.area for p in a.front]
    assert areas == sorted(areas) and [p.train_accuracy for p in a.front] == sorted(p.train_accuracy for p in a.front)


def test_dask_cluster_gives_the_same_front():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        dask = run(scheduler=cluster.scheduler_address)
    assert front(dask) == front(run(workers=1))


def test_resume_replays_the_cache():
    cache: dict = {}
    first = run(workers=1, cache=cache)
    n = sum(map(len, cache.values()))
    assert n == first.evaluations
    again = run(workers=1, cache=cache)  # every evaluation served from the cache
    assert sum(map(len, cache.values())) == n and front(again) == front(first)


def test_cli_explore_builds_simulates_and_reports(tmp_path, capsys):
    from bespoke.api import load_compiled
    from bespoke.cli import main

    out = tmp_path / "out"
    argv = ["explore", str(EX / "cardio.onnx"), "--train", str(EX / "train.csv"), "--test", str(EX / "test.csv"),
            "--max-loss", "2%", "-o", str(out), "--population", "12", "--generations", "4", "--rounds", "2", "--synth", "0", "-q"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "0 mismatches against its golden model" in text and "chosen" in text
    for name in ("report.html", "pareto.csv", "pareto.json", "evaluations.json", "chosen/manifest.json", "exact/manifest.json",
                 "chosen/masks.json"):
        assert (out / name).exists(), name
    report = json.loads((out / "pareto.json").read_text())
    chosen = [p for p in report["points"] if p["chosen"]]
    assert len(chosen) == 1 and chosen[0]["synth_area"] is not None  # the chosen design is synthesised
    assert chosen[0]["synth_area"] < [p for p in report["points"] if p["exact"]][0]["synth_area"]
    assert load_compiled(out / "chosen").ir.verify() is None
    # a rerun with the same options resumes from the evaluations
    assert main(argv) == 0 and "resuming:" in capsys.readouterr().out


def test_cli_explore_bad_input(tmp_path, capsys):
    from bespoke.cli import main

    assert main(["explore", str(tmp_path / "none.onnx"), "--train", str(EX / "train.csv"), "-o", str(tmp_path / "o")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    with pytest.raises(SystemExit):
        main(["explore", str(EX / "cardio.onnx"), "--train", str(EX / "train.csv"), "-o", str(tmp_path / "o"), "--max-loss", "150%"])


def test_compile_warns_when_quantisation_loses_accuracy(tmp_path, capsys):
    from bespoke.cli import main

    base = ["compile", str(EX / "cardio.onnx"), "--calibration", str(EX / "train.csv")]
    assert main(base + ["-o", str(tmp_path / "a"), "--input-bits", "2"]) == 0
    assert "warning: the quantised design is" in capsys.readouterr().out
    assert main(base + ["-o", str(tmp_path / "b")]) == 0
    assert "warning" not in capsys.readouterr().out


def test_compile_with_approx_knobs_netlist_matches_golden():
    from bespoke.api import compile_model

    m = compile_model(EX / "cardio.onnx", calibration=EX / "train.csv",
                      approx="weights.MatMul=csd2,weights.MatMul1=pow2,input-bits=3,relu=5b,argmax=msb6")
    x = np.random.default_rng(0).integers(0, 16, (300, 21)) / 15
    from bespoke.hdl import interpret

    np.testing.assert_array_equal(interpret.outputs(m.netlist, {"x": m.encode(x)})["y"], m.predict_codes(m.encode(x)))
    assert m.options["approx"].startswith("weights.MatMul=csd2") and "ArgMax_msb" in m.ir.order()
    assert all(bin(abs(int(w))).count("1") <= 1 for w in m.ir.layer("MatMul1").weight.ravel())
