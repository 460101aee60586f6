"""Constant-matrix-vector multiplication with shared sub-expressions: one dense layer, all neurons at once.

hdl.dense_plan writes every neuron as the signed CSD terms ±(x_i << k) of its weights and sums them
in its own adder tree. Across the neurons of a layer the same two-term pattern
(x_i << a) ± (x_j << b) recurs (the "horizontal" sub-expressions of multiple-constant
multiplication, as in Hcub / RAG-n and da4ml's greedy CSE); so does x_i ± (x_i << d) within a
column (3x, 5x, 7x: "vertical" sharing). `share_terms` builds such a pattern once, as one adder,
and lets every neuron read it:

- a pattern is the key (a, b, d, r): source a at shift k, source b at shift k + d, with relative
  sign r = ±1, so (a << k) + r (b << (k + d)) = 2^m ((a << da) + r (b << db)) with m = min shift;
  sources are the (sign-offset, unsigned) inputs, the shared sums U of dense_plan's weight
  offsets, and earlier sub-expressions (so patterns nest);
- greedy: take the pattern that occurs most often (counted over term pairs of every neuron; ties
  go to the nearest shifts, then differences, then the smallest key: deterministic), replace its
  non-overlapping occurrences in every neuron by one term of the new sub-expression, update the
  pair counts, and repeat while a pattern occurs at least twice. A pattern used twice costs one
  adder and saves two.

Every sub-expression is a linear form of the inputs plus a constant; its net's range is the exact
range of that form over the input box (not interval arithmetic on its operands), and each
neuron's root gets the neuron's exact range. A sub-expression that can be negative is read by
every later adder as unsigned (`Unsigned`: its sign bit inverted, + 2^(w-1)); the offset goes into
the constant of each neuron reading it, so the neuron trees add unsigned values, as dense_plan's
sign-offset inputs do (egfet, cardio's first layer: 7 % less area than signed sub-expressions).

`plan_dense` plans a layer both ways, per neuron (dense_plan.plan_layer) and shared, and keeps the
one with fewer adder bits (`adder_bits`: per adder its output width less the low bits that pass
through unchanged); sharing=False gives the per-neuron plan. Pure Python, no Amaranth.
"""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass

from bespoke.hdl.adder_tree import SumPlanner, Term, adder_bits, combine
from bespoke.hdl.dense_plan import Neurons, Row, Shared, linear_range, sign_offset

# Term pairs counted at the start (sum over neurons of n(n-1)/2); a layer with more is planned per
# neuron: pair counting is quadratic in a neuron's terms (a 784-input binarized layer has 10^8).
PAIR_BUDGET = 4_000_000


@dataclass(frozen=True)
class Sub:
    """Leaf ref of the n-th shared sub-expression of a layer plan."""

    n: int


@dataclass(frozen=True)
class Unsigned:
    """Leaf ref of a signed sub-expression read as unsigned: `sub` + 2^(w-1), its sign bit inverted
    (one inverter; the neurons reading it take the offset into their constant)."""

    sub: Sub


Signed = tuple[int, int, object]  # (sign, shift, leaf ref): the term sign * (ref << shift)


class _Sharing:
    """The greedy state: per neuron its terms (id -> (sign, shift, source), in the order they were
    made), which neurons read each source, pair counts.

    A pattern (a, b, d, r) is counted and queued as one int, its code (`pattern`): codes order as
    the greedy prefers patterns of one count, and a queue entry -count * span + code orders as
    the greedy takes them, so the heap compares ints rather than nested tuples (bnn_cnn's first
    layer: 47k pops from a heap of 40k patterns)."""

    unsigned = True  # read sub-expressions that can be negative as unsigned (see make)

    def __init__(self, neurons: list[list[Signed]], forms: dict[object, dict[int, int]], box: tuple[list[int], list[int]]):
        self.box = box
        self.refs: list[object] = []  # source id -> leaf ref
        self.forms: list[dict[int, int]] = []  # source id -> linear form over the box's variables
        self.consts: list[int] = []  # source id -> its constant: value = form . x + const
        self.ranges: list[tuple[int, int]] = []
        self.ids: dict[object, int] = {}
        self.plans: dict[Sub, Term] = {}
        self.terms: list[dict[int, tuple[int, int, int]]] = []
        self.where: dict[int, set[int]] = {}  # source -> neurons reading it
        self.next_id = 0
        self.dead: set[int] = set()
        ids, where, source = self.ids, self.where, self.source
        for j, signed in enumerate(neurons):  # every term gets an id, in order; `where` its source's readers
            terms = {}
            for k, (sign, shift, ref) in enumerate(signed, self.next_id):
                sid = ids.get(ref)
                if sid is None:
                    sid = source(ref, forms[ref])
                terms[k] = (sign, shift, sid)
                where.setdefault(sid, set()).add(j)
            self.next_id += len(signed)
            self.terms.append(terms)
        # bounds of a pattern's parts: each sub-expression replaces at least two terms by one, so
        # there are fewer sources than sources now plus terms; a new term takes one of two shifts
        self.n_ids = len(self.refs) + sum(map(len, neurons))
        max_shift = max((shift for signed in neurons for _, shift, _ in signed), default=0)
        self.span = 4 * (max_shift + 1) * self.n_ids ** 2  # every code is below it
        self.count = Counter(code for terms in self.terms for code in self.codes(list(terms.values())))
        self.heap = [-c * self.span + k for k, c in self.count.items() if c >= 2]
        heapq.heapify(self.heap)

    def pattern(self, t: tuple[int, int, int], u: tuple[int, int, int]) -> int | None:
        """The code of the pattern (a, b, d, r) of two terms (sign, shift, source): a <= b, d the
        shift of b less that of a, r the relative sign; None for one source at one shift (no adder
        to share). Codes order as (|d|, r, a, b, d): among the patterns of one count the greedy takes
        the nearest shifts, then differences before sums, then the smallest key. (Measured with
        egfet synthesis on the first layers of cardio, pendigits and whitewine: 6 % less area than
        the smallest key alone.)"""
        (s1, k1, a), (s2, k2, b) = t, u
        if a > b or a == b and k1 > k2:
            a, b, k1, k2 = b, a, k2, k1
        elif a == b and k1 == k2:
            return None
        d, n = k2 - k1, self.n_ids
        return (((abs(d) * 2 + (s1 == s2)) * n + a) * n + b) * 2 + (d > 0)

    def codes(self, terms: list[tuple[int, int, int]]) -> list[int]:
        """The codes of every pair of `terms` that has one (pattern over combinations, inlined:
        the pairs of every neuron are counted at the start)."""
        n, out = self.n_ids, []
        for x, (s1, k1, a1) in enumerate(terms):
            for s2, k2, b2 in terms[x + 1:]:
                if a1 < b2 or a1 == b2 and k1 < k2:
                    a, b, d = a1, b2, k2 - k1
                elif a1 == b2 and k1 == k2:
                    continue
                else:
                    a, b, d = b2, a1, k1 - k2
                out.append((((abs(d) * 2 + (s1 == s2)) * n + a) * n + b) * 2 + (d > 0))
        return out

    def unpack(self, code: int) -> tuple[int, int, int, int]:
        """The pattern (a, b, d, r) of a code."""
        rest, positive = divmod(code, 2)
        rest, b = divmod(rest, self.n_ids)
        rest, a = divmod(rest, self.n_ids)
        d, same = divmod(rest, 2)
        return a, b, d if positive else -d, 1 if same else -1

    def source(self, ref, form: dict[int, int], const: int = 0, value_range: tuple[int, int] | None = None) -> int:
        """The id of a new leaf ref; `value_range` that of form . x + const (the exact one, worked
        out here unless given)."""
        sid = self.ids[ref] = len(self.refs)
        self.refs.append(ref)
        self.forms.append(form)
        self.consts.append(const)
        self.ranges.append(value_range or linear_range(list(form.items()), const, *self.box))
        return sid

    def leaf(self, sid: int, shift: int) -> Term:
        lo, hi = self.ranges[sid]
        return Term(lo, hi, shift, self.refs[sid])

    # -- the greedy loop
    def run(self) -> None:
        heap, count, span = self.heap, self.count, self.span
        while heap:
            entry = heapq.heappop(heap)
            c, code = -(entry // span), entry % span
            now = count[code]
            if now < 2 or code in self.dead:
                continue
            if now < c:  # stale: counted down since it was pushed
                heapq.heappush(heap, -now * span + code)
                continue
            key = self.unpack(code)
            a, b = key[:2]
            found = [(j, self.occurrences(j, key)) for j in sorted(self.where.get(a, set()) & self.where.get(b, set()))]
            if sum(len(o) for _, o in found) < 2:
                self.dead.add(code)  # overlapping pairs only: never more than one use
                continue
            sid, d = self.make(key), key[2]
            for j, occ in found:
                for tf, ts in occ:
                    sign, kf, _ = self.terms[j][tf]
                    self.replace(j, tf, ts, (sign, min(kf, kf + d), sid))

    def occurrences(self, j: int, key) -> list[tuple[int, int]]:
        """Non-overlapping (first, second) term-id pairs of the pattern in neuron j (a neuron has a
        few terms: scanned, oldest first)."""
        a, b, d, r = key
        terms = self.terms[j]
        if a != b:
            firsts, seconds = [], []
            for tid, t in terms.items():  # one scan for both sources
                if t[2] == a:
                    firsts.append((tid, t))
                elif t[2] == b:
                    seconds.append((tid, t))
            if len(firsts) == 1 and len(seconds) == 1:  # the common case, without the lookups below
                ((ta, (s, k, _)),), ((tb, (s_b, k_b, _)),) = firsts, seconds
                return [(ta, tb)] if k_b == k + d and s_b == s * r else []
        else:
            firsts = seconds = [(tid, t) for tid, t in terms.items() if t[2] == a]
        by_place = {}
        for tid, (s, k, _) in seconds:
            by_place.setdefault((k, s), []).append(tid)
        used, out = set(), []
        for tid, (s, k, _) in firsts:
            if tid in used:
                continue
            for other in by_place.get((k + d, s * r), ()):
                if other != tid and other not in used:
                    used.update((tid, other))
                    out.append((tid, other))
                    break
        return out

    def make(self, key) -> int:
        """The sub-expression (a << da) + r (b << db) of a pattern, as a plan and a new source:
        read as unsigned (Unsigned, its offset in the source's constant) when it can be negative."""
        a, b, d, r = key
        da, db = max(0, -d), max(0, d)
        fa, fb = self.forms[a], self.forms[b]
        form = {v: c << da for v, c in fa.items()} if da else fa.copy()
        const = (self.consts[a] << da) + r * (self.consts[b] << db)
        ref = Sub(len(self.plans))
        if fa.keys().isdisjoint(fb.keys()):  # independent variables: the interval sum is exact
            form.update((v, r * (c << db)) for v, c in fb.items())
            (alo, ahi), (blo, bhi) = self.ranges[a], self.ranges[b]
            blo, bhi = (blo, bhi) if r > 0 else (-bhi, -blo)
            exact = (alo << da) + (blo << db), (ahi << da) + (bhi << db)
        else:
            for v, c in fb.items():
                form[v] = form.get(v, 0) + r * (c << db)
            form = {v: c for v, c in form.items() if c}
            exact = linear_range(form.items(), const, *self.box)
        self.plans[ref] = combine(self.leaf(a, da), self.leaf(b, db), sub=r < 0, exact=exact)
        if exact[0] < 0 and self.unsigned:
            off = sign_offset(*exact)
            return self.source(Unsigned(ref), form, const + off, (exact[0] + off, exact[1] + off))
        return self.source(ref, form, const, exact)

    def replace(self, j: int, tf: int, ts: int, new: tuple[int, int, int]) -> None:
        """Terms tf, ts of neuron j become `new`: their pairs counted down, then new's pairs up
        (a pattern is queued at each count it goes up to, so that order decides the queue)."""
        terms, count, n = self.terms[j], self.count, self.n_ids
        for gone in (tf, ts):
            s1, k1, a1 = terms.pop(gone)
            still = False  # whether j reads t's source still
            for s2, k2, b2 in terms.values():  # pattern(t, u), inlined: the greedy's innermost loop
                if a1 < b2 or a1 == b2 and k1 < k2:
                    a, b, d = a1, b2, k2 - k1
                elif a1 == b2 and k1 == k2:
                    still = True
                    continue
                else:
                    a, b, d = b2, a1, k1 - k2
                still = still or a1 == b2
                count[(((abs(d) * 2 + (s1 == s2)) * n + a) * n + b) * 2 + (d > 0)] -= 1
            if not still:
                self.where[a1].discard(j)
        s1, k1, a1 = new
        heap, span = self.heap, self.span
        for s2, k2, b2 in terms.values():  # new's pairs counted up, queued again from two up (pattern, inlined)
            if a1 < b2 or a1 == b2 and k1 < k2:
                a, b, d = a1, b2, k2 - k1
            elif a1 == b2 and k1 == k2:
                continue
            else:
                a, b, d = b2, a1, k1 - k2
            code = (((abs(d) * 2 + (s1 == s2)) * n + a) * n + b) * 2 + (d > 0)
            c = count.get(code, 0) + 1
            count[code] = c
            if c >= 2:
                heapq.heappush(heap, -c * span + code)
        terms[self.next_id] = new  # insert, inlined
        self.where.setdefault(a1, set()).add(j)
        self.next_id += 1

    def result(self) -> tuple[list[tuple[list[Term], list[Term]]], list[int]]:
        """Every neuron's terms as leaf Terms, (positive, negative), and the constant they add (the
        sources' offsets)."""
        leaves: dict[tuple[int, int], Term] = {}  # one Term per source and shift, read by every neuron with it
        leaf = lambda src, k: leaves.get((src, k)) or leaves.setdefault((src, k), self.leaf(src, k))
        return ([([leaf(src, k) for s, k, src in ts.values() if s > 0], [leaf(src, k) for s, k, src in ts.values() if s < 0])
                 for ts in self.terms],
                [sum(s * (self.consts[src] << k) for s, k, src in ts.values()) for ts in self.terms])


def share_terms(neurons: list[list[Signed]], forms: dict[object, dict[int, int]], box: tuple[list[int], list[int]],
                ) -> tuple[dict[Sub, Term], list[tuple[list[Term], list[Term]]], list[int]] | None:
    """Greedy common sub-expressions over the signed leaf terms of every neuron (module doc).

    `forms[ref]` is each leaf ref's linear form over variables whose ranges are `box` = (lo, hi).
    Returns the sub-expression plans, every neuron's new terms (positive, negative) and the constant those add to its
    value (offsets of unsigned sub-expressions: new terms - offset = old terms), or None when the
    layer has more term pairs than PAIR_BUDGET."""
    if sum(len(n) * (len(n) - 1) // 2 for n in neurons) > PAIR_BUDGET:
        return None
    state = _Sharing(neurons, forms, box)
    state.run()
    return state.plans, *state.result()


# --------------------------------------------------------------------------- a dense layer


def plan_layer_shared(rows: list[Row], bias: list[int], lo: list[int], hi: list[int],
                      ) -> tuple[dict[object, Term], list[Term | None]] | None:
    """dense_plan.plan_layer with shared sub-expressions: the shared sums and sub-expressions (by
    leaf ref, each before its readers) and each neuron's adder tree; None past PAIR_BUDGET."""
    done = share_layer(Neurons(rows, bias, lo, hi))
    return None if done is None else done[:2]


def share_layer(layer: Neurons) -> tuple[dict[object, Term], list[Term | None], int] | None:
    """plan_layer_shared of a layer's Neurons, and its layer_bits (counted once per tree shape)."""
    lo, hi = layer.lo, layer.hi
    if layer.term_pairs() > PAIR_BUDGET:
        return None
    shared: dict[object, Term] = {Shared(key): t for key, t in layer.sums().items()}
    signed, consts = zip(*map(layer.signed, range(len(layer.rows)))) if layer.rows else ((), ())
    # variables: the sign-offset inputs, in [lo + off, hi + off]
    box = ([a + sign_offset(a, b) for a, b in zip(lo, hi)], [b + sign_offset(a, b) for a, b in zip(lo, hi)])
    forms: dict[object, dict[int, int]] = {ref: dict.fromkeys(ref.key, 1) for ref in shared}
    forms |= {i: {i: 1} for i, (a, b) in enumerate(zip(lo, hi)) if a != b}
    done = share_terms(list(signed), forms, box)
    if done is None:
        return None
    subs, signed, offsets = done
    planner = SumPlanner()
    trees = [planner.plan(pos, neg, const - off, plan.exact) for (pos, neg), const, off, plan in zip(signed, consts, offsets, layer.plans)]
    return shared | subs, trees, layer.sum_bits() + sum(adder_bits(t) for t in subs.values()) + planner.bits


def layer_bits(shared: dict[object, Term], trees: list[Term | None]) -> int:
    return sum(adder_bits(t) for t in shared.values()) + sum(adder_bits(t) for t in trees)


def plan_dense(rows: list[Row], bias: list[int], lo: list[int], hi: list[int], sharing: bool = True,
               ) -> tuple[dict[object, Term], list[Term | None], str]:
    """The layer planned per neuron and (with `sharing`) shared, whichever has fewer adder bits.
    Returns the shared plans by leaf ref (Shared sums, Sub expressions; each plan reads only refs
    listed before it), the neuron trees, and "shared" or "per-neuron"."""
    layer = Neurons(rows, bias, lo, hi)  # the weight offsets are the same for both plans
    # the per-neuron plan's bits are counted per class of rows, its trees built only if it wins
    if sharing and (sh := share_layer(layer)) is not None and sh[2] < layer.bits():
        return sh[0], sh[1], "shared"
    return {Shared(k): t for k, t in layer.sums().items()}, layer.trees(), "per-neuron"
