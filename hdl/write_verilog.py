"""Netlist -> structural Verilog, written directly: one module per group (layer) and the top.

A thin writer: every cell becomes one `assign` (a register one `always` line), in netlist
order, so it writes some 10^5 cells per second and needs no elaboration; hdl.write_amaranth
writes the same netlist through Amaranth. Both keep the port contract of hdl.lower: `x` and `y`
flat vectors of equal-width elements (element i at bits [i*W, (i+1)*W)), and for clocked
netlists `clk`, `rst` (synchronous, active high, clearing only registers marked `reset`), and
one-bit ports for the netlist's other ports (`in_valid`, `out_valid`; the folded engine's
`in_ready`, `out_ready`). ROMs become memories with an initial image and a registered read
(block-RAM inference keeps working), selects case statements.

Registers that hold their value unless a condition says otherwise (d a tree of single-use muxes
with q itself among the leaves: buffers, windows, accumulators) are written as `if` trees, one
`always` block per tree shared by every register with the same conditions, with single-use
same-typed leaves (gates, selects) inlined. The same logic, but a cycle-based simulator then
evaluates only the branch taken (with Verilator's -fno-split, sim.runner): the folded CNV engine
(~117k registers) ran 4-7x faster at g++ -O0 than with every register's mux chain evaluated on
every clock edge.

Verilog's signedness rule is the trap: an expression is signed only if every operand is, so
every arithmetic operand is made explicitly signed (`$signed({1'b0, a})` for an unsigned net).
Then every operand is sign-extended to the expression's width, and as every operation here is
exact modulo 2^width, the value truncated to the driven net's width is right whenever it lies in
the net's proven range.
"""

from __future__ import annotations

import re

from bespoke.compiler.ir import bits_for_range
from bespoke.hdl.netlist import CLOCKED, Cell, Netlist

CLOCK_PORTS = ("clk", "rst")
PER_LINE = 16  # port names, connections and gate operands per line: Verilator refuses lines over 40,000 tokens


def _wrap(items, sep: str = ", ") -> str:
    """items joined by sep, PER_LINE to a line."""
    items = list(items)
    return (sep.rstrip() + "\n    ").join(sep.join(items[k:k + PER_LINE]) for k in range(0, len(items), PER_LINE))


def vector_type(nl: Netlist, port: str) -> tuple[int, bool]:
    """(element width, signed) of a port vector: wide enough for its declared range."""
    return bits_for_range(*nl.port_range(port))


class _Names:
    """Verilog identifiers for nets: the name hint where it is unique, else n<id>."""

    def __init__(self, nl: Netlist):
        self.names: list[str] = []
        used: set[str] = {"x", "y", *CLOCK_PORTS, "in_valid", "out_valid", "in_ready", "out_ready"}
        for k, hint in enumerate(nl.names):
            name = re.sub(r"[^A-Za-z0-9_]", "_", hint) if hint else ""
            if not name or not re.match(r"[A-Za-z_]", name) or name in used:
                name = f"{name or 'n'}_{k}" if name and re.match(r"[A-Za-z_]", name) else f"n{k}"
            used.add(name)
            self.names.append(name)

    def __getitem__(self, net: int) -> str:
        return self.names[net]


class _Expr:
    """Verilog text of cell results, with the signedness rules above."""

    def __init__(self, nl: Netlist, names: _Names):
        self.nl, self.names = nl, names

    def bit(self, net: int) -> str:
        return self.names[net]

    def signed(self, net: int, shift: int = 0) -> str:
        """A signed expression of net << shift."""
        name, is_signed = self.names[net], self.nl.type_of(net)[1]
        zeros = f", {shift}'b0" if shift else ""
        if is_signed:
            return f"$signed({{{name}{zeros}}})" if shift else name
        return f"$signed({{1'b0, {name}{zeros}}})"

    def operands(self, *nets_shifts) -> list[str]:
        """Operands of one expression: plain (shifts as zero concatenations) when every operand
        is unsigned, since unsigned arithmetic on nonnegative values is exact too (a difference
        or product lands, modulo 2^width, in the driven net's two's complement); else each made
        signed, as the rule above requires."""
        items = [(n, 0) if isinstance(n, int) else n for n in nets_shifts]
        if any(self.nl.type_of(n)[1] for n, _ in items):
            return [self.signed(n, k) for n, k in items]
        return [f"{{{self.names[n]}, {k}'b0}}" if k else self.names[n] for n, k in items]

    @staticmethod
    def literal(value: int) -> str:
        width = bits_for_range(value, value)[0] + 1  # as a signed literal
        return f"-{width}'sd{-value}" if value < 0 else f"{width}'sd{value}"

    def cell(self, c: Cell) -> list[tuple[int, str]]:
        """(driven net, expression) per live output of a combinational cell."""
        p, ins, outs = c.params, c.ins, c.outs
        b, ops = self.bit, self.operands
        k = c.kind
        if k == "const":
            return [(outs[0], self.literal(p["value"]))]
        if k == "not":
            return [(outs[0], f"~{b(ins[0])}")]
        if k in ("and", "or", "xor"):
            op = {"and": " & ", "or": " | ", "xor": " ^ "}[k]
            return [(outs[0], _wrap((b(i) for i in ins), op))]
        if k == "ha":
            a, bb = b(ins[0]), b(ins[1])
            return [(o, e) for o, e in zip(outs, (f"{a} ^ {bb}", f"{a} & {bb}"))]
        if k == "fa":
            a, bb, cc = (b(i) for i in ins)
            return [(o, e) for o, e in zip(outs, (f"{a} ^ {bb} ^ {cc}", f"{a} & {bb} | ({a} ^ {bb}) & {cc}"))]
        if k in ("add", "sub"):
            x, y = ops((ins[0], p["sa"]), (ins[1], p["sb"]))
            return [(outs[0], f"{x} {'+' if k == 'add' else '-'} {y}")]
        if k == "shl":
            return [(outs[0], ops((ins[0], p["k"]))[0])]
        if k == "shr":
            return [(outs[0], f"{ops(ins[0])[0]} >>> {p['k']}")]
        if k == "bits":
            return [(outs[0], f"{ops(ins[0])[0]} >>> {p['lo']}")]  # the driven net keeps the low bits
        if k == "unsign":
            width = p["width"]
            a = self.names[ins[0]]
            return [(outs[0], f"~{a}[0]" if width == 1 else f"{{~{a}[{width - 1}], {a}[{width - 2}:0]}}")]
        if k == "concat":
            return [(outs[0], "{" + _wrap(b(i) for i in reversed(ins)) + "}")]
        if k == "cmp":
            x, y = ops(ins[0], ins[1])
            return [(outs[0], f"{x} {p['op']} {y}")]
        if k == "mux":
            x, y = ops(ins[1], ins[2])
            return [(outs[0], f"{b(ins[0])} ? {x} : {y}")]
        if k == "mul":
            x, y = ops(ins[0], ins[1])
            return [(outs[0], f"{x} * {y}")]
        if k == "tlg":  # every term as wide as the sum can reach, or the sum wraps around
            span = sum(abs(w) for w in p["weights"]) + abs(p["threshold"])
            width = bits_for_range(-span, span)[0]
            lit = lambda v: f"-{width}'sd{-v}" if v < 0 else f"{width}'sd{v}"
            terms = " + ".join(f"({b(i)} ? {lit(w)} : {lit(0)})" for i, w in zip(ins, p["weights"]))
            return [(outs[0], f"({terms}) >= {lit(p['threshold'])}")]
        if k == "lut":
            n = 1 << len(ins)
            table = f"{n}'h{p['table']:x}"
            return [(outs[0], f"{table} >> {{{', '.join(b(i) for i in reversed(ins))}}}")]
        raise ValueError(f"the Verilog writer has no form for cell kind {k!r}")

    def select(self, c: Cell) -> list[str]:
        """choice s of the others, as a case statement (the output net is declared `reg`)."""
        y, s = self.names[c.outs[0]], self.names[c.ins[0]]
        lines = [f"  always @(*) case ({s})"]
        lines += [f"    {k}: {y} = {self.names[d]};" for k, d in enumerate(c.ins[1:-1])]
        return lines + [f"    default: {y} = {self.names[c.ins[-1]]};", "  endcase"]

    def rom(self, c: Cell, index: int) -> list[str]:
        """A ROM with a registered read: a memory with an initial image, one register for the
        word, and its fields as slices (signed fields keep their two's complement bits)."""
        fields, words = self.nl.rom_image(c)
        total = sum(w for _, _, w in fields)
        mem, word = f"rom{index}", f"rom{index}_q"
        style = f'(* rom_style = "{c.params["rom_style"]}" *) ' if "rom_style" in c.params else ""
        lines = [f"  {style}reg [{total - 1}:0] {mem} [0:{len(words) - 1}];", f"  reg [{total - 1}:0] {word};",
                 "  initial begin"]
        lines += [f"    {mem}[{a}] = {total}'h{value:x};" for a, value in enumerate(words)]
        lines += [f"    {word} = {total}'h0;", "  end", f"  always @(posedge clk) {word} <= {mem}[{self.names[c.ins[0]]}];"]
        lines += [f"  assign {self.names[o]} = {word}[{lo + w - 1}:{lo}];" for o, lo, w in fields if o is not None]
        return lines


def _decl(nl: Netlist, names: _Names, net: int, kind: str = "wire") -> str:
    width, is_signed = nl.type_of(net)
    return f"  {kind} {'signed ' if is_signed else ''}{f'[{width - 1}:0] ' if width > 1 else ''}{names[net]};"


def _group_ports(nl: Netlist) -> dict[str, tuple[list[int], list[int]]]:
    """Per group, (nets it reads from outside, nets it drives that are read outside or are outputs)."""
    driver_group: dict[int, str] = {}
    for c in nl.cells:
        for o in c.outs:
            if o is not None:
                driver_group[o] = c.group
    reads: dict[str, dict[int, None]] = {g: {} for g in nl.groups()}
    exported: dict[str, dict[int, None]] = {g: {} for g in nl.groups()}
    for c in nl.cells:
        for i in c.ins:
            src = driver_group.get(i)  # None: a top input
            if src != c.group:
                reads[c.group][i] = None
                if src is not None:
                    exported[src][i] = None
    for nets in nl.outputs.values():
        for n in nets:
            if n in driver_group:
                exported[driver_group[n]][n] = None
    return {g: (list(reads[g]), list(exported[g])) for g in reads}


def module_name(top: str, group: str) -> str:
    return f"{top}__{re.sub(r'[^A-Za-z0-9_]', '_', group) or 'top'}"


def write_verilog(nl: Netlist, name: str | None = None) -> str:
    """The netlist as Verilog: a module per group, then the top module `name`."""
    top = name or nl.name
    names = _Names(nl)
    expr = _Expr(nl, names)
    clocked = nl.is_clocked()
    ports = _group_ports(nl)
    by_group: dict[str, list[Cell]] = {g: [] for g in ports}
    for c in nl.cells:
        by_group[c.group].append(c)
    readers = [0] * nl.n_nets  # cells reading each net, and output ports
    for c in nl.cells:
        for i in c.ins:
            readers[i] += 1
    for nets in nl.outputs.values():
        for n in nets:
            readers[n] += 1
    text = [_group_module(nl, names, expr, module_name(top, g), cells, *ports[g], readers)
            for g, cells in by_group.items()]
    text.append(_top_module(nl, names, top, ports, clocked))
    return "\n".join(text)


HOLD = "hold"  # a leaf of a register's condition tree: q keeps its value
MAX_DEPTH = 8  # conditions per tree


class _Gated:
    """The registers of one module written as condition trees (see the module docstring).

    A register's d is followed through muxes read by nothing else: a mux s ? a : b becomes
    (s, tree(a), tree(b)), the register's own q a HOLD leaf, any other net a value leaf.
    Registers whose tree holds somewhere and have no reset share an `always` block per tree shape
    (the same conditions in the same places). A value leaf read only there, of q's own type,
    driven by a one-output gate or a select, is inlined: `q <= expr` instead of `assign n = expr;
    q <= n` is the same expression in the same context width (that of q = that of n), a select
    becomes a case statement assigning q, and q | a (bits) `if (a) q <= 1`: Verilator gives every
    register its block reads a shadow copy, two copies per register and cycle."""

    def __init__(self, nl, names, expr, cells, ported, kept, readers):
        self.nl, self.names, self.expr = nl, names, expr
        self.ported, self.kept, self.readers = ported, kept, readers
        self.driver = {o: c for c in cells if c.kind not in CLOCKED for o in c.outs if o is not None}
        self.consumed: set[int] = set()  # ids of cells written inside the trees
        self.blocks: dict[tuple, list[tuple[Cell, object]]] = {}
        for c in cells:
            if c.kind != "reg" or c.params.get("reset"):
                continue
            tree = self._tree(c.ins[0], c.outs[0], 0)
            if self._holds(tree) and isinstance(tree, tuple):
                self.blocks.setdefault(self._shape(tree), []).append((c, tree))
                self._consume(tree)
        self.gated = {id(c) for members in self.blocks.values() for c, _ in members}
        for members in self.blocks.values():
            for c, tree in members:
                self._consume_leaves(tree, c.outs[0])

    def _private(self, net: int) -> Cell | None:
        """The cell driving `net` when only one reader exists and the net stays inside the module."""
        c = self.driver.get(net)
        if c is None or self.readers[net] != 1 or net in self.ported or net in self.kept or len(c.outs) != 1:
            return None
        return c

    def _tree(self, net: int, q: int, depth: int):
        if net == q:
            return HOLD
        c = self._private(net)
        if c is not None and c.kind == "mux" and depth < MAX_DEPTH:
            s, a, b = c.ins
            return (s, self._tree(a, q, depth + 1), self._tree(b, q, depth + 1), c)
        return net

    def _holds(self, tree) -> bool:
        return tree == HOLD or (isinstance(tree, tuple) and (self._holds(tree[1]) or self._holds(tree[2])))

    def _shape(self, tree):
        if isinstance(tree, tuple):
            return (tree[0], self._shape(tree[1]), self._shape(tree[2]))
        return tree == HOLD

    def _consume(self, tree) -> None:
        if isinstance(tree, tuple):
            self.consumed.add(id(tree[3]))
            self._consume(tree[1])
            self._consume(tree[2])

    def _inlinable(self, net: int, q: int) -> Cell | None:
        c = self._private(net)
        if c is None or c.kind in ("reg", "rom") or id(c) in self.consumed:
            return None
        return c if self.nl.type_of(net) == self.nl.type_of(q) else None

    def _consume_leaves(self, tree, q: int) -> None:
        if isinstance(tree, tuple):
            self._consume_leaves(tree[1], q)
            self._consume_leaves(tree[2], q)
        elif tree != HOLD:
            self._consume_value(tree, q)

    def _consume_value(self, net: int, q: int) -> None:
        c = self._inlinable(net, q)
        if c is None:
            return
        self.consumed.add(id(c))
        if c.kind == "select":
            for d in c.ins[1:]:
                self._consume_value(d, q)

    def _assign(self, q: int, net: int, pad: str) -> list[str]:
        """Statements giving q the value of `net` (its cell inlined when consumed)."""
        c = self.driver.get(net)
        qn = self.names[q]
        if c is None or id(c) not in self.consumed:
            return [f"{pad}{qn} <= {self.expr.operands(net)[0]};"]
        if c.kind == "select":
            lines = [f"{pad}case ({self.names[c.ins[0]]})"]
            choices = c.ins[1:]
            for k, d in enumerate(choices):
                body = self._assign(q, d, pad + "    ")
                label = "default" if k == len(choices) - 1 else str(k)
                lines += [f"{pad}  {label}:" + (" begin" if len(body) > 1 else "")] + body
                lines += [f"{pad}  end"] if len(body) > 1 else []
            return lines + [f"{pad}endcase"]
        others = [i for i in c.ins if i != q]
        if c.kind == "or" and q in c.ins and others:  # q | a | ...: set when any other is 1; not reading q
            return [f"{pad}if ({_wrap((self.names[i] for i in others), ' | ')}) {qn} <= 1'b1;"]
        (_, e), = self.expr.cell(c)
        return [f"{pad}{qn} <= {e};"]

    def _statements(self, members: list, path: tuple, shape, pad: str) -> list[str]:
        if shape is True:  # HOLD
            return []
        if not isinstance(shape, tuple):  # a value leaf: every member's own
            out = []
            for c, tree in members:
                leaf = tree
                for step in path:
                    leaf = leaf[1] if step else leaf[2]
                out += self._assign(c.outs[0], leaf, pad)
            return out
        s = self.names[shape[0]]
        yes = self._statements(members, path + (True,), shape[1], pad + "  ")
        no = self._statements(members, path + (False,), shape[2], pad + "  ")
        if not yes:
            return [f"{pad}if (!{s}) begin"] + no + [f"{pad}end"]
        lines = [f"{pad}if ({s}) begin"] + yes + [f"{pad}end"]
        return lines + ([f"{pad}else begin"] + no + [f"{pad}end"] if no else [])

    def lines(self) -> list[str]:
        out = []
        for shape, members in self.blocks.items():
            out += ["  always @(posedge clk) begin"] + self._statements(members, (), shape, "    ") + ["  end"]
        return out


def _group_module(nl, names, expr, module, cells, reads, exported, readers) -> str:
    regs = [c for c in cells if c.kind == "reg"]
    clocked = any(c.kind in CLOCKED for c in cells)
    head = (["clk", "rst"] if clocked else []) + [names[n] for n in reads + exported]
    lines = [f"module {module}({_wrap(head)});"]
    if clocked:
        lines += ["  input clk;", "  input rst;"]
    reg_outs = {c.outs[0] for c in cells if c.kind in ("reg", "select")}  # driven from always blocks
    kept = {c.outs[0] for c in cells if c.params.get("keep")}
    lines += [_decl(nl, names, n, "input") for n in reads]
    lines += [_decl(nl, names, n, "output reg" if n in reg_outs else "output") for n in exported]
    ported = set(reads) | set(exported)
    gated = _Gated(nl, names, expr, cells, ported, kept, readers)
    for c in cells:
        if id(c) in gated.consumed:
            continue
        lines += [("  (* keep *)" if o in kept else "") + _decl(nl, names, o, "reg" if o in reg_outs else "wire")
                  for o in c.outs if o is not None and o not in ported]
    for k, c in enumerate(cells):
        if c.kind == "reg" or id(c) in gated.consumed:
            continue
        if c.kind == "select":
            lines += expr.select(c)
            continue
        if c.kind == "rom":
            lines += expr.rom(c, k)
            continue
        for o, e in expr.cell(c):
            if o is not None:
                lines.append(f"  assign {names[o]} = {e};")
    lines += gated.lines()
    for c in regs:
        q, d = names[c.outs[0]], expr.operands(c.ins[0])[0]
        init = int(c.params.get("init", 0))
        if id(c) in gated.gated:
            lines.append(f"  initial {q} = {expr.literal(init)};")
            continue
        if c.params.get("reset"):
            lines.append(f"  always @(posedge clk) {q} <= rst ? {expr.literal(init)} : {d};")
        else:
            lines.append(f"  always @(posedge clk) {q} <= {d};")
        lines.append(f"  initial {q} = {expr.literal(init)};")
    lines.append("endmodule")
    return "\n".join(lines) + "\n"


def _bit_ports(ports: dict[str, list[int]]) -> list[tuple[str, int]]:
    """The one-net ports besides the vectors x and y (in_valid, out_ready, out_valid, in_ready)."""
    return [(port, nets[0]) for port, nets in ports.items() if port not in ("x", "y")]


def _top_module(nl: Netlist, names: _Names, top: str, ports, clocked: bool) -> str:
    x, y = nl.inputs.get("x", []), nl.outputs.get("y", [])
    (w_in, _), (w_out, _) = vector_type(nl, "x"), vector_type(nl, "y")
    bits_in, bits_out = _bit_ports(nl.inputs), _bit_ports(nl.outputs)
    head = (["clk", "rst"] if clocked else []) + ["x"] + [p for p, _ in bits_in] + ["y"] + [p for p, _ in bits_out]
    rng = lambda w: f"[{w - 1}:0] " if w > 1 else ""
    lines = [f"module {top}({_wrap(head)});"]
    if clocked:
        lines += ["  input clk;", "  input rst;"]
    lines.append(f"  input {rng(len(x) * w_in)}x;")
    lines.append(f"  output {rng(len(y) * w_out)}y;")
    lines += [f"  input {p};" for p, _ in bits_in] + [f"  output {p};" for p, _ in bits_out]
    clocked_groups = {c.group for c in nl.cells if c.kind in CLOCKED}
    boundary = dict.fromkeys(n for reads, exported in ports.values() for n in reads + exported)
    boundary.update(dict.fromkeys(x + y + [n for _, n in bits_in + bits_out]))
    lines += [_decl(nl, names, n) for n in boundary]
    for i, n in enumerate(x):
        width = nl.type_of(n)[0]
        lines.append(f"  assign {names[n]} = " + ("x;" if len(x) * w_in == 1 else f"x[{i * w_in + width - 1}:{i * w_in}];"))
    lines += [f"  assign {names[n]} = {p};" for p, n in bits_in]
    sign = lambda n: names[n] if nl.type_of(n)[1] else f"$signed({{1'b0, {names[n]}}})"
    for j, n in enumerate(y):
        lines.append(f"  assign " + ("y" if len(y) * w_out == 1 else f"y[{(j + 1) * w_out - 1}:{j * w_out}]") + f" = {sign(n)};")
    lines += [f"  assign {p} = {names[n]};" for p, n in bits_out]
    for g, (reads, exported) in ports.items():
        conns = (["clk", "rst"] if g in clocked_groups else []) + [names[n] for n in reads + exported]
        inst = re.sub(r"[^A-Za-z0-9_]", "_", g) or "top"
        lines.append(f"  {module_name(top, g)} u_{inst}({_wrap(f'.{c}({c})' for c in conns)});")
    lines.append("endmodule")
    return "\n".join(lines) + "\n"
