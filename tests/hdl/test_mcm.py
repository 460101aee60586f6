"""Shared sub-expressions across a dense layer (hdl.mcm): the shared netlist computes what the
golden model computes on every vector of every bundled printed example and on random dense layers
(every net in its proven range: the interpreter checks), it is never more adder bits than the
per-neuron plan, and one shared design is proven equivalent to the per-neuron one with Yosys/ABC."""

from __future__ import annotations

import numpy as np
import pytest

from bespoke.hdl import interpret
from bespoke.hdl.dense_plan import Shared, full_row, plan_layer
from bespoke.hdl.mcm import Sub, Unsigned, layer_bits, plan_dense, plan_layer_shared
from bespoke.hdl.netlist import Netlist
from bespoke.hdl.unrolled import Stage, build_dense, plan_unrolled
from bespoke.hdl.write_verilog import write_verilog
from bespoke.sim import golden
from bespoke.targets.equiv import prove_equivalent
from test_unrolled_netlist import example

PRINTED = ["cardio", "pendigits", "whitewine", "redwine", "seeds", "breastcancer", "cardio_2h", "seeds_pipeline"]


@pytest.mark.parametrize("name", PRINTED)
def test_shared_plan_equals_golden_model_on_every_test_vector(name):
    ir, x = example(name)
    nl = plan_unrolled(ir)
    nl.verify()
    np.testing.assert_array_equal(interpret.outputs(nl, {"x": x})["y"], golden.run(ir, x))
    plans = [info["plan"] for info in nl.meta["layers"].values() if "plan" in info]
    assert plans[0] == "shared" and nl.meta["layers"][next(iter(nl.meta["layers"]))]["subexpressions"] > 0
    off = plan_unrolled(ir, sharing=False)
    assert {info["plan"] for info in off.meta["layers"].values() if "plan" in info} == {"per-neuron"}
    np.testing.assert_array_equal(interpret.outputs(off, {"x": x})["y"], golden.run(ir, x))


def dense_netlist(shared, trees, lo, hi) -> Netlist:
    nl = Netlist(name="dense")
    nl.inputs["x"] = [nl.net(a, b, f"x{i}") for i, (a, b) in enumerate(zip(lo, hi))]
    nl.outputs["y"] = build_dense(Stage(nl, "dense", "l0_", nl.inputs["x"], lo, hi), shared, trees)
    nl.verify()
    return nl


def random_layer(seed: int):
    """A dense layer with zero rows and zero weights, negative and wide weights, unsigned, signed
    and constant inputs of mixed widths."""
    rng = np.random.default_rng(seed)
    n_in, n_out = int(rng.integers(1, 14)), int(rng.integers(1, 9))
    bits = int(rng.choice([2, 4, 8, 12]))
    w = rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), size=(n_out, n_in))
    w[rng.random(w.shape) < 0.2] = 0
    if n_out > 1 and seed % 3 == 0:
        w[int(rng.integers(n_out))] = 0  # a zero row
    if seed % 5 == 0:
        w[:, 0] = w[0, 0] or 3  # a column of one repeated weight
    lo, hi = [], []
    for _ in range(n_in):
        kind = rng.choice(["unsigned", "signed", "const", "bit", "wide"])
        if kind == "unsigned":
            a, b = 0, int(rng.integers(1, 256))
        elif kind == "signed":
            a, b = -int(rng.integers(1, 128)), int(rng.integers(0, 128))
        elif kind == "const":
            a = b = int(rng.integers(-8, 9))
        elif kind == "bit":
            a, b = 0, 1
        else:
            a, b = int(rng.integers(-5000, 100)), int(rng.integers(100, 70000))
        lo.append(a)
        hi.append(b)
    bias = rng.integers(-1000, 1000, size=n_out) * (seed % 2)
    return w, [int(v) for v in bias], lo, hi


def vectors(lo, hi, seed: int, n: int = 300) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.integers(np.asarray(lo), np.asarray(hi) + 1, size=(n, len(lo)))
    corners = rng.integers(0, 2, size=(64, len(lo)))  # the box's corners reach every extreme value
    return np.vstack([x, np.where(corners, hi, lo)])


@pytest.mark.parametrize("seed", range(40))
def test_shared_plan_of_random_layers_is_exact(seed):
    w, bias, lo, hi = random_layer(seed)
    rows = [full_row(r) for r in w]
    shared, trees = plan_layer_shared(rows, bias, lo, hi)
    x = vectors(lo, hi, seed)
    got = interpret.outputs(dense_netlist(shared, trees, lo, hi), {"x": x})["y"]
    np.testing.assert_array_equal(got, x @ w.T + np.asarray(bias))
    # plan_dense keeps the cheaper plan, so sharing never costs adder bits
    per = plan_layer(rows, bias, lo, hi)
    chosen = plan_dense(rows, bias, lo, hi)
    assert layer_bits(*chosen[:2]) <= layer_bits(*per)


def test_sub_expressions_are_shared_and_nested():
    # the rows share x0 + 2 x1 (pattern (0, 1, 1, +1)) and x0 - 4 x2; 3 x0 is a vertical pattern
    w = np.array([[1, 2, 0, 3], [1, 2, -4, 3], [5, 10, -4, 0], [3, 6, -12, 0]])
    lo, hi = [0] * 4, [15] * 4
    shared, trees = plan_layer_shared([full_row(r) for r in w], [0] * 4, lo, hi)
    subs = [r for r in shared if isinstance(r, Sub)]
    assert len(subs) >= 2
    leaves = {t.ref for tree in trees for t in _leaves(tree)}
    assert any(isinstance(r, (Sub, Unsigned)) for r in leaves)
    x = vectors(lo, hi, 0)
    np.testing.assert_array_equal(interpret.outputs(dense_netlist(shared, trees, lo, hi), {"x": x})["y"], x @ w.T)


def _leaves(root):
    from bespoke.hdl.adder_tree import Add

    stack = [root] if root is not None else []
    while stack:
        t = stack.pop()
        if isinstance(t.ref, Add):
            stack += [t.ref.a, t.ref.b]
        else:
            yield t


def test_shared_design_is_formally_equivalent_to_the_per_neuron_one(tmp_path):
    # a small layer (a whole example's is beyond ABC's SAT budget: differently shaped adder trees
    # are as hard for it as multipliers); signed and unsigned inputs, sums and differences shared
    w = np.array([[3, -5, 7, 6], [3, 5, -7, 6], [-5, 3, 7, -6]])
    lo, hi, bias = [0, 0, -4, 0], [7, 7, 3, 7], [1, 0, -3]
    rows = [full_row(r) for r in w]
    shared = dense_netlist(*plan_layer_shared(rows, bias, lo, hi), lo, hi)
    sums, trees = plan_layer(rows, bias, lo, hi)
    per = dense_netlist({Shared(k): t for k, t in sums.items()}, trees, lo, hi)
    assert shared.count().get("add", 0) + shared.count().get("sub", 0) < per.count()["add"] + per.count().get("sub", 0)
    (tmp_path / "shared.v").write_text(write_verilog(shared, "shared"))
    (tmp_path / "per.v").write_text(write_verilog(per, "per"))
    assert prove_equivalent([tmp_path / "per.v"], "per", [tmp_path / "shared.v"], "shared", timeout=300).proven
