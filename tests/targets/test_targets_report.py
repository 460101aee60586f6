"""make_report / write_report / the CLI on standard-cell targets."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from bespoke.compiler.errors import BespokeError
from bespoke.targets import cli, liberty, netlist, power, synth
from bespoke.targets.report import format_table, make_report, write_report

SCHEMA_DOC = Path(__file__).resolve().parents[2] / "targets" / "REPORT_SCHEMA.md"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

THIRD_PARTY = """\
// A hand-written filter stage in plain Verilog-2005, the way such files usually look.
module fir3 (
  input  wire               clk,
  input  wire               rst,
  input  wire signed [7:0]  x,
  input  wire        [3:0]  gain,
  output reg  signed [15:0] y,
  output wire               neg
);
  reg signed [7:0] x1, x2;
  reg signed [15:0] acc;
  wire signed [11:0] scaled;

  assign scaled = x * $signed({1'b0, gain});
  assign neg = acc[15];

  always @* begin
    acc = scaled + 3 * x1 - (x2 <<< 1);
    if (acc > 16'sd1000)
      acc = 16'sd1000;
  end

  always @(posedge clk) begin
    if (rst) begin
      x1 <= 8'sd0; x2 <= 8'sd0; y <= 16'sd0;
    end else begin
      x1 <= x; x2 <= x1; y <= acc;
    end
  end
endmodule
"""


def _fir3_reference(x, gain):
    x1 = np.r_[0, x[:-1]]
    x2 = np.r_[0, 0, x[:-2]]
    acc = np.minimum(x * gain + 3 * x1 - 2 * x2, 1000)
    return acc, np.r_[0, acc[:-1]]


@pytest.fixture(scope="module")
def fir3(tmp_path_factory):
    path = tmp_path_factory.mktemp("third_party") / "fir3.v"
    path.write_text(THIRD_PARTY)
    return path


@pytest.fixture(scope="module")
def egfet_report(small_mlp, mlp_files, codes):
    return make_report([mlp_files["comb"]], "mlp", "egfet", clock_hz=5.0, vectors=codes,
                       layout=small_mlp.layout())


def test_leakage_is_independent_of_clock_and_dynamic_power_scales_with_it(small_mlp, mlp_files, codes,
                                                                        egfet_report):
    fast = make_report([mlp_files["comb"]], "mlp", "egfet", clock_hz=50.0, vectors=codes,
                       layout=small_mlp.layout())
    slow = egfet_report["power"]
    assert fast["power"]["leakage_w"] == slow["leakage_w"] > 0
    assert fast["power"]["dynamic_w"] == pytest.approx(10 * slow["dynamic_w"])
    assert slow["dynamic_w"] > 0
    # the switching energy of one inference does not depend on how fast inferences come
    assert fast["power"]["dynamic_energy_per_inference_j"] == pytest.approx(slow["dynamic_energy_per_inference_j"])
    assert fast["power"]["energy_per_inference_j"] < slow["energy_per_inference_j"]  # less leakage per inference


def test_dynamic_power_grows_with_activity(small_mlp, mlp_files, codes, egfet_report):
    quiet = np.repeat(codes[:1], len(codes), axis=0)
    quiet[::2, 0] ^= 1  # only one input bit toggles
    still = np.repeat(codes[:1], len(codes), axis=0)
    p = {name: make_report([mlp_files["comb"]], "mlp", "egfet", clock_hz=5.0, vectors=v,
                           layout=small_mlp.layout())["power"] for name, v in (("quiet", quiet), ("still", still))}
    busy = egfet_report["power"]
    assert p["still"]["dynamic_w"] == 0 and p["still"]["activity"]["mean_toggle_rate"] == 0
    assert 0 < p["quiet"]["dynamic_w"] < busy["dynamic_w"]
    assert p["quiet"]["activity"]["mean_toggle_rate"] < busy["activity"]["mean_toggle_rate"]
    assert p["quiet"]["leakage_w"] == busy["leakage_w"]


def test_clock_faster_than_the_critical_path_warns(small_mlp, mlp_files, egfet_report):
    t = egfet_report["timing"]
    assert t["critical_path_s"] > 0 and t["max_clock_hz"] == pytest.approx(1 / t["critical_path_s"])
    assert t["logic_depth"] == len(t["path"]) and t["path"][-1]["arrival_s"] == pytest.approx(t["critical_path_s"])
    assert egfet_report["warnings"] == []  # 5 Hz is slow enough for this small design
    fast = make_report([mlp_files["comb"]], "mlp", "egfet", clock_hz=2 * t["max_clock_hz"],
                       layout=small_mlp.layout())
    assert any("faster than the maximum" in w for w in fast["warnings"])
    assert fast["power"]["activity"]["source"] == "random" and any("random" in n for n in fast["notes"])


def test_report_files_are_deterministic_and_readable(egfet_report, tmp_path):
    paths = write_report(tmp_path / "a", egfet_report)
    js, md = paths["json"], paths["md"]
    assert [p.name for p in paths.values()] == ["report.egfet.json", "report.egfet.md", "report.egfet.html"]
    data = json.loads(js.read_text())
    assert data["schema"] == "bespoke-report" and data["schema_version"] == 1 and "runtime_s" not in data
    assert data["synthesis"]["abc_script"] == synth.ABC_AREA_SCRIPT and "abc -genlib" in data["synthesis"]["script"]
    text = md.read_text()
    assert "| area |" in text and "cm²" in text and "## Cells" in text and "NAND2X1" in text
    table = format_table(egfet_report)
    assert "leakage" in table and "cm²" in table and len(table.splitlines()) < 20


def test_same_inputs_give_byte_identical_report_json(small_mlp, mlp_files, codes, egfet_report, tmp_path):
    rerun = make_report([mlp_files["comb"]], "mlp", "egfet", clock_hz=5.0, vectors=codes, layout=small_mlp.layout())
    a, b = write_report(tmp_path / "a", egfet_report), write_report(tmp_path / "b", rerun)
    for kind in ("json", "md", "html"):
        assert a[kind].read_bytes() == b[kind].read_bytes(), kind


def _doc_keys() -> set[str]:
    """The keys the report schema's tables document (its first section: the document then
    describes the exploration result, another schema)."""
    keys = set()
    lines = SCHEMA_DOC.read_text().splitlines()
    end = next((k for k, line in enumerate(lines) if k and line.startswith("# ")), len(lines))
    for line in lines[:end]:
        if line.startswith("| `"):
            keys.update(re.findall(r"`([a-z0-9_.]+)`", line.split("|")[1]))
    return keys


# values that are maps from names (cells, ports) to figures: documented as one key
_OPEN = {"area.histogram", "fpga.cells_by_type", "fpga.resources", "design.inputs", "design.outputs",
         "design.layout", "fpga.place_and_route", "timing.path"}


def _paths(d: dict, prefix="") -> set[str]:
    out = set()
    for k, v in d.items():
        p = f"{prefix}{k}"
        out.add(p)
        if isinstance(v, dict) and p not in _OPEN:
            out |= _paths(v, p + ".")
    return out


def test_schema_document_lists_every_key(egfet_report):
    doc = _doc_keys()
    got = _paths({k: v for k, v in egfet_report.items() if k != "runtime_s"})
    undocumented = {p for p in got if p not in doc and not any(p.startswith(d + ".") or d.startswith(p + ".")
                                                               for d in doc)}
    assert not undocumented
    cells_sections = {p for p in doc if not p.startswith(("fpga.", "target.device", "layers.", "accuracy."))}
    assert cells_sections <= got | {"fpga"}


def test_third_party_verilog_maps_and_computes(fir3):
    lib = liberty.load("sky130hd")
    nl = netlist.from_yosys(synth.synth_cells([fir3], "fir3", lib).netlist, "fir3", lib)
    assert nl.clock_ports == ["clk"] and list(nl.data_inputs()) == ["rst", "x", "gain"]
    rng = np.random.default_rng(2)
    x, gain = rng.integers(-128, 128, 200), rng.integers(0, 16, 200)
    stim = power.port_stimulus(nl, np.stack([np.zeros(200, int), x, gain], axis=1))
    v = netlist.simulate(nl, stim.bits)
    acc, y = _fir3_reference(x, gain)
    assert np.array_equal(netlist.port_values(nl, v, "y", signed=True), y)
    assert np.array_equal(netlist.port_values(nl, v, "neg"), (acc < 0).astype(int))


def test_cli_reports_a_third_party_file(fir3, tmp_path, capsys):
    data = tmp_path / "ports.csv"
    rng = np.random.default_rng(3)
    rows = [f"{g},{x},0" for x, g in zip(rng.integers(-128, 128, 50), rng.integers(0, 16, 50))]
    data.write_text("gain,x,rst\n" + "\n".join(rows) + "\n")
    assert cli.main([str(fir3), "--target", "egfet", "--clock", "10Hz", "--data", str(data),
                     "--out", str(tmp_path / "rep")]) == 0
    rep = json.loads((tmp_path / "rep" / "report.egfet.json").read_text())
    assert rep["design"]["top"] == "fir3" and rep["design"]["sequential"]
    assert 16 < rep["area"]["flip_flops"] <= 8 + 8 + 16 and rep["area"]["cm2"] > 0  # equal sign bits merge
    assert rep["power"]["clock_hz"] == 10 and rep["power"]["activity"]["source"] == "vectors"
    assert rep["power"]["activity"]["clock_share"] > 0
    assert rep["timing"]["endpoint"] and rep["timing"]["max_clock_hz"] > 0
    out = capsys.readouterr().out
    assert "area" in out and "report.egfet.json" in out


@pytest.mark.parametrize("argv, message", [
    (["missing.v", "--target", "egfet"], "no such file"),
    (["{fir3}", "--target", "egfet", "--clock", "fast"], "cannot read clock"),
    (["{two}", "--target", "egfet"], "choose one with --top"),
    (["{fir3}", "--target", "egfet", "--top", "nope"], "synthesis failed"),
    (["{fir3}", "--target", "egfet", "--data", "{baddata}"], "data input ports"),
])
def test_cli_user_errors_exit_2_with_one_line(argv, message, fir3, tmp_path, capsys):
    two = tmp_path / "two.v"
    two.write_text("module a(input x, output y); assign y = x; endmodule\n"
                   "module b(input x, output y); assign y = ~x; endmodule\n")
    baddata = tmp_path / "bad.csv"
    baddata.write_text("x,foo\n1,2\n3,4\n")
    argv = [a.format(fir3=fir3, two=two, baddata=baddata) for a in argv] + ["--out", str(tmp_path / "o")]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err


def test_layout_that_does_not_match_the_ports_is_refused(small_mlp, mlp_files):
    layout = dict(small_mlp.layout(), n_in=small_mlp.sizes[0] + 1)
    with pytest.raises(BespokeError, match="port 'x'"):
        make_report([mlp_files["comb"]], "mlp", "egfet", layout=layout)


def test_cli_on_a_compiled_directory(small_mlp, tmp_path, capsys):
    out = tmp_path / "build"
    out.mkdir()
    (out / "mlp.v").write_text(small_mlp.verilog(pipelined=True))
    layout = small_mlp.layout(pipelined=True)
    (out / "manifest.json").write_text(json.dumps({"top": "mlp", "verilog": "mlp.v", "layout": layout}))
    assert cli.main([str(out), "--target", "sky130hd", "--clock", "20MHz"]) == 0
    rep = json.loads((out / "report.sky130hd.json").read_text())
    assert rep["design"]["layout"] == layout and rep["design"]["sequential"]
    assert rep["target"]["clock_source"] == "given" and rep["power"]["clock_hz"] == 20e6
    assert rep["area"]["flip_flops"] > 0 and (out / "report.sky130hd.md").is_file()


@pytest.mark.skipif(not (EXAMPLES / "cardio" / "cardio.onnx").is_file(), reason="no cardio example")
def test_compiled_cardio_with_its_test_data(tmp_path):
    from bespoke.api import compile_model
    from bespoke.cli import main

    ex = EXAMPLES / "cardio"
    compile_model(ex / "cardio.onnx", tmp_path / "cardio", calibration=ex / "train.csv")
    assert main(["report", str(tmp_path / "cardio"), "--target", "egfet", "--data", str(ex / "test.csv")]) == 0
    rep = json.loads((tmp_path / "cardio" / "report.egfet.json").read_text())
    rows = len((ex / "test.csv").read_text().strip().splitlines()) - 1
    assert rep["power"]["activity"] == {**rep["power"]["activity"], "source": "vectors", "vectors": rows}
    assert rep["power"]["leakage_w"] > 10 * rep["power"]["dynamic_w"]  # printed: leakage dominates at 5 Hz
    # the mapped EGFET netlist whose area is reported computes what the golden model computes
    from bespoke.api import load_codes, load_compiled

    model = load_compiled(tmp_path / "cardio")
    codes = load_codes(tmp_path / "cardio", ex / "test.csv")
    lib = liberty.load("egfet")
    nl = netlist.from_yosys(synth.synth_cells([tmp_path / "cardio" / "cardio.v"], "cardio", lib).netlist,
                            "cardio", lib)
    v = netlist.simulate(nl, power.layout_stimulus(nl, model.layout, codes).bits)
    assert np.array_equal(netlist.port_values(nl, v, "y"), np.asarray(model.predict_codes(codes)).reshape(-1))


@pytest.mark.skipif(not (EXAMPLES / "pendigits" / "pendigits.onnx").is_file(), reason="no pendigits example")
def test_pendigits_report_with_its_test_set_takes_under_a_minute(tmp_path):
    from bespoke.api import compile_model, load_codes

    ex = EXAMPLES / "pendigits"
    model = compile_model(ex / "pendigits.onnx", tmp_path / "p", calibration=ex / "train.csv")
    codes = load_codes(tmp_path / "p", ex / "test.csv")
    rep = make_report([tmp_path / "p" / f"{model.name}.v"], model.name, "egfet", vectors=codes, layout=model.layout)
    assert rep["runtime_s"]["total"] < 60  # synthesis + timing + power over the whole test set
    assert rep["power"]["activity"]["vectors"] == len(codes) > 1000


def test_report_timeout_is_an_option_and_a_clear_error(tmp_path, capsys, monkeypatch):
    from bespoke.cli import main

    monkeypatch.chdir(tmp_path)  # a Verilog file's report goes to the current directory
    v = tmp_path / "mul.v"
    v.write_text("module mul(input [31:0] a, b, output [63:0] y);\n  assign y = a * b;\nendmodule\n")
    assert main(["report", str(v), "--target", "nangate45", "--timeout", "0.2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bespoke: error: synthesis did not finish within 0.2 s") and "\n" not in err
    assert not list(tmp_path.glob("report*"))
