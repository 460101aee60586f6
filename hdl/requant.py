"""Requant as an Amaranth component, from the plan of hdl.requant_plan: CSD product, rounding
shift (plus the half_even round-up bit), zero point, clip muxes where the range crosses."""

from __future__ import annotations

import numpy as np
from amaranth import Module, Mux, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from bespoke.hdl.adder_tree import count_adders, widest_adder
from bespoke.hdl.emit import emit
from bespoke.hdl.requant_plan import ROUNDINGS, ElementPlan, plan_element, plan_product, round_shift_int  # noqa: F401 (re-exported)
from bespoke.hdl.vec import ints, narrow, range_shape, vec_layout


def bit(v: Value, k: int) -> Value:
    """Bit k of v's infinite two's-complement extension."""
    if k < len(v):
        return v[k]
    return v[-1] if v.shape().signed else 0


def round_shift_hw(p: Value, shift: int, round_up: bool) -> Value:
    """p >> shift (arithmetic), plus the half_even round-up bit when `round_up`."""
    q = p >> shift
    if not round_up:
        return q
    half = bit(p, shift - 1)
    sticky = p[: min(shift - 1, len(p))].any() if shift > 1 else 0
    return q + (half & (sticky | bit(p, shift)))  # rem > half, or rem == half and q odd


class Requant(wiring.Component):
    def __init__(self, mult, shift, zero_point, qmin, qmax, rounding, in_lo, in_hi):
        if rounding not in ROUNDINGS:
            raise ValueError(f"requant rounding {rounding!r} not in {ROUNDINGS}")
        self.in_lo, self.in_hi = ints(in_lo), ints(in_hi)
        n = len(self.in_lo)
        self.mult, self.shift, self.zero_point = (ints(np.broadcast_to(a, (n,))) for a in (mult, shift, zero_point))
        self.qmin, self.qmax, self.rounding = int(qmin), int(qmax), rounding
        self.plans = [
            plan_element(lo, hi, m, s, z, self.qmin, self.qmax, rounding)
            for lo, hi, m, s, z in zip(self.in_lo, self.in_hi, self.mult, self.shift, self.zero_point)
        ]
        self.out_lo = [p.y[0] for p in self.plans]
        self.out_hi = [p.y[1] for p in self.plans]
        super().__init__({"x": In(vec_layout(self.in_lo, self.in_hi)), "y": Out(vec_layout(self.out_lo, self.out_hi))})

    def stats(self) -> dict:
        live = [(p, z) for p, z in zip(self.plans, self.zero_point) if p.y[0] != p.y[1]]
        return {
            "adders": sum(count_adders(p.product) + p.round_up + bool(z) for p, z in live),
            "comparators": sum((p.z[0] < self.qmin) + (p.z[1] > self.qmax) for p, _ in live),
            "acc_width": max([widest_adder(p.product) for p, _ in live], default=0),
        }

    def elaborate(self, platform):
        m = Module()
        for i, plan in enumerate(self.plans):
            if plan.y[0] == plan.y[1]:
                m.d.comb += self.y[i].eq(plan.y[0])  # clipped to one value whatever x is
                continue
            x = narrow(self.x[i], self.in_lo[i], self.in_hi[i])
            p = emit(m, plan.product, lambda _: x, f"p{i}")
            q = Signal(range_shape(*plan.q), name=f"q{i}")
            m.d.comb += q.eq(round_shift_hw(p, self.shift[i], plan.round_up))
            z = q
            if self.zero_point[i]:
                z = Signal(range_shape(*plan.z), name=f"z{i}")
                m.d.comb += z.eq(q + self.zero_point[i])
            y = z
            if plan.z[0] < self.qmin:
                y = Mux(y < self.qmin, self.qmin, y)
            if plan.z[1] > self.qmax:
                y = Mux(y > self.qmax, self.qmax, y)
            m.d.comb += self.y[i].eq(y)
        return m
