"""Dense as an Amaranth component: y = W x + b with hard-wired integer weights, built from the
shift-and-add plan of hdl.dense_plan (CSD terms, sign-offset leaves, weight offsets with shared
input sums, range-sized P - N adder trees)."""

from __future__ import annotations

from amaranth import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from bespoke.hdl.adder_tree import count_adders, widest_adder
from bespoke.hdl.csd import csd
from bespoke.hdl.dense_plan import Row, Shared, full_row, linear_range, plan_layer, sign_offset  # noqa: F401 (re-exported)
from bespoke.hdl.emit import emit
from bespoke.hdl.vec import ints, narrow, range_shape, vec_layout


class Dense(wiring.Component):
    """y[j] = sum_i weight[j][i] * x[i] + bias[j], x[i] in [in_lo[i], in_hi[i]].

    Ports: `x` and `y` are arrays of equal-width elements (see hdl.vec); `out_lo`/`out_hi` are the
    exact output ranges, from which `y` is typed. `rows` (sparse (index, weight) lists) replaces
    the weight matrix when given.
    """

    def __init__(self, weight, bias, in_lo, in_hi, rows: list[Row] | None = None):
        self.rows = rows if rows is not None else [full_row(row) for row in weight]
        self.bias = ints(bias)
        self.in_lo, self.in_hi = lo, hi = ints(in_lo), ints(in_hi)
        self.shared, self.trees = plan_layer(self.rows, self.bias, lo, hi)
        ranges = [linear_range(row, b, self.in_lo, self.in_hi) for row, b in zip(self.rows, self.bias)]
        self.out_lo, self.out_hi = [r[0] for r in ranges], [r[1] for r in ranges]
        super().__init__({"x": In(vec_layout(self.in_lo, self.in_hi)), "y": Out(vec_layout(self.out_lo, self.out_hi))})

    def stats(self) -> dict:
        trees = self.trees + list(self.shared.values())
        stats = {
            "adders": sum(count_adders(t) for t in trees),
            "nonzero_weights": sum(1 for row in self.rows for _, w in row if w),
            "csd_digits": sum(len(csd(w)) for row in self.rows for _, w in row),
            "acc_width": max([widest_adder(t) for t in trees] + [range_shape(a, b).width for a, b in zip(self.out_lo, self.out_hi)]),
        }
        return stats | ({"shared_sums": len(self.shared)} if self.shared else {})

    def elaborate(self, platform):
        m = Module()

        leaves = {}  # one narrowed (and sign-offset) copy of each input, and each shared sum

        def leaf(ref):
            if ref in leaves:
                return leaves[ref]
            if isinstance(ref, Shared):
                v = emit(m, self.shared[ref.key], leaf, f"u{len(leaves)}")
            else:
                v = narrow(self.x[ref], self.in_lo[ref], self.in_hi[ref])
                if sign_offset(self.in_lo[ref], self.in_hi[ref]):
                    u = Signal(len(v), name=f"x{ref}_offset")  # x + 2**(w-1), unsigned
                    m.d.comb += u.eq(Cat(v[:-1], ~v[-1]))
                    v = u
            leaves[ref] = v
            return v

        for j, tree in enumerate(self.trees):
            m.d.comb += self.y[j].eq(emit(m, tree, leaf, f"n{j}"))
        return m
