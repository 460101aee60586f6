"""Hardware-aware retraining (compiler/retrain.py) and the allowed-weight sets (compiler/approx_sets.py).

Accuracies are measured with the golden model (bespoke.sim.golden) on the returned integer IR, so
what is checked is what the circuit computes; the test-split figures are printed by
benchmarks/retrain_printed.py.
"""

import dataclasses
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from bespoke.compiler.approx_sets import csd_values, nearest_csd, nearest_pow2, prune
from bespoke.compiler.data import read_csv
from bespoke.compiler.errors import BespokeError
from bespoke.compiler.ir import IR, ArgMax, Dense, Requant
from bespoke.compiler.onnx_frontend import load_onnx, lower_onnx
from bespoke.compiler.passes import PassManager
from bespoke.compiler.retrain import retrain
from bespoke.flow import default_passes, run_passes
from bespoke.hdl.csd import csd_len
from bespoke.sim.golden import run

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@lru_cache(maxsize=None)
def example(name: str):
    """(integer IR, training codes, training class indices) of a bundled printed MLP."""
    d = EXAMPLES / name
    fir = lower_onnx(load_onnx(d / f"{name}.onnx"))
    x, y = read_csv(d / "train.csv", fir.out(fir.input_node()).size)
    ir = PassManager.from_string(default_passes()).run(fir, {"calibration": x})
    classes = list(fir.meta["labels"])
    return ir, ir.encode_inputs(x), np.array([classes.index(v) for v in y])


def dense_names(ir: IR) -> list[str]:
    return [n for n in ir.order() if isinstance(ir.layer(n), Dense)]


def accuracy(ir: IR, codes, labels) -> float:
    return float(np.mean(run(ir, codes)[:, 0] == labels))


def with_weights(ir: IR, fn) -> IR:
    """The IR with fn applied to every dense layer's weights (no training), ranges re-inferred."""
    out = ir.copy()
    for n in dense_names(out):
        out.replace_layer(n, dataclasses.replace(out.layer(n), weight=fn(out.layer(n).weight)))
    out.clear_ranges()
    return PassManager.from_string("infer-ranges").run(out)


def is_pow2_or_zero(w) -> bool:
    a = np.abs(np.asarray(w, dtype=np.int64))
    return bool(np.all((a == 0) | ((a & (a - 1)) == 0)))


# --------------------------------------------------------------------------- allowed sets


def test_nearest_pow2():
    w = np.array([0, 0.3, 0.5, 0.7, 1.4, 1.5, -2.9, 3, -5.6, -5.7, 127, 181, 182])
    assert nearest_pow2(w).tolist() == [0, 0, 1, 1, 1, 2, -4, 4, -4, -8, 128, 128, 256]  # sqrt(2) * 2^k splits
    assert nearest_pow2(w).dtype == np.int64
    assert nearest_pow2(np.array([[127, -300], [2, 0]]), max_exp=7).tolist() == [[128, -128], [2, 0]]
    assert nearest_pow2(2 ** 2.5) == 8  # a tie in the log domain: away from zero


@pytest.mark.parametrize("k", [1, 2, 3])
def test_nearest_csd_is_the_nearest_k_digit_integer(k):
    table = csd_values(k, 9)
    assert table[np.abs(table) < 512].tolist() == [v for v in range(-511, 512) if csd_len(v) <= k]
    w = np.linspace(-300, 300, 2401)  # floats and integers, both signs
    got = nearest_csd(w, k)
    assert all(csd_len(int(v)) <= k for v in got)
    allowed = np.array([v for v in range(-1024, 1025) if csd_len(v) <= k])
    assert np.allclose(np.abs(got - w), np.abs(w[:, None] - allowed[None]).min(axis=1))
    assert got.dtype == np.int64 and got.shape == w.shape


def test_nearest_csd_ties_and_shapes():
    assert nearest_csd(np.array([3, -3, 6]), 1).tolist() == [2, -2, 4]  # ties to the smaller magnitude
    assert nearest_csd(np.array([[23, 0], [-45, 127], [83, 4.4]]), 2).tolist() == [[24, 0], [-48, 127], [80, 4]]  # 127 = 128 - 1
    with pytest.raises(ValueError):
        nearest_csd(np.array([1.0]), 0)


def test_prune():
    assert prune(np.array([0.4, -2.6, 3.5, 5, -7]), 3).tolist() == [0, 0, 4, 5, -7]


# --------------------------------------------------------------------------- retraining


@pytest.mark.parametrize("name", ["cardio", "pendigits"])
def test_pow2_retraining_recovers_accuracy(name):
    ir, codes, labels = example(name)
    exact = accuracy(ir, codes, labels)
    untrained = accuracy(with_weights(ir, nearest_pow2), codes, labels)
    assert untrained < exact  # powers of two alone lose accuracy
    out = retrain(ir, codes, labels, {n: nearest_pow2 for n in dense_names(ir)})
    trained = accuracy(out, codes, labels)
    print(f"{name}: exact {exact:.4f}, pow2 {untrained:.4f}, pow2 retrained {trained:.4f}")
    assert trained > untrained
    out.verify()
    assert out.is_integer() and out.has_ranges()
    for n in dense_names(out):
        layer = out.layer(n)
        assert layer.weight.dtype == np.int64 and layer.bias.dtype == np.int64
        assert is_pow2_or_zero(layer.weight)
    assert ir == example(name)[0]  # the input IR is untouched


def test_no_epochs_is_the_plain_projection():
    ir, codes, labels = example("cardio")
    projected = retrain(ir, codes, labels, {n: nearest_pow2 for n in dense_names(ir)}, epochs=0)
    assert projected.to_json() == with_weights(ir, nearest_pow2).to_json()
    # no projection: the exact IR comes back as it is
    assert retrain(ir, codes, labels, epochs=0).to_json() == ir.to_json()


def test_never_worse_than_untrained():
    """A step so large that training only hurts: the untrained projection comes back."""
    ir, codes, labels = example("seeds")
    project = {n: (lambda w: nearest_csd(w, 2)) for n in dense_names(ir)}
    untrained = retrain(ir, codes, labels, project, epochs=0)
    out = retrain(ir, codes, labels, project, epochs=3, lr=50.0)
    assert accuracy(out, codes, labels) >= accuracy(untrained, codes, labels)


def test_deterministic():
    ir, codes, labels = example("cardio")
    project = {n: nearest_pow2 for n in dense_names(ir)}
    a = retrain(ir, codes, labels, project, seed=3, epochs=10)
    b = retrain(ir, codes, labels, project, seed=3, epochs=10)
    assert a.to_json() == b.to_json()


def test_masks_keep_pruned_connections_pruned():
    ir, codes, labels = example("cardio")
    first = dense_names(ir)[0]
    layer = ir.layer(first)
    rng = np.random.default_rng(0)
    mask = rng.choice(np.array([0, 0b1100, 0b1111]), size=layer.weight.shape, p=[0.3, 0.2, 0.5])
    masked = ir.copy()
    masked.replace_layer(first, dataclasses.replace(layer, mask=mask))
    masked.clear_ranges()
    masked = PassManager.from_string("infer-ranges").run(masked)
    project = {n: nearest_pow2 for n in dense_names(ir)}
    untrained = retrain(masked, codes, labels, project, epochs=0)
    out = retrain(masked, codes, labels, project)
    new = out.layer(first)
    assert np.array_equal(new.mask, mask)
    # a pruned connection gets no gradient: its weight is the untrained projection's
    assert np.array_equal(new.weight[mask == 0], untrained.layer(first).weight[mask == 0])
    assert not np.array_equal(new.weight[mask != 0], untrained.layer(first).weight[mask != 0])
    assert accuracy(out, codes, labels) > accuracy(untrained, codes, labels)


def test_coarse_activations_and_argmax():
    """Other approximations of issue 9 in the forward pass: 4-bit hidden activations and an argmax
    over the top bits (a requant before it); plain integer rounding (no projection given)."""
    ir, codes, labels = example("cardio")
    d0, act, d1, am = [n for n in ir.order()][1:]
    rq = ir.layer(act)
    coarse = IR("coarse")
    coarse.add("input", ir.layer(ir.input_node()))
    coarse.add(d0, ir.layer(d0), ["input"])
    coarse.add(act, dataclasses.replace(rq, shift=rq.shift + 4, qmax=15), [d0])
    coarse.add(d1, ir.layer(d1), [act])
    ones = np.ones(ir.out(d1).size, dtype=np.int64)
    coarse.add("top", Requant(mult=ones, shift=6 * ones, zero_point=0 * ones, qmin=-(1 << 20), qmax=1 << 20), [d1])
    coarse.add(am, ArgMax(), ["top"])
    coarse = PassManager.from_string("infer-ranges").run(coarse)
    before = accuracy(coarse, codes, labels)
    out = retrain(coarse, codes, labels)
    after = accuracy(out, codes, labels)
    print(f"cardio with 4-bit hidden activations, argmax of the top bits: {before:.4f} -> {after:.4f}")
    assert after > before
    for n in (d0, d1):
        assert np.abs(out.layer(n).weight).max() <= np.abs(ir.layer(n).weight).max()


def test_bad_input_is_a_user_error():
    ir, codes, labels = example("cardio")
    with pytest.raises(BespokeError, match="labels"):
        retrain(ir, codes, labels[:-1])
    with pytest.raises(BespokeError, match="class indices"):
        retrain(ir, codes, labels + 5)
    with pytest.raises(BespokeError, match="codes"):
        retrain(ir, codes[:, :-1], labels)
    with pytest.raises(BespokeError, match="codes"):
        retrain(ir, codes + 100, labels)
    with pytest.raises(BespokeError, match="not dense layers"):
        retrain(ir, codes, labels, {"ArgMax": nearest_pow2})
    with pytest.raises(BespokeError, match="shape"):
        retrain(ir, codes, labels, {dense_names(ir)[0]: lambda w: w[:1]})
    with pytest.raises(BespokeError, match="non-integer"):
        retrain(ir, codes, labels, {dense_names(ir)[0]: lambda w: w + 0.5})
    with pytest.raises(BespokeError, match="integer IR"):
        d = EXAMPLES / "cardio"
        retrain(lower_onnx(load_onnx(d / "cardio.onnx")), codes, labels)


def test_a_bnn_is_refused():
    d = EXAMPLES / "bnn_digits"
    fir = lower_onnx(load_onnx(d / "bnn_digits.onnx"))
    ir = run_passes(fir, calibration=d / "train.csv")
    x, y = read_csv(d / "train.csv", 64)
    with pytest.raises(BespokeError, match="threshold.*not supported"):
        retrain(ir, ir.encode_inputs(x), y)
