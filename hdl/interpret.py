"""The netlist interpreter: bit-exact, numpy, batched over vectors.

It runs every cell of an hdl.netlist.Netlist with the semantics declared in netlist.KINDS, one
numpy operation per cell over the whole batch, so a netlist is checked against the layer-level
golden model in milliseconds, before any RTL simulation; it is also the substrate for fault
injection (`override`: force nets to given values).

Combinational netlists: `run(nl, {"x": codes})` gives every net's value per vector. Clocked
netlists without feedback (pipelines: every register path runs forwards) take one vector per
clock cycle along the batch axis: a register's output is its input delayed by one cycle (its
`init` before the first edge), so one pass in cell order still evaluates the whole time axis.
"""

from __future__ import annotations

import numpy as np

from bespoke.hdl.netlist import KINDS, Netlist


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
