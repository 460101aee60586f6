"""The dense and XNOR planners' shortcuts give what the plain computations give: a neuron class's
relabelled plan is the neuron's own, a SumPlanner tree is plan_sum's, the per-class adder bits are
layer_bits of the built plan, the sharing greedy's pattern codes order as its (count, |d|, r, key)
priority, and xnor_bits counts the live bits of plan_neurons' non-constant neurons."""

from __future__ import annotations

import random
from itertools import combinations

import numpy as np
import pytest

from bespoke.hdl.adder_tree import Add, SumPlanner, Term, adder_bits, plan_sum
from bespoke.hdl.conv import conv_rows
from bespoke.hdl.dense_plan import Neurons, Shared, linear_range, live_key, neuron_terms, plan_shared
from bespoke.hdl.mcm import _Sharing, layer_bits, plan_dense, share_layer
from bespoke.hdl.xnor_plan import plan_neurons, xnor_bits


def shape(t: Term | None):
    """A plan as nested tuples: ranges, shifts, adder kinds and leaf refs (identity left out)."""
    if t is None:
        return None
    if isinstance(t.ref, Add):
        return t.lo, t.hi, t.shift, t.ref.sub, shape(t.ref.a), shape(t.ref.b)
    return t.lo, t.hi, t.shift, t.ref


def conv_layer(seed: int):
    """A convolution's rows (classes of identical rows), a constant input, a signed one."""
    rng = np.random.default_rng(seed)
    weight = rng.choice([-2, -1, 0, 1, 3], size=(3, 2, 3, 3))
    rows = conv_rows(weight, (2, 6, 6), 1)
    n = 2 * 6 * 6
    lo, hi = [0] * n, [15] * n
    lo[7] = hi[7] = 4  # a constant input: windows over it form classes of their own
    lo[40], hi[40] = -8, 7
    bias = np.repeat(rng.integers(-20, 20, 3), len(rows) // 3).tolist()
    return rows, bias, lo, hi


@pytest.mark.parametrize("seed", range(4))
def test_a_class_plan_relabelled_is_the_neurons_own(seed):
    rows, bias, lo, hi = conv_layer(seed)
    layer = Neurons(rows, bias, lo, hi)
    assert len({id(p) for p in layer.plans}) < len(rows)  # classes do repeat
    sums = layer.sums()
    for j, (row, b, c) in enumerate(zip(rows, bias, layer.offsets)):
        key = live_key(row, lo, hi)
        assert layer.keys[j] == key
        want = neuron_terms(row, b, lo, hi, c, sums[key] if c else None)
        got = layer.terms(j)
        assert [shape(t) for t in got[0] + got[1]] == [shape(t) for t in want[0] + want[1]] and got[2] == want[2]
        assert layer.plans[j].exact == linear_range(row, b, lo, hi)
    trees = layer.trees()
    per = [plan_sum(*layer.terms(j), exact=layer.plans[j].exact) for j in range(len(rows))]
    assert [shape(t) for t in trees] == [shape(t) for t in per]
    assert layer.bits() == layer_bits({k: plan_shared(k, lo, hi) for k in sums}, per)


def test_sum_planner_trees_are_plan_sums():
    rng = random.Random(5)
    planner, want_bits = SumPlanner(), 0
    for _ in range(300):
        n = rng.randint(0, 5)
        lo = [rng.choice([0, -4, 2]) for _ in range(n)]
        hi = [a + rng.choice([0, 1, 15]) for a in lo]
        terms = [Term(a, b, rng.randint(0, 2), f"x{k}") for k, (a, b) in enumerate(zip(lo, hi))]
        split = rng.randint(0, n)
        pos, neg = terms[:split], terms[split:]
        const = rng.choice([0, 0, 3, -6])
        want = plan_sum(pos, neg, const)
        assert shape(planner.plan(pos, neg, const)) == shape(want)
        want_bits += adder_bits(want)
    assert planner.bits == want_bits
    assert len(planner._shapes) < 300  # shapes met again were rebuilt, not planned


def test_shared_plan_bits_are_layer_bits():
    rows, bias, lo, hi = conv_layer(1)
    plans, trees, bits = share_layer(Neurons(rows, bias, lo, hi))
    assert bits == layer_bits(plans, trees)
    assert plan_dense(rows, bias, lo, hi)[2] in ("shared", "per-neuron")


def test_pattern_codes_order_as_the_greedy_priority():
    rng = random.Random(2)
    state = _Sharing([[(1, 0, Shared((0,)))]], {Shared((0,)): {0: 1}}, ([0], [3]))
    state.n_ids = 50  # as if the layer had 50 sources
    keys, codes = [], []
    for _ in range(2000):
        t = (rng.choice((1, -1)), rng.randint(0, 4), rng.randrange(50))
        u = (rng.choice((1, -1)), rng.randint(0, 4), rng.randrange(50))
        code = state.pattern(t, u)
        (s1, k1, a), (s2, k2, b) = sorted([t, u], key=lambda v: (v[2], v[1]))
        if (a, k1) == (b, k2):
            assert code is None
            continue
        key = (a, b, k2 - k1, s1 * s2)
        assert state.unpack(code) == key
        keys.append(key)
        codes.append(code)
    by_priority = sorted(set(keys), key=lambda k: (abs(k[2]), k[3], k))
    assert by_priority == [state.unpack(c) for c in sorted(set(codes))]


def test_pair_codes_are_the_patterns_of_every_pair():
    rng = random.Random(3)
    state = _Sharing([[(1, 0, Shared((0,)))]], {Shared((0,)): {0: 1}}, ([0], [3]))
    state.n_ids = 20
    for _ in range(300):
        terms = [(rng.choice((1, -1)), rng.randint(0, 3), rng.randrange(20)) for _ in range(rng.randint(0, 6))]
        want = [state.pattern(t, u) for t, u in combinations(terms, 2)]
        assert state.codes(terms) == [c for c in want if c is not None]


@pytest.mark.parametrize("thresholds", [False, True])
def test_xnor_bits_counts_the_live_bits_of_non_constant_neurons(thresholds):
    rng = np.random.default_rng(4)
    n_in, n_out = 30, 40
    lo = rng.integers(0, 2, n_in)
    hi = np.where(rng.random(n_in) < 0.4, lo, 1)
    idx = np.stack([rng.permutation(n_in) for _ in range(n_out)])
    w = rng.integers(0, 2, (n_out, n_in))
    ts = rng.integers(0, n_in + 2, n_out).tolist() if thresholds else None
    neurons = plan_neurons(idx, w, lo.tolist(), hi.tolist(), ts)
    assert {nr.kind for nr in neurons} - {"const"}
    assert xnor_bits(idx, w, lo.tolist(), hi.tolist(), ts) == sum(len(nr.bits) for nr in neurons if nr.kind != "const")
