"""Threshold: y = #{k : x >= t_k} per element, by comparators against constants.

Each element's thresholds split by its range: those at or below lo always pass (a constant
count), those above hi never do, and only the rest cost a comparator each. K = 1 is therefore a
single `>=`, or a constant when the threshold lies outside the range.
"""

from __future__ import annotations

from amaranth import Const, Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from bespoke.hdl.compare_plan import split_thresholds
from bespoke.hdl.vec import ints, narrow, vec_layout


class Threshold(wiring.Component):
    def __init__(self, thresholds, in_lo, in_hi):
        self.in_lo, self.in_hi = ints(in_lo), ints(in_hi)
        self.plans = [split_thresholds(ints(row), lo, hi) for row, lo, hi in zip(thresholds, self.in_lo, self.in_hi)]
        self.out_lo = [base for base, _ in self.plans]
        self.out_hi = [base + len(live) for base, live in self.plans]
        super().__init__({"x": In(vec_layout(self.in_lo, self.in_hi)), "y": Out(vec_layout(self.out_lo, self.out_hi))})

    def stats(self) -> dict:
        return {"comparators": sum(len(live) for _, live in self.plans)}

    def elaborate(self, platform):
        m = Module()
        for j, (base, live) in enumerate(self.plans):
            x = narrow(self.x[j], self.in_lo[j], self.in_hi[j])
            passed = [x >= t for t in live]
            m.d.comb += self.y[j].eq(sum(passed, Const(base, range(base + 1))) if passed else base)
        return m
