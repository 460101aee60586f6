"""MaxPool2d: the maximum of each window; on bits an OR, on integers a comparator tree.

Range-aware like hdl.argmax: an element that can never exceed the running maximum is dropped,
and one that always does replaces it, so constant or dominated taps cost nothing.
"""

from __future__ import annotations

from amaranth import Module, Mux
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from bespoke.hdl.conv import window_index
from bespoke.hdl.compare_plan import plan_window
from bespoke.hdl.vec import ints, narrow, vec_layout


class MaxPool2d(wiring.Component):
    def __init__(self, in_shape, kernel, stride, in_lo, in_hi):
        self.in_lo, self.in_hi = ints(in_lo), ints(in_hi)
        idx = window_index(tuple(in_shape), kernel, kernel, stride)
        self.windows = [plan_window(taps, self.in_lo, self.in_hi) for taps in idx.reshape(-1, kernel * kernel).tolist()]
        self.out_lo = [lo for _, lo, _ in self.windows]
        self.out_hi = [hi for _, _, hi in self.windows]
        super().__init__({"x": In(vec_layout(self.in_lo, self.in_hi)), "y": Out(vec_layout(self.out_lo, self.out_hi))})

    def is_binary(self, taps) -> bool:
        return all(0 <= self.in_lo[i] and self.in_hi[i] <= 1 for i in taps)

    def stats(self) -> dict:
        ors = sum(len(t) - 1 for t, lo, hi in self.windows if lo != hi and self.is_binary(t))
        cmps = sum(len(t) - 1 for t, lo, hi in self.windows if lo != hi and not self.is_binary(t))
        return {"gates": ors, "comparators": cmps}

    def elaborate(self, platform):
        m = Module()
        for j, (taps, lo, hi) in enumerate(self.windows):
            if lo == hi:
                m.d.comb += self.y[j].eq(lo)
                continue
            vals = [narrow(self.x[i], self.in_lo[i], self.in_hi[i]) for i in taps]
            acc = vals[0]
            for v in vals[1:]:
                acc = acc | v if self.is_binary(taps) else Mux(v > acc, v, acc)
            m.d.comb += self.y[j].eq(acc)
        return m
