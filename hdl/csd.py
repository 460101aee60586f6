"""Canonical signed digits: the cheapest shift-and-add form of a constant multiplication.

w = sum(sign * 2**shift) with signs +-1 and no two adjacent nonzero digits (the non-adjacent
form). It has the fewest nonzero digits of any signed-binary form, so w * x costs the fewest
adders when every constant multiplier is built as x << shift terms.
"""

from __future__ import annotations

from functools import lru_cache


def csd(value: int) -> list[tuple[int, int]]:
    """Nonzero digits of `value` as (sign, shift), lowest shift first; [] for 0."""
    return list(_csd(int(value)))


@lru_cache(maxsize=1 << 16)
def _csd(value: int) -> tuple[tuple[int, int], ...]:
    """csd's digits, worked out once per value: planners ask per weight (bnn_cnn's first layer
    97k times, for a few distinct values)."""
    v, shift, digits = value, 0, []
    while v:
        if v & 1:
            sign = 2 - (v & 3)  # v = 1 (mod 4) -> +1; v = 3 (mod 4) -> -1, which clears a run of ones
            digits.append((sign, shift))
            v -= sign
        v >>= 1
        shift += 1
    return tuple(digits)


def csd_value(digits: list[tuple[int, int]]) -> int:
    """The integer a digit list stands for (inverse of `csd`)."""
    return sum(sign << shift for sign, shift in digits)


@lru_cache(maxsize=None)
def csd_len(value: int) -> int:
    """Number of nonzero CSD digits of `value` (cached: planners ask it per weight and offset)."""
    return len(_csd(int(value)))
