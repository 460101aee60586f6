"""Popcount mapping vs threshold-logic (TLG) mapping of a BNN: area, critical path, energy per
inference and cell counts, on nangate45 (real Yosys + ABC synthesis, threshold gates written as
ordinary logic) and on the `tlg` target (threshold gates priced from targets/libs/tlg_ftl40.json,
see its `source`; other cells as nangate45 primitives, in the cost model).

    python benchmarks/tlg_compare.py [--model bnn_digits] [--no-synth] [--fanins 3,5,7]

Activity from the model's test set. Prints one table; the committed output is
benchmarks/results/tlg_compare_<model>.txt.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bespoke.api import compile_model
from bespoke.compiler.data import read_csv
from bespoke.targets.estimate import estimate
from bespoke.targets.tlg_cells import load_cells

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def variants(fanins, weight):
    yield "popcount", {}
    for f in fanins:
        yield f"tlg F={f} W={weight}", {"map": "tlg", "tlg_fanin": f, "tlg_max_weight": weight}
    yield f"tlg F=5 W={weight} int=arith", {"map": "tlg", "tlg_fanin": 5, "tlg_max_weight": weight, "tlg_integer": "arith"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="bnn_digits")
    ap.add_argument("--fanins", default="3,5,7")
    ap.add_argument("--max-weight", type=int, default=4)
    ap.add_argument("--no-synth", action="store_true", help="skip nangate45 synthesis")
    args = ap.parse_args()
    d = EXAMPLES / args.model
    rows = []
    for label, opts in variants([int(f) for f in args.fanins.split(",")], args.max_weight):
        t0 = time.perf_counter()
        m = compile_model(d / f"{args.model}.onnx", **opts)
        x, _ = read_csv(d / "test.csv", m.n_features)
        codes = m.encode(x)
        est = estimate(m.netlist, "tlg", codes)
        counts = m.netlist.count()
        row = {"design": label, "tlg gates": counts.get("tlg", 0),
               "fa+ha": counts.get("fa", 0) + counts.get("ha", 0),
               "tlg um2": est.area_um2, "tlg ns": est.total.critical_path_s * 1e9,
               "tlg pJ/inf": est.energy_per_inference_j * 1e12}
        if not args.no_synth:
            rep = m.report("nangate45", data=d / "test.csv")
            row.update({"n45 um2": rep["area"]["um2"], "n45 cells": rep["area"]["cells"],
                        "n45 ns": rep["timing"]["critical_path_s"] * 1e9,
                        "n45 pJ/inf": rep["power"]["energy_per_inference_j"] * 1e12})
        row["s"] = time.perf_counter() - t0
        rows.append(row)
        print(f"done {label} in {row['s']:.0f} s", flush=True)
    base = rows[0]
    for r in rows:
        r["tlg E ratio"] = base["tlg pJ/inf"] / r["tlg pJ/inf"]
        if "n45 pJ/inf" in r:
            r["n45 E ratio"] = base["n45 pJ/inf"] / r["n45 pJ/inf"]
    cols = [c for c in rows[0] if c != "s"]
    fmt = lambda v: f"{v:.3g}" if isinstance(v, float) else str(v)
    table = [cols] + [[fmt(r.get(c, "")) for c in cols] for r in rows]
    widths = [max(len(t[i]) for t in table) for i in range(len(cols))]
    print(f"\n{args.model}: popcount vs threshold-logic mapping (E ratio = popcount energy / this design's; > 1 is better)")
    for t in table:
        print("  ".join(v.rjust(w) for v, w in zip(t, widths)))
    print(f"\ntlg target cells: {load_cells().source}")


if __name__ == "__main__":
    main()
