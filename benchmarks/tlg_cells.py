"""Writes targets/libs/tlg_ftl40.json: the default threshold-gate cell figures of the `tlg` target.

Source of the ratios: A. Wagle, G. Singh, J. Yang, S. Khatri, S. Vrudhula, "Threshold Logic in a
Flash", ICCD 2019 (arXiv:1910.04910). Its abstract reports, for the flash threshold-logic (FTL)
standard cell in 40 nm with layout-extracted parasitics, against the same functions in
conventional static CMOS: area -79.7 %, power -61.1 %, delay -42.5 %. No per-fan-in table of that
paper was reachable here, so the figures are derived, and the file says so: for each fan-in n,
the static-CMOS equivalent is this repository's own nangate45 synthesis (Yosys + ABC, the report
flow of bespoke.targets.report) of the n-input majority-type gate [sum x >= ceil(n/2)] (n = 1: an
inverter), its energy per evaluation from 2000 random input vectors at 100 MHz; the FTL figures
are those times 0.203 (area), 0.575 (delay) and 0.389 (power, at equal clock: energy). The FTL
cell is clocked (an edge-triggered cell computing the function), so its energy is charged on every
evaluation, and the leakage is folded into it (leakage_w 0). Run: python benchmarks/tlg_cells.py
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np

from bespoke.targets.report import make_report

RATIOS = {"area": 1 - 0.797, "power": 1 - 0.611, "delay": 1 - 0.425}
OUT = Path(__file__).resolve().parents[1] / "targets" / "libs" / "tlg_ftl40.json"
CLOCK = 100e6


def gate_verilog(n: int) -> str:
    if n == 1:
        return "module g(input [0:0] x, output y);\n  assign y = ~x[0];\nendmodule\n"
    t = (n + 1) // 2
    terms = " + ".join(f"x[{i}]" for i in range(n))
    return f"module g(input [{n - 1}:0] x, output y);\n  wire [3:0] s = {terms};\n  assign y = s >= {t};\nendmodule\n"


def cmos_figures(n: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        v = Path(tmp) / "g.v"
        v.write_text(gate_verilog(n))
        codes = np.random.default_rng(n).integers(0, 1 << n, size=2000)
        rep = make_report([v], "g", "nangate45", clock_hz=CLOCK, vectors={"x": codes})
    return {"area_um2": rep["area"]["um2"], "delay_s": rep["timing"]["critical_path_s"],
            "energy_j": rep["power"]["energy_per_inference_j"], "cells": rep["area"]["cells"]}


def main() -> None:
    cells, cmos = {}, {}
    for n in range(1, 9):
        c = cmos_figures(n)
        cmos[str(n)] = c
        cells[str(n)] = {"area_um2": c["area_um2"] * RATIOS["area"], "delay_s": c["delay_s"] * RATIOS["delay"],
                         "energy_j": c["energy_j"] * RATIOS["power"], "leakage_w": 0.0}
        print(n, c, cells[str(n)])
    doc = {
        "name": "tlg_ftl40",
        "source": ("Derived, not measured: per-fan-in static-CMOS equivalents synthesised on nangate45 by this "
                   "repository (benchmarks/tlg_cells.py: the n-input gate [sum x >= ceil(n/2)], Yosys+ABC, 2000 random "
                   "vectors at 100 MHz) scaled by the FTL-vs-static-CMOS ratios of Wagle, Singh, Yang, Khatri, "
                   "Vrudhula, 'Threshold Logic in a Flash', ICCD 2019, arXiv:1910.04910 (abstract: area -79.7 %, "
                   "power -61.1 %, delay -42.5 %, 40 nm, layout-extracted). The paper's own per-cell tables were not "
                   "reachable; its 40 nm figures are applied to a 45 nm base library. Energy is per evaluation, "
                   "charged every cycle (FTL is a clocked cell); leakage is folded into it."),
        "base_target": "nangate45",
        "clock_hz": CLOCK,
        "ratios": RATIOS,
        "cmos_equivalent": cmos,
        "cells": cells,
    }
    OUT.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
