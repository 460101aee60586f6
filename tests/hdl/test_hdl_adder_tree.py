"""Adder-tree planning (intervals, Huffman order, counts) and the circuit built from it as netlist
cells, interpreted and simulated."""

import itertools
import random

import numpy as np

from bespoke.compiler.ir import bits_for_range
from bespoke.hdl import interpret
from bespoke.hdl.adder_tree import Add, Term, add_nodes, combine, count_adders, huffman_sum, plan_sum, widest_adder
from bespoke.hdl.netlist import Netlist
from bespoke.hdl.unrolled import Stage
from bespoke.hdl.write_amaranth import NetlistTop
from rtl_testing import simulate_comb


def value_of(t: Term, env: list[int]) -> int:
    """Python value of a plan; leaf refs index `env`."""
    if t.ref is None:
        v = t.lo
    elif isinstance(t.ref, Add):
        a, b = value_of(t.ref.a, env), value_of(t.ref.b, env)
        return a - b if t.ref.sub else a + b
    else:
        v = env[t.ref]
    return v << t.shift


def tree_netlist(root, lo, hi) -> Netlist:
    """The plan `root` over leaves x[i] in [lo[i], hi[i]] as add/sub cells, built as the unrolled
    planner builds every sum (hdl.unrolled.Stage.sum_tree); y[0] is the sum."""
    nl = Netlist("tree")
    x = nl.inputs["x"] = [nl.net(a, b, f"x{i}") for i, (a, b) in enumerate(zip(lo, hi))]
    nl.outputs["y"] = [Stage(nl, "t", "", x, lo, hi).sum_tree(root, lambda i: x[i])]
    nl.verify()
    return nl


def random_case(rng: random.Random):
    n = rng.randint(1, 6)
    lo = [rng.randint(-40, 30) for _ in range(n)]
    hi = [a + rng.randint(1, 60) for a in lo]
    pos, neg = [], []
    for i in range(n):
        for _ in range(rng.randint(1, 2)):
            (pos if rng.random() < 0.6 else neg).append(Term(lo[i], hi[i], rng.randint(0, 3), i))
    const = rng.choice([0, 0, rng.randint(-300, 300)])
    return lo, hi, pos, neg, const


def signed_total(pos, neg, const, env):
    return sum(value_of(t, env) for t in pos) - sum(value_of(t, env) for t in neg) + const


def test_built_trees_compute_the_sum():
    """The plan as netlist cells, one add/sub cell per planned adder, each as wide as its interval
    (the interpreter checks every value against it); in RTL through the Amaranth writer too."""
    rng = random.Random(1)
    for _ in range(25):
        lo, hi, pos, neg, const = random_case(rng)
        root = plan_sum(pos, neg, const)
        nl = tree_netlist(root, lo, hi)
        assert sum(nl.count().get(k, 0) for k in ("add", "sub")) == count_adders(root)
        batch = np.array([[rng.randint(a, b) for a, b in zip(lo, hi)] for _ in range(40)] + [lo, hi])
        want = [signed_total(pos, neg, const, list(row)) for row in batch]
        assert list(interpret.outputs(nl, {"x": batch})["y"][:, 0]) == want
        assert list(simulate_comb(NetlistTop(nl), batch)[:, 0]) == want


def test_every_node_interval_is_sound_and_tight_without_subtraction():
    rng = random.Random(2)
    for _ in range(20):
        n = rng.randint(2, 4)
        lo = [rng.randint(-5, 5) for _ in range(n)]
        hi = [a + rng.randint(1, 4) for a in lo]
        terms = [Term(lo[i], hi[i], rng.randint(0, 2), i) for i in range(n) for _ in range(rng.randint(1, 2))]
        root = huffman_sum(terms + [Term(3, 3, 1)])
        envs = list(itertools.product(*[range(a, b + 1) for a, b in zip(lo, hi)]))
        for node in add_nodes(root):
            vals = [value_of(node, list(env)) for env in envs]
            assert min(vals) == node.lo << node.shift and max(vals) == node.hi << node.shift


def test_final_subtraction_takes_the_exact_range():
    """One input in both P and N (w = 8 - 1) makes interval arithmetic loose; `exact` fixes the root."""
    rng = random.Random(3)
    for _ in range(20):
        n = rng.randint(1, 3)
        lo = [rng.randint(-6, 6) for _ in range(n)]
        hi = [a + rng.randint(1, 6) for a in lo]
        pos = [Term(lo[i], hi[i], 3, i) for i in range(n)]
        neg = [Term(lo[i], hi[i], 0, i) for i in range(n)]
        const = rng.randint(-20, 20)
        vals = [signed_total(pos, neg, const, list(env)) for env in itertools.product(*[range(a, b + 1) for a, b in zip(lo, hi)])]
        loose, root = plan_sum(pos, neg, const), plan_sum(pos, neg, const, exact=(min(vals), max(vals)))
        assert (root.lo << root.shift, root.hi << root.shift) == (min(vals), max(vals))
        assert loose.lo < root.lo or loose.hi > root.hi


def test_subtraction_happens_once_at_the_root():
    pos = [Term(0, 15, s, i) for i, s in enumerate([0, 2, 5])]
    neg = [Term(0, 15, s, 10 + i) for i, s in enumerate([1, 3])]
    root = plan_sum(pos, neg, const=-7)
    subs = [t for t in add_nodes(root) if t.ref.sub]
    assert subs == [root]
    assert count_adders(root) == len(pos) + len(neg) + 1 - 1  # the constant is one more term
    assert value_of(root, list(range(13))) == 0 + (1 << 2) + (2 << 5) - (10 << 1) - (11 << 3) - 7


def test_huffman_adds_the_narrowest_terms_first():
    terms = [Term(0, 1000, 0, "wide"), Term(0, 1, 0, "a"), Term(0, 255, 4, "shifted"), Term(0, 3, 0, "b")]
    root = huffman_sum(terms)
    first = [t for t in add_nodes(root) if not isinstance(t.ref.a.ref, Add) and not isinstance(t.ref.b.ref, Add)]
    assert len(first) == 1 and {first[0].ref.a.ref, first[0].ref.b.ref} == {"a", "b"}
    assert widest_adder(root) == bits_for_range(0, 1000 + 1 + (255 << 4) + 3)[0]


def test_shifts_stay_out_of_adders():
    t = combine(Term(0, 15, 2, "a"), Term(0, 15, 3, "b"))
    assert (t.shift, t.lo, t.hi) == (2, 0, 45)  # (a + 2b) << 2: a 6-bit adder, not an 8-bit one
    assert Term(0, 15, 3).span == 120


def test_empty_and_constant_sums():
    assert plan_sum([], [], 0) is None
    c = plan_sum([], [], -12)
    assert c.ref is None and c.lo << c.shift == -12 and count_adders(c) == 0
    neg_only = plan_sum([], [Term(0, 7, 0, 0)], 0)
    assert neg_only.ref.sub and (neg_only.lo, neg_only.hi) == (-7, 0)
    shifted = plan_sum([], [Term(0, 7, 3, 0)], 0)
    assert shifted.shift == 3 and (shifted.lo, shifted.hi) == (-7, 0)
