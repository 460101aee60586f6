"""report.<target>.html as a person sees it: a printed MLP (`bespoke flow` on seeds, egfet), a folded
BNN (bnn_digits on nangate45) and an FPGA target (seeds on ice40), each rendered by headless
Chromium to a PNG that must show the plots; and the per-layer figures behind the page."""

import base64
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from bespoke.api import compile_model, run_flow
from bespoke.cli import main

ROOT = Path(__file__).resolve().parents[1]
EX = ROOT / "examples"
CHROMIUM = next((p for p in (shutil.which("chromium"), "/usr/bin/chromium", shutil.which("chromium-browser"))
                 if p and Path(p).is_file()), None)
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium): "
                                    "the HTML reports cannot be rendered")


def render(html: Path, png: Path, height: int = 2000) -> np.ndarray:
    """The page rendered headless to `png`, as an (H, W, 3) array."""
    from PIL import Image

    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={png}",
                    f"--window-size=1200,{height}", html.resolve().as_uri()], check=True, capture_output=True,
                   timeout=120)
    return np.asarray(Image.open(png).convert("RGB"))


def ink(pixels: np.ndarray) -> float:
    """Share of pixels that are drawn (text, bars, lines): darker than the page's light background."""
    return float(np.mean(pixels.min(axis=2) < 200))


def embedded_images(text: str) -> dict[str, np.ndarray]:
    """alt text -> decoded pixels of every embedded PNG."""
    from PIL import Image

    out = {}
    for alt, data in re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,([^"]+)"', text):
        out[alt] = np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB"))
    return out


def check_page(html: Path, tmp_path: Path, plots: set[str]) -> np.ndarray:
    text = html.read_text()
    assert "http://" not in text and "https://" not in text and "<script" not in text  # self-contained
    images = embedded_images(text)
    assert plots <= set(images), f"missing plots: {plots - set(images)}"
    for alt, px in images.items():
        assert ink(px) > 0.01 and len(np.unique(px.reshape(-1, 3), axis=0)) > 20, f"plot {alt!r} is empty"
    shot = render(html, tmp_path / f"{html.stem}.png")
    drawn = np.flatnonzero((shot.min(axis=2) < 200).any(axis=1))
    assert shot.shape[1] == 1200 and len(drawn) and drawn[-1] > 600  # the page is drawn, not a blank window
    assert ink(shot[:drawn[-1] + 1]) > 0.03
    # the plots are in the picture: many distinct colours (a page of text alone has a few grey levels)
    assert len(np.unique(shot[::4, ::4].reshape(-1, 3), axis=0)) > 200
    return shot


# -- a printed MLP, through `bespoke flow`

@pytest.fixture(scope="module")
def seeds_flow(tmp_path_factory):
    out = tmp_path_factory.mktemp("seeds") / "out"
    result = run_flow(EX / "seeds" / "seeds.onnx", EX / "seeds" / "test.csv", "egfet", out,
                      calibration=EX / "seeds" / "train.csv")
    assert result.passed
    return out, result


def test_flow_writes_the_page_with_layers_and_accuracy(seeds_flow):
    out, result = seeds_flow
    assert {p.name for p in result.files} >= {"report.egfet.json", "report.egfet.md", "report.egfet.html"}
    rep = json.loads((out / "report.egfet.json").read_text())
    lay = rep["layers"]
    # one part per layer of the IR, in layer order, from the backends' u_<layer> instances
    assert [p["name"] for p in lay["parts"]] == ["MatMul", "Relu_q", "MatMul1", "ArgMax"]
    assert sum(p["area_um2"] for p in lay["parts"]) == pytest.approx(lay["area_um2"])
    assert lay["flat_area_um2"] == pytest.approx(rep["area"]["um2"])
    assert 0.9 < lay["flat_area_um2"] / lay["area_um2"] <= 1.0  # flat synthesis optimises across layers
    total = sum(p["leakage_w"] + p["dynamic_w"] for p in lay["parts"]) + lay["undriven_dynamic_w"]
    assert total == pytest.approx(rep["power"]["total_w"], rel=0.1)
    # the critical path runs input -> MatMul -> ... -> ArgMax -> output, without gaps, and says which
    # neuron it leaves the first dense layer through
    path = lay["critical_path"]
    assert path[0]["start_s"] == 0 and path[-1]["end_s"] == pytest.approx(lay["critical_path_s"])
    assert all(a["end_s"] == pytest.approx(b["start_s"]) for a, b in zip(path, path[1:]))
    assert path[0]["layer"] == "MatMul" and path[-1]["layer"] == "ArgMax"
    assert re.fullmatch(r"l0_n\d+_\d+\[\d+\]", path[0]["exit_net"]) and path[0]["neuron"].startswith("neuron ")
    assert lay["startpoint"].startswith("input x[") and lay["endpoint"].startswith("output y[")
    # hardware vs float, measured on the rows the RTL was simulated on
    acc = rep["accuracy"]
    assert acc["hardware"] == pytest.approx(result.sim.hardware_accuracy)
    assert acc["float"] == pytest.approx(result.sim.float_accuracy)
    assert sum(c["count"] for c in acc["per_class"]) == acc["vectors"] == result.sim.vectors
    hist = rep["power"]["activity"]["histogram"]
    assert hist["idle"] + sum(hist["counts"]) > rep["area"]["cells"]  # every logic net counted once
    # the page is drawn from the report alone: report.json read back gives the same bytes
    from bespoke.targets.report_html import report_html

    assert report_html(rep) == (out / "report.egfet.html").read_text()
    schema = (ROOT / "targets" / "REPORT_SCHEMA.md").read_text()
    assert all(f"`layers.{k}" in schema for k in lay) and all(f"`accuracy.{k}" in schema for k in acc)


@needs_chromium
def test_printed_mlp_page_renders(seeds_flow, tmp_path):
    out, _ = seeds_flow
    check_page(out / "report.egfet.html", tmp_path, {"area and power per layer", "critical path over the layers",
                                                     "cell mix", "activity histogram", "hardware vs float accuracy"})
    text = (out / "report.egfet.html").read_text()
    assert "cm²" in text and "e+0" not in re.sub(r"base64,[^\"]+", "", text)


# -- a folded BNN

@pytest.fixture(scope="module")
def bnn_folded(tmp_path_factory):
    d = tmp_path_factory.mktemp("bnn")
    compile_model(EX / "bnn_digits" / "bnn_digits.onnx", d / "build", arch="folded", pe=8, simd=16)
    assert main(["report", str(d / "build"), "--target", "nangate45", "--data", str(EX / "bnn_digits" / "test.csv"),
                 "--out", str(d / "rep")]) == 0
    return d / "rep"


def test_folded_bnn_layers_follow_the_engine(bnn_folded):
    rep = json.loads((bnn_folded / "report.nangate45.json").read_text())
    names = [p["name"] for p in rep["layers"]["parts"]]
    assert names[0] == "top" and names[-1] == "argmax" and sum(n.startswith("matmul") for n in names) == 3
    assert all(p["flip_flops"] > 0 for p in rep["layers"]["parts"] if p["name"].startswith("matmul"))
    assert rep["accuracy"]["vectors"] == 360 and rep["accuracy"]["hardware"] > 0.8
    assert "µm²" in (bnn_folded / "report.nangate45.md").read_text()


@needs_chromium
def test_folded_bnn_page_renders(bnn_folded, tmp_path):
    check_page(bnn_folded / "report.nangate45.html", tmp_path,
               {"area and power per layer", "critical path over the layers", "cell mix", "activity histogram",
                "hardware vs float accuracy"})


# -- an FPGA target

@pytest.fixture(scope="module")
def ice40_report(seeds_flow, tmp_path_factory):
    out, _ = seeds_flow
    rep_dir = tmp_path_factory.mktemp("ice40")
    assert main(["report", str(out), "--target", "ice40", "--out", str(rep_dir)]) == 0
    return rep_dir


@needs_chromium
def test_fpga_page_shows_the_utilisation_of_the_device(ice40_report, tmp_path):
    rep = json.loads((ice40_report / "report.ice40.json").read_text())
    assert rep["fpga"]["fits"] and rep["fpga"]["capacity"]["lut"] == 5280
    check_page(ice40_report / "report.ice40.html", tmp_path, {"cell mix", "device utilisation"})
    assert "/ 5,280 (" in (ice40_report / "report.ice40.html").read_text()
