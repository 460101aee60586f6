import dataclasses

import numpy as np
import pytest

from bespoke.compiler.ir import IR, ArgMax, Dense, Input, Requant, bits_for_range
from bespoke.compiler.passes.ranges import InferRanges


@pytest.mark.parametrize("lo,hi,expect", [(0, 0, (1, False)), (0, 1, (1, False)), (0, 15, (4, False)), (0, 16, (5, False)),
                                          (-1, 0, (1, True)), (-128, 127, (8, True)), (-129, 0, (9, True)), (-1, 128, (9, True))])
def test_bits_for_range(lo, hi, expect):
    assert bits_for_range(lo, hi) == expect


def _fits(lo, hi, w, signed):
    vmin, vmax = (-(1 << (w - 1)), (1 << (w - 1)) - 1) if signed else (0, (1 << w) - 1)
    return vmin <= lo and hi <= vmax


def test_bits_for_range_is_minimal_and_sound():
    for lo in range(-70, 70):
        for hi in range(lo, 70):
            w, signed = bits_for_range(lo, hi)
            assert signed == (lo < 0) and _fits(lo, hi, w, signed)
            assert w == 1 or not _fits(lo, hi, w - 1, signed)


def small_ir() -> IR:
    ir = IR("t")
    ir.add("x", Input(size=3, lo=0, hi=15))
    ir.add("d", Dense(weight=np.array([[1, -2, 3], [0, 5, -7]]), bias=np.array([4, -1])), ["x"])
    ir.add("q", Requant(mult=np.array([1, 1]), shift=np.array([2, 1]), zero_point=np.array([0, 0]), qmin=0, qmax=15), ["d"])
    ir.add("a", ArgMax(), ["q"])
    return InferRanges()(ir)[0]


def test_json_round_trip_keeps_types_and_ranges():
    ir = small_ir()
    ir.meta["labels"] = [3, 7]
    back = IR.from_json(ir.to_json())
    assert back == ir
    assert back.layer("d").weight.dtype == np.int64 and back.is_integer()
    assert list(back.out("d").lo) == list(ir.out("d").lo)
    assert back.meta["labels"] == [3, 7]


def test_copy_shares_arrays_and_is_independent():
    ir = small_ir()
    before = ir.to_json()
    c = ir.copy()
    assert c.layer("d").weight is ir.layer("d").weight  # shared, so it must be read-only
    with pytest.raises(ValueError, match="read-only"):
        c.layer("d").weight[0, 0] = 99
    with pytest.raises(ValueError, match="read-only"):
        c.out("d").lo[0] = -1
    c.replace_layer("d", dataclasses.replace(c.layer("d"), bias=np.array([0, 0])))
    c.out("q").lo = c.out("q").lo - 1
    c.graph.remove_edge("q", "a")
    c.meta["x"] = 1
    assert ir.to_json() == before and c.to_json() != before


def test_ranges_are_exact_for_dense():
    ir = small_ir()
    # d0 = x0 - 2 x1 + 3 x2 + 4: min at (0, 15, 0) = -26, max at (15, 0, 15) = 64
    assert (ir.out("d").lo[0], ir.out("d").hi[0]) == (-26, 64)
    assert (ir.out("a").lo[0], ir.out("a").hi[0]) == (0, 1)


def test_dump_is_readable():
    text = small_ir().dump()
    assert "dense 3->2" in text and "requant to u4" in text and "argmax" in text
