"""The layering contract of pyproject.toml's [tool.importlinter], checked on the real sources.

grimp (import-linter's graph builder) finds a package's modules by walking its one directory, so
it cannot follow setuptools' package-dir mapping (bespoke.compiler lives in compiler/, ...). The
test links the folders into the tree an installation has (bespoke/ with compiler/, hdl/, ... in
it) and runs lint-imports on that tree: the same files, under the names they are imported by.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
tomllib = pytest.importorskip("tomllib")  # Python >= 3.11


def installed_tree(dest: Path) -> Path:
    """Symlinks in `dest` laying the package-dir folders out as installed; returns `dest`."""
    mapping = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    top = dest / "bespoke"
    top.mkdir()
    for entry in (ROOT / mapping["bespoke"]).iterdir():
        if entry.suffix == ".py":
            (top / entry.name).symlink_to(entry)
    for package, folder in mapping.items():
        if package != "bespoke":
            (dest / package.replace(".", "/")).symlink_to(ROOT / folder, target_is_directory=True)
    return dest


def lint_imports(tree: Path) -> subprocess.CompletedProcess:
    """lint-imports with the repository's contracts, importing `bespoke` from `tree` (run outside
    the repository, whose own bespoke/ folder would shadow it)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tree), os.environ.get("PYTHONPATH", "")])}
    cli = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
    return subprocess.run([sys.executable, "-c", cli, str(ROOT / "pyproject.toml"), "--no-cache"], cwd=tree, env=env,
                          capture_output=True, text=True, timeout=120)


def test_tree_holds_every_module(tmp_path):
    """The linked tree is the package: every source file of every mapped folder is in it."""
    tree = installed_tree(tmp_path)
    mapping = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    for package, folder in mapping.items():
        for src in (ROOT / folder).rglob("*.py"):
            assert (tree / package.replace(".", "/") / src.relative_to(ROOT / folder)).resolve() == src.resolve()


def test_layering_contracts_hold(tmp_path):
    result = lint_imports(installed_tree(tmp_path))
    report = result.stdout + result.stderr
    assert "Contracts: " in report, report  # the contracts were read and checked, not skipped
    assert result.returncode == 0, "broken import contract (the chains below):\n" + report
