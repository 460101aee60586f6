"""cocotb test: drive every vector into the design, compare every output, measure the latency.

Three kinds of design (the layout says which): combinational; pipelined (in_valid/out_valid, one
vector per cycle, fixed latency); ready/valid ("handshake": in_ready/out_ready too, any number of
cycles per vector, every inference's latency measured).

Run by sim/runner.py inside the simulator. The job comes from files in the directory named by
$BESPOKE_SIM_RUN_DIR: job.json (the layout and limits), inputs.npy and expected.npy. Results go to
results.json in the same directory, and the test fails (loudly) on any mismatch or problem.
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, First, ReadOnly, RisingEdge, Timer
from cocotb.utils import get_sim_time

from bespoke.sim.vectors import pack, split_bits, unpack

RUN_DIR_ENV = "BESPOKE_SIM_RUN_DIR"
MAX_REPORTED = 10
RESET_CYCLES = 2
PERIOD_NS = 10


@cocotb.test()
async def check_vectors(dut):
    run_dir = Path(os.environ[RUN_DIR_ENV])
    job = json.loads((run_dir / "job.json").read_text())
    layout = job["layout"]
    inputs = np.load(run_dir / "inputs.npy", allow_pickle=True)
    expected = np.load(run_dir / "expected.npy", allow_pickle=True)
    contract = _contract_violations(dut, layout)
    if contract:
        (run_dir / "results.json").write_text(json.dumps({"fatal": contract}))
        raise AssertionError("; ".join(contract))
    words = pack(inputs, layout["in_width"])  # packed up front: the drive loop only assigns

    start = time.perf_counter()
    if layout.get("handshake"):
        raw, latencies, accepted, problems = await _stream_handshake(dut, words, job)
    elif layout["pipelined"]:
        raw, latency, problems = await _stream_pipelined(dut, words, job["max_wait_cycles"])
        latencies = [] if latency is None else [latency]
    else:
        raw, latencies, problems = await _drive_combinational(dut, words), [0], []
    seconds = time.perf_counter() - start

    results = _compare(raw, inputs, expected, layout)
    results.update(latency_cycles=max(latencies) if latencies else None, latency_min=min(latencies) if latencies else None,
                   seconds_drive=seconds, problems=problems)
    if layout.get("handshake"):
        gaps = [b - a for a, b in zip(accepted, accepted[1:])]  # cycles between inputs taken
        results.update(interval_min=min(gaps, default=None), interval_max=max(gaps, default=None))
    (run_dir / "results.json").write_text(json.dumps(results))

    for m in results["first_mismatches"]:
        cocotb.log.error("vector %d: input %s expected %s got %s", m["index"], m["input"], m["expected"], m["got"])
    for p in problems:
        cocotb.log.error("%s", p)
    assert results["mismatches"] == 0 and not problems, (
        f"{results['mismatches']} of {len(words)} vectors mismatch; problems: {problems or 'none'}"
    )


def _contract_violations(dut, layout: dict) -> list[str]:
    """Port names and widths that differ from the port contract for this layout."""
    ports = {"x": layout["n_in"] * layout["in_width"], "y": layout["n_out"] * layout["out_width"]}
    if layout["pipelined"]:
        ports.update(clk=1, rst=1, in_valid=1, out_valid=1)
    if layout.get("handshake"):
        ports.update(in_ready=1, out_ready=1)
    found = []
    for name, width in ports.items():
        handle = getattr(dut, name, None)  # cocotb 2 handles raise AttributeError for missing names
        if handle is None:
            found.append(f"{layout['top']} has no port {name!r}")
        elif len(handle) != width:
            found.append(f"port {name!r} of {layout['top']} is {len(handle)} bits wide, the layout needs {width}")
    return found


async def _drive_combinational(dut, words: list[int]) -> list:
    """Apply each vector, let it settle for one time step, read the output. No clock exists."""
    x, y = dut.x, dut.y
    raw = []
    for w in words:
        x.value = w
        await Timer(1, unit="ns")
        raw.append(y.value)
    return raw


async def _stream_pipelined(dut, words: list[int], max_wait: int) -> tuple[list, int | None, list[str]]:
    """One vector per cycle with in_valid; collect y in order whenever out_valid is high.

    Inputs change and outputs are sampled on the falling edge, where registered values are stable
    in both event-driven (Icarus) and cycle-based (Verilator) simulators. Vector 0 is presented
    at falling edge 0, so an output first seen at falling edge c has passed c rising edges.
    """
    clk, x, y, in_valid, out_valid = dut.clk, dut.x, dut.y, dut.in_valid, dut.out_valid
    x.value, in_valid.value, dut.rst.value = 0, 0, 1
    Clock(clk, 10, unit="ns").start(start_high=False)
    for _ in range(RESET_CYCLES):
        await RisingEdge(clk)
    await FallingEdge(clk)
    dut.rst.value = 0

    raw, problems, latency = [], [], None
    n = len(words)
    for cycle in range(n + max_wait + 1):
        valid = str(out_valid.value)
        if valid not in ("0", "1"):
            problems.append(f"out_valid is {valid!r} at cycle {cycle} after reset")
            break
        if valid == "1":
            if cycle == 0:
                problems.append("out_valid is high after reset, before any vector was presented")
                break
            latency = cycle if latency is None else latency
            raw.append(y.value)
        if len(raw) >= n:
            break
        if cycle < n:
            x.value, in_valid.value = words[cycle], 1
        else:
            in_valid.value = 0
        if cycle == 0:
            latency = await _combinational_valid(out_valid)
        await FallingEdge(clk)
    if len(raw) < n:
        problems.append(f"only {len(raw)} of {n} outputs arrived within {max_wait} cycles after the last vector")
    return raw, latency, problems


async def _stream_handshake(dut, words: list[int], job: dict) -> tuple[list, list[int], list[int], list[str]]:
    """Ready/valid: offer vector k until in_ready takes it, take each output when out_ready is high.

    Signals are driven on falling edges and read after they settle (ReadOnly), so a handshake seen
    at falling edge c happens on the rising edge after it. An inference's latency is c_out - c_in
    for the falling edges where its input was taken and its output first seen: the rising edges
    from the accepting one to the one raising out_valid, both counted (the pipelined convention).
    `job` may ask for random gaps in in_valid (`in_gaps`) and out_ready (`backpressure`),
    probabilities per cycle, with `seed`. While the design is busy (in_ready and out_valid low)
    the loop sleeps until one of them changes, so long folded inferences cost few Python steps.
    Returns the raw outputs, the latencies, the cycles at which inputs were taken and problems.
    """
    clk, x, y = dut.clk, dut.x, dut.y
    in_valid, in_ready, out_valid, out_ready = dut.in_valid, dut.in_ready, dut.out_valid, dut.out_ready
    rng = random.Random(job.get("seed", 0))
    gaps, backpressure, max_wait = job.get("in_gaps", 0.0), job.get("backpressure", 0.0), job["max_wait_cycles"]
    x.value, in_valid.value, out_ready.value, dut.rst.value = 0, 0, 0, 1
    Clock(clk, PERIOD_NS, unit="ns").start(start_high=False)
    for _ in range(RESET_CYCLES):
        await RisingEdge(clk)
    await FallingEdge(clk)
    dut.rst.value = 0
    t0 = get_sim_time("ns")

    n = len(words)
    raw, accepted, latencies, problems = [], [], [], []
    nxt, shown, progress = 0, None, 0  # shown: y when the pending output was first seen
    while len(raw) < n:
        cycle = round((get_sim_time("ns") - t0) / PERIOD_NS)
        offer = nxt < n and (gaps == 0 or rng.random() >= gaps)
        in_valid.value = int(offer)
        if offer:
            x.value = words[nxt]
        take = backpressure == 0 or rng.random() >= backpressure
        out_ready.value = int(take)
        await ReadOnly()
        valid, ready = str(out_valid.value), str(in_ready.value)
        if valid not in ("0", "1") or ready not in ("0", "1"):
            problems.append(f"out_valid={valid!r}, in_ready={ready!r} at cycle {cycle} after reset")
            break
        if valid == "1":
            if len(raw) >= len(accepted):
                problems.append(f"out_valid is high at cycle {cycle} with no input outstanding")
                break
            if shown is None:
                latencies.append(cycle - accepted[len(raw)])
                shown = str(y.value)
            elif str(y.value) != shown and len(problems) < MAX_REPORTED:
                problems.append(f"y changed at cycle {cycle} while output {len(raw)} waited for out_ready")
            if take:
                raw.append(y.value)
                shown, progress = None, cycle
        if offer and ready == "1":
            accepted.append(cycle)
            nxt, progress = nxt + 1, cycle
        if cycle - progress > max_wait:
            problems.append(f"no handshake for {max_wait} cycles (at cycle {cycle}, {len(raw)} of {n} outputs taken)")
            break
        if valid == "0" and ready == "0" and (offer or nxt == n):
            # busy: nothing can happen before in_ready or out_valid changes (inputs held)
            await First(in_ready.value_change, out_valid.value_change, Timer(max_wait * PERIOD_NS, unit="ns"))
        await FallingEdge(clk)
    return raw, latencies, accepted, problems


async def _combinational_valid(out_valid) -> int | None:
    """0 when out_valid follows in_valid with no clock edge at all (a latency-0 design), else None.

    The sampling loop above would see such an output one falling edge late and count 1.
    """
    await ReadOnly()
    return 0 if str(out_valid.value) == "1" else None


def _word(value) -> int | str:
    """A sampled LogicArray as an unsigned int, or its bit string when it holds X/Z."""
    bits = str(value)
    try:
        return int(bits, 2)
    except ValueError:
        return bits


def _compare(raw: list, inputs: np.ndarray, expected: np.ndarray, layout: dict) -> dict:
    """Count every vector whose output differs from expected (a missing output counts too)."""
    n_out, width, signed = layout["n_out"], layout["out_width"], layout["out_signed"]
    want = pack(expected, width)
    got = [_word(v) for v in raw]
    mismatches, first = 0, []
    for i, w in enumerate(want):
        g = got[i] if i < len(got) else None
        if g == w:
            continue
        mismatches += 1
        if len(first) < MAX_REPORTED:
            first.append(
                {
                    "index": i,
                    "input": [int(v) for v in inputs[i]],
                    "expected": [int(v) for v in expected[i]],
                    "got": _elements(g, n_out, width, signed),
                }
            )
    return {"vectors": len(want), "outputs": len(got), "mismatches": mismatches, "first_mismatches": first}


def _elements(g: int | str | None, n: int, width: int, signed: bool) -> list | None:
    if g is None:
        return None
    if isinstance(g, str):
        return split_bits(g, n, width)
    return unpack(g, n, width, signed)
