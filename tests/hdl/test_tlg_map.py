"""The threshold-logic mapping (hdl.tlg_plan, hdl.tlg_map): every gate within its fan-in and
weight bounds, the netlist interpreter equal to the golden model on every test vector of
bnn_digits at fan-in 3, 5 and 7 and on a small binarized CNN, one mapped design simulated in RTL,
the `tlg` report target, and the one-line errors of bad options."""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from bespoke.api import compile_model
from bespoke.hdl import interpret
from bespoke.hdl.tlg_map import TlgOptions
from bespoke.hdl.tlg_plan import ONE, ZERO, plan_neuron
from bespoke.hdl.unrolled import plan_unrolled
from bespoke.sim import golden

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bnn_builders import export, tiny_cnn, tiny_mlp  # noqa: E402
from test_unrolled_netlist import EXAMPLES, example, integer_ir  # noqa: E402
from cli_testing import assert_user_error, run_cli as cli  # noqa: E402


def run_plan(plan, x, fanin, max_weight):
    """A plan's outputs on the rows of bit matrix x, checking every gate's bounds."""
    vals = [x[:, i] for i in range(plan.n)]
    for g in plan.gates:
        assert len(g.ins) <= fanin and max(map(abs, g.weights)) <= max_weight, g
        vals.append((sum(w * vals[i] for w, i in zip(g.weights, g.ins)) >= g.threshold).astype(np.int64))
    return [np.full(len(x), int(o == ONE)) if o in (ZERO, ONE) else vals[o] for o in plan.out]


@pytest.mark.parametrize("fanin,max_weight", [(3, 2), (5, 2), (7, 4)])
def test_plans_exhaustive(fanin, max_weight):
    rng = np.random.default_rng(fanin)
    for _ in range(25):
        n = int(rng.integers(1, 11))
        cols = tuple(sorted(int(c) for c in rng.choice([0, 0, 0, 1, 2], n)))
        x = np.array(list(itertools.product([0, 1], repeat=n)))
        value = sum(x[:, i] << c for i, c in enumerate(cols))
        t = int(rng.integers(-1, value.max() + 2))
        (y,) = run_plan(plan_neuron(cols, t, fanin, max_weight), x, fanin, max_weight)
        np.testing.assert_array_equal(y, value >= t)
        digits = run_plan(plan_neuron(cols, None, fanin, max_weight), x, fanin, max_weight)
        np.testing.assert_array_equal(sum(b << k for k, b in enumerate(digits)), value)


def check_netlist(ir, x, opts):
    nl = plan_unrolled(ir, tlg=opts)
    nl.verify()
    for c in nl.cells:
        if c.kind == "tlg":
            assert len(c.ins) <= opts.fanin and max(map(abs, c.params["weights"])) <= opts.max_weight
    np.testing.assert_array_equal(interpret.outputs(nl, {"x": x})["y"], golden.run(ir, x))
    return nl


@pytest.fixture(scope="module")
def digits():
    return example("bnn_digits")


@pytest.mark.parametrize("opts", [TlgOptions(3, 2), TlgOptions(5, 2), TlgOptions(7, 4), TlgOptions(5, 2, integer="arith")])
def test_bnn_digits_equals_golden(digits, opts):
    nl = check_netlist(*digits, opts)
    count = nl.count()
    assert count["tlg"] > 1000 and "fa" not in count and "ha" not in count  # the popcounts became threshold gates


def test_small_cnn_equals_golden():
    layers, x = tiny_cnn(np.random.default_rng(3))
    ir = integer_ir(export(layers, 4, (1, 10, 10)))
    codes = ir.encode_inputs(x.reshape(len(x), -1))
    for opts in (TlgOptions(3, 2), TlgOptions(5, 4)):
        check_netlist(ir, codes, opts)


def test_rtl_simulation(tmp_path):
    layers, x = tiny_mlp(np.random.default_rng(5), sizes=(12, 10, 6, 4), bits=4, n=60)
    model = compile_model(export(layers, 4, (12,)), map="tlg", tlg_fanin=3, tlg_max_weight=2)
    assert model.netlist.count()["tlg"] > 50
    rep = model.simulate(x, simulator="icarus", build_dir=tmp_path)
    assert rep.vectors == 60 and rep.mismatches == 0 and rep.passed


# -- CLI: options, errors, the tlg report target

@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory):
    layers, x = tiny_mlp(np.random.default_rng(7), sizes=(8, 6, 4), bits=4, n=30)
    path = tmp_path_factory.mktemp("tlg") / "tiny.onnx"
    import onnx

    onnx.save(export(layers, 4, (8,)), path)
    csv = path.with_suffix(".csv")
    csv.write_text(",".join(f"x{i}" for i in range(8)) + "\n" + "\n".join(",".join(str(int(v)) for v in r) for r in x) + "\n")
    return path, csv


@pytest.mark.parametrize("args,needle", [
    (("--map", "tlg", "--tlg-fanin", "2"), "fan-in 2 is below 3"),
    (("--map", "tlg", "--tlg-max-weight", "1"), "max weight 1 cannot realise"),
    (("--tlg-fanin", "5"), "add --map tlg"),
    (("--map", "tlg", "--arch", "folded"), "--map tlg builds the unrolled architecture"),
])
def test_bad_options(tiny_onnx, tmp_path, capsys, args, needle):
    code, _, err = cli(capsys, "compile", tiny_onnx[0], "-o", tmp_path / "out", *args)
    assert_user_error(code, err, needle)
    assert not (tmp_path / "out").exists()


def test_unmappable_layer(tmp_path, capsys):
    d = EXAMPLES / "seeds"  # a printed MLP: relu and requant, no binarized neuron
    code, _, err = cli(capsys, "compile", d / "seeds.onnx", "-o", tmp_path / "out", "--calibration", d / "train.csv",
                       "--map", "tlg")
    assert_user_error(code, err, "--map tlg cannot map")


def test_compile_and_tlg_report(tiny_onnx, tmp_path, capsys):
    onnx_path, csv = tiny_onnx
    out = tmp_path / "out"
    code, text, _ = cli(capsys, "compile", onnx_path, "-o", out, "--map", "tlg", "--tlg-fanin", "5", "--tlg-max-weight", "2")
    assert code == 0 and "threshold gates" in text
    options = json.loads((out / "manifest.json").read_text())["options"]
    assert options["map"] == "tlg" and options["tlg_fanin"] == 5 and options["tlg_max_weight"] == 2
    code, text, _ = cli(capsys, "report", out, "--target", "tlg", "--data", csv)
    assert code == 0, text
    rep = json.loads((out / "report.tlg.json").read_text())
    assert rep["area"]["threshold_gates"] > 0 and rep["power"]["energy_per_inference_j"] > 0
    assert "Threshold Logic in a Flash" in rep["target"]["library_source"]
    code, _, err = cli(capsys, "report", out / "tiny.v", "--top", "tiny", "--target", "tlg")
    assert_user_error(code, err, "the tlg target prices a compiled design's netlist")
