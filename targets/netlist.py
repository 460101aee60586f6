"""The mapped gate-level netlist (from Yosys write_json) and a cycle-level numpy simulator.

Two exact simulators, both zero-delay (glitches are not counted), giving the same (n_nets, T) values:

- time-parallel: every cell of the netlist is evaluated on the whole sequence of cycles at once (one
  numpy bool array per net, one element per cycle) in topological order, a flip-flop's output being
  its input delayed by one cycle. Used when no flip-flop feeds back into its own input cone
  (pipelines): one pass. With feedback (enables, counters, state machines) the loop is cut at a
  flip-flop whose previous-pass input is used and passes repeat until nothing changes: exact, but
  each pass carries the state one more cycle, so a counter needs about as many passes as cycles.
  Kept as `simulate(..., method="passes")`.
- cycle by cycle, for designs with feedback: per cycle the combinational cells are evaluated level
  by level, each (level, cell function) group as one numpy operation on index arrays, then the
  flip-flops take their inputs. The cycles are cut into chunks simulated side by side as lanes of
  the same numpy operations; a lane starts from a guessed state (all zeros) and the lanes are re-run
  with the previous lane's final state until no start state changes, which makes the result exact
  (lane k is exact after at most k + 1 rounds; when the state at a chunk boundary depends on little
  history, e.g. at the start of an inference, two rounds).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import numpy as np

from bespoke.compiler.errors import BespokeError
from bespoke.targets.liberty import Library

CONST0, CONST1 = 0, 1  # Yosys numbers real nets from 2, so 0 and 1 are free for constants


def _net(bit) -> int:
    if isinstance(bit, int):
        return bit
    return CONST1 if bit == "1" else CONST0  # "0", and undefined "x"/"z" read as 0


@dataclass
class Instance:
    name: str
    type: str
    inputs: dict[str, int]  # pin -> net
    outputs: dict[str, int]


@dataclass
class Netlist:
    top: str
    inputs: dict[str, list[int]]  # port -> nets, LSB first
    outputs: dict[str, list[int]]
    instances: list[Instance]
    n_nets: int
    lib: Library
    # derived by analyse():
    order: list[tuple[int, str]] = field(default_factory=list)  # (instance index, output pin | "ff")
    feedback: set[int] = field(default_factory=set)  # flip-flops whose loop is cut
    clock_nets: set[int] = field(default_factory=set)
    clock_cells: set[int] = field(default_factory=set)  # combinational cells on clock nets
    driver: dict[int, tuple[int, str]] = field(default_factory=dict)  # net -> (instance, pin)
    sinks: dict[int, list[tuple[int, str]]] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)  # net -> a public name from the netlist ("l0_n1_7[5]")

    @property
    def flops(self) -> list[int]:
        return [i for i, inst in enumerate(self.instances) if self.lib.cells[inst.type].ff is not None]

    @property
    def sequential(self) -> bool:
        return bool(self.flops)

    @property
    def clock_ports(self) -> list[str]:
        return [p for p, nets in self.inputs.items() if any(n in self.clock_nets for n in nets)]

    def data_inputs(self) -> dict[str, list[int]]:
        return {p: n for p, n in self.inputs.items() if p not in self.clock_ports}


def from_yosys(netlist_json: dict, top: str, lib: Library) -> Netlist:
    mods = netlist_json["modules"]
    if top not in mods:
        raise BespokeError(f"top module {top!r} not in the synthesised netlist ({sorted(mods)})")
    mod = mods[top]
    inputs, outputs, n_nets = {}, {}, 2
    for name, port in mod["ports"].items():
        nets = [_net(b) for b in port["bits"]]
        n_nets = max([n_nets, *[n + 1 for n in nets]])
        if port["direction"] == "input":
            inputs[name] = nets
        elif port["direction"] == "output":
            outputs[name] = nets
        else:
            raise BespokeError(f"port {name!r} is {port['direction']}: only input and output ports are supported")
    instances = []
    for name, cell in mod["cells"].items():
        if cell["type"] not in lib.cells:
            raise BespokeError(f"synthesis left cell {name!r} of type {cell['type']} that {lib.name} "
                               "does not have (memories and latches are not supported)")
        lc = lib.cells[cell["type"]]
        ins, outs = {}, {}
        for pin, bits in cell["connections"].items():
            net = _net(bits[0])
            n_nets = max(n_nets, net + 1)
            if pin in lc.inputs:
                ins[pin] = net
            elif pin in lc.outputs:
                outs[pin] = net
        instances.append(Instance(name, cell["type"], ins, outs))
    nl = Netlist(top, inputs, outputs, instances, n_nets, lib, names=_public_names(mod.get("netnames", {})))
    _analyse(nl)
    return nl


def _public_names(netnames: dict) -> dict[int, str]:
    """A name per net from Yosys' netnames: public names only (not `$...`), the shortest path first,
    so a net between two flattened modules is named as in their parent."""
    names: dict[int, str] = {}
    for name in sorted((n for n in netnames if not n.startswith("$")), key=lambda n: (n.count("."), n)):
        bits = netnames[name]["bits"]
        for k, b in enumerate(bits):
            if isinstance(b, int) and b not in names:
                names[b] = name if len(bits) == 1 else f"{name}[{k}]"
    return names


def _analyse(nl: Netlist) -> None:
    lib = nl.lib
    for i, inst in enumerate(nl.instances):
        for pin, net in inst.outputs.items():
            if net in nl.driver or net < 2:
                raise BespokeError(f"net driven twice or driving a constant at {inst.name}.{pin}")
            nl.driver[net] = (i, pin)
        for pin, net in inst.inputs.items():
            nl.sinks.setdefault(net, []).append((i, pin))
    # Clock nets: from flip-flop clock pins back through single-input cells (a clock inverter).
    todo = [inst.inputs[lib.cells[inst.type].ff.clock] for inst in nl.instances if lib.cells[inst.type].ff]
    while todo:
        net = todo.pop()
        if net in nl.clock_nets:
            continue
        nl.clock_nets.add(net)
        if net in nl.driver:
            i, _ = nl.driver[net]
            inst = nl.instances[i]
            if lib.cells[inst.type].ff or len(inst.inputs) != 1:
                raise BespokeError(f"clock net driven by logic ({inst.type} {inst.name}): gated or derived "
                                   "clocks are not supported")
            nl.clock_cells.add(i)
            todo.extend(inst.inputs.values())
        elif net < 2:
            raise BespokeError("a flip-flop clock is tied to a constant")
    # Topological order with flip-flops as one-cycle delays (Kahn; loops cut at a flip-flop).
    known = {CONST0, CONST1} | {n for nets in nl.inputs.values() for n in nets}
    waiting: dict[int, list] = {}  # net -> nodes waiting for it
    missing: dict[tuple[int, str], int] = {}  # node -> number of inputs not yet known
    ready: list[tuple[int, str]] = []
    cuts: list[tuple[int, str]] = []  # heap of flip-flops that had one unknown input (checked when used)

    def add(key, nets):
        unknown = [n for n in nets if n not in known]
        missing[key] = len(unknown)
        for n in unknown:
            waiting.setdefault(n, []).append(key)
        if not unknown:
            ready.append(key)
        elif key[1] == "ff" and len(unknown) == 1:
            heapq.heappush(cuts, key)

    d_net = {}
    for i, inst in enumerate(nl.instances):
        if i in nl.clock_cells:
            continue
        cell = lib.cells[inst.type]
        if cell.ff:
            d_net[i] = inst.inputs[cell.ff.next_state]
            add((i, "ff"), ([inst.inputs[cell.ff.clear]] if cell.ff.clear else []) + [d_net[i]])
        else:
            for pin, out in cell.outputs.items():
                add((i, pin), [inst.inputs[p] for p in out.inputs])
    order, done = [], set()
    while len(done) < len(missing):
        if not ready:
            # a loop: cut it at the first flip-flop whose only unknown input is its D input (a
            # flip-flop that stops qualifying, by being done or waiting for its clear, never does again)
            while cuts and (cuts[0] in done or missing[cuts[0]] != 1 or d_net[cuts[0][0]] in known):
                heapq.heappop(cuts)
            if not cuts:
                stuck = min(k for k in missing if k not in done)
                inst = nl.instances[stuck[0]]
                raise BespokeError(f"combinational loop through {inst.type} {inst.name}")
            nl.feedback.add(cuts[0][0])
            ready.append(heapq.heappop(cuts))
        k = ready.pop()
        if k in done:
            continue
        done.add(k)
        order.append(k)
        inst = nl.instances[k[0]]
        for net in (inst.outputs.values() if k[1] == "ff" else [inst.outputs[k[1]]]):
            if net in known:
                continue
            known.add(net)
            for w in waiting.pop(net, []):
                missing[w] -= 1
                if missing[w] == 0:
                    ready.append(w)
                elif missing[w] == 1 and w[1] == "ff":
                    heapq.heappush(cuts, w)
    nl.order = order


# --------------------------------------------------------------------------- simulation


MAX_LANES = 64  # chunks of the time axis simulated side by side (cycle-by-cycle simulator)
MIN_CHUNK = 64  # cycles per chunk at least


def _input_matrix(nl: Netlist, stimulus: dict[str, np.ndarray]) -> tuple[int, np.ndarray, np.ndarray]:
    """(T, data input nets, (T, nets) bool values), checking the stimulus against the ports."""
    T = next(iter(stimulus.values())).shape[0] if stimulus else 1
    nets, cols = [], []
    for port, port_nets in nl.data_inputs().items():
        if port not in stimulus:
            raise BespokeError(f"no stimulus for input port {port!r}")
        bits = np.asarray(stimulus[port], dtype=bool)
        if bits.shape != (T, len(port_nets)):
            raise ValueError(f"stimulus for {port!r} has shape {bits.shape}, expected {(T, len(port_nets))}")
        for k, net in enumerate(port_nets):
            if net >= 2:
                nets.append(net)
                cols.append(bits[:, k])
    x = np.stack(cols, axis=1) if cols else np.zeros((T, 0), dtype=bool)
    return T, np.array(nets, dtype=np.int64), x


def simulate(nl: Netlist, stimulus: dict[str, np.ndarray], max_passes: int | None = None,
             method: str = "auto", restarts=None) -> np.ndarray:
    """Net values over cycles: a (n_nets, T) bool array (possibly a transposed view).

    `stimulus` maps each data input port to a (T, width) bool array (bit 0 = LSB). Clock ports are
    not simulated as logic (they read 0 where logic uses them); flip-flops start at 0.
    method: "auto" (time-parallel without feedback, else cycle by cycle), "passes" (time-parallel
    fixed point, at most `max_passes` passes) or "cycles". restarts: cycles where the state depends
    on little history (first cycles of inferences); the cycle-by-cycle simulator cuts its chunks
    there when given, which only changes how fast it converges, never the result.
    """
    if method not in ("auto", "passes", "cycles"):
        raise ValueError(f"unknown simulation method {method!r}")
    T, in_nets, x = _input_matrix(nl, stimulus)
    if method == "cycles" or (method == "auto" and nl.feedback):
        return _simulate_cycles(nl, T, in_nets, x, restarts)
    return _simulate_passes(nl, T, in_nets, x, max_passes)


def _simulate_passes(nl: Netlist, T: int, in_nets: np.ndarray, x: np.ndarray, max_passes: int | None) -> np.ndarray:
    lib = nl.lib
    v = np.zeros((nl.n_nets, T), dtype=bool)
    v[CONST1] = True
    v[in_nets] = x.T
    prev_d = {i: np.zeros(T, dtype=bool) for i in nl.feedback}
    steps = []
    for i, pin in nl.order:
        inst = nl.instances[i]
        cell = lib.cells[inst.type]
        if pin == "ff":
            ff = cell.ff
            steps.append((True, i, inst.inputs[ff.next_state], inst.inputs.get(ff.clear) if ff.clear else None,
                          list(inst.outputs.values())))
        else:
            out = cell.outputs[pin]
            steps.append((False, out.evaluate, [inst.inputs[p] for p in out.inputs], inst.outputs[pin], None))
    passes = max_passes or T + 1
    for _ in range(passes):
        for is_ff, a, b, c, d in steps:
            if is_ff:
                src = prev_d[a] if a in prev_d else v[b]
                q = np.empty(T, dtype=bool)
                q[0] = False
                q[1:] = src[:-1]
                if c is not None:
                    q &= v[c]  # active-low clear, seen within the cycle
                for net in d:
                    v[net] = q
            else:
                v[c] = a(*[v[n] for n in b]) if b else np.broadcast_to(a(), (T,))
        changed = False
        for i in nl.feedback:
            d_net = nl.instances[i].inputs[lib.cells[nl.instances[i].type].ff.next_state]
            if not np.array_equal(prev_d[i], v[d_net]):
                prev_d[i] = v[d_net].copy()
                changed = True
        if not changed:
            return v
    raise BespokeError(f"sequential simulation did not settle in {passes} passes")


@dataclass
class _Program:
    """One clock cycle of the netlist as numpy operations on a (n_nets, lanes) state."""
    d_nets: np.ndarray  # flip-flop k's D net
    q_nets: np.ndarray  # outputs of flip-flops without clear ...
    q_ffs: np.ndarray  # ... and the flip-flop each one copies
    steps: list  # (evaluate | None, sources, output nets) by level; None: Q = state & clear


def _program(nl: Netlist) -> _Program:
    lib = nl.lib
    ff_index = {i: k for k, i in enumerate(nl.flops)}
    d_nets, q_nets, q_ffs = [], [], []
    for i in nl.flops:
        inst = nl.instances[i]
        ff = lib.cells[inst.type].ff
        d_nets.append(inst.inputs[ff.next_state])
        if not ff.clear:
            q_nets += inst.outputs.values()
            q_ffs += [ff_index[i]] * len(inst.outputs)
    level = np.zeros(nl.n_nets, dtype=np.int64)  # inputs, constants, flip-flop state: level 0
    groups: dict[tuple, tuple] = {}
    for i, pin in nl.order:  # topological: a clear or gate input is levelled before its reader
        inst = nl.instances[i]
        cell = lib.cells[inst.type]
        if pin == "ff":
            if not cell.ff.clear:
                continue
            clear = inst.inputs[cell.ff.clear]
            lv = int(level[clear]) + 1
            g = groups.setdefault((lv, 0, ""), (None, ([], []), []))
            for net in inst.outputs.values():
                g[1][0].append(ff_index[i])
                g[1][1].append(clear)
                g[2].append(net)
                level[net] = lv
        else:
            out = cell.outputs[pin]
            ins = [inst.inputs[p] for p in out.inputs]
            lv = int(level[ins].max()) + 1 if ins else 1
            g = groups.setdefault((lv, 1, out.function), (out.evaluate, tuple([] for _ in ins), []))
            for src, net in zip(g[1], ins):
                src.append(net)
            g[2].append(inst.outputs[pin])
            level[inst.outputs[pin]] = lv
    steps = [(f, [np.array(s, dtype=np.int64) for s in srcs], np.array(outs, dtype=np.int64))
             for _, (f, srcs, outs) in sorted(groups.items(), key=lambda kv: kv[0])]
    return _Program(np.array(d_nets, dtype=np.int64), np.array(q_nets, dtype=np.int64),
                    np.array(q_ffs, dtype=np.int64), steps)


def _lane_starts(T: int, restarts) -> np.ndarray:
    """First cycle of each chunk: evenly spread, moved to the nearest restart when restarts are given."""
    n = max(1, min(MAX_LANES, T // MIN_CHUNK))
    want = np.round(np.arange(1, n) * T / n).astype(np.int64)
    if restarts is not None:
        cand = np.unique(np.asarray(restarts, dtype=np.int64))
        cand = cand[(cand > 0) & (cand < T)]
        if not cand.size:
            return np.zeros(1, dtype=np.int64)
        k = np.searchsorted(cand, want)
        lo, hi = cand[np.maximum(k - 1, 0)], cand[np.minimum(k, len(cand) - 1)]
        want = np.where(want - lo <= hi - want, lo, hi)
    return np.unique(np.r_[0, want])


def _simulate_cycles(nl: Netlist, T: int, in_nets: np.ndarray, x: np.ndarray, restarts) -> np.ndarray:
    values = np.zeros((T, nl.n_nets), dtype=bool)  # cycle-major: a cycle of all nets is one row

    def record(lanes, c, t, live, s):
        if live.all():
            values[t] = s.T
        else:
            values[t[live]] = s[:, live].T

    _cycles(nl, in_nets, x, _lane_starts(T, restarts), record)
    return values.T


def toggle_counts(nl: Netlist, stimulus: dict[str, np.ndarray], restarts=None) -> tuple[np.ndarray, int]:
    """(transitions of every net, cycles T): what counting them in simulate()'s values gives, without
    keeping every cycle of a design with feedback in memory."""
    T, in_nets, x = _input_matrix(nl, stimulus)
    if not nl.feedback:
        v = _simulate_passes(nl, T, in_nets, x, None)
        return np.count_nonzero(v[:, 1:] != v[:, :-1], axis=1), T
    starts = _lane_starts(T, restarts)
    lens = np.diff(np.r_[starts, T])
    count = np.zeros((nl.n_nets, len(starts)), dtype=np.int64)  # within each lane
    first = np.zeros((nl.n_nets, len(starts)), dtype=bool)
    last = np.zeros((nl.n_nets, len(starts)), dtype=bool)
    run = {}  # the round in progress: its lanes' counts and previous cycle

    def record(lanes, c, t, live, s):
        if c == 0:
            first[:, lanes] = s
            run["count"] = np.zeros((nl.n_nets, len(lanes)), dtype=np.int32)
        else:
            run["count"] += (s != run["prev"]) & live  # lanes past their end count nothing
        run["prev"] = s.copy()
        ending = lens[lanes] == c + 1
        last[:, lanes[ending]] = s[:, ending]
        if c + 1 == lens[lanes].max():
            count[:, lanes] = run["count"]

    _cycles(nl, in_nets, x, starts, record)
    return count.sum(axis=1) + np.count_nonzero(first[:, 1:] != last[:, :-1], axis=1), T


def _cycles(nl: Netlist, in_nets: np.ndarray, x: np.ndarray, starts: np.ndarray, record) -> None:
    """Cycle-by-cycle simulation in lanes starting at `starts`, re-run until every lane starts from
    the state the previous one ends in. record(lanes, c, t, live, s) sees cycle c of every round:
    s is the (n_nets, lanes) values at cycles t (columns with live False are past the lane's end
    and must be ignored); a lane's last round is the exact one."""
    prog = _program(nl)
    lens = np.diff(np.r_[starts, len(x)])
    n_lanes, n_ff = len(starts), len(prog.d_nets)
    begin = np.zeros((n_lanes, n_ff), dtype=bool)  # state each lane starts from (guess: all zeros)
    end = np.zeros((n_lanes, n_ff), dtype=bool)
    lanes = np.arange(n_lanes)
    for _ in range(n_lanes + 1):
        _run_lanes(prog, nl.n_nets, in_nets, x, lanes, starts[lanes], lens[lanes], begin[lanes], end, record)
        follow = np.vstack([begin[:1], end[:-1]])
        lanes = np.flatnonzero((follow != begin).any(axis=1))
        if not lanes.size:
            return
        begin = follow
    raise RuntimeError("cycle-by-cycle simulation did not converge")  # cannot happen: lane k is exact after k+1 rounds


def _run_lanes(prog: _Program, n_nets: int, in_nets, x, lanes, starts, lens, state, end, record) -> None:
    """Simulate chunks [starts, starts + lens) side by side from `state`; set `end` to their final states."""
    s = np.zeros((n_nets, len(starts)), dtype=bool)  # net-major: a gate group gathers whole rows
    s[CONST1] = True
    state = state.T
    last = len(x) - 1
    for c in range(int(lens.max())):
        t = starts + c
        s[in_nets] = x[np.minimum(t, last)].T
        s[prog.q_nets] = state[prog.q_ffs]
        for f, srcs, outs in prog.steps:
            if f is None:  # flip-flops with an active-low clear, seen within the cycle
                s[outs] = state[srcs[0]] & s[srcs[1]]
            else:
                s[outs] = f(*[s[n] for n in srcs])
        record(lanes, c, t, c < lens, s)
        state = s[prog.d_nets]
        done = np.flatnonzero(lens == c + 1)
        end[lanes[done]] = state[:, done].T


def port_values(nl: Netlist, v: np.ndarray, port: str, signed: bool = False) -> np.ndarray:
    """Integer value of a port in every cycle (LSB-first bits)."""
    nets = nl.outputs.get(port) or nl.inputs[port]
    bits = v[nets].astype(np.int64)
    val = (bits << np.arange(len(nets))[:, None]).sum(axis=0)
    if signed and nets:
        val = np.where(val >> (len(nets) - 1), val - (1 << len(nets)), val)
    return val
