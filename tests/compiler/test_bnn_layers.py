"""Golden-model semantics and range soundness of the binarized / convolutional layers."""

import numpy as np

from bespoke.compiler.ir import IR, Conv2d, Input, MaxPool2d, Threshold, XnorPopcount
from bespoke.compiler.passes.ranges import InferRanges
from bespoke.sim.golden import run, run_all

rng = np.random.default_rng(0)


def test_xnor_popcount_is_the_bipolar_dot_product():
    w = rng.integers(0, 2, (7, 13))
    x = rng.integers(0, 2, (50, 13))
    ir = IR("b")
    ir.add("x", Input(size=13, lo=0, hi=1))
    ir.add("p", XnorPopcount(weight=w), ["x"])
    p = run(InferRanges()(ir)[0], x)
    bipolar = (2 * x - 1) @ (2 * w - 1).T
    np.testing.assert_array_equal(2 * p - 13, bipolar)


def test_threshold_counts_passed_thresholds_and_ranges_are_tight():
    ir = IR("t")
    ir.add("x", Input(size=2, lo=0, hi=10))
    ir.add("t", Threshold(thresholds=np.array([[3, 5, 8], [11, 12, 13]])), ["x"])
    ir = InferRanges()(ir)[0]
    out = run(ir, np.array([[2, 10], [3, 0], [8, 5]]))
    np.testing.assert_array_equal(out, [[0, 0], [1, 0], [3, 0]])
    assert list(ir.out("t").lo) == [0, 0] and list(ir.out("t").hi) == [3, 0]


def reference_conv(x_img, w, b, stride, binary):
    c_out, c_in, kh, kw = w.shape
    _, h, wd = x_img.shape
    ho, wo = (h - kh) // stride + 1, (wd - kw) // stride + 1
    y = np.zeros((c_out, ho, wo), dtype=np.int64)
    for o in range(c_out):
        for i in range(ho):
            for j in range(wo):
                patch = x_img[:, i * stride:i * stride + kh, j * stride:j * stride + kw]
                y[o, i, j] = np.sum(patch == w[o]) if binary else np.sum(patch * w[o]) + b[o]
    return y


def test_conv_and_pool_match_loops_and_stay_in_ranges():
    for binary, stride in ((False, 1), (True, 1), (False, 2)):
        w = rng.integers(0, 2, (4, 3, 3, 3)) if binary else rng.integers(-5, 6, (4, 3, 3, 3))
        b = np.zeros(4, dtype=np.int64) if binary else rng.integers(-20, 20, 4)
        ir = IR("c")
        hi = 1 if binary else 15
        ir.add("x", Input(size=3 * 8 * 7, lo=0, hi=hi))
        conv = Conv2d(weight=w, bias=b, in_shape=(3, 8, 7), stride=stride, binary=binary)
        ir.add("c", conv, ["x"])
        ir.add("p", MaxPool2d(in_shape=conv.out_shape, kernel=2, stride=2), ["c"])
        ir = InferRanges()(ir)[0]
        x = rng.integers(0, hi + 1, (5, 3 * 8 * 7))
        x[0] = 0
        x[1] = hi  # the range corners
        vals = run_all(ir, x)  # checks every value against the proven ranges
        for k in range(5):
            ref = reference_conv(x[k].reshape(3, 8, 7), w, b, stride, binary)
            np.testing.assert_array_equal(vals["c"][k], ref.ravel())
            c, h, wd = ref.shape
            pooled = ref[:, : h // 2 * 2, : wd // 2 * 2].reshape(c, h // 2, 2, wd // 2, 2).max(axis=(2, 4))
            np.testing.assert_array_equal(vals["p"][k], pooled.ravel())


def test_new_layers_round_trip_json():
    ir = IR("j")
    ir.add("x", Input(size=3 * 6 * 6, lo=0, hi=1))
    conv = Conv2d(weight=rng.integers(0, 2, (2, 3, 3, 3)), in_shape=(3, 6, 6), binary=True)
    ir.add("c", conv, ["x"])
    ir.add("t", Threshold(thresholds=rng.integers(0, 27, (32, 1))), ["c"])
    ir.add("p", MaxPool2d(in_shape=conv.out_shape), ["t"])
    ir.add("d", XnorPopcount(weight=rng.integers(0, 2, (5, 8))), ["p"])
    ir = InferRanges()(ir)[0]
    assert IR.from_json(ir.to_json()) == ir
