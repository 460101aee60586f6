"""compile_model / CLI on binarized models: automatic BNN pipeline, architecture options passed to the HDL lowering.

RTL simulation of these builds is in tests/hdl (unrolled and folded).
"""

import numpy as np
import pytest
from bnn_builders import ROOT

from bespoke.api import compile_model
from bespoke.flow import BNN_PASSES, check_arch
from bespoke.cli import main
from bespoke.compiler.data import read_csv
from bespoke.compiler.errors import BespokeError
from bespoke.compiler.ir import XnorPopcount

DIGITS = ROOT / "examples" / "bnn_digits"


def test_binarized_model_gets_the_bnn_pipeline_and_predicts_like_the_float_model():
    model = compile_model(DIGITS / "bnn_digits.onnx")
    assert model.options["passes"] == BNN_PASSES
    assert any(isinstance(model.ir.layer(n), XnorPopcount) for n in model.ir.graph)
    x, y = read_csv(DIGITS / "test.csv", 64)
    np.testing.assert_array_equal(model.predict(x), model.predict_float(x))
    assert model.options["arch"] == "unrolled" and not model.layout["pipelined"]


def test_folded_architecture_options_reach_the_hdl_lowering():
    model = compile_model(DIGITS / "bnn_digits.onnx", arch="folded", pe=4, simd=8)
    assert (model.options["arch"], model.options["pe"], model.options["simd"]) == ("folded", 4, 8)
    assert model.layout["handshake"] and f"module {model.name}" in model.verilog


@pytest.mark.parametrize("arch,pe,simd,needle", [("systolic", None, None, "unknown architecture 'systolic'"),
                                                 ("folded", 0, None, "pe=0 must be a positive integer"),
                                                 ("unrolled", 4, None, "use arch='folded'")])
def test_bad_architecture_options_are_user_errors(arch, pe, simd, needle):
    with pytest.raises(BespokeError, match=needle):
        check_arch(arch, pe, simd)


def test_cli_prints_the_bnn_pipeline_and_refuses_bad_parallelism(capsys, tmp_path):
    assert main(["compile", str(DIGITS / "bnn_digits.onnx"), "-o", str(tmp_path / "o"), "--print-passes"]) == 0
    assert capsys.readouterr().out.strip() == BNN_PASSES
    assert main(["compile", str(DIGITS / "bnn_digits.onnx"), "-o", str(tmp_path / "o"), "--simd", "8"]) == 2
    assert "use arch='folded'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["compile", str(DIGITS / "bnn_digits.onnx"), "-o", str(tmp_path / "o"), "--arch", "folded", "--pe", "0"])
    assert e.value.code == 2
