"""ArgMax: the index of the largest element, the lowest index on ties, by a comparator tree.

Neighbours are paired level by level, so the left operand of every comparison always holds lower
indices than the right one; the right side wins only if strictly greater, which makes the lowest
index win every tie. A comparison whose outcome the ranges already decide is not built.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth import Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from bespoke.hdl.vec import ints, narrow, range_shape, vec_layout


def index_width(n: int) -> int:
    """ceil(log2(n)) bits, at least 1."""
    return max(1, (n - 1).bit_length())


@dataclass(frozen=True, eq=False)
class Node:
    """The winner of a block of elements: its value lies in [lo, hi]. `ref` is an element index
    for a leaf, or the (left, right) pair of a comparison."""

    lo: int
    hi: int
    ref: object


def duel(left: Node, right: Node) -> Node:
    """The winner of left vs right (right holds the higher indices)."""
    if right.hi <= left.lo:
        return left  # right is never strictly greater
    if right.lo > left.hi:
        return right  # right is always strictly greater
    return Node(max(left.lo, right.lo), max(left.hi, right.hi), (left, right))


def plan_tree(lo: list[int], hi: list[int]) -> Node:
    level = [Node(a, b, i) for i, (a, b) in enumerate(zip(lo, hi))]
    while len(level) > 1:
        paired = [duel(level[k], level[k + 1]) for k in range(0, len(level) - 1, 2)]
        level = paired + level[len(level) - len(level) % 2 :]  # an odd one out goes up as it is
    return level[0]


def count_comparators(node: Node) -> int:
    stack, count = [node], 0
    while stack:
        n = stack.pop()
        if isinstance(n.ref, tuple):
            count += 1
            stack += list(n.ref)
    return count


class ArgMax(wiring.Component):
    def __init__(self, in_lo, in_hi):
        self.in_lo, self.in_hi = ints(in_lo), ints(in_hi)
        self.tree = plan_tree(self.in_lo, self.in_hi)
        self.out_lo, self.out_hi = [0], [len(self.in_lo) - 1]
        super().__init__({"x": In(vec_layout(self.in_lo, self.in_hi)), "y": Out(vec_layout(self.out_lo, self.out_hi))})

    def stats(self) -> dict:
        return {"comparators": count_comparators(self.tree)}

    def elaborate(self, platform):
        m = Module()
        width = index_width(len(self.in_lo))
        done = {}  # id(node) -> (value, index)
        stack = [(self.tree, False)]
        count = 0
        while stack:  # post-order without recursion
            node, ready = stack.pop()
            if not isinstance(node.ref, tuple):
                i = node.ref
                done[id(node)] = (narrow(self.x[i], self.in_lo[i], self.in_hi[i]), Const(i, width))
            elif not ready:
                stack += [(node, True), (node.ref[1], False), (node.ref[0], False)]
            else:
                (lv, li), (rv, ri) = done[id(node.ref[0])], done[id(node.ref[1])]
                gt = Signal(name=f"gt{count}")
                val = Signal(range_shape(node.lo, node.hi), name=f"max{count}")
                idx = Signal(width, name=f"idx{count}")
                m.d.comb += [gt.eq(rv > lv), val.eq(Mux(gt, rv, lv)), idx.eq(Mux(gt, ri, li))]
                done[id(node)] = (val, idx)
                count += 1
        m.d.comb += self.y[0].eq(done[id(self.tree)][1])
        return m
