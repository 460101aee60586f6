"""Plans of the comparator layers, range-aware: what each comparison is and which are built.

- ArgMax: a comparator tree over neighbours paired level by level, so the left operand always holds
  the lower indices and the right side wins only if strictly greater: the lowest index wins ties. A
  comparison the ranges already decide is not built.
- Threshold: an element's thresholds at or below its range always pass (a constant count), those
  above never do; only the rest cost a comparator.
- MaxPool2d: a window tap that can never exceed the largest lower bound is dropped (one tap
  reaching that bound kept), so constant or dominated taps cost nothing.
"""

from __future__ import annotations

from dataclasses import dataclass


def index_width(n: int) -> int:
    """ceil(log2(n)) bits, at least 1."""
    return max(1, (n - 1).bit_length())


@dataclass(frozen=True, eq=False)
class Node:
    """The winner of a block of elements: its value lies in [lo, hi]. `ref` is an element index
    for a leaf, or the (left, right) pair of a comparison."""

    lo: int
    hi: int
    ref: object


def duel(left: Node, right: Node) -> Node:
    """The winner of left vs right (right holds the higher indices)."""
    if right.hi <= left.lo:
        return left  # right is never strictly greater
    if right.lo > left.hi:
        return right  # right is always strictly greater
    return Node(max(left.lo, right.lo), max(left.hi, right.hi), (left, right))


def plan_tree(lo: list[int], hi: list[int]) -> Node:
    level = [Node(a, b, i) for i, (a, b) in enumerate(zip(lo, hi))]
    while len(level) > 1:
        paired = [duel(level[k], level[k + 1]) for k in range(0, len(level) - 1, 2)]
        level = paired + level[len(level) - len(level) % 2 :]  # an odd one out goes up as it is
    return level[0]


def count_comparators(node: Node) -> int:
    stack, count = [node], 0
    while stack:
        n = stack.pop()
        if isinstance(n.ref, tuple):
            count += 1
            stack += list(n.ref)
    return count


def split_thresholds(row: list[int], lo: int, hi: int) -> tuple[int, list[int]]:
    """(count of thresholds always passed, the thresholds needing a comparator)."""
    return sum(t <= lo for t in row), [t for t in row if lo < t <= hi]


def plan_window(taps: list[int], lo: list[int], hi: list[int]) -> tuple[list[int], int, int]:
    """(taps that can matter, out lo, out hi). A tap never above the largest lower bound is dropped,
    but one tap reaching that bound is kept, so the maximum never falls below it."""
    out_lo, out_hi = max(lo[i] for i in taps), max(hi[i] for i in taps)
    live = [i for i in taps if hi[i] > out_lo]
    if not any(lo[i] == out_lo for i in live):
        floor = next(i for i in taps if lo[i] == out_lo)
        live = sorted(live + [floor])
    return live, out_lo, out_hi
