"""Amaranth emitters of the pure plans: an adder-tree plan (hdl.adder_tree) and a popcount plan
(hdl.popcount) as combinational logic in a Module. Used by the Amaranth components."""

from __future__ import annotations

from typing import Callable

from amaranth import Cat, Const, Module, Signal, Value

from bespoke.hdl.adder_tree import Add, Term
from bespoke.hdl.popcount import PopcountPlan
from bespoke.hdl.vec import range_shape



def emit(m: Module, root: Term | None, leaf: Callable[[object], Value], name: str) -> Value:
    """Build the plan as combinational logic in `m`; returns the true (shifted) result value.

    Adder outputs are signals named `{name}_{k}` (k in post-order), each of the minimal shape of
    its interval; `leaf(ref)` gives the Amaranth value of a leaf term's `ref`.
    """
    if root is None:
        return Const(0, 1)
    values: dict[int, Value] = {}  # id(term) -> value of its unshifted ref
    count = 0
    stack = [(root, False)]
    while stack:
        t, ready = stack.pop()
        if id(t) in values:
            continue
        if t.ref is None:
            values[id(t)] = Const(t.lo, range_shape(t.lo, t.hi))
        elif not isinstance(t.ref, Add):
            values[id(t)] = leaf(t.ref)
        elif not ready:
            stack += [(t, True), (t.ref.b, False), (t.ref.a, False)]
        else:
            node, s = t.ref, t.shift
            a = values[id(node.a)] << (node.a.shift - s)
            b = values[id(node.b)] << (node.b.shift - s)
            sig = Signal(range_shape(t.lo, t.hi), name=f"{name}_{count}")
            count += 1
            m.d.comb += sig.eq(a - b if node.sub else a + b)
            values[id(t)] = sig
    return values[id(root)] << root.shift



def emit_popcount(m: Module, plan: PopcountPlan, bits: list, addend: int = 0, name: str = "pc") -> Value:
    """The plan as Amaranth logic in `m` on `bits` (n one-bit values); the count, or the ge bit.

    Every cell output is a named signal: left as expressions, shared nets would be inlined (and
    duplicated) into every use by the Verilog back end.
    """
    nets: dict[int, Value] = dict(enumerate(bits))
    if plan.ge:
        for k in range(plan.width):
            nets[plan.n + k] = Const((addend >> k) & 1, 1)

    def wire(net: int, value: Value) -> None:
        nets[net] = sig = Signal(name=f"{name}_t{net}")
        m.d.comb += sig.eq(value)

    for k, cell in enumerate(plan.cells):
        a, b, *c = (nets[i] for i in cell.ins)
        if c:  # a full adder shares a ^ b between sum and carry
            p = Signal(name=f"{name}_p{k}")
            m.d.comb += p.eq(a ^ b)
            if cell.s is not None:
                wire(cell.s, p ^ c[0])
            if cell.co is not None:
                wire(cell.co, a & b | p & c[0])
            continue
        if cell.s is not None:
            wire(cell.s, a ^ b)
        if cell.co is not None:
            wire(cell.co, a & b)
    return Cat(*(Cat(*(nets[i] for i in group)).any() if group else Const(0, 1) for group in plan.out))
