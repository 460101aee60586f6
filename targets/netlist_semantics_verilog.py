"""The netlist IR's own semantics as Verilog: every cell the formula of its kind (hdl.netlist.KINDS)
on signed values wide enough, every net truncated to its type. The layered formal proof
(targets.formal_layers) proves the emitted Verilog equal to this rendering, so the emitted
Verilog's signedness and width tricks (hdl.write_verilog) are checked against plain arithmetic.

Independent of the writers on purpose: one flat module, nets named n<k>, each operand a signed
view of its net (sign- or zero-extended by the net's type) in arithmetic as wide as the cell can
need, each cell written from its kind's meaning, not from the writers' expressions (a full adder
is the two bits of a + b + c, not xor/majority gates).
"""

from __future__ import annotations

from bespoke.hdl.netlist import Cell, Netlist

BIT_KINDS = ("not", "and", "or", "xor", "ha", "fa")
RENDERED = ("const", "not", "and", "or", "xor", "ha", "fa", "add", "sub", "shl", "shr", "bits", "concat", "cmp", "mux",
            "unsign", "mul", "reg")


def view(nl: Netlist, net: int) -> str:
    """The net as a signed value (an unsigned net zero-extended by one bit)."""
    return f"$signed(n{net})" if nl.type_of(net)[1] else f"$signed({{1'b0, n{net}}})"


def cell_width(nl: Netlist, c: Cell) -> int:
    """Bits of the signed arithmetic of one cell: no result on in-type operands overflows them
    (per cell, not one width for all: wide full adders made Yosys take minutes on bnn_digits)."""
    widths = [nl.type_of(i)[0] + 1 for i in c.ins] or [1]
    shift = max((c.params.get(k, 0) for k in ("sa", "sb", "k")), default=0)
    out = max((nl.type_of(o)[0] for o in c.outs if o is not None), default=1)
    return (sum(widths) if c.kind == "mul" else max(widths) + len(c.ins)) + shift + out + 2


def renderable(nl: Netlist, cells) -> bool:
    return all(c.kind in RENDERED for c in cells)


def _lit(value: int, width: int) -> str:
    return f"-{width}'sd{-value}" if value < 0 else f"{width}'sd{value}"


def declare(nl: Netlist, net: int, kind: str) -> str:
    width, signed = nl.type_of(net)
    return f"  {kind} {'signed ' if signed else ''}[{width - 1}:0] n{net};"


def cell_lines(nl: Netlist, c: Cell) -> list[str]:
    """`assign n<out> = <formula>;` per live output (a register: an always block). Every operand is
    a signed view, and a zero of the cell's width (`pad`) sizes the whole expression."""
    w = cell_width(nl, c)
    pad = _lit(0, w)
    v = [f"({pad} + {view(nl, i)})" for i in c.ins]
    p, k = c.params, c.kind
    if k == "reg":
        q, init = c.outs[0], int(p.get("init", 0))
        d = f"rst ? {_lit(init, w)} : {v[0]}" if p.get("reset") else v[0]
        return [f"  always @(posedge clk) n{q} <= {d};", f"  initial n{q} = {_lit(init, w)};"]
    if k in BIT_KINDS:  # bits: narrow arithmetic, every operand unsigned and extended to the result
        n = [f"n{i}" for i in c.ins]
        if k in ("ha", "fa"):
            t = f"t{c.outs[0] if c.outs[0] is not None else c.outs[1]}"
            return [f"  wire [1:0] {t} = {' + '.join(n)};"] + [f"  assign n{o} = {t}[{b}];" for o, b in zip(c.outs, (0, 1))
                                                              if o is not None]
        expr = f"1'b1 - {n[0]}" if k == "not" else {"and": " & ", "or": " | ", "xor": " ^ "}[k].join(n)
        return [f"  assign n{c.outs[0]} = {expr};"]
    if k == "const":
        expr = _lit(p["value"], w)
    elif k in ("add", "sub"):
        expr = f"({v[0]} <<< {p['sa']}) {'+' if k == 'add' else '-'} ({v[1]} <<< {p['sb']})"
    elif k == "shl":
        expr = f"{v[0]} <<< {p['k']}"
    elif k == "shr":
        expr = f"{v[0]} >>> {p['k']}"
    elif k == "bits":
        expr = f"{v[0]} >>> {p['lo']}"  # the driven net, n bits wide, keeps the low n
    elif k == "concat":
        expr = " + ".join(f"({x} <<< {b})" for b, x in enumerate(v))
    elif k == "cmp":
        expr = f"{v[0]} {p['op']} {v[1]}"
    elif k == "mux":
        expr = f"({v[0]} != {pad}) ? {v[1]} : {v[2]}"
    elif k == "unsign":
        expr = f"{v[0]} + {_lit(1 << (p['width'] - 1), w)}"
    elif k == "mul":
        expr = f"{v[0]} * {v[1]}"
    else:
        raise ValueError(f"no semantic rendering of cell kind {k!r}")
    return [f"  assign n{c.outs[0]} = {expr};"]


def netlist_module(nl: Netlist, layout: dict, module: str) -> str:
    """The whole netlist as one module with the port contract of `layout` (hdl.lower.port_layout)."""
    clocked = nl.is_clocked()
    x, y = nl.inputs["x"], nl.outputs["y"]
    wi, wo = layout["in_width"], layout["out_width"]
    ports = (["clk", "rst", "in_valid"] if clocked else []) + ["x", "y"] + (["out_valid"] if clocked else [])
    lines = [f"module {module}({', '.join(ports)});", f"  input [{len(x) * wi - 1}:0] x;", f"  output [{len(y) * wo - 1}:0] y;"]
    if clocked:
        lines += ["  input clk, rst, in_valid;", "  output out_valid;"]
    regs = {c.outs[0] for c in nl.cells if c.kind == "reg"}
    lines += [declare(nl, n, "wire") for n in dict.fromkeys(x + nl.inputs.get("in_valid", []))]
    lines += [declare(nl, o, "reg" if o in regs else "wire") for c in nl.cells for o in c.outs if o is not None]
    for i, n in enumerate(x):
        # the element's field, read as the port's type, then cut to the net (its range fits)
        field = f"x[{wi * i + wi - 1}:{wi * i}]"
        lines.append(f"  assign n{n} = {f'$signed({field})' if layout['in_signed'] else field};")
    if clocked:
        lines.append(f"  assign n{nl.inputs['in_valid'][0]} = in_valid;")
        lines.append(f"  assign out_valid = n{nl.outputs['out_valid'][0]};")
    for c in nl.cells:
        lines += cell_lines(nl, c)
    for j, n in enumerate(y):
        lines.append(f"  assign y[{wo * j + wo - 1}:{wo * j}] = {view(nl, n)};")
    return "\n".join(lines + ["endmodule", ""])
