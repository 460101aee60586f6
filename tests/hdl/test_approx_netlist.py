"""Approximated designs (compiler.approx: weight sets, input-bit masks, argmax on top bits) as
netlists compute exactly what their golden model computes: every printed example under random
approximations, and random MLPs."""

from __future__ import annotations

import numpy as np
import pytest

from bespoke.compiler.approx import apply
from bespoke.compiler.explore import SearchSpace
from bespoke.hdl import interpret
from bespoke.hdl.unrolled import plan_unrolled
from bespoke.sim import golden
from test_hdl_lower import mlp
from test_unrolled_netlist import BUNDLED, example

PRINTED = [n for n in BUNDLED if not n.startswith("bnn")]


def random_genome(space: SearchSpace, rng, share: float) -> np.ndarray:
    return np.where(rng.random(len(space)) < share, rng.integers(space.lower, space.upper + 1), space.exact())


def check(ir, x, sharing=True):
    nl = plan_unrolled(ir, sharing=sharing)
    nl.verify()
    np.testing.assert_array_equal(interpret.outputs(nl, {"x": x})["y"], golden.run(ir, x))


@pytest.mark.parametrize("name", PRINTED)
def test_examples_approximated(name):
    ir, x = example(name)
    space = SearchSpace(ir)
    rng = np.random.default_rng(len(name))
    for share in (0.1, 0.4, 0.8):
        check(apply(ir, space.decode(random_genome(space, rng, share))), x)


@pytest.mark.parametrize("seed", range(20))
def test_random_mlps_approximated(seed):
    ir = mlp(seed, n_in=5 + seed % 7, hidden=2 + seed % 5, n_out=2 + seed % 4)
    space = SearchSpace(ir)
    rng = np.random.default_rng(seed)
    approx = space.decode(random_genome(space, rng, 0.5))
    x = rng.integers(0, 16, (400, ir.out(ir.input_node()).size))
    check(apply(ir, approx), x, sharing=seed % 2 == 0)
