"""The netlist interpreter: bit-exact, numpy, batched over vectors.

It runs every cell of an hdl.netlist.Netlist with the semantics declared in netlist.KINDS, one
numpy operation per cell over the whole batch, so a netlist is checked against the layer-level
golden model in milliseconds, before any RTL simulation; it is also the substrate for fault
injection (`override`: force nets to given values).

Combinational netlists: `run(nl, {"x": codes})` gives every net's value per vector. Clocked
netlists without feedback (pipelines: every register path runs forwards) take one vector per
clock cycle along the batch axis: a register's output is its input delayed by one cycle (its
`init` before the first edge), so one pass in cell order still evaluates the whole time axis. Netlists with feedback (the folded
engine's counters and accumulators) run cycle by cycle with `run_cycles`, the batch axis then
being independent copies of the circuit (one vector each).
"""

from __future__ import annotations

import numpy as np

from typing import Callable

from bespoke.hdl.netlist import CLOCKED, KINDS, Netlist


class RangeViolation(AssertionError):
    """A cell drove a value outside its net's proven range: the planner's ranges are wrong."""


def run(nl: Netlist, inputs: dict[str, np.ndarray], check: bool = True, override: dict[int, np.ndarray] | None = None,
        ) -> list[np.ndarray | None]:
    """Every net's values for the batch: `inputs[port]` is [batch, elements] (int). Returns a list
    indexed by net (None for nets nothing drives). With `check`, every value is checked against
    its net's range. `override` replaces the values a net carries (fault injection)."""
    values: list[np.ndarray | None] = [None] * nl.n_nets
    batch = None
    for port, nets in nl.inputs.items():
        x = np.asarray(inputs[port], dtype=np.int64)
        if x.ndim != 2 or x.shape[1] != len(nets):
            raise ValueError(f"port {port}: expected [batch, {len(nets)}] values, got shape {list(x.shape)}")
        batch = x.shape[0]
        for k, n in enumerate(nets):
            values[n] = x[:, k]
    if batch is None:
        raise ValueError("the netlist has no input port")
    override = override or {}
    pending = []  # registers: (cell, input net) resolved once their input is known
    for c in nl.cells:
        if c.kind == "reg":
            (q,) = c.outs
            pending.append((q, c.ins[0], int(c.params.get("init", 0))))
            continue
        args = [_value(values, i, pending, batch, override) for i in c.ins]
        outs = KINDS[c.kind].fn(c.params, *args)
        for o, v in zip(c.outs, outs):
            if o is None:
                continue
            v = np.broadcast_to(np.asarray(v, dtype=np.int64), (batch,))
            values[o] = override.get(o, v)
            if check:
                _check(nl, o, values[o], c)
    for q, d, init in pending:
        if values[q] is None:
            values[q] = _delayed(values, d, init, batch, pending)
    return values


def outputs(nl: Netlist, inputs: dict[str, np.ndarray], check: bool = True) -> dict[str, np.ndarray]:
    """The output ports' values, each [batch, elements]."""
    values = run(nl, inputs, check)
    return {port: np.stack([values[n] for n in nets], axis=1) if nets else np.zeros((0, 0), np.int64)
            for port, nets in nl.outputs.items()}


def _value(values, net, pending, batch, override):
    if values[net] is None:  # a register output: its input, one cycle later
        reg = next((p for p in pending if p[0] == net), None)
        if reg is None:
            raise ValueError(f"net {net} is read before anything drives it")
        values[net] = override.get(net, _delayed(values, reg[1], reg[2], batch, pending))
    return values[net]


def _delayed(values, d, init, batch, pending):
    if values[d] is None:
        raise ValueError(f"register input net {d} is computed after the register is read: the netlist has feedback, "
                         "which this interpreter's time-axis evaluation does not handle")
    return np.concatenate([np.full(1, init, np.int64), values[d][:-1]]) if batch else values[d]


def _check(nl: Netlist, net: int, v: np.ndarray, cell) -> None:
    lo, hi = nl.lo[net], nl.hi[net]
    bad = (v < lo) | (v > hi)
    if bad.any():
        k = int(np.argmax(bad))
        raise RangeViolation(f"net {net} ({nl.names[net] or cell.kind}, group {cell.group!r}): value {int(v[k])} "
                             f"of vector {k} outside its proven range [{lo}, {hi}]")


def run_cycles(nl: Netlist, stimulus: Callable[[int], dict[str, np.ndarray]], cycles: int, batch: int,
               watch: tuple[str, ...] = ("y",), check: bool = True,
               observe: Callable[[int, dict[str, np.ndarray]], None] | None = None) -> dict[str, np.ndarray]:
    """Run a clocked netlist (feedback allowed) for `cycles` clock cycles on `batch` copies.

    Every register and ROM starts at its initial state (its `init`; ROM outputs 0), which is the
    state reset leaves. In cycle t, `stimulus(t)` gives the input ports' values ([batch, elements]
    each, or broadcastable), the combinational cells settle, and the rising edge that ends the
    cycle loads the next state. With `check`, every net's value is checked against its range in
    every cycle. Returns the watched output ports per cycle, each [cycles, batch, elements].
`observe(t, watched)`, if given, sees cycle t's watched ports before its edge, so a stimulus can
answer a handshake (offer the next vector once in_ready has taken this one).

    The combinational cells are compiled once into one straight-line numpy function (`_Compiled`):
    a folded engine runs thousands of cycles, and per-cell dispatch would cost ~20x more.
    """
    comb = _Compiled(nl, watch)
    state: dict[int, np.ndarray] = {}
    for c in nl.cells:
        if c.kind == "reg":
            state[c.outs[0]] = np.full(batch, int(c.params.get("init", 0)), np.int64)
        elif c.kind == "rom":
            state.update({o: np.zeros(batch, np.int64) for o in c.outs if o is not None})
    consts = [np.full(batch, v, np.int64) for v in comb.const_values]
    trace = {port: np.zeros((cycles, batch, len(nl.outputs[port])), np.int64) for port in watch}
    for t in range(cycles):
        ports = {}
        for port, x in stimulus(t).items():
            ports[port] = np.broadcast_to(np.asarray(x, dtype=np.int64), (batch, len(nl.inputs[port])))
        sources = [ports[port][:, k] for port, k in comb.port_sources] + [state[q] for q in comb.state_sources] + consts
        sinks, checked = comb.step(sources)
        if check:
            comb.check(checked, t)
        value = dict(zip(comb.sinks, sinks))
        for port in watch:
            trace[port][t] = np.stack([value[n] for n in nl.outputs[port]], axis=1)
        if observe is not None:
            observe(t, {port: trace[port][t] for port in watch})
        for c in comb.clocked:
            if c.kind == "reg":
                state[c.outs[0]] = value[c.ins[0]]
            else:
                words = c.params["data"][value[c.ins[0]]]
                for k, o in enumerate(c.outs):
                    if o is not None:
                        state[o] = words[:, k]
    return trace


class _Compiled:
    """The combinational cells of a netlist as one generated function: sources (input port
    elements, clocked outputs, constants) in, sinks (what registers, ROM addresses and watched
    ports read) and every computed net (for the range check) out."""

    def __init__(self, nl: Netlist, watch: tuple[str, ...]):
        self.nl = nl
        self.clocked = [c for c in nl.cells if c.kind in CLOCKED]
        self.port_sources = [(port, k) for port, nets in nl.inputs.items() for k in range(len(nets))]
        self.state_sources = [o for c in self.clocked for o in c.outs if o is not None]
        consts = [c for c in nl.cells if c.kind == "const"]
        self.const_values = [int(c.params["value"]) for c in consts]
        source_nets = [nl.inputs[p][k] for p, k in self.port_sources] + self.state_sources + [c.outs[0] for c in consts]
        self.sinks = list(dict.fromkeys([c.ins[0] for c in self.clocked] + [n for p in watch for n in nl.outputs[p]]))
        lines = ["def step(src):"] + [f"    n{n} = src[{k}]" for k, n in enumerate(source_nets)]
        self.checked: list[int] = list(self.state_sources)  # a register's range may be tighter than its input's
        self.fns: list = []
        for c in nl.cells:
            if c.kind in CLOCKED or c.kind == "const":
                continue
            lines += ["    " + line for line in self._code(c)]
            self.checked += [o for o in c.outs if o is not None]
        lines.append("    return (" + "".join(f"n{n}, " for n in self.sinks) + "), "
                     + (f"np.stack(({''.join(f'n{n}, ' for n in self.checked)}))" if self.checked else "None"))
        scope = {"np": np, "fns": self.fns}
        exec(compile("\n".join(lines), f"<netlist {nl.name}>", "exec"), scope)
        self.step = scope["step"]
        self.lo = np.array([nl.lo[n] for n in self.checked], dtype=np.int64)[:, None]
        self.hi = np.array([nl.hi[n] for n in self.checked], dtype=np.int64)[:, None]

    def _code(self, c) -> list[str]:
        a = [f"n{i}" for i in c.ins]
        o = [f"n{i}" if i is not None else "_" for i in c.outs]
        p, k = c.params, c.kind
        shifted = lambda x, s: f"({x} << {s})" if s else x
        simple = {
            "not": lambda: f"1 - {a[0]}",
            "and": lambda: " & ".join(a), "or": lambda: " | ".join(a), "xor": lambda: " ^ ".join(a),
            "add": lambda: f"{shifted(a[0], p['sa'])} + {shifted(a[1], p['sb'])}",
            "sub": lambda: f"{shifted(a[0], p['sa'])} - {shifted(a[1], p['sb'])}",
            "shl": lambda: f"{a[0]} << {p['k']}", "shr": lambda: f"{a[0]} >> {p['k']}",
            "bits": lambda: f"({a[0]} >> {p['lo']}) & {(1 << p['n']) - 1}",
            "cmp": lambda: f"({a[0]} {p['op']} {a[1]}).astype(np.int64)",
            "mux": lambda: f"{a[2]} + {a[0]} * ({a[1]} - {a[2]})",  # s is a bit: cheaper than np.where
            "mul": lambda: f"{a[0]} * {a[1]}",
            "select": lambda: f"np.array(({', '.join(a[1:])},))[{a[0]}, np.arange(len({a[0]}))]",
            "unsign": lambda: f"{a[0]} + {1 << (p['width'] - 1)}",
            "concat": lambda: " | ".join(shifted(x, j) for j, x in enumerate(a)),
        }
        if k in simple:
            return [f"{o[0]} = {simple[k]()}"]
        if k == "ha":
            return [f"{o[0]}, {o[1]} = {a[0]} ^ {a[1]}, {a[0]} & {a[1]}"]
        if k == "fa":
            return [f"{o[0]}, {o[1]} = {a[0]} ^ {a[1]} ^ {a[2]}, ({a[0]} & {a[1]}) | (({a[0]} ^ {a[1]}) & {a[2]})"]
        self.fns.append((KINDS[k].fn, p))  # anything else through its declared meaning
        return [f"{', '.join(o)}, = fns[{len(self.fns) - 1}][0](fns[{len(self.fns) - 1}][1], {', '.join(a)})"]

    def check(self, values: np.ndarray | None, cycle: int) -> None:
        if values is None:
            return
        bad = (values < self.lo) | (values > self.hi)
        if bad.any():
            row, k = map(int, np.argwhere(bad)[0])
            net = self.checked[row]
            cell = next(c for c in self.nl.cells if net in c.outs)
            raise RangeViolation(f"net {net} ({self.nl.names[net] or cell.kind}, group {cell.group!r}): value "
                                 f"{int(values[row, k])} of copy {k} in cycle {cycle} outside its proven range "
                                 f"[{self.nl.lo[net]}, {self.nl.hi[net]}]")
