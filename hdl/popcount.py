"""Popcount by a compressor tree of full and half adders, planned once per input count.

A full adder (FA) turns three bits of one column into a sum bit (same column) and a carry (next
column), so it removes one bit; counting n bits into w = bits(n) result bits therefore needs
n - w FAs at least, which this plan meets (plus at most one half adder per column). The range-
sized word adder tree (hdl.adder_tree) needs the same n - w FAs but a half adder at the bottom of
every adder (n - 1 of them). Measured (benchmarks/bnn_unrolled.py --compare-popcount, random XNOR
weights), compressor vs word tree: 32 bits 141 vs 141 yosys `synth` cells (ABC finds the same
circuit); 256 bits 1256 vs 1294 cells, 1266 vs 1323 um2 nangate45; 784 bits 3911 vs 4116 um2.
So the compressor tree is kept: never larger, 4-5 % smaller from 256 bits up. A full adder is
written as p = a ^ b, s = p ^ c, co = a & b | p & c: with the majority form of the carry instead,
ABC did not share a ^ b and the 256-bit count took 1514 cells.

Within a column the earliest-ready bits are combined first (Wallace/Dadda order), so the depth
stays logarithmic while the cell count stays minimal.

Two forms share the plan:
- "count": the n-bit count as w bits;
- "ge": one bit, count >= T, for a constant T given as the w-bit addend c = 2^w - T: count + c
  reaches 2^w exactly when count >= T, and as count + c < 2^(w+1) at most one carry into column
  w is ever set, so the answer is the OR of those carries. Only carries are needed below column
  w, so last sum bits are dead and drop out (an FA whose sum is unused is a majority gate).
  Against count-then-compare it measured 134 vs 137 um2 (32 bits), 1246 vs 1260 (256), 3937 vs
  3998 (784): 1-2.5 % smaller.
The addend enters as w ordinary input bits (nets n..n+w-1), so one plan (and one Verilog module)
serves every threshold; synthesis folds the constant in.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from functools import lru_cache



@dataclass(frozen=True)
class Cell:
    """An adder cell: inputs `ins` (2 or 3 nets), outputs sum `s` and carry `co` (net ids, or None
    when dead)."""

    ins: tuple[int, ...]
    s: int | None
    co: int | None


@dataclass(frozen=True)
class PopcountPlan:
    n: int  # data bits: nets 0..n-1
    ge: bool  # "ge" form: nets n..n+width-1 are the addend bits, the result is one bit
    cells: tuple[Cell, ...]  # in dependency order
    out: tuple[tuple[int, ...], ...]  # per result bit (LSB first): the nets OR-ed into it (() is 0)

    @property
    def width(self) -> int:
        """bits(n): the count's width, also the addend's width in the ge form."""
        return max(1, self.n.bit_length())

    @property
    def n_inputs(self) -> int:
        return self.n + (self.width if self.ge else 0)

    def stats(self) -> dict:
        return {"full_adders": sum(len(c.ins) == 3 for c in self.cells),
                "half_adders": sum(len(c.ins) == 2 for c in self.cells)}


@lru_cache(maxsize=None)
def plan_popcount(n: int, ge: bool = False) -> PopcountPlan:
    """The compressor tree counting n bits (ge: comparing the count against an addend-coded T)."""
    width = max(1, n.bit_length())
    cols: list[list[tuple[int, int]]] = [[] for _ in range(width + 1)]  # heaps of (depth, net)
    for i in range(n):
        cols[0].append((0, i))
    if ge:
        for k in range(width):
            cols[k].append((0, n + k))
    raw: list[tuple[tuple[int, ...], int, int]] = []  # (inputs, sum net, carry net)
    next_net = n + (width if ge else 0)
    for col in range(width):
        heap = cols[col]
        heapq.heapify(heap)
        while len(heap) >= 2:
            take = 3 if len(heap) >= 3 else 2
            parts = [heapq.heappop(heap) for _ in range(take)]
            depth = max(d for d, _ in parts) + 1
            s, co = next_net, next_net + 1
            next_net += 2
            raw.append((tuple(net for _, net in parts), s, co))
            heapq.heappush(heap, (depth, s))
            cols[col + 1].append((depth, co))
    if ge:
        out = (tuple(sorted(net for _, net in cols[width])),)
    else:
        out = tuple((heap[0][1],) if heap else () for heap in cols[:width])
    return PopcountPlan(n, ge, _live_cells(raw, out), out)


def _live_cells(raw, out) -> tuple[Cell, ...]:
    """Cells with their dead outputs dropped, and cells with no live output removed."""
    live = {net for nets in out for net in nets}
    cells = []
    for ins, s, co in reversed(raw):
        s, co = (s if s in live else None), (co if co in live else None)
        if s is None and co is None:
            continue
        live.update(ins)
        cells.append(Cell(ins, s, co))
    return tuple(reversed(cells))


def ge_addend(n: int, threshold: int) -> int:
    """The addend c = 2^w - T of the ge form, for 1 <= T <= n."""
    assert 1 <= threshold <= n, (threshold, n)
    return (1 << max(1, n.bit_length())) - threshold


# --------------------------------------------------------------------------- Verilog


def popcount_verilog(module: str, plan: PopcountPlan) -> str:
    """The plan as a module: count form `module(x, y)`, ge form `module(x, c, y)` (c the addend)."""
    n, w = plan.n, plan.width

    def net(i: int) -> str:
        if i < n:
            return f"x[{i}]"
        if plan.ge and i < n + w:
            return f"c[{i - n}]"
        return f"t{i}"

    decls, assigns = [], []
    for k, cell in enumerate(plan.cells):
        a, b, *c = (net(i) for i in cell.ins)
        if c:  # a full adder shares a ^ b between sum and carry
            p = f"p{k}"
            decls.append(p)
            assigns.append(f"  assign {p} = {a} ^ {b};")
            if cell.s is not None:
                decls.append(net(cell.s))
                assigns.append(f"  assign {net(cell.s)} = {p} ^ {c[0]};")
            if cell.co is not None:
                decls.append(net(cell.co))
                assigns.append(f"  assign {net(cell.co)} = {a} & {b} | {p} & {c[0]};")
            continue
        if cell.s is not None:
            decls.append(net(cell.s))
            assigns.append(f"  assign {net(cell.s)} = {a} ^ {b};")
        if cell.co is not None:
            decls.append(net(cell.co))
            assigns.append(f"  assign {net(cell.co)} = {a} & {b};")
    outs = [" | ".join(net(i) for i in nets) if nets else "1'b0" for nets in plan.out]
    ports = "x, c, y" if plan.ge else "x, y"
    lines = [f"module {module}({ports});", f"  input [{n - 1}:0] x;"]
    if plan.ge:
        lines.append(f"  input [{w - 1}:0] c;")
    lines.append(f"  output [{len(outs) - 1}:0] y;" if len(outs) > 1 else "  output y;")
    for k in range(0, len(decls), 16):
        lines.append(f"  wire {', '.join(decls[k:k + 16])};")
    lines += assigns
    lines.append(f"  assign y = {{{', '.join(reversed(outs))}}};" if len(outs) > 1 else f"  assign y = {outs[0]};")
    lines.append("endmodule")
    return "\n".join(lines) + "\n"
