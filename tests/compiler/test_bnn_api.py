"""compile_model / CLI on binarized models: automatic BNN pipeline, architecture options passed to the HDL lowering.

The HDL lowering is replaced by a recorder here, so these tests check the compiler's side of the
contract `hdl.lower.to_verilog(ir, name, pipeline=..., arch=..., pe=..., simd=...)` at the golden-model level.
"""

import numpy as np
import pytest
from bnn_builders import ROOT

import hdl.lower
from compiler.api import BNN_PIPELINE, check_arch, compile_model
from compiler.cli import main
from compiler.data import read_csv
from compiler.errors import BespokeError
from compiler.ir import XnorPopcount

DIGITS = ROOT / "examples" / "bnn_digits"


@pytest.fixture
def hdl_calls(monkeypatch):
    calls = []

    def to_verilog(ir, name, pipeline=False, arch="unrolled", pe=None, simd=None):
        calls.append({"arch": arch, "pe": pe, "simd": simd, "integer": ir.is_integer()})
        return f"module {name}; endmodule\n"

    monkeypatch.setattr(hdl.lower, "to_verilog", to_verilog)
    monkeypatch.setattr(hdl.lower, "port_layout", lambda ir, pipeline=False, **kw: {"pipelined": pipeline})
    monkeypatch.setattr(hdl.lower, "summary", lambda ir, **kw: {"layers": []})
    return calls


def test_binarized_model_gets_the_bnn_pipeline_and_predicts_like_the_float_model(hdl_calls):
    model = compile_model(DIGITS / "bnn_digits.onnx")
    assert model.options["passes"] == BNN_PIPELINE
    assert any(isinstance(model.ir.layer(n), XnorPopcount) for n in model.ir.graph)
    x, y = read_csv(DIGITS / "test.csv", 64)
    np.testing.assert_array_equal(model.predict(x), model.predict_float(x))
    assert hdl_calls == [{"arch": "unrolled", "pe": None, "simd": None, "integer": True}]


def test_folded_architecture_options_reach_the_hdl_lowering(hdl_calls):
    model = compile_model(DIGITS / "bnn_digits.onnx", arch="folded", pe=4, simd=8)
    assert hdl_calls[-1]["arch"] == "folded" and (hdl_calls[-1]["pe"], hdl_calls[-1]["simd"]) == (4, 8)
    assert (model.options["arch"], model.options["pe"], model.options["simd"]) == ("folded", 4, 8)


def test_an_hdl_lowering_without_architectures_refuses_folded(monkeypatch):
    monkeypatch.setattr(hdl.lower, "to_verilog", lambda ir, name, pipeline=False: "")
    with pytest.raises(BespokeError, match="has no 'folded' architecture"):
        compile_model(DIGITS / "bnn_digits.onnx", arch="folded")


@pytest.mark.parametrize("arch,pe,simd,needle", [("systolic", None, None, "unknown architecture 'systolic'"),
                                                 ("folded", 0, None, "pe=0 must be a positive integer"),
                                                 ("unrolled", 4, None, "use arch='folded'")])
def test_bad_architecture_options_are_user_errors(arch, pe, simd, needle):
    with pytest.raises(BespokeError, match=needle):
        check_arch(arch, pe, simd)


def test_cli_prints_the_bnn_pipeline_and_refuses_bad_parallelism(capsys, tmp_path):
    assert main(["compile", str(DIGITS / "bnn_digits.onnx"), "-o", str(tmp_path / "o"), "--print-pipeline"]) == 0
    assert capsys.readouterr().out.strip() == BNN_PIPELINE
    assert main(["compile", str(DIGITS / "bnn_digits.onnx"), "-o", str(tmp_path / "o"), "--simd", "8"]) == 2
    assert "use arch='folded'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["compile", str(DIGITS / "bnn_digits.onnx"), "-o", str(tmp_path / "o"), "--arch", "folded", "--pe", "0"])
    assert e.value.code == 2
