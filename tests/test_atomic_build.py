"""A compile killed at any moment (SIGKILL, so no cleanup runs) leaves the output directory as
the previous complete build or the new complete one, never a mixture or a half-deleted build,
and absent when there was none. Real `bespoke compile` subprocesses, killed while they write:
the kill comes 0-80 ms after the hidden staging directory appears (the save, the swap and the
deletion of the old build's files all fall in that window), or at a random earlier moment."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bespoke.cli import main

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "examples" / "seeds"
# two different builds of the same model: the old one and the one replacing it
OPTIONS = {"old": ["--input-bits", "4"], "new": ["--input-bits", "5"]}
DELAYS_MS = [0, 1, 2, 5, 10, 20, 40, 80]


def compile_argv(out: Path, which: str) -> list[str]:
    return ["compile", str(SEEDS / "seeds.onnx"), "--calibration", str(SEEDS / "train.csv"), *OPTIONS[which], "-o", str(out)]


def contents(build: Path) -> dict[str, bytes]:
    """The build's files (the simulator's work directory aside)."""
    return {str(p.relative_to(build)): p.read_bytes() for p in sorted(build.rglob("*"))
            if p.is_file() and "sim_build" not in p.relative_to(build).parts}


def simulated(build: Path, files: int = 3000) -> None:
    """Give the build a simulator work directory as big as a Verilator build's, so deleting the
    old build takes as long as it does after a real `bespoke simulate`."""
    obj = build / "sim_build" / "verilator" / "obj_dir"
    obj.mkdir(parents=True, exist_ok=True)
    for k in range(files):
        (obj / f"V{k}.o").write_bytes(b"\0" * 256)


def staging_dirs(out: Path) -> list[str]:
    return [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.tmp-")]


def kill_while_writing(out: Path, which: str, delay_s: float | None) -> int | None:
    """Start a compile into `out`; SIGKILL it `delay_s` after its staging directory appears
    (None: at a random moment of its run). Returns its exit code if it finished first."""
    stale = set(staging_dirs(out))  # left by earlier kills
    proc = subprocess.Popen([sys.executable, "-m", "bespoke.cli", *compile_argv(out, which)], cwd=out.parent,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.monotonic()
    random_at = None if delay_s is not None else random.Random(str(out)).uniform(0.2, 2.0)
    while proc.poll() is None and time.monotonic() - t0 < 60:
        staging = bool(set(staging_dirs(out)) - stale)
        if (delay_s is not None and staging) or (random_at is not None and time.monotonic() - t0 > random_at):
            time.sleep(delay_s or 0)
            break
        time.sleep(0.0005)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    return proc.returncode


@pytest.fixture(scope="module")
def references(tmp_path_factory) -> dict[str, dict[str, bytes]]:
    tmp = tmp_path_factory.mktemp("refs")
    refs = {}
    for which in OPTIONS:
        assert main(compile_argv(tmp / which, which)) == 0
        refs[which] = contents(tmp / which)
    assert refs["old"] != refs["new"]
    return refs


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_during_a_replacing_compile_leaves_one_complete_build(tmp_path, references, capsys):
    out = tmp_path / "out"
    seen = []
    for k, delay in enumerate([*DELAYS_MS, None, None]):
        which = "new" if k % 2 == 0 else "old"
        assert main(compile_argv(out, "old" if which == "new" else "new")) == 0  # the build being replaced
        simulated(out)
        kill_while_writing(out, which, None if delay is None else delay / 1000)
        state = contents(out)
        assert state in (references["old"], references["new"]), f"try {k} (delay {delay} ms): a mixed or partial build"
        seen.append("replaced" if state == references[which] else "kept")
    capsys.readouterr()
    # the last state is a build `bespoke simulate` accepts, every vector matching the golden model
    assert main(["simulate", str(out), "--data", str(SEEDS / "test.csv"), "--max-vectors", "20"]) == 0
    assert "mismatches against the golden model: 0" in capsys.readouterr().out
    print("kill outcomes:", seen)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_of_a_first_compile_leaves_nothing_or_a_complete_build(tmp_path, references):
    for k, delay in enumerate([0, 2, 10, 40, None]):
        out = tmp_path / f"out{k}"
        kill_while_writing(out, "new", None if delay is None else delay / 1000)
        assert not out.exists() or contents(out) == references["new"], f"try {k} (delay {delay} ms)"
    leftovers = [p.name for p in tmp_path.iterdir() if not p.name.startswith(".") and not p.name.startswith("out")]
    assert leftovers == []


def test_the_swap_exchanges_in_one_step_when_the_os_can(tmp_path):
    """On Linux the swap is renameat2(RENAME_EXCHANGE): no moment without the directory."""
    from bespoke import builddir

    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "f").write_text("a")
    (b / "f").write_text("b")
    if not builddir._exchange(a, b):
        pytest.skip("no renameat2 exchange here; the two-rename fallback is used")
    assert (a / "f").read_text() == "b" and (b / "f").read_text() == "a"


def test_the_fallback_swap_replaces_the_build(tmp_path, monkeypatch):
    from bespoke import builddir

    monkeypatch.setattr(builddir, "_exchange", lambda a, b: False)
    out = tmp_path / "out"
    out.mkdir()
    (out / "old").write_text("old")
    with builddir.staging(out) as tmp:
        (tmp / "new").write_text("new")
    assert sorted(p.name for p in out.iterdir()) == ["new"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    os.sync()
