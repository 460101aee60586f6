"""Popcount by a compressor tree of full and half adders, planned once per input count.

A full adder (FA) turns three bits of one column into a sum bit (same column) and a carry (next
column), so it removes one bit; counting n bits into w = bits(n) result bits therefore needs
n - w FAs at least, which this plan meets (plus at most one half adder per column). The range-
sized word adder tree (hdl.adder_tree) needs the same n - w FAs but a half adder at the bottom of
every adder (n - 1 of them). Measured (benchmarks/bnn_unrolled.py --compare-popcount, random XNOR
weights, both built as netlist cells and written by hdl.write_verilog), compressor vs word tree:
32 bits 141 vs 142 yosys `synth` cells, 146.8 um2 nangate45 each (ABC finds nearly the same
circuit); 256 bits 1259 vs 1297 cells, 1266 vs 1322 um2; 784 bits 3895 vs 4040 cells, 3906 vs
4055 um2. So the compressor tree is kept: never larger, about 4 % smaller from 256 bits up. The
writers give a full adder's sum and carry the same a ^ b (s = a ^ b ^ c, co = a & b | (a ^ b) & c):
with the majority form of the carry instead, ABC did not share a ^ b and the 256-bit count took
1514 cells.

Within a column the earliest-ready bits are combined first (Wallace/Dadda order), so the depth
stays logarithmic while the cell count stays minimal.

Two forms share the plan:
- "count": the n-bit count as w bits;
- "ge": one bit, count >= T, for a constant T given as the w-bit addend c = 2^w - T: count + c
  reaches 2^w exactly when count >= T, and as count + c < 2^(w+1) at most one carry into column
  w is ever set, so the answer is the OR of those carries. Only carries are needed below column
  w, so last sum bits are dead and drop out (an FA whose sum is unused is a majority gate).
  Against count-then-compare it measured 133 vs 137 um2 (32 bits), 1269 vs 1283 (256), 3933 vs
  3913 (784; fewer cells though, 3897 vs 3904): within ABC's noise at 784 bits, which is of
  that order (the same netlist written with a^b as a wire of its own moved the 256-bit
  count-then-compare by 2 %), and 1-3 % smaller below.
The addend enters as w ordinary input bits (nets n..n+w-1), so one plan serves every threshold;
the planner feeds them constant nets, which synthesis folds in.
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
