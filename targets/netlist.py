"""The mapped gate-level netlist (from Yosys write_json) and a cycle-level numpy simulator.

The simulator evaluates every cell of the mapped netlist on a whole sequence of cycles at once
(one numpy bool array per net, one element per cycle) in topological order. A flip-flop's output is
its input delayed by one cycle; when flip-flops form a loop (enables, counters) the loop is cut at a
flip-flop whose previous-pass input is used, and passes repeat until nothing changes, which is
exact after at most (cycles + 1) passes and typically takes two or three. Zero-delay model: glitches
are not counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from compiler.errors import BespokeError
from targets.liberty import Library

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
    nl = Netlist(top, inputs, outputs, instances, n_nets, lib)
    _analyse(nl)
    return nl


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

    def add(key, nets):
        unknown = [n for n in nets if n not in known]
        missing[key] = len(unknown)
        for n in unknown:
            waiting.setdefault(n, []).append(key)
        if not unknown:
            ready.append(key)

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
            # a loop: cut it at the first flip-flop whose only unknown input is its D input
            cand = [k for k, m in missing.items()
                    if k not in done and k[1] == "ff" and m == 1 and d_net[k[0]] not in known]
            if not cand:
                stuck = min(k for k in missing if k not in done)
                inst = nl.instances[stuck[0]]
                raise BespokeError(f"combinational loop through {inst.type} {inst.name}")
            nl.feedback.add(min(cand)[0])
            ready.append(min(cand))
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
    nl.order = order


# --------------------------------------------------------------------------- simulation


def simulate(nl: Netlist, stimulus: dict[str, np.ndarray], max_passes: int | None = None) -> np.ndarray:
    """Net values over cycles: a (n_nets, T) bool array.

    `stimulus` maps each data input port to a (T, width) bool array (bit 0 = LSB). Clock ports are
    not simulated as logic (they read 0 where logic uses them); flip-flops start at 0.
    """
    lib = nl.lib
    T = next(iter(stimulus.values())).shape[0] if stimulus else 1
    v = np.zeros((nl.n_nets, T), dtype=bool)
    v[CONST1] = True
    for port, nets in nl.data_inputs().items():
        if port not in stimulus:
            raise BespokeError(f"no stimulus for input port {port!r}")
        bits = np.asarray(stimulus[port], dtype=bool)
        if bits.shape != (T, len(nets)):
            raise ValueError(f"stimulus for {port!r} has shape {bits.shape}, expected {(T, len(nets))}")
        for k, net in enumerate(nets):
            if net >= 2:
                v[net] = bits[:, k]
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


def port_values(nl: Netlist, v: np.ndarray, port: str, signed: bool = False) -> np.ndarray:
    """Integer value of a port in every cycle (LSB-first bits)."""
    nets = nl.outputs.get(port) or nl.inputs[port]
    bits = v[nets].astype(np.int64)
    val = (bits << np.arange(len(nets))[:, None]).sum(axis=0)
    if signed and nets:
        val = np.where(val >> (len(nets) - 1), val - (1 << len(nets)), val)
    return val
