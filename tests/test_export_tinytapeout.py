"""bespoke export --tinytapeout: the tt_um_ wrapper, simulated through a host that drives its
pins, equals the golden model on every vector; a wrapper with the byte order reversed is caught."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bespoke.api import compile_model, export_tinytapeout
from bespoke.cli import main
from bespoke.sim.runner import simulate as run_rtl
from bespoke.targets import tinytapeout as tt

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(scope="module")
def seeds_build(tmp_path_factory):
    out = tmp_path_factory.mktemp("tt") / "seeds"
    compile_model(EXAMPLES / "seeds" / "seeds.onnx", out, calibration=EXAMPLES / "seeds" / "train.csv")
    return out


def test_export_writes_the_project_and_the_wrapper_equals_the_golden_model(seeds_build, capsys):
    assert main(["export", str(seeds_build), "--tinytapeout", "--data", str(EXAMPLES / "seeds" / "test.csv")]) == 0
    text = capsys.readouterr().out
    assert "4 input bytes shifted in, 1 result bytes read back" in text
    assert "simulated 63 vectors through host, wrapper and design (verilator): 0 mismatches" in text and text.rstrip().endswith("PASS")
    project = seeds_build / "tinytapeout"
    info = (project / "info.yaml").read_text()
    assert 'top_module: "tt_um_bespoke_seeds"' in info and '- "seeds.v"' in info
    assert "module tt_um_bespoke_seeds (" in (project / "src" / "project.v").read_text()


def test_a_wrapper_with_its_byte_order_reversed_fails_the_simulation(seeds_build, tmp_path):
    r = export_tinytapeout(seeds_build, tmp_path / "project", vectors=100)
    assert r.sim.ok and r.sim.vectors == 100
    project_v = tmp_path / "project" / "src" / "project.v"
    broken = project_v.read_text().replace("xs <= {xs[23:0], ui_in};", "xs <= {ui_in, xs[31:8]};")
    assert broken != project_v.read_text()
    project_v.write_text(broken)
    from bespoke.api import load_compiled

    model = load_compiled(seeds_build)
    codes = model.encode(model._data(EXAMPLES / "seeds" / "test.csv")[0])
    sources = [tmp_path / "project" / "test" / "tt_host.v", project_v, tmp_path / "project" / "src" / "seeds.v"]
    sim = run_rtl(sources, tt.host_layout(model.layout), codes, model.predict_codes(codes), tmp_path / "sim")
    assert sim.mismatches > 0


def test_clocked_builds_and_bad_options_are_refused(seeds_build, tmp_path, capsys):
    out = tmp_path / "piped"
    compile_model(EXAMPLES / "seeds" / "seeds.onnx", out, calibration=EXAMPLES / "seeds" / "train.csv", pipeline=True)
    assert main(["export", str(out), "--tinytapeout"]) == 2
    assert "takes combinational designs" in capsys.readouterr().err
    assert main(["export", str(seeds_build), "--tinytapeout", "--tiles", "big"]) == 2
    assert "--tiles 'big'" in capsys.readouterr().err
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("a user's file")
    assert main(["export", str(seeds_build), "--tinytapeout", "-o", str(mine)]) == 2
    assert "not a TinyTapeout project written by bespoke" in capsys.readouterr().err
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
