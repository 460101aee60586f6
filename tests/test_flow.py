"""The API without files: compile_model on a ModelProto, the named steps of bespoke.flow one by
one, a synthesis report in memory, and the report's --data through the driver."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx_builders import float_mlp_with, qdq_mlp

import bespoke
from bespoke import BespokeError, compile_model, frontend, hardware, report, run_passes
from bespoke.cli import main
from bespoke.targets import cli as targets_cli

CAL = np.random.default_rng(0).uniform(0, 1, size=(64, 4))


def test_a_modelproto_compiles_like_its_file(tmp_path):
    model = float_mlp_with()
    onnx.save(model, tmp_path / "mlp.onnx")
    from_file = compile_model(tmp_path / "mlp.onnx", calibration=CAL)
    in_memory = compile_model(model, calibration=CAL, name="mlp")
    assert from_file.name == in_memory.name == "mlp"
    assert in_memory.verilog == from_file.verilog and in_memory.layout == from_file.layout
    assert in_memory.out_dir is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlp.onnx"]  # compiling wrote nothing


def test_name_of_a_modelproto_is_its_graph_name():
    model = qdq_mlp()
    model.graph.name = "my-net"
    assert compile_model(model).name == "my_net"
    model.graph.name = ""  # ONNX requires a graph name: the error names the model "model"
    with pytest.raises(BespokeError, match="model 'model': invalid ONNX model: .*name"):
        compile_model(model)


def test_an_invalid_modelproto_is_a_one_line_user_error():
    model = float_mlp_with()
    model.graph.node[0].input[0] = "nowhere"
    with pytest.raises(BespokeError, match="invalid ONNX model") as e:
        compile_model(model)
    assert "\n" not in str(e.value)


def test_the_steps_compose_to_compile_model():
    model = float_mlp_with()
    float_ir = frontend(model, "net")
    assert not float_ir.is_integer() and frontend(model).name == "float_mlp"
    ir = run_passes(float_ir, calibration=CAL)
    assert ir.is_integer() and ir.has_ranges()
    hw = hardware(ir, "net", pipeline=True)
    whole = compile_model(model, calibration=CAL, name="net", pipeline=True)
    assert (hw.verilog, hw.layout, hw.summary) == (whole.verilog, whole.layout, whole.summary)
    assert hw.layout["pipelined"] and whole.options["passes"].startswith("fold-affine")


def test_passes_that_do_not_reach_integers_are_refused():
    with pytest.raises(BespokeError, match="do not end in an integer IR"):
        run_passes(frontend(float_mlp_with()), "fold-affine")


def test_report_in_memory_writes_nothing_to_the_build(tmp_path):
    model = compile_model(qdq_mlp(argmax=True), name="q")
    x = np.random.default_rng(1).uniform(-1, 1, size=(20, model.n_features))
    rep = model.report("egfet", data=x)
    assert rep["design"]["top"] == "q" and rep["design"]["sources"] == ["q.v"]
    assert rep["power"]["activity"]["vectors"] == 20 and rep["area"]["cells"] > 0
    assert rep == {**report(model.hardware, "egfet", vectors=model.encode(x)), "runtime_s": rep["runtime_s"]}
    model.save(tmp_path / "b")
    assert not list((tmp_path / "b").glob("report*"))


def test_report_data_of_a_build_needs_the_driver(tmp_path, capsys):
    model = compile_model(qdq_mlp(), tmp_path / "b", name="q")
    data = tmp_path / "x.csv"
    x = np.random.default_rng(2).uniform(-1, 1, size=(5, model.n_features))
    data.write_text(",".join(f"x{i}" for i in range(model.n_features)) + "\n"
                    + "\n".join(",".join(map(str, row)) for row in x) + "\n")
    assert targets_cli.main([str(tmp_path / "b"), "--target", "egfet", "--data", str(data)]) == 2
    assert "run `bespoke report`" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "b"), "--target", "egfet", "--data", str(data)]) == 0
    assert "report.egfet.json" in capsys.readouterr().out and (tmp_path / "b" / "report.egfet.json").is_file()


def test_import_bespoke_stays_cheap_and_exports_the_steps():
    assert {"compile_model", "load_compiled", "BespokeError", "frontend", "run_passes", "hardware", "report"} <= set(bespoke.__all__)
    with pytest.raises(AttributeError):
        bespoke.no_such_step  # noqa: B018


def test_flow_command_compiles_simulates_and_reports(tmp_path, capsys):
    """`bespoke flow`: one command, the three steps in order (plain progress lines when not a
    terminal), a summary naming the verdict, the accuracy and the area; the report files written."""
    ex = "examples/seeds/"
    code = main(["flow", ex + "seeds.onnx", "--calibration", ex + "train.csv", "--data", ex + "test.csv", "--target", "egfet",
                 "-o", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == 0, out
    steps = [line for line in out.splitlines() if line.endswith(" ...")]
    assert [s.split()[0] for s in steps] == ["compile", "simulate", "report"]
    assert "flow seeds: PASS" in out and "0 mismatches against the golden model" in out
    assert "accuracy            hardware" in out and "area" in out and "cm²" in out
    assert {"seeds.v", "manifest.json", "report.egfet.json", "report.egfet.md", "report.egfet.html"} <= {p.name for p in (tmp_path / "out").iterdir()}


def test_flow_quiet_prints_only_the_summary(tmp_path, capsys):
    ex = "examples/seeds/"
    assert main(["flow", ex + "seeds.onnx", "--calibration", ex + "train.csv", "--data", ex + "test.csv", "--target", "egfet",
                 "--max-vectors", "20", "-q", "-o", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("flow seeds: PASS") and "20 vectors" in out


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.startswith("bespoke ")
