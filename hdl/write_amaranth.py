# amaranth: UnusedElaboratable=no

"""Netlist -> Amaranth component (and so Verilog through Amaranth's back end).

A thin writer: one Amaranth signal per net (named by the net's hint, typed from its range), one
statement per cell, and one submodule per group (layer), so the Verilog Amaranth writes keeps a
module per layer. hdl.write_verilog writes the same netlist directly, for designs too large for
Amaranth to elaborate quickly; tests/hdl/test_writers.py proves the two equivalent with Yosys.

Amaranth's arithmetic is exact (operands widen, signedness is tracked), so every cell's value is
computed exactly and truncated only when assigned to its net, whose proven range holds it.
"""

from __future__ import annotations

import re

from amaranth import Array, Cat, Const, Elaboratable, Module, Mux, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from bespoke.hdl.netlist import Cell, Netlist
from bespoke.hdl.vec import narrow, range_shape


def _expr(c: Cell, v: list):
    """The Amaranth values a combinational cell drives (one per output)."""
    p, k = c.params, c.kind
    if k == "const":
        return [p["value"]]
    if k == "not":
        return [~v[0]]
    if k in ("and", "or", "xor"):
        acc = v[0]
        for b in v[1:]:
            acc = acc & b if k == "and" else acc | b if k == "or" else acc ^ b
        return [acc]
    if k == "ha":
        return [v[0] ^ v[1], v[0] & v[1]]
    if k == "fa":
        half = v[0] ^ v[1]
        return [half ^ v[2], v[0] & v[1] | half & v[2]]
    if k == "add":
        return [(v[0] << p["sa"]) + (v[1] << p["sb"])]
    if k == "sub":
        return [(v[0] << p["sa"]) - (v[1] << p["sb"])]
    if k == "shl":
        return [v[0] << p["k"]]
    if k in ("shr", "bits"):
        return [v[0] >> p["k" if k == "shr" else "lo"]]  # arithmetic for signed; `bits` keeps the low bits on assignment
    if k == "unsign":
        return [Cat(v[0][:-1], ~v[0][-1])]
    if k == "concat":
        return [Cat(*v)]
    if k == "cmp":
        a, b = v
        return [{">=": a >= b, ">": a > b, "<=": a <= b, "<": a < b, "==": a == b, "!=": a != b}[p["op"]]]
    if k == "mux":
        return [Mux(v[0], v[1], v[2])]
    if k == "mul":
        return [v[0] * v[1]]
    if k == "select":
        return [Array(v[1:])[v[0]]]
    if k == "tlg":
        total = sum((Mux(x, w, 0) for x, w in zip(v, p["weights"])), Const(0, 1))
        return [total >= p["threshold"]]
    if k == "lut":
        return [Const(p["table"], 1 << len(v)).bit_select(Cat(*v), 1)]
    raise ValueError(f"the Amaranth writer has no form for cell kind {k!r}")


class _Group(Elaboratable):
    """The cells of one group, driving the shared net signals."""

    def __init__(self, nl: Netlist, cells: list[Cell], nets: dict[int, object]):
        self.nl, self.cells, self.nets = nl, cells, nets

    def elaborate(self, platform):
        m = Module()
        for k, c in enumerate(self.cells):
            if c.kind == "reg":
                m.d.sync += self.nets[c.outs[0]].eq(self.nets[c.ins[0]])
                continue
            if c.kind == "rom":
                self.rom(m, f"rom{k}", c)
                continue
            for o, value in zip(c.outs, _expr(c, [self.nets[i] for i in c.ins])):
                if o is not None:
                    m.d.comb += self.nets[o].eq(value)
        return m

    def rom(self, m: Module, name: str, c: Cell) -> None:
        """A memory with a registered read port; its fields are slices of the word."""
        fields, words = self.nl.rom_image(c)
        attrs = {"rom_style": c.params["rom_style"]} if "rom_style" in c.params else {}
        m.submodules[name] = mem = Memory(shape=unsigned(sum(w for _, _, w in fields)), depth=len(words), init=words, attrs=attrs)
        port = mem.read_port()
        m.d.comb += port.addr.eq(self.nets[c.ins[0]])
        m.d.comb += [self.nets[o].eq(port.data[lo:lo + w]) for o, lo, w in fields if o is not None]


class NetlistTop(wiring.Component):
    """The netlist as a component: `x` -> `y`, plus its one-bit ports (`in_valid`, `out_valid`;
    the folded engine's `in_ready`, `out_ready`)."""

    def __init__(self, nl: Netlist):
        self.nl = nl
        x, y = nl.inputs["x"], nl.outputs["y"]
        ports = {"x": In(data.ArrayLayout(range_shape(*nl.port_range("x")), len(x))),
                 "y": Out(data.ArrayLayout(range_shape(*nl.port_range("y")), len(y)))}
        self.latency = nl.meta.get("latency", 0)
        ports.update({p: In(1) for p in nl.inputs if p != "x"})
        ports.update({p: Out(1) for p in nl.outputs if p != "y"})
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        nl = self.nl
        nets: dict[int, object] = {}
        for k, n in enumerate(nl.inputs["x"]):
            nets[n] = narrow(self.x[k], nl.lo[n], nl.hi[n])
        for port, (n, *_) in nl.inputs.items():
            if port != "x":
                nets[n] = getattr(self, port)
        regs = {c.outs[0]: c for c in nl.cells if c.kind == "reg"}
        for c in nl.cells:
            for o in c.outs:
                if o is not None:
                    reg = regs.get(o)
                    init = int(reg.params.get("init", 0)) if reg else 0
                    nets[o] = Signal(range_shape(nl.lo[o], nl.hi[o]), name=nl.names[o] or f"n{o}", init=init,
                                     reset_less=reg is None or not reg.params.get("reset"),
                                     attrs={"keep": 1} if c.params.get("keep") else {})
        by_group: dict[str, list[Cell]] = {}
        for c in nl.cells:
            by_group.setdefault(c.group, []).append(c)
        for g, cells in by_group.items():
            m.submodules[_identifier(g)] = _Group(nl, cells, nets)
        m.d.comb += [self.y[j].eq(nets[n]) for j, n in enumerate(nl.outputs["y"])]
        for port, (n, *_) in nl.outputs.items():
            if port != "y":
                m.d.comb += getattr(self, port).eq(nets[n])
        return m


def _identifier(group: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", group) or "top"
    return name if re.match(r"[A-Za-z_]", name) else f"g_{name}"


def write_amaranth_verilog(nl: Netlist, name: str) -> str:
    """Verilog of the netlist through Amaranth, top module `name`."""
    from amaranth.back import verilog

    return verilog.convert(NetlistTop(nl), name=name, emit_src=False, strip_internal_attrs=True)
