"""compiler.approx: the weight sets, input-bit masks and argmax-on-top-bits as layer semantics."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bespoke.compiler.approx import Approximation, apply, describe, input_bits, project, top_bits_mask
from bespoke.hdl.csd import csd_len
from bespoke.compiler.errors import BespokeError
from bespoke.compiler.ir import IR, ArgMax, Dense, Input, Requant
from bespoke.compiler.ops import keeps_all_bits, mask_runs, masked_max
from bespoke.compiler.passes import PassManager
from bespoke.sim import golden


def mlp(seed=0, n_in=7, hidden=4, n_out=3) -> IR:
    rng = np.random.default_rng(seed)
    ir = IR("mlp")
    ir.add("x", Input(size=n_in, lo=0, hi=15))
    ir.add("d0", Dense(weight=rng.integers(-100, 101, (hidden, n_in)), bias=rng.integers(-200, 201, hidden)), ["x"])
    ir.add("r0", Requant(mult=np.ones(hidden, np.int64), shift=np.full(hidden, 4), zero_point=np.zeros(hidden, np.int64),
                         qmin=0, qmax=255), ["d0"])
    ir.add("d1", Dense(weight=rng.integers(-100, 101, (n_out, hidden)), bias=rng.integers(-200, 201, n_out)), ["r0"])
    ir.add("am", ArgMax(), ["d1"])
    return PassManager.from_string("infer-ranges").run(ir)


def test_weight_sets():
    w = np.linspace(-130, 130, 521)
    for k in (1, 2, 3):
        got = project(w, f"csd{k}")
        assert all(csd_len(int(v)) <= k for v in got)
        near = np.array([min(abs(c - v) for c in range(-260, 261) if csd_len(c) <= k) for v in w])
        np.testing.assert_allclose(np.abs(got - w), near)  # no integer with <= k digits is nearer
    assert project(np.array([[0, 3, -5, 6, 100]]), "pow2").tolist() == [[0, 2, -4, 4, 128]]  # ties: the smaller magnitude
    with pytest.raises(BespokeError, match="unknown weight set"):
        project(np.ones((1, 1)), "pow3")


def test_mask_helpers():
    assert mask_runs(0b1011_0110) == [(1, 2), (4, 2), (7, 1)]
    assert mask_runs(0) == []
    for hi in range(0, 40):
        for m in range(0, 64):
            assert max(x & m for x in range(hi + 1)) <= masked_max(hi, m)
            assert keeps_all_bits(hi, m) == all(x & m == x for x in range(hi + 1))
    assert top_bits_mask(4, 2) == 0b1100 and top_bits_mask(8, 0) == 0 and top_bits_mask(4, 9) == 0b1111


@pytest.mark.parametrize("seed", range(5))
def test_masked_dense_semantics_and_ranges(seed):
    """Dense with masks computes sum w (x & m) + b, and its proven range holds on every vector."""
    ir = mlp(seed)
    rng = np.random.default_rng(seed)
    d0 = ir.layer("d0")
    mask = rng.integers(0, 16, d0.weight.shape)
    ir.replace_layer("d0", dataclasses.replace(d0, mask=mask))
    ir.clear_ranges()
    ir = PassManager.from_string("infer-ranges").run(ir)
    ir.verify()
    x = rng.integers(0, 16, (500, 7))
    want = np.array([[sum(int(w) * (int(v) & int(m)) for w, v, m in zip(wr, xr, mr)) for wr, mr in zip(d0.weight, mask)]
                     for xr in x]) + d0.bias
    got = golden.run_all(ir, x)["d0"]  # checks every value against its proven range too
    np.testing.assert_array_equal(got, want)


def test_mask_on_signed_input_is_refused():
    ir = mlp()
    d1 = ir.layer("d1")
    ir.replace_layer("r0", dataclasses.replace(ir.layer("r0"), qmin=-8))
    ir.replace_layer("d1", dataclasses.replace(d1, mask=np.full(d1.weight.shape, 3)))
    ir.clear_ranges()
    with pytest.raises(ValueError, match="negative"):
        PassManager.from_string("infer-ranges").run(ir)


def test_apply_bits_weights_and_argmax():
    ir = mlp(3)
    bits = {"d0": np.full((4, 7), 4), "d1": np.full((3, 4), 8)}
    bits["d0"][:, 2] = 0  # feature 2 unused
    bits["d0"][0, 1] = 2
    approx = Approximation(weights={"d0": "pow2", "d1": "csd2"}, bits=bits, argmax_shift=3)
    out = apply(ir, approx)
    out.verify()
    assert all(csd_len(int(w)) <= 1 for w in out.layer("d0").weight.ravel())
    assert out.layer("d0").mask[0, 1] == 0b1100 and np.all(out.layer("d0").mask[:, 2] == 0)
    assert isinstance(out.layer("am_msb"), Requant) and out.inputs_of("am") == ["am_msb"]
    assert input_bits(ir, approx) == [4, 4, 0, 4, 4, 4, 4]
    words = describe(ir, approx)
    assert "pow2" in words["d0"] and "4/28 connections pruned" in words["d0"] and "argmax on the top" in words["am"]
    # the argmax compares floor(logit / 8): same as argmax of the shifted logits, ties to the lowest index
    x = np.random.default_rng(0).integers(0, 16, (300, 7))
    logits = golden.run_all(out, x)["d1"]
    np.testing.assert_array_equal(golden.run(out, x)[:, 0], np.argmax(logits >> 3, axis=1))
    assert apply(ir, Approximation()).to_json() == ir.to_json()  # no approximation: the same IR


def test_apply_errors():
    ir = mlp()
    with pytest.raises(BespokeError, match="no dense layer 'nope'"):
        apply(ir, Approximation(weights={"nope": "pow2"}))
    with pytest.raises(BespokeError, match="bits must be"):
        apply(ir, Approximation(bits={"d0": np.ones((2, 2))}))
    with pytest.raises(BespokeError, match="low bits"):
        apply(ir, Approximation(argmax_shift=99))


def test_parse_knobs(tmp_path):
    from bespoke.compiler.approx import parse

    ir = mlp(4)
    masks = tmp_path / "masks.json"
    masks.write_text('{"d1": [[8, 8, 0, 8], [8, 4, 8, 8], [8, 8, 8, 8]]}')
    a = parse(f"weights=pow2,weights.d1=csd2,input-bits=4,3,0,2,4,4,4,relu=5b,argmax=msb4,masks={masks}", ir)
    assert a.weights == {"d0": "pow2", "d1": "csd2"}
    assert a.bits["d0"][:, 2].tolist() == [0] * 4 and a.bits["d0"][:, 1].tolist() == [3] * 4
    assert a.bits["d1"][0, 2] == 0 and a.bits["d1"][1, 1] == 4
    assert a.relu_bits == {"r0": 5}
    assert a.argmax_shift == bits_of_logits(ir) - 4
    apply(ir, a).verify()
    assert parse("input-bits=2", ir).bits["d0"].max() == 2
    for bad, message in [("weights=pow3", "unknown weight set"), ("input-bits=1,2", "has 2 values"), ("relu=x", "relu takes"),
                         ("argmax=top3", "msbK"), ("speed=fast", "unknown knob"), ("masks=/nonexistent.json", "cannot read"),
                         ("weights.nope=pow2", "no dense layer")]:
        with pytest.raises(BespokeError, match=message):
            parse(bad, ir)


def bits_of_logits(ir):
    from bespoke.compiler.approx import logit_width

    return logit_width(ir)
