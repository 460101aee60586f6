"""Power from the mapped netlist: leakage summed over cells, dynamic from simulated toggles.

Every transition of a net costs the internal energy of the cell output driving it (library figure)
plus 1/2 C V^2 for charging its load (the sink pins' capacitance; the libraries' internal energy
excludes it, as Liberty internal power does). Clock nets switch twice per cycle and also cost the
flip-flops' clock-pin energy. Input vectors are applied one per clock cycle: a combinational design
takes a new input vector every clock period; a pipelined one streams one vector per cycle. A
ready/valid (handshake) design takes one every `latency` cycles: the stimulus is open loop, with
in_valid and out_ready held high and each vector presented for `latency` cycles.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from bespoke.compiler.errors import BespokeError
from bespoke.targets.netlist import CONST0, CONST1, Netlist, toggle_counts

DEFAULT_VECTORS = 256
DEFAULT_SEED = 0
MAX_CYCLES = 20_000  # cycles simulated at most when a design has feedback (cycle by cycle)


@dataclass
class Stimulus:
    bits: dict[str, np.ndarray]  # data input port -> (T, width) bool
    inferences: int
    source: str  # "vectors" or "random"
    note: str
    cycles_per_inference: int = 1  # handshake designs: the latency
    restarts: np.ndarray | None = None  # first cycle of each inference: where the simulator may cut
    capped: bool = False  # fewer vectors simulated than given (MAX_CYCLES)


def _code_bits(codes: np.ndarray, width: int) -> np.ndarray:
    """(N, k) integer codes -> (N, k*width) bool, element i at bits [i*width, (i+1)*width), LSB first."""
    codes = np.asarray(codes)
    if width > 62 or codes.dtype == object:  # ports wider than int64: Python ints, bit by bit
        codes = codes.astype(object) & ((1 << width) - 1)
        shifts = np.arange(width).astype(object)
    else:
        codes, shifts = codes.astype(np.int64) & ((1 << width) - 1), np.arange(width)  # two's complement for signed codes
    n, k = codes.shape
    return ((codes[:, :, None] >> shifts) & 1).reshape(n, k * width).astype(bool)


def _random_codes(n: int, k: int, width: int, signed: bool, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lo, hi = (-(1 << (width - 1)), 1 << (width - 1)) if signed else (0, 1 << width)
    return rng.integers(lo, hi, size=(n, k), dtype=np.int64)


def layout_stimulus(nl: Netlist, layout: dict, codes: np.ndarray | None) -> Stimulus:
    """Cycles for a compiled design (port contract: x, and clk/rst/in_valid when pipelined, plus
    in_ready/out_valid/out_ready with a handshake)."""
    n_in, width, signed = int(layout["n_in"]), int(layout["in_width"]), bool(layout["in_signed"])
    source, note = "vectors", "activity from the given input vectors"
    if codes is None:
        codes = _random_codes(DEFAULT_VECTORS, n_in, width, signed, DEFAULT_SEED)
        source = "random"
        note = (f"no input data: activity from {DEFAULT_VECTORS} uniformly random input vectors "
                f"(seed {DEFAULT_SEED}); real data usually toggles less")
    codes = np.asarray(codes)
    if codes.ndim != 2 or codes.shape[1] != n_in:
        raise BespokeError(f"input vectors have shape {codes.shape}; the design takes {n_in} inputs per vector")
    lo, hi = (-(1 << (width - 1)), (1 << (width - 1)) - 1) if signed else (0, (1 << width) - 1)
    if codes.size and (codes.min() < lo or codes.max() > hi):
        raise BespokeError(f"input codes outside [{lo}, {hi}] for {width}-bit {'signed' if signed else 'unsigned'} inputs")
    if len(codes) < 2:
        raise BespokeError("need at least two input vectors to measure switching activity")
    x = _code_bits(codes, width)
    n = len(codes)
    if layout.get("handshake"):
        return _handshake_stimulus(nl, x, int(layout["latency"]), source, note)
    if not layout.get("pipelined"):
        bits = {"x": x}
    else:
        # one reset cycle, n streaming cycles, then `latency` cycles to drain the pipeline
        lat = int(layout.get("latency", 0))
        t = 1 + n + lat
        bits = {"x": np.vstack([x[:1], x, np.repeat(x[-1:], lat, axis=0)]),
                "rst": np.r_[1, np.zeros(t - 1)].astype(bool)[:, None],
                "in_valid": np.r_[0, np.ones(n), np.zeros(lat)].astype(bool)[:, None]}
    return Stimulus(_fit(nl, bits), n, source, note)


def _handshake_stimulus(nl: Netlist, x: np.ndarray, latency: int, source: str, note: str) -> Stimulus:
    """rst in the first cycle, in_valid and out_ready always high, vector k on x from cycle 1 + k*latency:
    the engine takes an input on the edge that takes the previous result, so each inference lasts
    `latency` cycles."""
    given = len(x)
    n = min(given, max(2, MAX_CYCLES // latency))
    t = 1 + n * latency  # the reset cycle, then n inferences
    bits = {"x": x[np.r_[0, np.arange(t - 1) // latency]],
            "rst": np.r_[1, np.zeros(t - 1)].astype(bool)[:, None],
            "in_valid": np.ones((t, 1), dtype=bool), "out_ready": np.ones((t, 1), dtype=bool)}
    note += (f"; ready/valid handshake driven open loop: rst in the first cycle, in_valid and out_ready held "
             f"high, each vector presented on x for {latency} cycles (the latency), one inference after another")
    if n < given:
        note += (f"; only the first {n} of {given} vectors simulated ({n * latency} cycles; "
                 f"at most {MAX_CYCLES} cycles are simulated cycle by cycle)")
    return Stimulus(_fit(nl, bits), n, source, note, latency, 1 + latency * np.arange(n), n < given)


_RESET = re.compile(r"(a?rst|reset|clr|clear)(_?n|_b)?", re.IGNORECASE)


def port_stimulus(nl: Netlist, values: np.ndarray | None) -> Stimulus:
    """Cycles for any design: one integer per data input port (declaration order) per cycle."""
    ports = nl.data_inputs()
    if values is None:
        rng = np.random.default_rng(DEFAULT_SEED)
        bits = {p: rng.integers(0, 2, size=(DEFAULT_VECTORS, len(n))).astype(bool) for p, n in ports.items()}
        resets = [p for p, n in ports.items() if len(n) == 1 and _RESET.fullmatch(p)]
        for p in resets:  # a randomly toggling reset would hide the design's real activity
            low = bool(_RESET.fullmatch(p).group(2))
            bits[p][:] = low
            bits[p][0] = not low
        note = (f"no input data: activity from {DEFAULT_VECTORS} cycles of uniformly random bits on every "
                f"data input port (seed {DEFAULT_SEED}), clocks excluded"
                + (f"; reset ports {', '.join(resets)} asserted in the first cycle only" if resets else ""))
        return Stimulus(bits, DEFAULT_VECTORS, "random", note)
    values = np.asarray(values)
    if values.ndim != 2 or values.shape[1] != len(ports) or len(values) < 2:
        raise BespokeError(f"input vectors have shape {values.shape}; expected (cycles >= 2, {len(ports)}) "
                           f"for the data input ports {', '.join(ports)}")
    note, given = "activity from the given per-port input values", len(values)
    if nl.feedback and given > MAX_CYCLES:
        values = values[:MAX_CYCLES]
        note += (f"; only the first {MAX_CYCLES} of {given} cycles simulated (a design with feedback is "
                 "simulated cycle by cycle)")
    bits = {p: _code_bits(values[:, [k]], len(n)) for k, (p, n) in enumerate(ports.items())}
    return Stimulus(bits, len(values), "vectors", note, capped=len(values) < given)


def _fit(nl: Netlist, bits: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    ports = nl.data_inputs()
    for p, nets in ports.items():
        if p not in bits:
            raise BespokeError(f"design input port {p!r} is not in the port layout ({', '.join(bits)})")
        if bits[p].shape[1] != len(nets):
            raise BespokeError(f"port {p!r} is {len(nets)} bits wide but the layout gives {bits[p].shape[1]}")
    return {p: bits[p] for p in ports}


def net_loads(nl: Netlist) -> np.ndarray:
    """Capacitance on each net (F): sink pins, plus one NAND2 input per output-port bit."""
    lib = nl.lib
    load = np.zeros(nl.n_nets)
    for net, sinks in nl.sinks.items():
        for i, pin in sinks:
            load[net] += lib.cells[nl.instances[i].type].inputs[pin]
    nand = lib.nand2() or lib.inverter()
    port_cap = float(np.mean(list(nand.inputs.values())))
    for nets in nl.outputs.values():
        for n in nets:
            load[n] += port_cap
    return load


@dataclass
class PowerResult:
    clock_hz: float
    leakage_w: float
    dynamic_w: float
    energy_per_cycle_j: float
    cycles: int
    mean_toggle_rate: float  # transitions per logic net per cycle
    clock_share: float  # fraction of dynamic energy spent on clock nets
    net_energy_j: np.ndarray | None = None  # switching energy per cycle of each net (clock nets included)
    toggle_rates: np.ndarray | None = None  # transitions per cycle of each logic net (the histogram's data)

    @property
    def total_w(self) -> float:
        return self.leakage_w + self.dynamic_w


def leakage(nl: Netlist) -> float:
    return float(sum(nl.lib.cells[inst.type].leakage for inst in nl.instances))


def analyse(nl: Netlist, stim: Stimulus, clock_hz: float) -> PowerResult:
    lib = nl.lib
    toggles, T = toggle_counts(nl, stim.bits, stim.restarts)
    if T < 2:
        raise BespokeError("need at least two cycles to measure switching activity")
    toggles = toggles.astype(float)
    load = net_loads(nl)
    e_int = np.zeros(nl.n_nets)
    for net, (i, pin) in nl.driver.items():
        e_int[net] = lib.cells[nl.instances[i].type].outputs[pin].energy
    per_toggle = e_int + 0.5 * load * lib.voltage ** 2
    logic = np.ones(nl.n_nets, dtype=bool)
    logic[[CONST0, CONST1]] = False
    clock = np.zeros(nl.n_nets, dtype=bool)
    clock[list(nl.clock_nets)] = True
    logic &= ~clock
    used = np.zeros(nl.n_nets, dtype=bool)
    used[list(nl.driver) + list(nl.sinks) + [n for ns in nl.inputs.values() for n in ns]] = True
    logic &= used
    cycles = T - 1
    net_energy = np.where(logic, toggles * per_toggle, 0.0)
    # clocks: two transitions per cycle on every clock net, plus clock-pin energy of each flip-flop
    net_energy[clock] = 2 * cycles * per_toggle[clock]
    e_logic = float(net_energy[logic].sum())
    e_clock = float(net_energy[clock].sum())
    e_clock += 2 * cycles * sum(lib.cells[nl.instances[i].type].clock_energy for i in nl.flops)
    e_cycle = (e_logic + e_clock) / cycles
    rates = toggles[logic] / cycles
    rate = float(rates.sum() / max(1, logic.sum()))
    return PowerResult(clock_hz, leakage(nl), e_cycle * clock_hz, e_cycle, cycles, rate,
                       e_clock / (e_logic + e_clock) if e_logic + e_clock else 0.0, net_energy / cycles, rates)


def instance_energy(nl: Netlist, pr: PowerResult) -> np.ndarray:
    """Switching energy per cycle of each instance: the nets it drives, and a flip-flop's clock pin.
    Nets no cell drives (input ports, the clock tree's root) belong to no instance."""
    e = np.zeros(len(nl.instances))
    for net, (i, _) in nl.driver.items():
        e[i] += pr.net_energy_j[net]
    for i in nl.flops:
        e[i] += 2 * nl.lib.cells[nl.instances[i].type].clock_energy
    return e


ACTIVITY_BINS = 20  # the histogram's bins over 0..1 transitions per cycle


def activity_histogram(pr: PowerResult) -> dict:
    """How many logic nets switch how often: `idle` never toggled, `counts[k]` toggled (at least once)
    at a rate in [edges[k], edges[k+1]) transitions per cycle, the last bin including 1."""
    rates = pr.toggle_rates
    edges = np.linspace(0.0, 1.0, ACTIVITY_BINS + 1)
    moving = rates[rates > 0]
    counts = np.histogram(np.minimum(moving, 1.0), bins=edges)[0] if len(moving) else np.zeros(ACTIVITY_BINS, int)
    return {"idle": int(len(rates) - len(moving)), "edges": [round(float(v), 6) for v in edges],
            "counts": [int(c) for c in counts]}
