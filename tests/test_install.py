"""`pip install .` (not editable) into a fresh venv: site-packages gets `bespoke` and nothing else
of this project, the package and the CLI work from outside the repository.

The fresh venv finds the dependencies where the running interpreter finds them (a .pth file
listing its site-packages directories), so the check needs no network.
"""

from __future__ import annotations

import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "bespoke", "compiler", "hdl", "sim", "targets")


def run(*cmd, cwd, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def dependency_dirs() -> list[str]:
    """The running interpreter's site-packages directories (and those its .pth files add), minus
    anything of this repository."""
    dirs = [p for p in sys.path if Path(p).is_dir() and "-packages" in p and not Path(p).resolve().is_relative_to(ROOT)]
    return list(dict.fromkeys(dirs + [d for d in site.getsitepackages() if Path(d).is_dir()]))


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("install")
    src = tmp / "src"  # a copy: building in the worktree would leave build/ behind
    src.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(ROOT / name, src / name)
    env = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True, timeout=60)
    py = env / "bin" / "python"
    purelib = run(py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp).stdout.strip()
    (Path(purelib) / "dependencies.pth").write_text("\n".join(dependency_dirs()) + "\n")
    res = run(py, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", src, cwd=tmp, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    return env


def test_site_packages_holds_bespoke_and_nothing_else_of_ours(venv):
    purelib = Path(run(venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                       cwd=venv).stdout.strip())
    ours = sorted(p.name for p in purelib.iterdir() if p.name not in ("dependencies.pth", "__pycache__"))
    assert ours == ["bespoke", "bespoke-0.1.0.dist-info"]
    assert {p.name for p in (purelib / "bespoke").iterdir()} >= {"compiler", "hdl", "sim", "targets", "api.py", "flow.py"}
    assert (purelib / "bespoke" / "targets" / "libs" / "egfet.lib").is_file()  # package data


def test_bespoke_imports_from_site_packages_and_the_old_names_do_not(venv, tmp_path):
    py = venv / "bin" / "python"
    res = run(py, "-c", "import bespoke, bespoke.api, bespoke.targets.report; print(bespoke.__file__)", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert Path(res.stdout.strip()).resolve().is_relative_to(venv.resolve()), res.stdout
    for name in ("compiler", "hdl", "sim", "targets"):
        res = run(py, "-c", f"import {name}", cwd=tmp_path)
        assert res.returncode != 0 and "ModuleNotFoundError" in res.stderr, (name, res.stdout, res.stderr)


def test_the_cli_runs(venv, tmp_path):
    res = run(venv / "bin" / "bespoke", "--help", cwd=tmp_path)
    assert res.returncode == 0 and "compile" in res.stdout and "report" in res.stdout, res.stderr
    res = run(venv / "bin" / "bespoke", "compile", ROOT / "examples/cardio/cardio.onnx", "-o", tmp_path / "c",
              "--print-passes", cwd=tmp_path)
    assert res.returncode == 0 and res.stdout.startswith("fold-affine,"), res.stderr


def test_rtl_simulation_runs_from_the_installed_package(venv, tmp_path):
    """cocotb's embedded Python imports the testbench (bespoke.sim.testbench) from site-packages."""
    ex = ROOT / "examples" / "cardio"
    bespoke = venv / "bin" / "bespoke"
    res = run(bespoke, "compile", ex / "cardio.onnx", "-o", tmp_path / "c", "--calibration", ex / "train.csv", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    res = run(bespoke, "simulate", tmp_path / "c", "--data", ex / "test.csv", "--max-vectors", "20", cwd=tmp_path, timeout=300)
    assert res.returncode == 0 and "mismatches against the golden model: 0" in res.stdout, res.stdout + res.stderr
