"""The plan of requant: y = clip(round_shift(x * mult, shift) + zero_point, qmin, qmax), elementwise.

Exactly the semantics of compiler.ir.Requant / sim.golden.round_shift. The multiplication is
CSD shift-and-add (wiring when mult is 1), "floor" rounding is an arithmetic right shift (wiring),
"half_even" adds one round-up bit computed from the remainder bits and the quotient's LSB, and
each clip bound costs a comparator only if the range can actually cross it.
"""

from __future__ import annotations

from dataclasses import dataclass

from bespoke.hdl.adder_tree import Term, const_term, plan_sum
from bespoke.hdl.csd import csd

ROUNDINGS = ("floor", "half_even")


def round_shift_int(v: int, shift: int, rounding: str) -> int:
    """v / 2**shift rounded as sim.golden.round_shift does, on one Python int."""
    q = v >> shift
    if rounding == "floor" or shift == 0:
        return q
    rem, half = v - (q << shift), 1 << (shift - 1)
    return q + int(rem > half or (rem == half and q & 1 == 1))


def plan_product(mult: int, lo: int, hi: int) -> Term | None:
    """x * mult (x in [lo, hi], the leaf ref 0) as a CSD adder tree; a constant if lo == hi."""
    if lo == hi or mult == 0:
        return const_term(mult * lo) if mult * lo else None
    pos = [Term(lo, hi, s, 0) for sign, s in csd(mult) if sign > 0]
    neg = [Term(lo, hi, s, 0) for sign, s in csd(mult) if sign < 0]
    return plan_sum(pos, neg, exact=(min(mult * lo, mult * hi), max(mult * lo, mult * hi)))


@dataclass
class ElementPlan:
    """One element's datapath and the exact range after each step."""

    product: Term | None  # x * mult; None is the constant 0
    p: tuple[int, int]  # range of x * mult
    round_up: bool  # half_even with remainder bits that are not known zeros
    q: tuple[int, int]  # after rounding
    z: tuple[int, int]  # after + zero_point
    y: tuple[int, int]  # after clipping


def plan_element(lo, hi, mult, shift, zero_point, qmin, qmax, rounding) -> ElementPlan:
    product = plan_product(mult, lo, hi)
    p = (min(mult * lo, mult * hi), max(mult * lo, mult * hi))
    known_zero_bits = product.shift if product is not None and product.ref is not None else shift
    round_up = rounding == "half_even" and shift > known_zero_bits
    q = (round_shift_int(p[0], shift, rounding), round_shift_int(p[1], shift, rounding))
    z = (q[0] + zero_point, q[1] + zero_point)
    y = (min(max(z[0], qmin), qmax), min(max(z[1], qmin), qmax))
    return ElementPlan(product, p, round_up, q, z, y)
