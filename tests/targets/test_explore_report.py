"""targets.explore_report: report.html, pareto.csv and pareto.json from an exploration result."""

from __future__ import annotations

import copy
import csv
import json
import os
import re

import pytest

from bespoke.compiler.errors import BespokeError
from bespoke.targets import html_page
from bespoke.targets.explore_report import write_explore_report

LAYERS = ("MatMul", "Relu_q", "MatMul1", "ArgMax")


def point(i: int, n_features: int = 4, **kw) -> dict:
    bits = [(i + j) % 5 for j in range(n_features)]
    p = {"id": i, "exact": False, "chosen": False, "pareto": True,
         "train_accuracy": 0.80 + 0.01 * i, "test_accuracy": 0.79 + 0.01 * i,
         "area": 2.0 + i, "power": 6.0 + 2.5 * i, "synth_area": 2.1 + i, "synth_power": 6.2 + 2.5 * i,
         "approx": {"MatMul": f"pow2, {i}/12 pruned", "Relu_q": "relu 4b", "ArgMax": "msb3",
                    "input": "bits " + ",".join(map(str, bits))},
         "input_bits": bits, "layer_area": {k: round(0.25 * (2.0 + i), 3) for k in LAYERS}}
    p.update(kw)
    return p


def result(n: int = 5, n_features: int = 4, **kw) -> dict:
    pts = [point(i, n_features) for i in range(n)]
    pts[min(2, n - 1)]["chosen"] = True
    pts.append(point(99, n_features, exact=True, pareto=False, train_accuracy=0.9, test_accuracy=0.895, area=21.0,
                     power=58.0, approx={}, input_bits=[4] * n_features))
    r = {"model": "cardio", "target": "egfet", "area_unit": "cm2", "power_unit": "mW", "objective": "train error",
         "float_accuracy": 0.897, "max_loss": 0.01, "evaluations": 2400, "seconds": 312.5, "seed": 0,
         "features": [f"f{j}" for j in range(n_features)], "points": pts}
    r.update(kw)
    return r


def images(page: str) -> list[str]:
    return re.findall(r'src="(data:image/png;base64,[A-Za-z0-9+/=]+)"', page)


def test_writes_three_files(tmp_path):
    r = result()
    paths = write_explore_report(tmp_path / "out", r)
    assert paths == {"html": tmp_path / "out" / "report.html", "csv": tmp_path / "out" / "pareto.csv",
                     "json": tmp_path / "out" / "pareto.json"}
    assert sorted(os.listdir(tmp_path / "out")) == ["pareto.csv", "pareto.json", "report.html"]
    assert json.loads(paths["json"].read_text()) == r


def test_csv_one_row_per_point(tmp_path):
    r = result()
    rows = list(csv.DictReader(write_explore_report(tmp_path, r)["csv"].open()))
    assert len(rows) == len(r["points"])
    assert list(rows[0])[:11] == ["id", "exact", "chosen", "pareto", "train_accuracy", "test_accuracy", "area_cm2",
                                  "power_mW", "synth_area_cm2", "synth_power_mW", "input_bits"]
    assert {"approx.MatMul", "approx.input", "layer_area_cm2.ArgMax"} <= set(rows[0])
    assert [float(row["area_cm2"]) for row in rows] == sorted(p["area"] for p in r["points"])  # sorted by area
    by_id = {row["id"]: row for row in rows}
    assert by_id["2"]["chosen"] == "true" and by_id["99"]["exact"] == "true"
    assert by_id["3"]["input_bits"] == " ".join(map(str, r["points"][3]["input_bits"]))
    assert by_id["99"]["approx.MatMul"] == ""


def test_html_is_self_contained(tmp_path):
    page = write_explore_report(tmp_path, result())["html"].read_text()
    assert page.startswith("<!DOCTYPE html>")
    refs = re.findall(r'(?:src|href)\s*=\s*["\']([^"\']*)', page)
    assert refs and all(ref.startswith("data:") for ref in refs), refs
    text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", page)  # base64 may spell "http" by chance
    assert "http" not in text and "<script" not in text and "<link" not in text and "url(" not in text
    assert len(images(page)) == 3  # the two fronts, the chosen design's layer areas, its input bits
    assert "cardio" in page and "egfet" in page and "Chosen design #2" in page
    assert 'class="chosen"' in page and "89.7 %" in page  # chosen row highlighted; float accuracy in the header


def test_same_result_same_bytes(tmp_path):
    a = write_explore_report(tmp_path / "a", result())
    b = write_explore_report(tmp_path / "b", result())
    for key in a:
        assert a[key].read_bytes() == b[key].read_bytes(), key


def without_synthesis(r):
    for p in r["points"]:
        p["synth_area"] = p["synth_power"] = None
    return r


def without_choice(r):
    for p in r["points"]:
        p["chosen"] = False
    return r


def without_test_and_extras(r):
    for p in r["points"]:
        p["test_accuracy"] = None
        del p["layer_area"], p["input_bits"], p["approx"]
    for key in ("features", "float_accuracy", "max_loss", "seconds", "evaluations", "objective"):
        del r[key]
    return r


def exact_chosen(r):
    r = without_choice(r)
    r["points"][-1]["chosen"] = True
    return r


def far_below(r):  # a front reaching down to near-chance accuracy, areas over three decades
    r["points"] += [point(50 + i, 4, train_accuracy=acc, test_accuracy=acc, area=a) for i, (a, acc)
                    in enumerate([(0.01, 0.2), (0.05, 0.4)])]
    return r


EDGE_CASES = {
    "one point: the exact design": lambda: result(1, points=[point(99, exact=True)]),
    "one point: chosen": lambda: result(1, points=[point(0, chosen=True)]),
    "no synthesis": lambda: without_synthesis(result()),
    "no chosen design": lambda: without_choice(result()),
    "minimal keys": lambda: without_test_and_extras(result()),
    "exact is chosen": lambda: exact_chosen(result()),
    "30 features": lambda: result(8, 30),
    "pendigits-like 16 features": lambda: result(12, 16),
    "far below the budget": lambda: far_below(result()),
}


@pytest.mark.parametrize("case", list(EDGE_CASES))
def test_edge_cases(tmp_path, case):
    r = EDGE_CASES[case]()
    paths = write_explore_report(tmp_path, r)
    page = paths["html"].read_text()
    assert images(page)
    assert len(list(csv.DictReader(paths["csv"].open()))) == len(r["points"])
    if not any(p.get("chosen") for p in r["points"]):
        assert "No design was chosen" in page


INVALID = {
    "no points": lambda r: r.update(points=[]),
    "points missing": lambda r: r.pop("points"),
    "not a dict": lambda r: r["points"].append("design"),
    "area missing": lambda r: r["points"][0].pop("area"),
    "accuracy not a number": lambda r: r["points"][0].update(train_accuracy="high"),
    "NaN power": lambda r: r["points"][0].update(power=float("nan")),
    "two chosen": lambda r: r["points"][0].update(chosen=True),
    "duplicate id": lambda r: r["points"][1].update(id=0),
    "input bits vs features": lambda r: r["points"][0].update(input_bits=[1, 2]),
    "negative bits": lambda r: r["points"][0].update(input_bits=[1, -2, 3, 4]),
    "not JSON": lambda r: r.update(extra={1, 2}),
}


@pytest.mark.parametrize("case", list(INVALID))
def test_invalid_result_writes_nothing(tmp_path, case):
    r = result()
    INVALID[case](r)
    (tmp_path / "report.html").write_text("old")
    with pytest.raises(BespokeError) as err:
        write_explore_report(tmp_path, r)
    msg = str(err.value)
    assert msg.startswith("explore report: ") and "\n" not in msg
    assert os.listdir(tmp_path) == ["report.html"] and (tmp_path / "report.html").read_text() == "old"


def test_no_points_message(tmp_path):
    with pytest.raises(BespokeError, match="no points"):
        write_explore_report(tmp_path, result(points=[]))


def test_failed_write_leaves_no_temporary_files(tmp_path, monkeypatch):
    calls = []

    def failing_replace(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError("disk full")
        os.rename(src, dst)

    monkeypatch.setattr(html_page.os, "replace", failing_replace)
    with pytest.raises(OSError):
        write_explore_report(tmp_path, result())
    assert all(not name.endswith(".tmp") for name in os.listdir(tmp_path))
    assert len(os.listdir(tmp_path)) == 1  # the one file renamed before the failure, complete


def test_result_is_not_changed(tmp_path):
    r = result()
    before = copy.deepcopy(r)
    write_explore_report(tmp_path, r)
    assert r == before
