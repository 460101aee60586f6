"""Sum terms of known intervals into one value, every adder exactly as wide as its interval.

Planning and building are separate: `plan_sum` works on pure-Python `Term`s (so `summary` can
count adders without building anything); hdl.unrolled turns a plan into netlist cells.

A term stands for `ref << shift` with `ref` in [lo, hi]. Keeping the shift apart (instead of
wiring zeros in) keeps the low zero bits out of adders: a + (b << 3) is added at shift 0 but
(a << 2) + (b << 3) only at shift 2, its low two bits being known zeros.

Negative terms are summed in a tree of their own and subtracted once at the root (P - N): it is
one subtractor in all, and as every leaf of P and of N is a nonnegative multiple of its input,
interval addition inside each tree is exact, so no intermediate signal is wider than needed.
Measured with yosys `synth` on random 16-5 layers (8-bit weights, 30 % zeros): negating each
negative term gave 15-30 % more cells; subtracting inside one mixed tree came within 5 % of P - N
(P - N smaller in 5 of 8 layers), and P - N keeps every interval exact, so it is what we build.
"""

from __future__ import annotations

import heapq
from operator import attrgetter
from typing import Iterator

from bespoke.compiler.ir import bits_for_range


class Term:
    """The value `ref << shift`, where `ref` lies in [lo, hi].

    `ref` is None for a constant (then lo == hi is the constant), an `Add` for an adder node, and
    anything else for a leaf, which the emitter's `leaf` callback turns into an Amaranth value.

    Never changed once made (plans share subtrees); compared and hashed by identity. A class with
    slots rather than a frozen dataclass: a big layer's plans make ~100k terms, and a frozen
    dataclass's __init__ took 3x as long (0.7 vs 0.25 us).
    """

    __slots__ = ("lo", "hi", "shift", "ref")

    def __init__(self, lo: int, hi: int, shift: int = 0, ref: object = None):
        self.lo = lo
        self.hi = hi
        self.shift = shift
        self.ref = ref

    def __repr__(self) -> str:
        return f"Term({self.lo}, {self.hi}, {self.shift}, {self.ref!r})"

    @property
    def span(self) -> int:
        return (self.hi - self.lo) << self.shift

    @property
    def width(self) -> int:
        return bits_for_range(self.lo, self.hi)[0]


class Add:
    """A two-input adder (`sub`: subtractor) node: a + b or a - b, aligned to the lower shift.
    Never changed once made, compared by identity (a class with slots, as Term)."""

    __slots__ = ("a", "b", "sub")

    def __init__(self, a: Term, b: Term, sub: bool = False):
        self.a = a
        self.b = b
        self.sub = sub

    def __repr__(self) -> str:
        return f"Add({self.a!r}, {self.b!r}, sub={self.sub})"


def const_term(value: int) -> Term:
    """A constant, its trailing zero bits moved into the shift."""
    value = int(value)
    shift = (value & -value).bit_length() - 1 if value else 0
    return Term(value >> shift, value >> shift, shift)


def combine(a: Term, b: Term, sub: bool = False, exact: tuple[int, int] | None = None) -> Term:
    """The adder node a + b (or a - b). `exact`: a known tighter range of the true result."""
    s = min(a.shift, b.shift)
    da, db = a.shift - s, b.shift - s
    if sub:
        lo, hi = (a.lo << da) - (b.hi << db), (a.hi << da) - (b.lo << db)
    else:
        lo, hi = (a.lo << da) + (b.lo << db), (a.hi << da) + (b.hi << db)
    t = Term(lo, hi, s, Add(a, b, sub))
    return t if exact is None else tighten(t, exact)  # every reachable value is a multiple of 2**s


def tighten(t: Term, exact: tuple[int, int]) -> Term:
    """The adder node t with the known tighter range `exact` of its value (t's shift included)."""
    s = t.shift
    assert exact[0] % (1 << s) == 0 and exact[1] % (1 << s) == 0, (exact, s)
    assert t.lo << s <= exact[0] <= exact[1] <= t.hi << s, (exact, t.lo << s, t.hi << s)
    return Term(exact[0] >> s, exact[1] >> s, s, t.ref)


def huffman_sum(terms: list[Term]) -> Term | None:
    """Sum by always adding the two terms of smallest span: the narrow ones meet first."""
    heap = [(t.span, k, t) for k, t in enumerate(terms)]
    heapq.heapify(heap)
    k = len(heap)
    while len(heap) > 1:
        _, _, a = heapq.heappop(heap)
        _, _, b = heapq.heappop(heap)
        t = combine(a, b)
        heapq.heappush(heap, (t.span, k, t))
        k += 1
    return heap[0][2] if heap else None


def plan_sum(pos: list[Term], neg: list[Term], const: int = 0, exact: tuple[int, int] | None = None) -> Term | None:
    """sum(pos) - sum(neg) + const as one tree; None if that is the constant 0.

    `exact` is the known range of the result (the final P - N is only bounded by interval
    arithmetic otherwise, which is loose when one input feeds both P and N).
    """
    pos, neg = list(pos), list(neg)
    if const > 0 or (const < 0 and not pos):
        pos.append(const_term(const))  # a lone constant in P saves negating N
    elif const < 0:
        neg.append(const_term(-const))
    p, n = huffman_sum(pos), huffman_sum(neg)
    if n is None:
        # leaves of mixed sign (shared a - b sub-expressions, hdl.mcm) leave P's interval loose
        return p if p is None or exact is None or not isinstance(p.ref, Add) else tighten(p, exact)
    if p is None:
        p = Term(0, 0, n.shift)  # 0 - N: a zero at N's shift keeps N's known low zero bits
    return combine(p, n, sub=True, exact=exact)


class SumPlanner:
    """plan_sum for many term lists of few shapes: the tree of a shape (the terms' lo, hi and
    shift in order, the constant, the exact range: all its structure depends on) is planned once
    and rebuilt over each later list's own leaves (bnn_cnn's first layer after sharing: 10,816
    neurons, 36 shapes); a shape met once is simply planned. `bits`: the adder_bits of every tree
    it gave, counted once per shape."""

    _shape = staticmethod(attrgetter("lo", "hi", "shift"))

    def __init__(self):
        self._shapes: dict[tuple, list] = {}  # shape -> [a tree of it, how many, its _Rebuild once met twice]

    def plan(self, pos: list[Term], neg: list[Term], const: int = 0, exact: tuple[int, int] | None = None) -> Term | None:
        key = (tuple(map(self._shape, pos)), tuple(map(self._shape, neg)), const, exact)
        seen = self._shapes.get(key)
        if seen is None:
            tree = plan_sum(pos, neg, const, exact)
            self._shapes[key] = [tree, 1, None]
            return tree
        seen[1] += 1
        if seen[2] is None:
            seen[2] = _Rebuild(len(pos), len(neg), [*pos, *neg], const, exact)
        return seen[2].over([*pos, *neg])

    @property
    def bits(self) -> int:
        return sum(n * adder_bits(tree) for tree, n, _ in self._shapes.values())


class _Rebuild:
    """The plan_sum tree of terms like `terms` as steps that rebuild it over other leaves: the
    leaves are places 0..n-1, the tree's constants the next places, then each adder (children
    first) one more place, made from two earlier ones."""

    def __init__(self, n_pos: int, n_neg: int, terms: list[Term], const: int, exact: tuple[int, int] | None):
        slots = [Term(t.lo, t.hi, t.shift, k) for k, t in enumerate(terms)]  # a leaf's ref: its place
        root = plan_sum(slots[:n_pos], slots[n_pos:], const, exact)
        adders = list(add_nodes(root))[::-1]  # reversed pre-order: every adder after its children
        self.consts = [u for t in adders for u in (t.ref.a, t.ref.b) if u.ref is None]
        place = {id(t): k for k, t in enumerate(slots + self.consts + adders)}
        self.steps = [(t.lo, t.hi, t.shift, t.ref.sub, place[id(t.ref.a)], place[id(t.ref.b)]) for t in adders]
        self.root = root if root is None or root.ref is None else place[id(root)]  # None, a constant or a place

    def over(self, leaves: list[Term]) -> Term | None:
        if not isinstance(self.root, int):
            return self.root  # no tree, or a constant (terms are never changed: plans may share them)
        made = leaves + self.consts
        for lo, hi, shift, sub, a, b in self.steps:
            made.append(Term(lo, hi, shift, Add(made[a], made[b], sub)))
        return made[self.root]


# --------------------------------------------------------------------------- inspecting plans


def add_nodes(root: Term | None) -> Iterator[Term]:
    """Every adder node of a plan (iteratively: Huffman trees may be deep chains)."""
    stack = [root] if root is not None else []
    while stack:
        t = stack.pop()
        if isinstance(t.ref, Add):
            yield t
            stack += [t.ref.b, t.ref.a]


def adder_bits(root: Term | None) -> int:
    """The adder cost of a plan: per adder its output width less the low bits one operand passes
    through alone (the other operand's shift), at least one bit."""
    total = 0
    for t in add_nodes(root):
        a, b = t.ref.a, t.ref.b
        total += max(1, t.width - abs(a.shift - b.shift))
    return total


def count_adders(root: Term | None) -> int:
    return sum(1 for _ in add_nodes(root))


def widest_adder(root: Term | None) -> int:
    """Width of the widest adder output in the plan (0 if it has none)."""
    return max((t.width for t in add_nodes(root)), default=0)
