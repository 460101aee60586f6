"""The seeded CI slice of the differential fuzzing campaign (benchmarks/fuzz.py): random MLPs,
QDQ models, QONNX BNNs (dense and conv), approximated MLPs, threshold-gate-mapped BNNs and learned
gate networks through golden model, reference execution, netlist interpreter and Verilator; any
mismatch fails."""

import sys
from pathlib import Path

import pytest

pytest.importorskip("qonnx")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import fuzz  # noqa: E402


def test_fuzz_slice_has_no_mismatch(tmp_path, capsys):
    code = fuzz.main(["--models", "16", "--vectors", "32000", "--rtl-every", "2", "--seed", "11", "--quiet",
                      "--out", str(tmp_path / "fuzz.txt"), "--failures", str(tmp_path / "failures")])
    text = capsys.readouterr().out
    assert "16 models, 32000 vectors, 0 models with a mismatch, 0 reference errors" in text, text
    assert code == 0 and not (tmp_path / "failures").exists()
    for kind in fuzz.KINDS:  # every kind ran, and reached the RTL
        row = next(line for line in text.splitlines() if line.startswith(f"| {kind} |"))
        assert int(row.split("|")[7]) > 0
