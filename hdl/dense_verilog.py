"""Dense written straight to structural Verilog, for layers too large for Amaranth to elaborate fast.

Amaranth spends about 1 ms and tens of kB per adder (its netlist is per bit), so a 784-256 layer
(~560k adders) would take many minutes and > 20 GB. This writer emits the very same plan as
`Dense.elaborate` (same trees, widths, sign-offset leaves) as one `assign` per adder, about
100,000 adders per second. The lowering instantiates it as a black box (`Instance`) above a size
threshold; designs containing one can no longer run in Amaranth's simulator, only in Verilog ones.

Verilog's signedness rules are the trap here: an expression is signed only if every operand is,
so every operand is made explicitly signed ($signed of a zero-extended value for unsigned nets)
and then sign extension and truncation to the declared width are exactly two's complement.
"""

from __future__ import annotations

from bespoke.hdl.adder_tree import Add, Term
from bespoke.hdl.dense import Dense
from bespoke.hdl.dense_plan import Shared, sign_offset
from bespoke.hdl.vec import range_shape, vec_shape


class _Writer:
    def __init__(self):
        self.decls: list[str] = []
        self.assigns: list[str] = []

    def wire(self, name: str, lo: int, hi: int, expr: str) -> tuple[str, bool]:
        shape = range_shape(lo, hi)
        sign = "signed " if shape.signed else ""
        self.decls.append(f"  wire {sign}[{shape.width - 1}:0] {name};")
        self.assigns.append(f"  assign {name} = {expr};")
        return name, shape.signed


def _signed(net: tuple[str, bool], shift: int = 0) -> str:
    """A signed expression for net << shift."""
    name, is_signed = net
    zeros = f", {shift}'b0" if shift else ""
    if is_signed:
        return f"$signed({{{name}{zeros}}})" if shift else name
    return f"$signed({{1'b0, {name}{zeros}}})"


def _const(value: int) -> tuple[str, bool]:
    shape = range_shape(value, value)
    width = shape.width + (0 if shape.signed else 1)  # as a signed literal
    return f"{width}'sh{value & ((1 << width) - 1):x}", True


def dense_verilog(module: str, dense: Dense) -> str:
    """The module `module(x, y)` computing `dense`, ports laid out as its Amaranth ports."""
    in_shape, out_shape = vec_shape(dense.in_lo, dense.in_hi), vec_shape(dense.out_lo, dense.out_hi)
    w_in, w_out = in_shape.width, out_shape.width
    n_in, n_out = len(dense.in_lo), len(dense.out_lo)
    out = _Writer()
    leaves: dict[object, tuple[str, bool]] = {}

    def leaf(i) -> tuple[str, bool]:
        if isinstance(i, Shared) and i not in leaves:  # a sum shared by neurons, written once
            tree = dense.shared[i.key]
            leaves[i] = out.wire(f"u{len(leaves)}", tree.lo << tree.shift, tree.hi << tree.shift,
                                 _emit_tree(out, tree, leaf, f"u{len(leaves)}"))
        if i not in leaves:
            lo, hi = dense.in_lo[i], dense.in_hi[i]
            width, base = range_shape(lo, hi).width, i * w_in
            if sign_offset(lo, hi):  # x + 2**(w-1): the sign bit inverted, unsigned
                top = base + width - 1
                expr = f"{{~x[{top}], x[{top - 1}:{base}]}}" if width > 1 else f"~x[{base}]"
                leaves[i] = out.wire(f"x{i}_offset", lo + (1 << (width - 1)), hi + (1 << (width - 1)), expr)
            else:
                leaves[i] = out.wire(f"x{i}", lo, hi, f"x[{base + width - 1}:{base}]")
        return leaves[i]

    for j, root in enumerate(dense.trees):
        value = _emit_tree(out, root, leaf, f"n{j}")
        out.assigns.append(f"  assign y[{(j + 1) * w_out - 1}:{j * w_out}] = {value};")
    lines = [
        f"module {module}(x, y);",
        f"  input [{n_in * w_in - 1}:0] x;",
        f"  output [{n_out * w_out - 1}:0] y;",
        *out.decls,
        *out.assigns,
        "endmodule",
    ]
    return "\n".join(lines) + "\n"


def _emit_tree(out: _Writer, root: Term | None, leaf, name: str) -> str:
    """Wires for every adder of the plan (post-order, as hdl.adder_tree.emit); the signed
    expression of the root's true value."""
    if root is None:
        return "1'sb0"
    nets: dict[int, tuple[str, bool]] = {}
    count = 0
    stack = [(root, False)]
    while stack:
        t, ready = stack.pop()
        if id(t) in nets:
            continue
        if t.ref is None:
            nets[id(t)] = _const(t.lo)
        elif not isinstance(t.ref, Add):
            nets[id(t)] = leaf(t.ref)
        elif not ready:
            stack += [(t, True), (t.ref.b, False), (t.ref.a, False)]
        else:
            a, b = t.ref.a, t.ref.b
            expr = f"{_signed(nets[id(a)], a.shift - t.shift)} {'-' if t.ref.sub else '+'} {_signed(nets[id(b)], b.shift - t.shift)}"
            nets[id(t)] = out.wire(f"{name}_{count}", t.lo, t.hi, expr)
            count += 1
    return _signed(nets[id(root)], root.shift)
