"""The netlist IR: a circuit as cells over numbered nets. Pure Python, no Amaranth.

Below the layer IR (which says *what* is computed) the netlist says *how*: every adder, gate,
comparator and register, with the exact range of every signal. The architecture planners build
it once; the Verilog writers, the interpreter (hdl.interpret), the cost model
(targets.estimate) and, later, approximation and fault injection all read it.

Nets. A net is an integer signal with a proven range [lo, hi]; its type (width, signed) is the
minimal one holding that range (`bits_for_range`), so a bit net has a range inside [0, 1]. Nets
are numbered 0..n-1 in the order they are made.

Cells. A cell of kind K reads the nets `ins` and drives the nets `outs` (None for an output
nobody reads); `params` are the kind's constants. What each kind computes is declared once, in
KINDS below, on unbounded integers; the value a cell drives always lies in the driven net's range
(the planner proves it, the interpreter checks it; in a clocked netlist some ranges are invariants
of the schedule, e.g. an accumulator only ever holds a partial sum, checked on every cycle). Cells are kept in topological order: a cell
reads only netlist inputs, register outputs and nets driven by earlier cells, so one pass in list
order evaluates a combinational netlist. Each cell records the `group` (the layer-IR node) and,
where there is one, the `neuron` it belongs to: per-layer area, approximation and fault
injection address cells by them.

Ports. `inputs` and `outputs` map a port name to its element nets (port `x` is the input vector,
`y` the output vector: the port contract of hdl.lower; one-bit handshake ports such as `in_valid`,
`in_ready`, `out_valid`, `out_ready` are ports of one net). A clocked netlist has `reg` and `rom`
cells (CLOCKED), which drive their outputs from the state of the previous clock edge; their
outputs may be read before the cell in list order (feedback: counters, enables, accumulators).
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, NamedTuple

from bespoke.compiler.ir import bits_for_range


class Kind(NamedTuple):
    """A cell kind: input and output counts (None: any), and its meaning.

    `fn(params, *ins) -> tuple of outs` works on Python ints and on numpy int64 arrays alike
    (the interpreter calls it batched); `bit_inputs` says the inputs must be bits.
    """

    n_in: int | None
    n_out: int | None
    fn: Callable
    bit_inputs: bool = False
    doc: str = ""


def _sum_ge(params, *xs):
    weights, threshold = params["weights"], params["threshold"]
    return (sum(w * x for w, x in zip(weights, xs)) >= threshold) * 1,


def _lut(params, *xs):
    index = sum(x << k for k, x in enumerate(xs))
    table = params["table"]  # a Python int: may exceed 64 bits, so index into its bits
    if isinstance(index, int):
        return (table >> index) & 1,
    import numpy as np

    return np.array([(table >> i) & 1 for i in range(1 << len(xs))], dtype=np.int64)[index],


def _cmp(params, a, b):
    op = params["op"]
    result = {">=": a >= b, ">": a > b, "<=": a <= b, "<": a < b, "==": a == b, "!=": a != b}[op]
    return result * 1,


def _select(params, s, *choices):
    if isinstance(s, int):
        return choices[s],
    import numpy as np

    table = np.stack(np.broadcast_arrays(*choices, s)[:-1])  # [choices, batch]
    return table[s, np.arange(table.shape[1])],


def _rom(params, addr):
    return tuple(params["data"][addr].T) if not isinstance(addr, int) else tuple(int(v) for v in params["data"][addr])


def _concat(params, *bits):
    return sum(b << k for k, b in enumerate(bits)),


def _reduce(op):
    def fn(params, *xs):
        acc = xs[0]
        for x in xs[1:]:
            acc = op(acc, x)
        return acc,
    return fn


KINDS: dict[str, Kind] = {
    "const": Kind(0, 1, lambda p: (p["value"],), doc="y = value"),
    "not": Kind(1, 1, lambda p, a: (1 - a,), True, "y = ~a (a bit)"),
    "and": Kind(None, 1, _reduce(lambda a, b: a & b), True, "y = a & b & ... (bits)"),
    "or": Kind(None, 1, _reduce(lambda a, b: a | b), True, "y = a | b | ... (bits)"),
    "xor": Kind(None, 1, _reduce(lambda a, b: a ^ b), True, "y = a ^ b ^ ... (bits)"),
    "ha": Kind(2, 2, lambda p, a, b: (a ^ b, a & b), True, "half adder: (s, co) = a + b"),
    "fa": Kind(3, 2, lambda p, a, b, c: (a ^ b ^ c, (a & b) | ((a ^ b) & c)), True,
               "full adder: (s, co) = a + b + c; a full adder with s unused is a majority gate"),
    "add": Kind(2, 1, lambda p, a, b: ((a << p["sa"]) + (b << p["sb"]),), doc="y = (a << sa) + (b << sb)"),
    "sub": Kind(2, 1, lambda p, a, b: ((a << p["sa"]) - (b << p["sb"]),), doc="y = (a << sa) - (b << sb)"),
    "shl": Kind(1, 1, lambda p, a: (a << p["k"],), doc="y = a << k (wiring)"),
    "shr": Kind(1, 1, lambda p, a: (a >> p["k"],), doc="y = a >> k, arithmetic: floor(a / 2^k) (wiring)"),
    "bits": Kind(1, 1, lambda p, a: ((a >> p["lo"]) & ((1 << p["n"]) - 1),),
                 doc="y = bits lo..lo+n-1 of a's two's complement, unsigned (wiring)"),
    "concat": Kind(None, 1, _concat, True, "y = sum b_k << k, bits LSB first, unsigned (wiring)"),
    "cmp": Kind(2, 1, _cmp, doc="y = a op b, op one of >= > <= < == !="),
    "mux": Kind(3, 1, lambda p, s, a, b: (s * a + (1 - s) * b,), doc="y = a if s else b (s a bit)"),
    "tlg": Kind(None, 1, _sum_ge, True, "threshold gate: y = [sum w_i x_i >= threshold], integer weights"),
    "lut": Kind(None, 1, _lut, True, "y = bit (sum x_k << k) of the truth table `table`"),
    "unsign": Kind(1, 1, lambda p, a: (a + (1 << (p["width"] - 1)),),
                   doc="y = a + 2^(width-1): a width-bit signed a with its sign bit inverted, read as unsigned (one inverter)"),
    "mul": Kind(2, 1, lambda p, a, b: (a * b,), doc="y = a * b"),
    "select": Kind(None, 1, _select, doc="y = ins[1 + s]: choice s of the others (s's range lies in 0..choices-1)"),
    "reg": Kind(1, 1, lambda p, d: (d,), doc="q = d of the previous rising edge (init before the first; with reset, rst sets init)"),
    "rom": Kind(1, None, _rom, doc="registered ROM read: output k = data[addr][k] of the previous rising edge (0 before "
                "the first; rst does not clear it); `data` is an int array [depth, outputs]"),
}
CLOCKED = ("reg", "rom")  # kinds whose outputs change on the clock edge: state, read before driven

def ints(values) -> list[int]:
    """Python ints (exact, unbounded) from a numpy array or any iterable of integers: what net
    ranges and plan constants are made of."""
    if getattr(values, "dtype", None) is not None and values.dtype.kind in "iu":
        return values.tolist()  # the same ints, converted in C (IR ranges of big layers)
    return [int(v) for v in values]


@contextmanager
def gc_paused():
    """Python's cyclic garbage collector off for a block (or, as a decorator, a function) that
    builds or walks a big netlist: each cell is a few tuples and no reference cycles, but the
    collector traverses them all again and again as they pile up; for bnn_cnn's 335k cells that
    took as long as planning them (measured: plan_unrolled 1.57 s with it, 0.77 s without)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


WIRING = ("shl", "shr", "bits", "concat", "const")  # kinds that cost no logic


NO_PARAMS: dict = {}  # the params of every cell kind without constants: one shared dict, never mutated


class Cell(NamedTuple):
    """A cell (see the module docstring). A named tuple: a big netlist has hundreds of thousands,
    and a tuple is made 3x faster than a frozen dataclass. `params` is never mutated."""

    kind: str
    ins: tuple[int, ...]
    outs: tuple[int | None, ...]
    params: dict = NO_PARAMS
    group: str = ""
    neuron: int | None = None


@dataclass
class Netlist:
    """Cells over numbered nets (see the module docstring), with input and output ports."""

    name: str = "top"
    lo: list[int] = field(default_factory=list)
    hi: list[int] = field(default_factory=list)
    names: list[str | None] = field(default_factory=list)  # name hints for readable Verilog
    cells: list[Cell] = field(default_factory=list)
    inputs: dict[str, list[int]] = field(default_factory=dict)
    outputs: dict[str, list[int]] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)  # e.g. latency, architecture, layer descriptions
    # the declared value range of a port's elements (the port contract); default: its nets' hull
    port_ranges: dict[str, tuple[int, int]] = field(default_factory=dict)

    # -- building
    def net(self, lo: int, hi: int, name: str | None = None) -> int:
        lo, hi = int(lo), int(hi)
        if lo > hi:
            raise ValueError(f"empty range [{lo}, {hi}]")
        self.lo.append(lo)
        self.hi.append(hi)
        self.names.append(name)
        return len(self.lo) - 1

    def add(self, kind: str, ins, out_ranges, params: dict | None = None, group: str = "", neuron: int | None = None,
            names=None) -> tuple[int | None, ...]:
        """A cell of `kind` reading `ins`, driving new nets of the given ranges (None: unused output)."""
        names = names or (None,) * len(out_ranges)
        outs = tuple([None if r is None else self.net(r[0], r[1], nm) for r, nm in zip(out_ranges, names)])
        self.cells.append(Cell(kind, tuple(map(int, ins)), outs, params or NO_PARAMS, group, neuron))
        return outs

    def add_cells(self, cells: list[Cell], lo: list[int], hi: list[int]) -> None:
        """Cells already built over new unnamed nets n_nets.. with ranges lo, hi (Python ints): a
        stamped-out plan (hdl.unrolled's popcounts) skips add's per-cell conversions."""
        self.lo += lo
        self.hi += hi
        self.names += [None] * len(lo)
        self.cells += cells

    def add1(self, kind: str, ins, lo: int, hi: int, params: dict | None = None, group: str = "", neuron: int | None = None,
             name: str | None = None) -> int:
        """A one-output cell; returns its output net."""
        lo, hi = int(lo), int(hi)
        if lo > hi:
            raise ValueError(f"empty range [{lo}, {hi}]")
        out = len(self.lo)  # net(lo, hi, name), inlined: planners make hundreds of thousands
        self.lo.append(lo)
        self.hi.append(hi)
        self.names.append(name)
        # Cell(...) without the Python frame of its __new__: planners make hundreds of thousands
        self.cells.append(tuple.__new__(Cell, (kind, tuple(map(int, ins)), (out,), params or NO_PARAMS, group, neuron)))
        return out

    def drive(self, kind: str, ins, outs, params: dict | None = None, group: str = "", neuron: int | None = None) -> None:
        """A cell driving nets made beforehand: how a register closes a feedback loop (its output
        is read by the cells that compute its next value)."""
        self.cells.append(Cell(kind, tuple(map(int, ins)), tuple(outs), params or {}, group, neuron))

    def const(self, value: int, group: str = "") -> int:
        return self.add1("const", (), value, value, {"value": int(value)}, group)

    # -- queries
    @property
    def n_nets(self) -> int:
        return len(self.lo)

    def type_of(self, net: int) -> tuple[int, bool]:
        """(width, signed) of a net, from its range."""
        return bits_for_range(self.lo[net], self.hi[net])

    def is_bit(self, net: int) -> bool:
        return 0 <= self.lo[net] and self.hi[net] <= 1

    def port_range(self, port: str) -> tuple[int, int]:
        """[lo, hi] every element of `port` is declared to hold: what sizes the port vector."""
        if port in self.port_ranges:
            return self.port_ranges[port]
        nets = self.inputs.get(port, self.outputs.get(port, []))
        return (min(self.lo[n] for n in nets), max(self.hi[n] for n in nets)) if nets else (0, 0)

    def rom_image(self, c: Cell) -> tuple[list[tuple[int | None, int, int]], list[int]]:
        """A `rom` cell as one memory: per output (net, first bit, width) in the word, each field
        as wide as its net (two's complement bits), and the words, address order."""
        fields, offset = [], 0
        for o in c.outs:
            width = self.type_of(o)[0] if o is not None else 1
            fields.append((o, offset, width))
            offset += width
        words = [sum((int(v) & ((1 << w) - 1)) << lo for v, (_, lo, w) in zip(row, fields)) for row in c.params["data"].tolist()]
        return fields, words

    def has_feedback(self) -> bool:
        """Whether some cell reads a clocked cell's output before that cell in list order (a loop
        through a register), which the time-axis interpreter (hdl.interpret.run) cannot evaluate."""
        first_read: dict[int, int] = {}
        for k, c in enumerate(self.cells):
            for i in c.ins:
                first_read.setdefault(i, k)
        return any(first_read.get(o, len(self.cells)) < k for k, c in enumerate(self.cells) if c.kind in CLOCKED
                   for o in c.outs if o is not None)

    def is_clocked(self) -> bool:
        return any(c.kind in CLOCKED for c in self.cells)

    def groups(self) -> list[str]:
        """Group names in first-appearance order."""
        return list(dict.fromkeys(c.group for c in self.cells))

    def count(self, group: str | None = None) -> dict[str, int]:
        """Cells per kind (of one group, or all)."""
        counts: dict[str, int] = {}
        for c in self.cells:
            if group is None or c.group == group:
                counts[c.kind] = counts.get(c.kind, 0) + 1
        return counts

    # -- invariants
    def verify(self) -> None:
        """Raise ValueError unless: known kinds with the right arity, bit inputs where required,
        every net driven once (inputs by a port), every read net driven before it is read (register
        outputs excepted), every output port net driven."""
        driver: dict[int, int] = {}
        for port, nets in self.inputs.items():
            for n in nets:
                if n in driver:
                    raise ValueError(f"net {n} of input port {port} is driven twice")
                driver[n] = -1
        regs = {o for c in self.cells if c.kind in CLOCKED for o in c.outs if o is not None}
        for k, c in enumerate(self.cells):
            kind = KINDS.get(c.kind)
            if kind is None:
                raise ValueError(f"cell {k}: unknown kind {c.kind!r}; known: {', '.join(KINDS)}")
            if kind.n_in is not None and len(c.ins) != kind.n_in or kind.n_in is None and not c.ins and c.kind != "const":
                raise ValueError(f"cell {k} ({c.kind}): {len(c.ins)} inputs, expected {kind.n_in or 'some'}")
            if kind.n_out is not None and len(c.outs) != kind.n_out:
                raise ValueError(f"cell {k} ({c.kind}): {len(c.outs)} outputs, expected {kind.n_out}")
            for i in c.ins:
                if not 0 <= i < self.n_nets:
                    raise ValueError(f"cell {k} ({c.kind}) reads net {i}, which does not exist")
                if i not in driver and i not in regs:
                    raise ValueError(f"cell {k} ({c.kind}) reads net {i} before anything drives it")
                if kind.bit_inputs and not self.is_bit(i):
                    raise ValueError(f"cell {k} ({c.kind}) needs bit inputs; net {i} has range [{self.lo[i]}, {self.hi[i]}]")
            if c.kind == "select" and not (0 <= self.lo[c.ins[0]] and self.hi[c.ins[0]] < len(c.ins) - 1):
                raise ValueError(f"cell {k} (select): index range [{self.lo[c.ins[0]]}, {self.hi[c.ins[0]]}] exceeds its "
                                 f"{len(c.ins) - 1} choices")
            for o in c.outs:
                if o is None:
                    continue
                if o in driver:
                    raise ValueError(f"net {o} is driven twice (cell {k}, {c.kind})")
                driver[o] = k
        for port, nets in self.outputs.items():
            for n in nets:
                if n not in driver:
                    raise ValueError(f"output port {port}: net {n} is not driven")
