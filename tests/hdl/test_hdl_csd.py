"""CSD digits, exhaustively for |v| < 4096."""

from bespoke.hdl.csd import csd, csd_value


def naf_weight(v: int) -> int:
    """Nonzero digits of the non-adjacent form, by the closed formula (independent of csd())."""
    v = abs(v)
    return bin((v + (v >> 1)) ^ (v >> 1)).count("1")


def test_csd_exhaustive():
    for v in range(-4095, 4096):
        digits = csd(v)
        assert csd_value(digits) == v, v
        assert all(sign in (1, -1) for sign, _ in digits), v
        shifts = [s for _, s in digits]
        assert shifts == sorted(shifts), v
        assert all(b - a >= 2 for a, b in zip(shifts, shifts[1:])), (v, digits)  # non-adjacent
        assert len(digits) == naf_weight(v), v  # the minimal number of nonzero digits
        assert len(digits) <= bin(abs(v)).count("1")


def test_csd_examples():
    assert csd(0) == []
    assert csd(7) == [(-1, 0), (1, 3)]  # 8 - 1
    assert csd(-3) == [(1, 0), (-1, 2)]  # -4 + 1
    assert csd(1 << 40) == [(1, 40)]
