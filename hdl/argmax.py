"""ArgMax: the index of the largest element, the lowest index on ties, by a comparator tree.

Neighbours are paired level by level, so the left operand of every comparison always holds lower
indices than the right one; the right side wins only if strictly greater, which makes the lowest
index win every tie. A comparison whose outcome the ranges already decide is not built.
"""

from __future__ import annotations

from amaranth import Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from bespoke.hdl.compare_plan import Node, count_comparators, duel, index_width, plan_tree  # noqa: F401 (re-exported)
from bespoke.hdl.vec import ints, narrow, range_shape, vec_layout


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
