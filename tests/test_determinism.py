"""Determinism: the same model and options give byte-identical Verilog, IRs, manifest, summary
and report, whatever the working directory, the output path's spelling and PYTHONHASHSEED.

Each run is a fresh `bespoke` process (hash randomisation differs per process), started from its
own working directory with a relative output path. The report files (report.egfet.json/.md/.html)
hold no run times and no paths: the runtime is printed, not written, so they are compared whole.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EX = ROOT / "examples"
BUILD_FILES = ("ir.json", "float_ir.json", "manifest.json", "summary.txt")
CASES = {
    "printed MLP, unrolled, with an egfet report": (["compile", EX / "seeds/seeds.onnx", "--calibration", EX / "seeds/train.csv"],
                                                     ["report", "--target", "egfet", "--data", EX / "seeds/test.csv"]),
    "BNN, folded": (["compile", EX / "bnn_digits/bnn_digits.onnx", "--arch", "folded", "--pe", "8", "--simd", "16"], None),
    "pipelined MLP with its IR dumped after every pass": (["compile", EX / "cardio_2h/cardio_2h.onnx", "--calibration",
                                                           EX / "cardio_2h/train.csv", "--pipeline", "--dump-ir", "passes"], None),
}


def bespoke(argv, cwd: Path, hashseed: str) -> None:
    env = {**os.environ, "PYTHONHASHSEED": hashseed}
    subprocess.run([sys.executable, "-m", "bespoke.cli", *map(str, argv)], cwd=cwd, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=600)


def outputs(run_dir: Path) -> dict[str, bytes]:
    """Every file a run wrote (the simulator's work directory aside), by path relative to its directory."""
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in sorted(run_dir.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_byte_identical_across_runs_directories_and_hash_seeds(case, tmp_path):
    compile_argv, report_argv = CASES[case]
    runs = []
    for k, (where, seed) in enumerate([("a", "0"), ("b/deeper", "12345")]):
        cwd = tmp_path / where
        cwd.mkdir(parents=True)
        bespoke([*compile_argv, "-o", "out"], cwd, seed)
        if report_argv:
            bespoke([report_argv[0], "out", *report_argv[1:]], cwd, str(k + 7))
        runs.append(outputs(cwd))
    first, second = runs
    assert sorted(first) == sorted(second)
    names = sorted(first)
    assert any(n.endswith(".v") for n in names) and all(f"out/{f}" in names for f in BUILD_FILES)
    if report_argv:
        assert {"out/report.egfet.json", "out/report.egfet.md", "out/report.egfet.html"} <= set(names)
    differing = [n for n in names if first[n] != second[n]]
    assert differing == []
    for blob in first.values():  # nothing that depends on where it ran
        assert str(tmp_path).encode() not in blob
