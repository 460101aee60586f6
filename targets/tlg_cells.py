"""Threshold-gate cell descriptions: per fan-in, the area, delay and energy of one `tlg` cell.

A description is a JSON file (default targets/libs/tlg_ftl40.json) with `name`, `source` (where
the figures come from, cited in the file), `base_target` (the cost-model target whose cells price
every other netlist cell), `clock_hz`, and `cells`: per fan-in n (a string key) `area_um2`,
`delay_s`, `energy_j` (per evaluation: a clocked threshold cell evaluates every cycle, whatever
its output does) and `leakage_w`. The `tlg` target of the cost model (targets.estimate) and of
`bespoke report --target tlg` read it; the mapper (hdl.tlg_map) picks each neuron's plan by its
areas.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import NamedTuple

from bespoke.compiler.errors import BespokeError

DEFAULT = Path(__file__).with_name("libs") / "tlg_ftl40.json"


class CellFigures(NamedTuple):
    area_um2: float
    delay_s: float
    energy_j: float
    leakage_w: float


class TlgCells(NamedTuple):
    name: str
    source: str
    base_target: str
    clock_hz: float
    cells: dict[int, CellFigures]
    path: str

    def cell(self, fanin: int) -> CellFigures:
        if fanin not in self.cells:
            raise BespokeError(f"threshold-gate library {self.name!r} ({self.path}) has no {fanin}-input cell; "
                               f"it has fan-ins {', '.join(map(str, sorted(self.cells)))}")
        return self.cells[fanin]

    def area_by_fanin(self, fanin: int) -> tuple[tuple[int, float], ...]:
        """(n, area) for every fan-in 1..fanin: the mapper's gate costs (an error if one is missing)."""
        return tuple((n, self.cell(n).area_um2) for n in range(1, fanin + 1))


@functools.cache
def _load(path: str) -> TlgCells:
    try:
        data = json.loads(Path(path).read_text())
        cells = {int(n): CellFigures(float(c["area_um2"]), float(c["delay_s"]), float(c["energy_j"]), float(c["leakage_w"]))
                 for n, c in data["cells"].items()}
        return TlgCells(data["name"], data["source"], data["base_target"], float(data["clock_hz"]), cells, str(path))
    except OSError as e:
        raise BespokeError(f"cannot read threshold-gate library {path}: {e.strerror}") from None
    except (ValueError, KeyError, TypeError) as e:
        raise BespokeError(f"threshold-gate library {path}: not a cell description ({e!r}); see targets/tlg_cells.py") from None


def load_cells(path: str | Path | None = None) -> TlgCells:
    """The cell description at `path` (default: DEFAULT)."""
    return _load(str(Path(path) if path is not None else DEFAULT))
