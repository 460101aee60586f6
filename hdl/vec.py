"""Element and vector types derived from proven ranges.

A tensor travels between components as a flat array of equal-width elements (the port contract:
element i at bits [i*W, (i+1)*W)); each element's own, possibly narrower, type comes from its
range, and a consumer narrows to it so no logic is spent on bits that are provably constant.
"""

from __future__ import annotations

from amaranth import Shape, Value, signed, unsigned

from bespoke.compiler.ir import bits_for_range


def range_shape(lo: int, hi: int) -> Shape:
    """The minimal Amaranth shape holding every integer in [lo, hi]."""
    width, is_signed = bits_for_range(lo, hi)
    return signed(width) if is_signed else unsigned(width)


def vec_shape(lo, hi) -> Shape:
    """One shape for all elements of a vector: wide enough for each element's range.

    For all-unsigned or all-signed vectors this is the widest element's type; for a mix it is
    signed and one bit wider than the widest unsigned element, so every element still fits.
    """
    return range_shape(min(int(v) for v in lo), max(int(v) for v in hi))


def narrow(value: Value, lo: int, hi: int) -> Value:
    """`value` (known to lie in [lo, hi]) cut down to the minimal type of that range."""
    shape = range_shape(lo, hi)
    value = Value.cast(value)
    if len(value) <= shape.width:
        return value  # already no wider than needed; its own signedness keeps the value right
    bits = value[: shape.width]
    return bits.as_signed() if shape.signed else bits
