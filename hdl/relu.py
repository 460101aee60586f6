"""Relu: y = max(x, 0), elementwise; wiring where the sign of x is known from its range."""

from __future__ import annotations

from amaranth import Module, Mux
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from bespoke.hdl.vec import ints, narrow, vec_layout


class Relu(wiring.Component):
    def __init__(self, in_lo, in_hi):
        self.in_lo, self.in_hi = ints(in_lo), ints(in_hi)
        self.out_lo = [max(v, 0) for v in self.in_lo]
        self.out_hi = [max(v, 0) for v in self.in_hi]
        super().__init__({"x": In(vec_layout(self.in_lo, self.in_hi)), "y": Out(vec_layout(self.out_lo, self.out_hi))})

    def stats(self) -> dict:
        # only elements that can be both negative and positive need a (sign-bit) mux
        return {"muxes": sum(1 for lo, hi in zip(self.in_lo, self.in_hi) if lo < 0 < hi)}

    def elaborate(self, platform):
        m = Module()
        for i, (lo, hi) in enumerate(zip(self.in_lo, self.in_hi)):
            x = narrow(self.x[i], lo, hi)
            if hi <= 0:
                m.d.comb += self.y[i].eq(0)
            elif lo >= 0:
                m.d.comb += self.y[i].eq(x)
            else:
                m.d.comb += self.y[i].eq(Mux(x[-1], 0, x[:-1]))  # x[:-1] is x when the sign bit is clear
        return m
