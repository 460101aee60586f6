# amaranth: UnusedElaboratable=no
"""Each layer kind alone: a one-layer IR planned as a netlist (hdl.unrolled), run by the netlist
interpreter against the golden model's layer semantics, with the costs counted on its cells; and
one RTL check per kind through both writers (Amaranth's simulator, Icarus Verilog)."""

import shutil

import numpy as np
import pytest

from bespoke.compiler import ir as irl
from bespoke.compiler.ir import bits_for_range
from bespoke.hdl import interpret
from bespoke.hdl.compare_plan import index_width
from bespoke.hdl.lower import port_layout
from bespoke.hdl.requant_plan import round_shift_int
from bespoke.hdl.unrolled import plan_unrolled
from bespoke.hdl.unrolled_summary import netlist_summary
from bespoke.hdl.write_amaranth import NetlistTop, write_amaranth_verilog
from bespoke.hdl.write_verilog import write_verilog
from bespoke.sim.golden import eval_layer, round_shift
from rtl_testing import simulate_comb, simulate_iverilog
from test_hdl_lower import strip_non_code


def one_layer(layer, lo, hi) -> irl.IR:
    """The IR x -> y = layer(x), x[i] in [lo[i], hi[i]] (ranges set per element: an Input layer
    has one range for all), y's ranges by the layer's own range rule."""
    lo, hi = np.asarray(lo, dtype=np.int64), np.asarray(hi, dtype=np.int64)
    ir = irl.IR(layer.op)
    ir.add("x", irl.Input(size=len(lo), lo=int(lo.min()), hi=int(hi.max())))
    ir.add("y", layer, ["x"])
    ir.out("x").lo, ir.out("x").hi = lo, hi
    y_lo, y_hi = layer.infer_range((lo, hi))
    ir.out("y").lo, ir.out("y").hi = np.asarray(y_lo, dtype=np.int64), np.asarray(y_hi, dtype=np.int64)
    return ir


def random_inputs(rng, lo, hi, n):
    """Random rows in the box, plus the all-lo and all-hi corners."""
    lo, hi = np.asarray(lo), np.asarray(hi)
    rows = rng.integers(lo, hi + 1, size=(n, len(lo)))
    return np.vstack([rows, lo[None], hi[None]])


def check(ir, x):
    """The netlist of `ir` == the golden layer on every row of x; every net, the outputs included,
    stays inside its proven range (the interpreter checks). Returns the netlist."""
    nl = plan_unrolled(ir)
    nl.verify()
    got = interpret.outputs(nl, {"x": x})["y"]
    want = eval_layer(ir.layer("y"), [x])
    np.testing.assert_array_equal(got, want)
    out = ir.out("y")  # the IR's declared output ranges hold on every sample
    assert (want >= out.lo).all() and (want <= out.hi).all()
    return nl


def check_random(ir, rng, n=150):
    return check(ir, random_inputs(rng, ir.out("x").lo, ir.out("x").hi, n))


def figures(nl, ir, *keys) -> dict:
    """hdl.lower.summary's figures of the one layer, counted on the netlist."""
    (row,) = netlist_summary(nl, ir)["layers"]
    return {k: row[k] for k in keys}


def adders_per_neuron(nl) -> dict:
    """Word adders and subtractors (add/sub cells) per neuron (None: shared by neurons)."""
    counts: dict = {}
    for c in nl.cells:
        if c.kind in ("add", "sub"):
            counts[c.neuron] = counts.get(c.neuron, 0) + 1
    return counts


# --------------------------------------------------------------------------- Dense


def dense(w, b):
    return irl.Dense(weight=np.asarray(w), bias=np.asarray(b))


@pytest.mark.parametrize("seed,in_lo,in_hi", [(0, 0, 15), (1, -8, 7), (2, -100, 27), (3, 0, 1)])
def test_dense_matches_golden(seed, in_lo, in_hi):
    rng = np.random.default_rng(seed)
    n_in, n_out = 12, 6
    w = rng.integers(-130, 130, size=(n_out, n_in))
    w[rng.random(w.shape) < 0.3] = 0
    w[0] = 0  # a neuron with no weights: just its bias
    w[1] = -np.abs(w[1])  # only negative weights
    b = rng.integers(-5000, 5000, size=n_out)
    b[2] = 0
    nl = check_random(one_layer(dense(w, b), np.full(n_in, in_lo), np.full(n_in, in_hi)), rng)
    assert 0 not in adders_per_neuron(nl)  # the weightless neuron is its bias, a constant


def test_dense_mixed_and_constant_input_ranges():
    rng = np.random.default_rng(5)
    lo = np.array([0, -3, 5, 7, -64, 0, 2])
    hi = np.array([15, 3, 5, 200, -1, 0, 2])  # elements 2, 5, 6 are constants
    w = rng.integers(-50, 50, size=(4, 7))
    b = rng.integers(-99, 99, size=4)
    check_random(one_layer(dense(w, b), lo, hi), rng)


def test_dense_costs_one_adder_per_extra_csd_digit():
    w = np.array([[3, 0, -7, 1], [0, 0, 0, 0], [0, 0, 0, -1]])
    ir = one_layer(dense(w, [0, 5, 0]), np.zeros(4, int), np.full(4, 15))
    nl = check(ir, random_inputs(np.random.default_rng(0), np.zeros(4, int), np.full(4, 15), 50))
    # row 0: digits 2 + 2 + 1 = 5 terms -> 4 adders; row 1: constant; row 2: 0 - x -> 1 subtractor
    assert adders_per_neuron(nl) == {0: 4, 2: 1}
    assert figures(nl, ir, "adders", "nonzero_weights", "csd_digits", "acc_width") == {
        "adders": 5, "nonzero_weights": 4, "csd_digits": 6, "acc_width": 8}
    # the widest adder is row 0's negative tree x + (x << 3), in [0, 135]
    words = [(nl.lo[c.outs[0]], nl.hi[c.outs[0]]) for c in nl.cells if c.kind in ("add", "sub")]
    assert max(bits_for_range(*r)[0] for r in words) == 8 and (0, 135) in words


def test_dense_verilog_has_no_multiplier():
    rng = np.random.default_rng(6)
    w = rng.integers(-127, 128, size=(4, 8))
    nl = plan_unrolled(one_layer(dense(w, np.zeros(4, int)), np.full(8, -8), np.full(8, 7)))
    direct, amaranth = write_verilog(nl, "d"), write_amaranth_verilog(nl, "d")
    assert "*" not in strip_non_code(direct)
    assert " * " not in amaranth and "$mul" not in amaranth


# --------------------------------------------------------------------------- Relu


def test_relu_matches_golden():
    rng = np.random.default_rng(7)
    lo = np.array([-20, 0, -9, -300, 3])
    hi = np.array([13, 9, -1, 1000, 3])
    ir = one_layer(irl.Relu(), lo, hi)
    nl = check_random(ir, rng)
    # only elements 0 and 3 can be both negative and positive: a sign-bit mux each
    assert figures(nl, ir, "muxes") == {"muxes": 2} and nl.count()["mux"] == 2


# --------------------------------------------------------------------------- Requant


def test_round_shift_int_matches_golden():
    for rounding in ("floor", "half_even"):
        for shift in range(0, 6):
            v = np.arange(-200, 200)
            want = round_shift(v, np.full(v.shape, shift), rounding)
            assert [round_shift_int(int(a), shift, rounding) for a in v] == list(want)


REQUANT_CASES = [
    # mult, shift, zero_point, qmin, qmax, rounding, in_lo, in_hi
    (1, 4, 0, 0, 15, "floor", -3000, 3000),
    (1, 4, 0, 0, 15, "half_even", -3000, 3000),
    (3, 5, 7, -8, 7, "half_even", -2000, 2500),
    (-5, 3, -2, -128, 127, "half_even", -300, 300),
    (77, 9, 0, 0, 255, "floor", -1000, 4000),
    (1, 0, 3, 0, 255, "half_even", -10, 300),  # shift 0: no rounding at all
    (0, 2, 9, 0, 15, "floor", -50, 50),  # constant output
    (12, 2, 0, -1000, 1000, "half_even", -40, 40),  # remainder bits known zero: no round-up logic
    (1, 12, 0, -2, 2, "half_even", -3000, 3000),  # shift as wide as the accumulator
    (1, 15, 1, -2, 2, "half_even", -3000, 3000),  # shift wider than the accumulator
    (-4, 3, 0, -99, 99, "half_even", -300, 301),  # -x << 2: one negation, two known zero bits
    (1, 2, 0, 0, 3, "floor", 0, 15),  # no clipping needed at all
    (1, 3, 0, 0, 15, "floor", 0, 200),  # clips above only
    (1, 3, 0, 0, 15, "floor", 500, 900),  # always above qmax: the constant 15
]


def requant(mult, shift, zp, qmin, qmax, rounding):
    return irl.Requant(mult=np.atleast_1d(mult), shift=np.atleast_1d(shift), zero_point=np.atleast_1d(zp),
                       qmin=qmin, qmax=qmax, rounding=rounding)


@pytest.mark.parametrize("case", REQUANT_CASES)
def test_requant_exhaustive(case):
    *params, lo, hi = case
    check(one_layer(requant(*params), [lo], [hi]), np.arange(lo, hi + 1)[:, None])


def test_requant_per_element_parameters():
    rng = np.random.default_rng(8)
    n = 6
    lo, hi = rng.integers(-5000, 0, size=n), rng.integers(1, 5000, size=n)
    mult, shift, zp = rng.integers(-9, 40, size=n), rng.integers(0, 8, size=n), rng.integers(-5, 5, size=n)
    for rounding in ("floor", "half_even"):
        check_random(one_layer(requant(mult, shift, zp, -20, 90, rounding), lo, hi), rng, n=300)


def test_requant_costs():
    def one(*case):
        *params, lo, hi = case
        ir = one_layer(requant(*params), [lo], [hi])
        return figures(check(ir, np.arange(lo, hi + 1)[:, None]), ir, "adders", "comparators", "acc_width")

    assert one(1, 4, 0, 0, 15, "floor", -3000, 3000) == {"adders": 0, "comparators": 2, "acc_width": 0}
    assert one(1, 4, 0, 0, 15, "half_even", -3000, 3000)["adders"] == 1
    assert one(1, 4, 3, -500, 500, "floor", -3000, 3000) == {"adders": 1, "comparators": 0, "acc_width": 0}
    assert one(7, 2, 0, -9999, 9999, "floor", 0, 100)["adders"] == 1  # 8x - x
    # -x << 3 has three known zero bits: shifting them out needs no rounding adder
    assert one(-8, 3, 0, -9999, 9999, "half_even", -50, 100)["adders"] == 1


# --------------------------------------------------------------------------- ArgMax


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 10, 13])
def test_argmax_ties_lowest_index(n):
    rng = np.random.default_rng(n)
    lo, hi = np.full(n, -2), np.full(n, 1)  # 4 values for n elements: ties everywhere
    ir = one_layer(irl.ArgMax(), lo, hi)
    nl = check_random(ir, rng, n=200)
    assert bits_for_range(*nl.port_range("y")) == (index_width(n), False)
    assert index_width(n) == max(1, int(np.ceil(np.log2(n))))
    assert interpret.outputs(nl, {"x": np.zeros((1, n), dtype=np.int64)})["y"][0, 0] == 0  # all equal: index 0


def test_argmax_mixed_ranges_and_pruning():
    rng = np.random.default_rng(11)
    lo = np.array([-100, 50, 0, 60, -5, 200, 0])
    hi = np.array([100, 80, 3, 90, 40, 200, 250])
    ir = one_layer(irl.ArgMax(), lo, hi)
    nl = check_random(ir, rng, n=300)
    # element 2 can never beat 1 ... so fewer than n - 1 comparators are built
    assert figures(nl, ir, "comparators")["comparators"] == nl.count()["cmp"] < len(lo) - 1


# --------------------------------------------------------------------------- RTL, one check per kind

RTL_CASES = {
    "dense": lambda rng: one_layer(dense(rng.integers(-130, 130, (5, 7)), rng.integers(-500, 500, 5)),
                                   [0, -3, 5, 7, -64, 0, 2], [15, 3, 5, 200, -1, 0, 2]),
    "relu": lambda rng: one_layer(irl.Relu(), [-20, 0, -9, -300, 3], [13, 9, -1, 1000, 3]),
    "requant": lambda rng: one_layer(requant([3, -5, 1, 12], [5, 3, 15, 2], [7, -2, 1, 0], -8, 7, "half_even"),
                                     [-2000, -300, -3000, -40], [2500, 300, 3000, 40]),
    "argmax": lambda rng: one_layer(irl.ArgMax(), [-100, 50, 0, 60, -5, 200, 0, -2, -2], [100, 80, 3, 90, 40, 200, 250, 1, 1]),
}


@pytest.mark.parametrize("kind", list(RTL_CASES))
def test_written_rtl_matches_golden(kind, tmp_path):
    """The netlist through the Amaranth writer (its simulator) and the direct writer (Icarus)."""
    rng = np.random.default_rng(len(kind))
    ir = RTL_CASES[kind](rng)
    x = random_inputs(rng, ir.out("x").lo, ir.out("x").hi, 100)
    want = eval_layer(ir.layer("y"), [x])
    nl = plan_unrolled(ir)
    np.testing.assert_array_equal(simulate_comb(NetlistTop(nl), x), want)
    if shutil.which("iverilog") is None:
        pytest.skip("iverilog not installed")
    got = simulate_iverilog(write_verilog(nl, "t"), port_layout(ir, name="t"), x, tmp_path)
    np.testing.assert_array_equal(got, want)
