import itertools
from pathlib import Path

import numpy as np
import pytest

from bespoke.targets import liberty, libgen

SHARED_CELLS = Path(__file__).resolve().parents[3] / "shared" / "cells"


@pytest.mark.parametrize("key", ["egfet", "sky130hd", "nangate45"])
def test_library_states_its_source_and_loads_in_si_units(key):
    lib = liberty.load(key)
    assert "Source of every figure" in lib.header and libgen.SPECS[key].source.split(",")[0] in lib.header
    inv = lib.inverter()
    assert inv.area > 0 and inv.leakage > 0 and lib.nand2() is not None
    expected = {  # published figures (shared/cells) converted to SI
        "egfet": ("INVX1", 228420, 9887.47e-9, 12912e-12, 6.0155e5 * 1e-9, 6805e-12),
        "sky130hd": ("inv_1", 3.7536, 0.00532668e-9, 2.302e-15, 0.0759471e-9, 0.00289325e-12),
        "nangate45": ("INV_X1", 0.532, 14.353185e-9, 1.70023e-15, 0.0252261e-9, 0.95319e-15),
    }[key]
    name, area, leak, cap, delay, energy = expected
    cell = lib.cells[name]
    (out,) = cell.outputs.values()
    assert cell.area == pytest.approx(area, rel=1e-5)
    assert cell.leakage == pytest.approx(leak, rel=1e-5)
    assert next(iter(cell.inputs.values())) == pytest.approx(cap, rel=1e-5)
    assert out.delay == pytest.approx(delay, rel=1e-5)
    assert out.energy == pytest.approx(energy, rel=1e-5)


@pytest.mark.skipif(not SHARED_CELLS.is_dir(), reason="shared/cells (the published tables) not beside the repo")
def test_committed_liberty_files_are_what_libgen_writes(tmp_path):
    for path in libgen.generate(SHARED_CELLS, tmp_path):
        assert path.read_text() == (liberty.LIB_DIR / path.name).read_text(), path.name


def _reference(expr: str, env: dict) -> bool:
    """Evaluate a Liberty expression with Python's operators (independent of our parser)."""
    py = expr.replace("!", " not ").replace("*", " and ").replace("&", " and ").replace("+", " or ")
    py = py.replace("|", " or ").replace("^", " != ")
    return bool(eval(py, {}, env))


@pytest.mark.parametrize("key", ["egfet", "sky130hd", "nangate45"])
def test_cell_functions_evaluate_their_published_truth_tables(key):
    lib = liberty.load(key)
    for cell in lib.combinational():
        for out in cell.outputs.values():
            pins = out.inputs
            for values in itertools.product([False, True], repeat=len(pins)):
                env = dict(zip(pins, values))
                got = out.evaluate(*[np.array([v]) for v in values]) if pins else out.evaluate()
                assert bool(np.asarray(got).reshape(-1)[0]) == _reference(f"({out.function})", env), (
                    cell.name, out.pin, env)


def test_liberty_precedence_and_postfix_negation():
    f = liberty.compile_function("A B' + C ^ D", ["A", "B", "C", "D"])
    for a, b, c, d in itertools.product([False, True], repeat=4):
        assert bool(f(*map(np.bool_, (a, b, c, d)))) == ((a and not b) or (c != d))


def test_egfet_genlib_declares_a_buffer_of_two_inverters():
    lib = liberty.load("egfet")
    assert lib.buffer() is None  # the published library has none
    text = liberty.genlib_text(lib)
    line = next(ln for ln in text.splitlines() if ln.startswith(f"GATE {liberty.BUFFER_GATE}"))
    assert line.split()[2] == "2"  # area in inverter units
    assert "GATE INVX1 1 Y=!A;" in text
    assert liberty.BUFFER_GATE not in liberty.genlib_text(liberty.load("sky130hd"))
    mapping = liberty.buffer_techmap(lib)
    assert mapping.count("INVX1 ") == 2
