import numpy as np
import pytest

from bespoke.sim.vectors import check_fits, pack, split_bits, unpack


@pytest.mark.parametrize("width,signed,n", [(4, True, 3), (8, False, 5), (12, True, 6), (40, True, 3)])
def test_pack_unpack_round_trip(width, signed, n):
    rng = np.random.default_rng(width)
    lo, hi = (-(1 << (width - 1)), 1 << (width - 1)) if signed else (0, 1 << width)
    values = rng.integers(lo, hi, size=(200, n), dtype=np.int64)
    values[0] = lo  # extremes: the sign bit of every field set
    values[1] = hi - 1
    words = pack(values, width)
    assert all(0 <= w < 1 << (width * n) for w in words)
    assert [unpack(w, n, width, signed) for w in words] == values.tolist()


def test_pack_places_element_i_at_bits_i_times_width():
    assert pack(np.array([[1, 2, 3]]), 8) == [0x030201]
    assert pack(np.array([[-1, 0]]), 4) == [0x0F]


def test_pack_wider_than_64_bits_from_python_ints():
    big = np.array([[(1 << 70) - 1, -(1 << 69)]], dtype=object)
    (word,) = pack(big, 72)
    assert word == ((1 << 70) - 1) | (((1 << 72) - (1 << 69)) << 72)
    assert unpack(word, 2, 72, True) == [(1 << 70) - 1, -(1 << 69)]


def test_check_fits_names_the_offending_element():
    check_fits(np.array([[-8, 7]]), 4, True, "x")
    with pytest.raises(ValueError, match=r"x\[0, 1\] = 8 does not fit s4"):
        check_fits(np.array([[-8, 8]]), 4, True, "x")
    with pytest.raises(ValueError, match=r"y\[1, 0\] = -1 does not fit u3"):
        check_fits(np.array([[0], [-1]]), 3, False, "y")
    with pytest.raises(ValueError, match="does not fit u80"):
        check_fits(np.array([[1 << 80]], dtype=object), 80, False, "z")


def test_split_bits_keeps_unknown_bits_per_element():
    assert split_bits("01xz" + "0011", 2, 4) == ["0011", "01xz"]
