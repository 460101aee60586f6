"""Printed (EGFET) reports of every printed benchmark model in examples/, with their run times.

    python benchmarks/report_printed.py [--clock 5Hz] [--target egfet] [--out DIR]

For each MLP example (meta.json with a "topology", not binarized): compile it, encode its test set
to input codes, and run the report (synthesis + timing + power from the test vectors). Prints the
report time, area, power and timing per model, and the published EGFET area where there is one
(exact bespoke MLPs synthesised with a commercial flow; see targets/README.md for the comparison).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bespoke.api import compile_model, load_codes
from bespoke.targets.cli import parse_clock
from bespoke.targets.report import make_report, write_report

EXAMPLES = ROOT / "examples"
# exact bespoke MLPs, 8-bit weights, 4-bit inputs, EGFET, commercial synthesis (shared/cells/README.md)
PUBLISHED_CM2 = {"cardio": 33.4, "redwine": 17.6, "whitewine": 31.2}


def printed_examples() -> list[Path]:
    out = []
    for d in sorted(p for p in EXAMPLES.iterdir() if p.is_dir()):
        meta = d / "meta.json"
        if not meta.is_file() or not (d / f"{d.name}.onnx").is_file():
            continue
        m = json.loads(meta.read_text())
        if "topology" in m and not m.get("binarized"):
            out.append(d)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clock", default="5Hz")
    parser.add_argument("--target", default="egfet")
    parser.add_argument("--out", type=Path, help="keep each build and its report.<target>.json/.md/.html here")
    args = parser.parse_args()
    clock = parse_clock(args.clock)
    head = (f"{'model':15s} {'topology':10s} {'vectors':>7s} {'report s':>8s} {'area cm2':>8s} {'published':>9s} "
            f"{'leak mW':>8s} {'dyn mW':>7s} {'total mW':>8s} {'path ms':>8s} {'fmax Hz':>8s} {'mJ/inf':>7s}")
    print(f"target {args.target}, clock {args.clock}; report s = synthesis + timing + power")
    print(head)
    with tempfile.TemporaryDirectory() as tmp:
        base = args.out or Path(tmp)
        for d in printed_examples():
            meta = json.loads((d / "meta.json").read_text())
            build = base / d.name
            model = compile_model(d / f"{d.name}.onnx", build, calibration=d / "train.csv",
                                  pipeline=bool(meta.get("pipeline")))
            codes = load_codes(build, d / "test.csv")
            t0 = time.perf_counter()
            rep = make_report([build / f"{model.name}.v"], model.name, args.target, clock_hz=clock, vectors=codes,
                              layout=model.layout)
            seconds = time.perf_counter() - t0
            if args.out:
                write_report(build, rep)
            p, t = rep["power"], rep["timing"]
            pub = PUBLISHED_CM2.get(d.name)
            print(f"{d.name:15s} {meta['topology']:10s} {len(codes):7d} {seconds:8.1f} {rep['area']['cm2']:8.2f} "
                  f"{(f'{pub:.1f}' if pub else '-'):>9s} {p['leakage_w'] * 1e3:8.2f} {p['dynamic_w'] * 1e3:7.3f} "
                  f"{p['total_w'] * 1e3:8.2f} {t['critical_path_s'] * 1e3:8.1f} {t['max_clock_hz']:8.2f} "
                  f"{p['energy_per_inference_j'] * 1e3:7.3f}")
            for w in rep["warnings"]:
                print(f"{'':15s} warning: {w}")


if __name__ == "__main__":
    main()
