"""The two Verilog writers of the netlist (direct and through Amaranth) are proven equivalent by
Yosys + ABC, to each other and to the design `bespoke compile` writes, and the prover bites."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bespoke.api import compile_model
from bespoke.hdl.unrolled import plan_unrolled
from bespoke.hdl.write_amaranth import write_amaranth_verilog
from bespoke.hdl.write_verilog import write_verilog
from bespoke.targets.equiv import prove_equivalent

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _compiled(name: str, pipeline: bool = False):
    cal = EXAMPLES / name / "train.csv"
    return compile_model(EXAMPLES / name / f"{name}.onnx", calibration=cal if cal.exists() else None, pipeline=pipeline)


@pytest.mark.parametrize("name,pipeline", [("cardio", False), ("bnn_digits", False), ("seeds", True)])
def test_writers_are_equivalent(tmp_path, name, pipeline):
    model = _compiled(name, pipeline)
    nl = plan_unrolled(model.ir, registers=pipeline)
    files = {"compiled.v": model.verilog, "direct.v": write_verilog(nl, "direct"), "amaranth.v": write_amaranth_verilog(nl, "viaam")}
    for file, text in files.items():
        (tmp_path / file).write_text(text)
    direct = [tmp_path / "direct.v"]
    assert prove_equivalent([tmp_path / "amaranth.v"], "viaam", direct, "direct").proven
    assert prove_equivalent([tmp_path / "compiled.v"], model.name, direct, "direct").proven


def test_prover_finds_a_difference(tmp_path):
    model = _compiled("seeds", pipeline=True)
    good = write_verilog(plan_unrolled(model.ir, registers=True), "direct")
    (tmp_path / "good.v").write_text(good)
    bad = good.replace("direct", "bad")  # module names must differ from the good design's
    adder = re.search(r"assign \w+ = [^;]*? \+ ", bad).end() - 3  # the first adder
    (tmp_path / "wrong_adder.v").write_text(bad[:adder] + " - " + bad[adder + 3:])
    (tmp_path / "no_reset.v").write_text(bad.replace("rst ? ", "1'b0 ? ", 1))
    for bad in ("wrong_adder.v", "no_reset.v"):
        result = prove_equivalent([tmp_path / "good.v"], "direct", [tmp_path / bad], "bad")
        assert result.verdict == "counterexample", (bad, result)


def test_direct_writer_keeps_lines_short_for_verilator():
    # bnn_cnn's first layer reads 784 inputs: one port list on one line was > 40,000 tokens for Verilator
    from bespoke.flow import frontend, run_passes

    nl = plan_unrolled(run_passes(frontend(EXAMPLES / "bnn_cnn" / "bnn_cnn.onnx")))
    longest = max(len(line) for line in write_verilog(nl, "cnn").splitlines())
    assert longest < 2000, longest


def test_folded_writers_are_equivalent(tmp_path):
    """The folded bnn_digits engine (counters, ROMs, accumulators, the handshake): both writers'
    Verilog proven sequentially equivalent from reset by ABC's dprove."""
    from bespoke.hdl import folded

    model = compile_model(EXAMPLES / "bnn_digits" / "bnn_digits.onnx", arch="folded", pe=8, simd=16)
    nl = folded.netlist(model.ir, 8, 16)
    direct = write_verilog(nl, "direct")
    (tmp_path / "direct.v").write_text(direct)
    (tmp_path / "amaranth.v").write_text(write_amaranth_verilog(nl, "viaam"))
    result = prove_equivalent([tmp_path / "amaranth.v"], "viaam", [tmp_path / "direct.v"], "direct")
    assert result.proven, result
    # what `bespoke compile` wrote is this direct text, after its header
    assert model.verilog.endswith(write_verilog(nl, model.name))
