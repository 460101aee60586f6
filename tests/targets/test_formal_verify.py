"""`bespoke verify OUT --formal`: the emitted Verilog against a reference written from its integer IR.

PROVEN on a printed MLP (combinational and pipelined), an approximated one, a small BNN and a
learned gate network (all with input ports of at most 28 bits, so the proof is exhaustive);
COUNTEREXAMPLE on designs with one weight changed in their Verilog, confirmed by RTL simulation
and replayed by `bespoke simulate`; UNDECIDED at the time limit; one-line errors for builds that
cannot be checked.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from bespoke.api import compile_model, verify_formal
from bespoke.compiler.ir import IR, ArgMax, Conv2d, Dense, Input, MaxPool2d, Pad2d, Requant, Threshold, XnorPopcount
from bespoke.compiler.passes.ranges import InferRanges
from bespoke.flow import hardware
from bespoke.targets.formal import Aig, _iprove

ROOT = Path(__file__).resolve().parents[2]
BALANCE = ROOT / "examples" / "balance"
sys.path.insert(0, str(ROOT / "tests"))

from bnn_builders import export, tiny_cnn, tiny_mlp  # noqa: E402
from gates_builders import random_network  # noqa: E402
from cli_testing import assert_user_error, run_cli as cli  # noqa: E402


@pytest.fixture(scope="module")
def balance(tmp_path_factory):
    out = tmp_path_factory.mktemp("formal") / "balance"
    compile_model(BALANCE / "balance.onnx", out, calibration=BALANCE / "train.csv")
    return out


def test_printed_mlp_is_proven(balance, capsys):
    code, out, err = cli(capsys, "verify", balance, "--formal")
    assert code == 0, out + err
    assert "PROVEN" in out and "exhaustive simulation of all 2^16 inputs" in out


def test_approximated_mlp_is_proven_against_its_own_semantics(tmp_path):
    model = compile_model(BALANCE / "balance.onnx", tmp_path / "ax", calibration=BALANCE / "train.csv",
                          approx="weights=pow2,input-bits=3,relu=4b,argmax=msb3")
    assert any(isinstance(model.ir.layer(n), Dense) and model.ir.layer(n).mask is not None for n in model.ir.graph)
    rep = verify_formal(tmp_path / "ax")
    assert rep.verdict == "proven", rep.result


def test_small_bnn_is_proven(tmp_path):
    layers, _ = tiny_mlp(np.random.default_rng(4), sizes=(5, 7, 6, 3), bits=4, n=40)
    model = compile_model(export(layers, 4, (5,)), tmp_path / "bnn")
    ops = {type(model.ir.layer(n)) for n in model.ir.graph}
    assert {XnorPopcount, Threshold} <= ops
    rep = verify_formal(tmp_path / "bnn")
    assert rep.verdict == "proven" and rep.result.input_bits == 20, rep.result


def test_gate_network_is_proven(tmp_path):
    path = tmp_path / "gates.json"
    random_network(3).save(path)
    compile_model(path, tmp_path / "gates")
    rep = verify_formal(tmp_path / "gates")
    assert rep.verdict == "proven", rep.result


def change_one_weight(verilog: Path) -> str:
    """Shift the first shifted input term {xK, S'b0} one bit further: that weight doubles its digit."""
    text = verilog.read_text()
    m = re.search(r"\{(x\d+), (\d+)'b0\}", text)
    assert m, "no shifted input term in the design"
    changed = text[:m.start()] + f"{{{m.group(1)}, {int(m.group(2)) + 1}'b0}}" + text[m.end():]
    verilog.write_text(changed)
    return m.group(0)


def test_changed_weight_gives_a_counterexample_that_simulation_confirms(balance, tmp_path, capsys):
    bad = tmp_path / "bad"
    shutil.copytree(balance, bad)
    change_one_weight(bad / "balance.v")
    code, out, err = cli(capsys, "verify", bad, "--formal")
    assert code == 1, out + err
    assert "COUNTEREXAMPLE" in out and "a mismatch: confirmed" in out
    codes = json.loads(re.search(r"input codes: (\[.*\])", out).group(1))
    assert len(codes) == 4 and all(0 <= c <= 15 for c in codes)
    csv = bad / "counterexample.csv"
    assert csv.is_file()
    code, out, err = cli(capsys, "simulate", bad, "--data", csv)
    assert code == 1 and "mismatches against the golden model: 1" in out, out + err
    code, out, err = cli(capsys, "simulate", balance, "--data", csv)  # the intact design agrees on it
    assert code == 0 and "mismatches against the golden model: 0" in out, out + err


def test_exhaustive_search_finds_the_one_differing_vector(tmp_path):
    """trigger = AND of 20 inputs: one vector in 2^20, which 4,096 random ones almost surely miss;
    the exhaustive sweep and ABC's SAT both find exactly it."""
    n = 20
    ands, prev = [], 2
    for k in range(1, n):
        lhs = 2 * (n + k)
        ands.append((lhs, prev, 2 * (k + 1)))
        prev = lhs
    aig = Aig(n, np.array(ands, dtype=np.int64), prev)
    assert aig.exhaustive() == ([1] * n, 1 << n)
    assert aig.exhaustive(deadline=0.0) == (None, 0)  # a deadline already passed: undecided, nothing swept
    verdict, _, cex = _iprove(tmp_path, aig, 60)
    assert verdict == "counterexample" and cex == [1] * n
    negated = Aig(n, aig.ands, 0)
    assert negated.constant_output() == 0


def test_errors_are_one_line(balance, tmp_path, capsys):
    assert_user_error(*cli(capsys, "verify", tmp_path / "nothing", "--formal")[::2], "not a bespoke build directory")
    assert_user_error(*cli(capsys, "verify", balance)[::2], "add --formal")
    other = tmp_path / "other"  # an IR of another model beside balance's Verilog
    shutil.copytree(balance, other)
    seeds = compile_model(ROOT / "examples" / "seeds" / "seeds.onnx", calibration=ROOT / "examples" / "seeds" / "train.csv")
    (other / "ir.json").write_text(seeds.ir.to_json())
    assert_user_error(*cli(capsys, "verify", other, "--formal")[::2], "not of the same build")
    (other / "balance.v").unlink()
    assert_user_error(*cli(capsys, "verify", other, "--formal")[::2], "has no balance.v")
    layers, _ = tiny_mlp(np.random.default_rng(4), sizes=(5, 7, 6, 3), bits=4, n=40)
    compile_model(export(layers, 4, (5,)), tmp_path / "folded", arch="folded", pe=2, simd=2)
    assert_user_error(*cli(capsys, "verify", tmp_path / "folded", "--formal")[::2], "ready/valid (folded)")


def test_pipelined_design_is_proven_over_its_latency_and_a_broken_one_is_caught(tmp_path, capsys):
    compile_model(BALANCE / "balance.onnx", tmp_path / "piped", calibration=BALANCE / "train.csv", pipeline=True)
    code, out, err = cli(capsys, "verify", tmp_path / "piped", "--formal")
    assert code == 0, out + err
    assert "PROVEN" in out and "at every cycle t >= 4: y(t) equals the reference of x(t - 4)" in out
    shutil.copytree(tmp_path / "piped", tmp_path / "bad")
    change_one_weight(tmp_path / "bad" / "balance.v")
    code, out, err = cli(capsys, "verify", tmp_path / "bad", "--formal")
    assert code == 1 and "a mismatch: confirmed" in out, out + err


def test_time_limit_gives_undecided_with_the_limit_hit(capsys, tmp_path):
    seeds = ROOT / "examples" / "seeds"
    compile_model(seeds / "seeds.onnx", tmp_path / "seeds", calibration=seeds / "train.csv")
    code, out, err = cli(capsys, "verify", tmp_path / "seeds", "--formal", "--timeout", "8")
    assert code == 3, out + err
    assert "UNDECIDED" in out and "the time limit of 8 s was hit after" in out and "of 268,435,456 input vectors" in out


def test_padded_binarized_cnn_is_proven(tmp_path):
    """Pad2d in the reference (border constants) and in the circuit: 2-bit 5x5 inputs, each conv
    padded by one, proven for all 2^50 inputs."""
    layers, _ = tiny_cnn(np.random.default_rng(5), size=5, channels=(2, 2), n_classes=3, bits=2, n=30, pad=1)
    model = compile_model(export(layers, 2, (1, 5, 5)), tmp_path / "cnn")
    assert Pad2d in {type(model.ir.layer(n)) for n in model.ir.graph}
    rep = verify_formal(tmp_path / "cnn", timeout=120)
    assert rep.verdict == "proven", rep.result


def test_binarized_cnn_reference_agrees_on_random_vectors(tmp_path):
    """Conv2d (integer and XNOR) and MaxPool2d in the reference: a tiny CNN's 128 input bits are
    too many to enumerate, but 4,096 random vectors must agree before the SAT step runs."""
    layers, _ = tiny_cnn(np.random.default_rng(2), size=8, channels=(2, 3), n_classes=3, bits=2, n=30)
    model = compile_model(export(layers, 2, (1, 8, 8)), tmp_path / "cnn")
    assert {Conv2d, MaxPool2d} <= {type(model.ir.layer(n)) for n in model.ir.graph}
    rep = verify_formal(tmp_path / "cnn", timeout=6)
    assert rep.verdict in ("proven", "undecided") and rep.result.input_bits == 128, rep.result


def hand_ir(hi: int) -> IR:
    """Codes 0..hi on 4-bit ports, a dense layer, a half-even requant with a negative multiplier
    and a zero point, a second dense layer and an argmax."""
    rng = np.random.default_rng(1)
    ir = IR("hand")
    ir.add("x", Input(size=3, lo=0, hi=hi))
    ir.add("d0", Dense(weight=rng.integers(-40, 40, (4, 3)), bias=rng.integers(-50, 50, 4)), ["x"])
    ir.add("rq", Requant(mult=np.array([3, -5, 1, 7]), shift=np.array([2, 3, 0, 4]), zero_point=np.array([1, 0, -2, 3]),
                         qmin=-20, qmax=40, rounding="half_even"), ["d0"])
    ir.add("d1", Dense(weight=rng.integers(-9, 9, (3, 4)), bias=rng.integers(-5, 5, 3)), ["rq"])
    ir.add("am", ArgMax(), ["d1"])
    ir, _ = InferRanges()(ir)
    ir.verify()
    return ir


def test_hand_built_ir_with_half_even_requant_and_a_partial_code_range_is_proven(tmp_path):
    from bespoke.api import CompiledModel

    for hi in (15, 9):  # 9: codes 10..15 fit the port but are no inputs; the miter leaves them out
        ir = hand_ir(hi)
        hw = hardware(ir, "hand")
        CompiledModel("hand", ir, ir, hw.verilog, hw.layout, hw.summary).save(tmp_path / f"hand{hi}")
        rep = verify_formal(tmp_path / f"hand{hi}")
        assert rep.verdict == "proven" and rep.result.input_bits == 12, (hi, rep.result)
