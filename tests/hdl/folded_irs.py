"""Small hand-built integer IRs for the folded architecture's tests, each covering several cases.

Thresholds sit at quantiles of the values a random batch produces, so outputs vary, plus a few
placed outside the proven range (constant neurons).
"""

from __future__ import annotations

import numpy as np

from bespoke.compiler.ir import IR, ArgMax, Conv2d, Dense, Input, MaxPool2d, Pad2d, Threshold, XnorPopcount
from bespoke.compiler.passes.ranges import InferRanges
from bespoke.sim import golden


def inputs(ir: IR, n: int, seed: int) -> np.ndarray:
    layer = ir.layer(ir.input_node())
    x = np.random.default_rng(seed).integers(layer.lo, layer.hi + 1, size=(n, layer.size))
    x[0], x[1] = layer.lo, layer.hi  # the corners: extreme accumulators
    return x


def add_thresholds(ir: IR, name: str, src: str, k: int, rng, per_channel: tuple | None = None, edit=None) -> None:
    """A Threshold after `src` with k levels at quantiles of src's values on random inputs.
    per_channel=(C, positions): one row of thresholds per channel, shared by its positions.
    edit: pins some rows, in place on the sorted [size, k] array before the (read-only) layer holds it."""
    values = golden.run_all(ir, inputs(ir, 300, seed=99), check_ranges=False)[src]
    qs = np.sort(rng.uniform(0.2, 0.8, size=k))
    if per_channel:
        c, pos = per_channel
        t = np.quantile(values.reshape(len(values), c, pos).transpose(1, 0, 2).reshape(c, -1), qs, axis=1).T
        t = np.repeat(np.floor(t).astype(np.int64), pos, axis=0)
    else:
        t = np.floor(np.quantile(values, qs, axis=0).T).astype(np.int64)
    t = np.sort(t, axis=1)
    if edit:
        edit(t)
    ir.add(name, Threshold(thresholds=t), [src])


def ranged(ir: IR) -> IR:
    ir, _ = InferRanges()(ir)
    return ir


def mlp_ir(seed: int = 0) -> IR:
    """Bipolar (+-1) dense -> 3-level thresholds (constant neurons) -> ternary dense on small counts
    -> sign -> XNOR -> sign (constant neurons) -> XNOR with duplicated rows (argmax ties) -> argmax."""
    rng = np.random.default_rng(seed)
    ir = IR("fmlp")
    ir.add("x", Input(size=12, lo=0, hi=7))
    ir.add("fc1", Dense(weight=rng.choice([-1, 1], (10, 12)), bias=rng.integers(-20, 21, 10)), ["x"])  # bipolar

    def pin_t1(t1):
        t1[0] = [-10**4, -10**4 + 1, -10**4 + 2]  # always 3
        t1[1] = [10**4, 10**4 + 1, 10**4 + 2]  # always 0
        t1[2, 0] = -10**4  # at least 1

    add_thresholds(ir, "t1", "fc1", 3, rng, edit=pin_t1)
    w2 = rng.integers(-1, 2, (8, 10))  # ternary
    w2[:, 3] = 0  # an unused input: its products are never built
    ir.add("fc2", Dense(weight=w2, bias=rng.integers(-5, 6, 8)), ["t1"])
    add_thresholds(ir, "t2", "fc2", 1, rng)
    ir.add("x3", XnorPopcount(weight=rng.integers(0, 2, (9, 8))), ["t2"])

    def pin_t3(t3):
        t3[[0, 1], 0] = [0, 9]  # popcount >= 0: always 1; >= 9 of 8: never

    add_thresholds(ir, "t3", "x3", 1, rng, edit=pin_t3)
    w4 = rng.integers(0, 2, (5, 9))
    w4[3], w4[4] = w4[1], w4[0]  # classes 3 and 4 tie with 1 and 0: the lower index must win
    ir.add("x4", XnorPopcount(weight=w4), ["t3"])
    ir.add("out", ArgMax(), ["x4"])
    return ranged(ir)


def cnn_ir(seed: int = 0) -> IR:
    """2-channel integer conv -> per-position thresholds -> overlapping 3x3/2 max-pool (a ragged
    edge) -> binary conv -> per-channel sign -> XNOR dense over an HWC buffer -> argmax."""
    rng = np.random.default_rng(seed)
    ir = IR("fcnn")
    ir.add("x", Input(size=2 * 10 * 10, lo=0, hi=3))
    ir.add("c1", Conv2d(weight=rng.integers(-2, 3, (4, 2, 3, 3)), bias=rng.integers(-4, 5, 4), in_shape=(2, 10, 10)), ["x"])
    add_thresholds(ir, "t1", "c1", 1, rng)  # one threshold per element: differ between positions
    ir.add("p1", MaxPool2d(in_shape=(4, 8, 8), kernel=3, stride=2), ["t1"])
    ir.add("c2", Conv2d(weight=rng.integers(0, 2, (6, 4, 2, 2)), in_shape=(4, 3, 3), binary=True), ["p1"])
    add_thresholds(ir, "t2", "c2", 1, rng, per_channel=(6, 4))
    ir.add("fc", XnorPopcount(weight=rng.integers(0, 2, (4, 24))), ["t2"])
    ir.add("out", ArgMax(), ["fc"])
    return ranged(ir)


def strided_ir(seed: int = 0) -> IR:
    """Signed inputs -> stride-2 bipolar conv -> sign -> binary conv whose raw popcounts are the
    output (y in IR order, read back from the HWC buffer)."""
    rng = np.random.default_rng(seed)
    ir = IR("fstride")
    ir.add("x", Input(size=49, lo=-4, hi=3))
    ir.add("c1", Conv2d(weight=rng.choice([-1, 1], (3, 1, 3, 3)), bias=rng.integers(-3, 4, 3), in_shape=(1, 7, 7), stride=2), ["x"])
    add_thresholds(ir, "t1", "c1", 1, rng, per_channel=(3, 9))
    ir.add("c2", Conv2d(weight=rng.integers(0, 2, (2, 3, 2, 2)), in_shape=(3, 3, 3), binary=True), ["t1"])
    return ranged(ir)


def padded_ir(seed: int = 0) -> IR:
    """Padding on the input (IR-order storage, a constant per channel) -> integer conv -> sign ->
    uneven padding (1 top, 0 left, 2 bottom, 1 right) of the HWC buffer -> stride-2 binary conv
    -> sign -> XNOR dense -> argmax."""
    rng = np.random.default_rng(seed)
    ir = IR("fpad")
    ir.add("x", Input(size=2 * 6 * 6, lo=-2, hi=3))
    ir.add("p0", Pad2d(in_shape=(2, 6, 6), pads=(1, 1, 1, 1), value=np.array([0, -2])), ["x"])
    ir.add("c1", Conv2d(weight=rng.integers(-2, 3, (4, 2, 3, 3)), bias=rng.integers(-4, 5, 4), in_shape=(2, 8, 8)), ["p0"])
    add_thresholds(ir, "t1", "c1", 1, rng)
    ir.add("p1", Pad2d(in_shape=(4, 6, 6), pads=(1, 0, 2, 1), value=np.array([1, 0, 1, 1])), ["t1"])
    ir.add("c2", Conv2d(weight=rng.integers(0, 2, (3, 4, 3, 3)), in_shape=(4, 9, 7), stride=2, binary=True), ["p1"])
    add_thresholds(ir, "t2", "c2", 1, rng, per_channel=(3, 12))
    ir.add("fc", XnorPopcount(weight=rng.integers(0, 2, (4, 36))), ["t2"])
    ir.add("out", ArgMax(), ["fc"])
    return ranged(ir)


def input_threshold_ir(seed: int = 0) -> IR:
    """FINN's thresholding layer on 8-bit input codes (one step per pixel, two rows constant) ->
    XNOR -> sign -> XNOR -> argmax."""
    rng = np.random.default_rng(seed)
    ir = IR("fthr")
    ir.add("x", Input(size=20, lo=0, hi=255))

    def pin(t):
        t[0, 0], t[1, 0] = 0, 300  # always 1, never

    add_thresholds(ir, "t0", "x", 1, rng, edit=pin)
    ir.add("x1", XnorPopcount(weight=rng.integers(0, 2, (12, 20))), ["t0"])
    add_thresholds(ir, "t1", "x1", 1, rng)
    ir.add("x2", XnorPopcount(weight=rng.integers(0, 2, (5, 12))), ["t1"])
    ir.add("out", ArgMax(), ["x2"])
    return ranged(ir)


IRS = {"mlp": mlp_ir, "cnn": cnn_ir, "strided": strided_ir, "padded": padded_ir, "input_threshold": input_threshold_ir}
