"""The layered formal proof (targets.formal_layers): designs too wide to enumerate are proven
equal to their IR's reference as (A) Verilog = netlist semantics and (B) netlist = IR layer by
layer; each part bites on a changed netlist, a changed IR and a changed Verilog."""

from __future__ import annotations

import re
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bespoke.api import compile_model, verify_formal
from bespoke.compiler.ir import Threshold
from bespoke.hdl.unrolled import plan_unrolled
from bespoke.targets.formal_layers import Disproven, prove_netlist

ROOT = Path(__file__).resolve().parents[2]
CARDIO = ROOT / "examples" / "cardio"
sys.path.insert(0, str(ROOT / "tests"))

from bnn_builders import export, tiny_mlp  # noqa: E402


@pytest.fixture(scope="module")
def cardio(tmp_path_factory):
    out = tmp_path_factory.mktemp("layers") / "cardio"
    compile_model(CARDIO / "cardio.onnx", out, calibration=CARDIO / "train.csv")
    return out


def test_wide_printed_mlp_is_proven_by_layers(cardio):
    rep = verify_formal(cardio)
    r = rep.result
    assert r.verdict == "proven" and r.input_bits == 84, r
    assert r.method.startswith("layers") and "MatMul: affine forms" in r.detail and "Relu_q: enumeration" in r.detail


def test_a_changed_weight_in_the_wide_verilog_gives_a_confirmed_counterexample(cardio, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(cardio, bad)
    v = bad / "cardio.v"
    text = v.read_text()
    m = re.search(r"\{(x\d+), (\d+)'b0\}", text)
    v.write_text(text[:m.start()] + f"{{{m.group(1)}, {int(m.group(2)) + 1}'b0}}" + text[m.end():])
    rep = verify_formal(bad)
    assert rep.verdict == "counterexample", rep.result
    assert rep.circuit is not None and rep.circuit != rep.expected  # the simulator confirms it


def _model(cardio):
    from bespoke.api import load_compiled

    return load_compiled(cardio)


def test_a_changed_netlist_cell_is_disproven(cardio):
    ir = _model(cardio).ir
    nl = plan_unrolled(ir)
    assert [p.method for p in prove_netlist(nl, ir)][:2] == ["affine forms", "enumeration"]
    for group, kind in (("MatMul", "add"), ("Relu_q", "shr")):
        nl = plan_unrolled(ir)
        k = next(k for k, c in enumerate(nl.cells) if c.group == group and c.kind == kind)
        c = nl.cells[k]
        field = "sa" if kind == "add" else "k"
        nl.cells[k] = c._replace(params={**c.params, field: c.params[field] + 1})
        with pytest.raises(Disproven):
            prove_netlist(nl, ir)


def test_fused_popcount_threshold_is_proven_and_a_changed_threshold_is_not(tmp_path):
    # 30 bits into each fused neuron: 2^30 combinations, too many to enumerate
    layers, _ = tiny_mlp(np.random.default_rng(4), sizes=(5, 30, 24, 3), bits=4, n=60)
    model = compile_model(export(layers, 4, (5,)), tmp_path / "bnn")
    ir = model.ir
    nl = plan_unrolled(ir)
    methods = [p.method for p in prove_netlist(nl, ir)]
    assert any("popcount carry forms" in m for m in methods), methods
    fused = next(n for n, m in nl.meta["layers"].items() if m["op"] == "xnor_popcount+threshold")
    layer = ir.layer(fused)
    assert isinstance(layer, Threshold)
    j = next(j for j, o in enumerate(nl.meta["layers"][fused]["out"]) if nl.lo[o] < nl.hi[o])
    t = layer.thresholds.copy()
    t[j, 0] += 1
    changed = ir.copy()
    changed.graph.nodes[fused]["layer"] = replace(layer, thresholds=t)  # ranges kept: only the function changes
    with pytest.raises(Disproven):
        prove_netlist(nl, changed)
