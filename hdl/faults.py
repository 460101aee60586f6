"""Fault simulation on the netlist: stuck-at bits and transient register bit flips, batched.

A fault forces one bit of one net: stuck-at-0 or stuck-at-1 for every vector, or a transient flip
of a register's bit for one vector (a single-event upset in the cycle that vector passes the
register). A *trial* is a set of faults present together. `FaultSim` evaluates many trials on a
batch of vectors at once: values are numpy arrays [trials, vectors], and only the fan-out cone of
a trial's faults is evaluated again, the rest read the fault-free values once computed.

Semantics are the emitted Verilog's, so a forced value travels as it would in the circuit: every
net holds its declared width (hdl.netlist.Netlist.type_of, the width write_verilog declares), so a
cell's result is wrapped into its net's two's-complement width; a `select` whose index leaves its
range takes its last choice (the case statement's default). Registers of a feed-forward pipeline
are read as the value of the same vector (its latency does not matter to what it computes);
netlists with feedback (the folded engine) are refused.

Sites: every bit of every net a cell computes, and of the input port's pins, except constants and
pure wiring (shifts, bit slices, concatenations: their bits are other nets' bits).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from bespoke.hdl.netlist import KINDS, Netlist

WIRING = ("const", "shl", "shr", "bits", "concat")
STUCK_AT_0, STUCK_AT_1, FLIP = 0, 1, 2
KIND_NAMES = ("stuck-at-0", "stuck-at-1", "flip")
LOST = -(1 << 62)  # an output element of a vector whose out_valid a fault cleared: no result


class Site(NamedTuple):
    net: int
    bit: int


class FaultSim:
    """The fault-free values of a netlist on a batch of input vectors, and `outputs(trials)`."""

    def __init__(self, nl: Netlist, inputs: dict[str, np.ndarray]):
        if nl.has_feedback():
            raise ValueError(f"{nl.name}: fault simulation needs a netlist without feedback (an unrolled design, "
                             "pipelined or not); this one has feedback (a folded engine)")
        self.nl = nl
        self.width = np.array([nl.type_of(n)[0] for n in range(nl.n_nets)], dtype=np.int64)
        self.signed = np.array([nl.type_of(n)[1] for n in range(nl.n_nets)], dtype=bool)
        if self.width.max(initial=1) > 62:
            raise ValueError(f"{nl.name}: a net is {int(self.width.max())} bits wide; fault simulation works in int64")
        self.cells = _evaluation_order(nl)
        self.input_nets = {n for nets in nl.inputs.values() for n in nets}
        self.driver = {o: k for k, c in enumerate(self.cells) for o in c.outs if o is not None}  # net -> cell index
        self.out_nets = nl.outputs["y"]
        self.valid = nl.outputs.get("out_valid", [None])[0]  # a pipeline's: where it is 0 the result is lost
        self.golden: list[np.ndarray | None] = [None] * nl.n_nets
        self.batch = None
        inputs = {port: np.ones((len(inputs["x"]), 1), np.int64) for port in nl.inputs if port != "x"} | inputs  # in_valid
        for port, nets in nl.inputs.items():
            x = np.asarray(inputs[port], dtype=np.int64)
            if x.ndim != 2 or x.shape[1] != len(nets):
                raise ValueError(f"port {port}: expected [batch, {len(nets)}] values, got shape {list(x.shape)}")
            self.batch = x.shape[0]
            for k, n in enumerate(nets):
                self.golden[n] = x[:, k]
        for c in self.cells:
            for o, v in zip(c.outs, self._cell(c, [self.golden[i] for i in c.ins])):
                if o is not None:
                    self.golden[o] = np.broadcast_to(np.asarray(v, dtype=np.int64), (self.batch,))

    def sites(self, registers_only: bool = False) -> list[Site]:
        """Every fault site (module doc), in net order; with `registers_only`, register bits only."""
        if registers_only:
            nets = [c.outs[0] for c in self.cells if c.kind == "reg"]
        else:
            nets = [n for nets in self.nl.inputs.values() for n in nets]
            nets += [o for c in self.cells if c.kind not in WIRING for o in c.outs if o is not None]
        return [Site(n, b) for n in sorted(set(nets)) for b in range(int(self.width[n]))]

    def fault_free(self) -> np.ndarray:
        """The output y without faults, [vectors, outputs]."""
        return self._y(self.golden.__getitem__, (self.batch,))

    def outputs(self, nets: np.ndarray, bits: np.ndarray, kinds: np.ndarray, vectors: np.ndarray | None = None,
                ) -> np.ndarray:
        """The output y under T trials of k faults each: `nets`, `bits`, `kinds` (STUCK_AT_0/1,
        FLIP) are [T, k] arrays (a trial's sites distinct), `vectors` [T, k] the vector a FLIP
        hits. Returns [T, vectors, outputs], LOST where a fault cleared out_valid."""
        nets, bits, kinds = (np.asarray(a, dtype=np.int64).reshape(len(nets), -1) for a in (nets, bits, kinds))
        forced = self._masks(nets, bits, kinds, None if vectors is None else np.asarray(vectors).reshape(nets.shape))
        live: dict[int, np.ndarray] = {}  # nets whose value differs in some trial: [T, vectors]
        for n in forced.keys() & self.input_nets:
            live[n] = self._force(n, self.golden[n], forced[n])
        first = min((self.driver.get(n, 0) for n in forced), default=0)  # cells before it see no fault
        for c in self.cells[first:]:
            if not any(i in live for i in c.ins) and not any(o in forced for o in c.outs):
                continue
            outs = self._cell(c, [live.get(i, self.golden[i]) for i in c.ins])
            for o, v in zip(c.outs, outs):
                if o is None:
                    continue
                v = self._wrap(o, np.asarray(v, dtype=np.int64))
                if o in forced:
                    v = self._force(o, v, forced[o])
                if v.ndim == 2 and not np.array_equal(v, np.broadcast_to(self.golden[o], v.shape)):
                    live[o] = v
                else:
                    live.pop(o, None)
        return self._y(lambda n: live.get(n, self.golden[n]), (len(nets), self.batch))

    def _y(self, value, shape) -> np.ndarray:
        """y's elements (value(net) each) stacked on a last axis; LOST where a pipeline's out_valid is not 1."""
        y = np.stack([np.broadcast_to(value(n), shape) for n in self.out_nets], axis=-1)
        if self.valid is not None:
            y = np.where(np.broadcast_to(value(self.valid), shape)[..., None] == 1, y, LOST)
        return y

    # -- internals
    def _masks(self, nets, bits, kinds, vectors) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
        """Per forced net: AND and OR masks [T, 1] (stuck-at) and an XOR mask [T, vectors] (flips) or None."""
        t_count = len(nets)
        forced: dict[int, list] = {}
        for (t, k), n in np.ndenumerate(nets):
            n, b, kind = int(n), int(bits[t, k]), int(kinds[t, k])
            if n not in forced:
                forced[n] = [np.full((t_count, 1), -1, np.int64), np.zeros((t_count, 1), np.int64), None]
            m = forced[n]
            if kind == STUCK_AT_0:
                m[0][t] &= ~(1 << b)
            elif kind == STUCK_AT_1:
                m[1][t] |= 1 << b
            else:
                if m[2] is None:
                    m[2] = np.zeros((t_count, self.batch), np.int64)
                m[2][t, int(vectors[t, k])] ^= 1 << b
        return {n: tuple(m) for n, m in forced.items()}

    def _force(self, net: int, v: np.ndarray, masks) -> np.ndarray:
        and_m, or_m, xor_m = masks
        u = (self._unsigned(net, v) & and_m) | or_m
        return self._signed(net, u if xor_m is None else u ^ xor_m)

    def _wrap(self, net: int, v: np.ndarray) -> np.ndarray:
        """v in net's declared width: what the Verilog wire holds."""
        return self._signed(net, self._unsigned(net, v))

    def _unsigned(self, net: int, v: np.ndarray) -> np.ndarray:
        """v's two's-complement bits in net's width."""
        return v & ((1 << int(self.width[net])) - 1)

    def _signed(self, net: int, u: np.ndarray) -> np.ndarray:
        if not self.signed[net]:
            return u
        w = int(self.width[net])
        return u - (((u >> (w - 1)) & 1) << w)

    def _cell(self, c, args: list[np.ndarray]):
        if c.kind == "reg":  # the same vector's value (module doc)
            return args
        if c.kind == "select":  # out of range: the case statement's default, the last choice
            s, choices = args[0], np.stack(np.broadcast_arrays(*args[1:]))
            index = np.minimum(s, len(args) - 2)
            return np.take_along_axis(choices, np.broadcast_to(index, choices.shape[1:])[None], 0)[0],
        return KINDS[c.kind].fn(c.params, *args)


def _evaluation_order(nl: Netlist) -> list:
    """The netlist's cells with each register moved to just after its input is computed, so one
    pass in order evaluates every cell of a feed-forward pipeline with registers as wires."""
    defined = {n for nets in nl.inputs.values() for n in nets}
    waiting: dict[int, list] = {}
    order = []

    def emit(c):
        order.append(c)
        for o in c.outs:
            if o is not None:
                defined.add(o)
                for r in waiting.pop(o, []):
                    emit(r)

    for c in nl.cells:
        if c.kind == "reg" and c.ins[0] not in defined:
            waiting.setdefault(c.ins[0], []).append(c)
        else:
            emit(c)
    return order

