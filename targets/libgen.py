"""Write the project's own simplified Liberty files from published cell figures.

    python -m bespoke.targets.libgen ../shared/cells targets/libs

The input tables (../shared/cells/*.csv) hold one row per cell output with area, leakage, input
capacitance, one delay and one internal switching energy, read at a stated point of each published
library's tables. This module turns each table into a Liberty file with scalar (single-point)
timing and power, which is what our synthesis (Yosys/ABC) and our own timing/power analysis use.
The generated files are committed in targets/libs/; this script is how they were made.
"""

from __future__ import annotations

import csv
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class LibSpec:
    """How one published table becomes one Liberty file."""

    csv: str
    name: str
    source: str
    voltage: float
    temperature: float
    cap_unit: str  # Liberty capacitive_load_unit: "pf" or "ff"; energies are V^2 x this unit
    table_point: str
    notes: list[str]
    skip_cells: set[str] = field(default_factory=set)
    skip_outputs: set[str] = field(default_factory=set)
    ff_pins: dict[str, dict] = field(default_factory=dict)  # pin names for tables without them
    transistors: dict[str, int] = field(default_factory=dict)


# Static-CMOS transistor counts of the usual cell topologies (an estimate, not read from layouts).
CMOS_TRANSISTORS = {
    "inv": 2, "buf": 4, "nand2": 4, "nor2": 4, "and2": 6, "or2": 6, "xor2": 12, "xnor2": 12,
    "aoi21": 6, "a21oi": 6, "oai21": 6, "o21ai": 6, "mux2": 12, "mux2i": 10, "nand3": 6, "nor3": 6,
    "maj3": 12, "fa": 28, "ha": 14, "dff": 24, "dfxtp": 24, "dffr": 28, "dfrtp": 28, "conb": 2,
    "logic0": 2, "logic1": 2,
}

SPECS = {
    "egfet": LibSpec(
        csv="egfet_1v0.csv",
        name="bespoke_egfet_1v0",
        source="PrintedComputing/EGFET_PDK, PPDK_Standard_Library_1.0V_25C_TYP_X1 (Printed "
               "Microprocessors, ISCA 2020), figures as tabulated in shared/cells/egfet_1v0.csv",
        voltage=1.0, temperature=25, cap_unit="pf",
        table_point="middle entry of the 3x3 tables: input transition 2000 ns, load 15000 pF; "
                    "delays and energies averaged over arcs",
        notes=["Printed electrolyte-gated FETs, n-type only (transistor-resistor logic): leakage "
               "dominates total power.",
               "The published library has no buffer and no full adder; synthesis declares a "
               "buffer as two inverters.",
               "LATCHX1, TSBUF and the Q_bar flip-flop outputs are left out."],
        skip_cells={"LATCHX1"},
        skip_outputs={"Q_bar"},
        ff_pins={"DFFX1": {"clock": "CP", "next_state": "D"},
                 "DFFNRX1": {"clock": "CP", "next_state": "D", "clear": "RST_N"}},
        # Transistor-resistor logic: one n-type EGFET per pull-down input per stage; AND/OR add an
        # inverter stage; XOR/XNOR and flip-flops are estimates from their area in inverters.
        transistors={"INVX1": 1, "NAND2X1": 2, "NOR2X1": 2, "AND2X1": 3, "OR2X1": 3,
                     "XOR2X1": 6, "XNOR2X1": 7, "DFFX1": 10, "DFFNRX1": 18},
    ),
    "sky130hd": LibSpec(
        csv="sky130_hd_tt_1v80.csv",
        name="bespoke_sky130hd_tt_1v80",
        source="google/skywater-pdk-libs-sky130_fd_sc_hd (Apache-2.0), corner tt_025C_1v80, "
               "figures as tabulated in shared/cells/sky130_hd_tt_1v80.csv",
        voltage=1.8, temperature=25, cap_unit="pf",
        table_point="input transition 0.053 ns, load nearest 4x the cell's input capacitance",
        notes=["Internal energy excludes charging the output load: analysis adds 1/2 C V^2 of the "
               "net load per transition.",
               "fa_1, ha_1 and conb_1 have two outputs: ABC cannot map to them; they are listed "
               "for completeness."],
    ),
    "nangate45": LibSpec(
        csv="nangate45_typical.csv",
        name="bespoke_nangate45_typical",
        source="NanGate FreePDK45 Open Cell Library, typical corner (OpenROAD's Apache-2.0 copy), "
               "figures as tabulated in shared/cells/nangate45_typical.csv",
        voltage=1.1, temperature=25, cap_unit="ff",
        table_point="input transition 0.01719 ns, load nearest 4x the cell's input capacitance",
        notes=["Internal energy excludes charging the output load: analysis adds 1/2 C V^2 of the "
               "net load per transition.",
               "QN flip-flop outputs are left out; FA_X1 and HA_X1 have two outputs and are not "
               "used by ABC."],
        skip_outputs={"QN"},
    ),
}


def _f(s: str) -> float | None:
    s = (s or "").strip()
    return float(s) if s else None


def _transistors(spec: LibSpec, cell: str) -> int | None:
    if cell in spec.transistors:
        return spec.transistors[cell]
    base = re.sub(r"(_x?\d+)$", "", cell.lower())
    return CMOS_TRANSISTORS.get(base)


def _parse_function(text: str) -> tuple[str, dict]:
    """'IQ  [ff: clocked_on=CK; next_state=D; clear=!RN]' -> ('IQ', {'clocked_on': 'CK', ...})."""
    m = re.match(r"\s*(.*?)\s*(?:\[ff:(.*)\])?\s*$", text)
    ff = {}
    if m.group(2):
        for part in m.group(2).split(";"):
            k, v = part.split("=", 1)
            ff[k.strip()] = v.strip()
    return m.group(1), ff


def _pin_names(function: str) -> list[str]:
    return sorted(set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", function)) - {"IQ", "IQN"})


def read_table(spec: LibSpec, path: Path) -> dict[str, dict]:
    """Rows of one CSV grouped by cell, normalised to one schema (library units kept)."""
    cells: dict[str, dict] = {}
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            name = row["cell"]
            out = row.get("output") or row.get("out")
            if name in spec.skip_cells or out in spec.skip_outputs:
                continue
            function, ff = _parse_function(row["function"])
            cell = cells.setdefault(name, {"area": float(row["area_um2"]), "outputs": {}, "inputs": {},
                                           "ff": None, "clock_energy": None, "setup": None})
            if "leak_nW" in row and "cell_leakage_power" not in row:  # the EGFET table
                cell["leakage"] = float(row["leak_nW"])
                cap, delay, energy = (_f(row["cap_mean_pF"]), _f(row["delay_mid_ns"]),
                                      _f(row["E_int_mid_pJ"]))
                if name in spec.ff_pins:
                    p = spec.ff_pins[name]
                    ff = {"clocked_on": p["clock"], "next_state": p["next_state"]}
                    if "clear" in p:
                        ff["clear"] = "!" + p["clear"]
                    pins = [p["next_state"], p["clock"]] + ([p["clear"]] if "clear" in p else [])
                else:
                    pins = _pin_names(function)
                for pin in pins:
                    cell["inputs"][pin] = cap
            else:
                cell["leakage"] = _f(row["cell_leakage_power"]) or 0.0
                delay, energy = _f(row["delay_avg"]), _f(row["internal_energy"])
                for item in (row["input_pins"] or "").split():
                    pin, cap = item.split("=")
                    cell["inputs"][pin] = float(cap)
                cell["clock_energy"] = _f(row["clk_pin_energy"])
                cell["setup"] = _f(row["setup_max"])
            if ff:
                cell["ff"] = ff
            cell["outputs"][out] = {"function": function, "delay": delay, "energy": energy}
    return cells


def _scalar(group: str, value: float) -> str:
    return f'{group} (scalar) {{ values ("{value:.6g}"); }}'


def liberty_text(spec: LibSpec, cells: dict[str, dict]) -> str:
    cu = spec.cap_unit
    lines = [
        f"/* {spec.name}: a simplified Liberty library written by bespoke (targets/libgen.py).",
        f"   Source of every figure: {spec.source}.",
        f"   Table point: {spec.table_point}.",
        "   Timing and power are scalar: one delay per output (all arcs equal), one internal",
        "   energy per output transition. Transistor counts are estimates from the cell topology.",
        *(f"   {n}" for n in spec.notes),
        "*/",
        f"library ({spec.name}) {{",
        "  delay_model : table_lookup;",
        '  time_unit : "1ns";',
        '  voltage_unit : "1V";',
        '  current_unit : "1mA";',
        '  leakage_power_unit : "1nW";',
        f"  capacitive_load_unit (1,{cu});",
        f"  nom_voltage : {spec.voltage:g};",
        f"  nom_temperature : {spec.temperature:g};",
        "  nom_process : 1;",
        "  define (transistors, cell, integer);",
    ]
    for name in sorted(cells):
        c = cells[name]
        lines.append(f"  cell ({name}) {{")
        lines.append(f"    area : {c['area']:.6g};")
        lines.append(f"    cell_leakage_power : {c['leakage']:.6g};")
        t = _transistors(spec, name)
        if t is not None:
            lines.append(f"    transistors : {t};")
        ff = c["ff"]
        if ff:
            clear = f' clear : "{ff["clear"]}";' if "clear" in ff else ""
            lines.append(f'    ff (IQ, IQN) {{ next_state : "{ff["next_state"]}"; '
                         f'clocked_on : "{ff["clocked_on"]}";{clear} }}')
        for pin, cap in sorted(c["inputs"].items()):
            lines.append(f"    pin ({pin}) {{")
            lines.append("      direction : input;")
            lines.append(f"      capacitance : {cap:.6g};")
            if ff and pin == ff["clocked_on"]:
                lines.append("      clock : true;")
                if c["clock_energy"]:
                    e = c["clock_energy"]
                    lines.append(f"      internal_power () {{ {_scalar('rise_power', e)} "
                                 f"{_scalar('fall_power', e)} }}")
            if ff and pin == ff["next_state"] and c["setup"] is not None:
                lines.append(f'      timing () {{ related_pin : "{ff["clocked_on"]}"; '
                             f"timing_type : setup_rising; {_scalar('rise_constraint', c['setup'])} "
                             f"{_scalar('fall_constraint', c['setup'])} }}")
            lines.append("    }")
        for out, o in sorted(c["outputs"].items()):
            lines.append(f"    pin ({out}) {{")
            lines.append("      direction : output;")
            lines.append(f'      function : "{o["function"]}";')
            related = [ff["clocked_on"]] if ff else sorted(c["inputs"])
            for rp in related:
                if o["delay"] is None:
                    continue
                kind = " timing_type : rising_edge;" if ff else ""
                lines.append(f'      timing () {{ related_pin : "{rp}";{kind} '
                             f"{_scalar('cell_rise', o['delay'])} {_scalar('cell_fall', o['delay'])} }}")
                if o["energy"] is not None:
                    lines.append(f'      internal_power () {{ related_pin : "{rp}"; '
                                 f"{_scalar('rise_power', o['energy'])} "
                                 f"{_scalar('fall_power', o['energy'])} }}")
            lines.append("    }")
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def generate(cells_dir: Path, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for key, spec in SPECS.items():
        cells = read_table(spec, cells_dir / spec.csv)
        path = out_dir / f"{key}.lib"
        path.write_text(liberty_text(spec, cells))
        written.append(path)
    return written


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m bespoke.targets.libgen CELLS_DIR OUT_DIR")
    for p in generate(Path(sys.argv[1]), Path(sys.argv[2])):
        print(p)
