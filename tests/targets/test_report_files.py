"""Report output: numbers in each target's unit (never scientific notation), one set of files per
target, where `bespoke report` writes, several Verilog files, iCE40 utilisation in words."""

import json

import pytest

from bespoke.targets import cli
from bespoke.targets.report import format_table, report_files, to_markdown, write_report
from bespoke.targets.report_format import area_unit, fixed, format_area, utilisation_text

SUB = "module half(input a, input b, output s, output c); assign s = a ^ b; assign c = a & b; endmodule\n"
TOP = ("module adder2(input [1:0] x, input [1:0] y, output [2:0] z);\n  wire s0, c0, s1, c1, t;\n"
       "  half h0(x[0], y[0], s0, c0);\n  half h1(x[1], y[1], s1, c1);\n  half h2(s1, c0, t, z[2]);\n"
       "  assign z[0] = s0;\n  assign z[1] = t;\nendmodule\n")


def _area(um2: float) -> dict:
    return {"um2": um2, "mm2": um2 * 1e-6, "cm2": um2 * 1e-8}


@pytest.mark.parametrize("value, text", [(31330.4, "31,330"), (8.4769, "8.48"), (0.042123, "0.0421"),
                                         (155989.2, "155,989"), (1234567.0, "1,234,567"), (0.5, "0.500")])
def test_fixed_has_separators_and_no_exponent(value, text):
    assert fixed(value) == text


@pytest.mark.parametrize("printed, um2, text", [
    (True, 8.4769e8, "8.48 cm² (848 mm²)"),  # a printed MLP: cm², mm² beside it
    (True, 4.21e7, "42.1 mm²"),  # below 1 cm²: mm²
    (False, 31330.0, "31,330 µm² (0.0313 mm²)"),  # silicon: µm² with separators (was 3.133e+04 µm²)
    (False, 2.5e6, "2.50 mm²"),  # from 1 mm²: mm²
])
def test_area_in_the_targets_natural_unit(printed, um2, text):
    assert format_area(_area(um2), printed) == text
    assert "e+" not in text and "e-" not in text


def test_one_unit_per_report_is_the_totals():
    assert area_unit(True, 2e8) == (1e8, "cm²") and area_unit(True, 5e7) == (1e6, "mm²")
    assert area_unit(False, 999_999) == (1.0, "µm²") and area_unit(False, 1e6) == (1e6, "mm²")


def test_utilisation_names_used_and_available():
    section = {"capacity": {"lut": 5280, "ff": 5280}, "resources": {"lut": 671, "ff": 0, "carry": 293}}
    assert utilisation_text(section) == "LUT 671 / 5,280 (12.7 %), FF 0 / 5,280 (0.0 %)"
    assert utilisation_text({"capacity": None, "resources": {}}) is None


@pytest.fixture(scope="module")
def split_design(tmp_path_factory):
    d = tmp_path_factory.mktemp("split")
    (d / "half.v").write_text(SUB)
    (d / "adder2.v").write_text(TOP)
    return d


def test_several_verilog_files_with_top_write_to_the_current_directory(split_design, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main([str(split_design / "half.v"), str(split_design / "adder2.v"), "--top", "adder2",
                     "--target", "sky130hd"]) == 0
    rep = json.loads((tmp_path / "report.sky130hd.json").read_text())
    assert rep["design"]["top"] == "adder2" and rep["design"]["sources"] == ["half.v", "adder2.v"]
    assert rep["area"]["cells"] > 0 and not list(split_design.glob("report*"))  # never next to the input
    table = capsys.readouterr().out
    assert "µm²" in table and "e+0" not in table
    # the hierarchy is kept for the breakdown: three `half` instances, the top's own cells aside
    assert {p["instance"] for p in rep["layers"]["parts"]} <= {"h0", "h1", "h2", "(top)"}
    assert sum(p["cells"] for p in rep["layers"]["parts"]) >= 3
    assert (tmp_path / "report.sky130hd.html").read_text().startswith("<!DOCTYPE html>")


def test_out_option_and_errors_of_several_files(split_design, tmp_path, capsys):
    files = [str(split_design / "half.v"), str(split_design / "adder2.v")]
    assert cli.main(files + ["--target", "egfet", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "define 2 modules (half, adder2); choose one with --top" in err and "\n" not in err
    assert cli.main(files + [str(tmp_path / "nope.v"), "--top", "adder2", "--target", "egfet"]) == 2
    assert "no such file or directory: " in capsys.readouterr().err
    assert cli.main(files + ["--top", "adder2", "--target", "egfet", "--out", str(tmp_path / "o")]) == 0
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["report.egfet.html", "report.egfet.json",
                                                                 "report.egfet.md"]


def test_reports_on_two_targets_sit_side_by_side(split_design, tmp_path, capsys):
    files = [str(split_design / "half.v"), str(split_design / "adder2.v"), "--top", "adder2", "--out", str(tmp_path)]
    for target in ("egfet", "nangate45"):
        assert cli.main(files + ["--target", target]) == 0
    names = {p.name for p in tmp_path.iterdir()}
    assert {n for t in ("egfet", "nangate45") for n in report_files(t).values()} <= names
    egfet = json.loads((tmp_path / "report.egfet.json").read_text())
    nangate = json.loads((tmp_path / "report.nangate45.json").read_text())
    assert egfet["target"]["name"] == "egfet" and nangate["target"]["name"] == "nangate45"
    md = (tmp_path / "report.egfet.md").read_text()
    assert "mm²" in md and "e+0" not in md and "e-0" not in md  # the cell table in the report's unit too
    assert "e+0" not in format_table(egfet) and "e+0" not in to_markdown(nangate)


def test_write_report_returns_the_three_paths(split_design, tmp_path):
    from bespoke.targets.report import make_report

    rep = make_report([split_design / "half.v", split_design / "adder2.v"], "adder2", "ice40")
    paths = write_report(tmp_path, rep)
    assert {k: p.name for k, p in paths.items()} == report_files("ice40")
    assert rep["fpga"]["capacity"]["lut"] == 5280 and rep["fpga"]["fits"] is True
    table = format_table(rep)
    rows = {line.split(None, 1)[0]: line.split(None, 1)[1] for line in table.splitlines() if line.startswith("  ")}
    assert rows["utilisation"].startswith("iCE40 UP5K (SG48): LUT ") and "/ 5,280 (" in rows["utilisation"]
    assert rows["fits"] == "yes"


def test_no_layers_skips_the_breakdown(split_design, tmp_path, capsys):
    files = [str(split_design / "half.v"), str(split_design / "adder2.v"), "--top", "adder2", "--out", str(tmp_path)]
    assert cli.main(files + ["--target", "egfet", "--no-layers"]) == 0
    rep = json.loads((tmp_path / "report.egfet.json").read_text())
    assert rep["layers"] is None and "No per-layer breakdown" in (tmp_path / "report.egfet.html").read_text()
