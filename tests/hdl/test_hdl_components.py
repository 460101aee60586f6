# amaranth: UnusedElaboratable=no
"""Each component alone, in Amaranth's simulator, against the golden model's layer semantics."""

import numpy as np
import pytest
from amaranth.back import verilog

from bespoke.compiler import ir as irl
from bespoke.hdl.argmax import ArgMax, index_width
from bespoke.hdl.dense import Dense
from bespoke.hdl.relu import Relu
from bespoke.hdl.requant import Requant, round_shift_int
from rtl_testing import simulate_comb
from bespoke.sim.golden import eval_layer, round_shift


def random_inputs(rng, lo, hi, n):
    """Random rows in the box, plus the all-lo and all-hi corners."""
    lo, hi = np.asarray(lo), np.asarray(hi)
    rows = rng.integers(lo, hi + 1, size=(n, len(lo)))
    return np.vstack([rows, lo[None], hi[None]])


def check(dut, layer, lo, hi, rng, n=150):
    x = random_inputs(rng, lo, hi, n)
    got = simulate_comb(dut, x)
    want = eval_layer(layer, [x])
    np.testing.assert_array_equal(got, want)
    # the component's declared output ranges hold on every sample
    assert (want >= np.array(dut.out_lo)).all() and (want <= np.array(dut.out_hi)).all()


# --------------------------------------------------------------------------- Dense


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
    lo, hi = np.full(n_in, in_lo), np.full(n_in, in_hi)
    check(Dense(w, b, lo, hi), irl.Dense(weight=w, bias=b), lo, hi, rng)


def test_dense_mixed_and_constant_input_ranges():
    rng = np.random.default_rng(5)
    lo = np.array([0, -3, 5, 7, -64, 0, 2])
    hi = np.array([15, 3, 5, 200, -1, 0, 2])  # elements 2, 5, 6 are constants
    w = rng.integers(-50, 50, size=(4, 7))
    b = rng.integers(-99, 99, size=4)
    check(Dense(w, b, lo, hi), irl.Dense(weight=w, bias=b), lo, hi, rng)


def test_dense_costs_one_adder_per_extra_csd_digit():
    w = np.array([[3, 0, -7, 1], [0, 0, 0, 0], [0, 0, 0, -1]])
    d = Dense(w, np.array([0, 5, 0]), np.zeros(4, int), np.full(4, 15))
    st = d.stats()
    # row 0: digits 2 + 2 + 1 = 5 terms -> 4 adders; row 1: constant; row 2: 0 - x -> 1 subtractor
    assert st == {"adders": 5, "nonzero_weights": 4, "csd_digits": 6, "acc_width": st["acc_width"]}
    assert st["acc_width"] == 8  # row 0's negative tree x + (x << 3) lies in [0, 135]


def test_dense_verilog_has_no_multiplier():
    rng = np.random.default_rng(6)
    w = rng.integers(-127, 128, size=(4, 8))
    text = verilog.convert(Dense(w, np.zeros(4, int), np.full(8, -8), np.full(8, 7)), name="d", emit_src=False)
    assert " * " not in text and "$mul" not in text


# --------------------------------------------------------------------------- Relu


def test_relu_matches_golden():
    rng = np.random.default_rng(7)
    lo = np.array([-20, 0, -9, -300, 3])
    hi = np.array([13, 9, -1, 1000, 3])
    dut = Relu(lo, hi)
    check(dut, irl.Relu(), lo, hi, rng)
    assert dut.stats() == {"muxes": 2}


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


@pytest.mark.parametrize("case", REQUANT_CASES)
def test_requant_exhaustive(case):
    mult, shift, zp, qmin, qmax, rounding, lo, hi = case
    dut = Requant(np.array([mult]), np.array([shift]), np.array([zp]), qmin, qmax, rounding, np.array([lo]), np.array([hi]))
    layer = irl.Requant(mult=np.array([mult]), shift=np.array([shift]), zero_point=np.array([zp]), qmin=qmin, qmax=qmax, rounding=rounding)
    x = np.arange(lo, hi + 1)[:, None]
    np.testing.assert_array_equal(simulate_comb(dut, x), eval_layer(layer, [x]))


def test_requant_per_element_parameters():
    rng = np.random.default_rng(8)
    n = 6
    lo, hi = rng.integers(-5000, 0, size=n), rng.integers(1, 5000, size=n)
    mult, shift, zp = rng.integers(-9, 40, size=n), rng.integers(0, 8, size=n), rng.integers(-5, 5, size=n)
    for rounding in ("floor", "half_even"):
        layer = irl.Requant(mult=mult, shift=shift, zero_point=zp, qmin=-20, qmax=90, rounding=rounding)
        check(Requant(mult, shift, zp, -20, 90, rounding, lo, hi), layer, lo, hi, rng, n=300)


def test_requant_costs():
    one = lambda *a: Requant(*(np.array([v]) for v in a[:3]), *a[3:6], np.array([a[6]]), np.array([a[7]])).stats()
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
    dut = ArgMax(lo, hi)
    assert dut.y.shape().elem_shape.width == index_width(n) == max(1, int(np.ceil(np.log2(n))))
    check(dut, irl.ArgMax(), lo, hi, rng, n=200)
    x = np.zeros((1, n), dtype=np.int64)  # all equal: index 0
    assert simulate_comb(dut, x)[0, 0] == 0


def test_argmax_mixed_ranges_and_pruning():
    rng = np.random.default_rng(11)
    lo = np.array([-100, 50, 0, 60, -5, 200, 0])
    hi = np.array([100, 80, 3, 90, 40, 200, 250])
    dut = ArgMax(lo, hi)
    check(dut, irl.ArgMax(), lo, hi, rng, n=300)
    # element 2 can never beat 1 ... so fewer than n - 1 comparators are built
    assert dut.stats()["comparators"] < len(lo) - 1
