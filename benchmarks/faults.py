"""Fault campaigns with and without range restriction (Ranger), side by side.

    python benchmarks/faults.py [--examples cardio bnn_digits] [--trials 500] [--save]

For each example, three builds: the exact design and the two compiled with --restrict-ranges
(activations clamped to the ranges of the training data, per layer as Ranger does, and per
neuron). Each gets the same campaign on its test
split (bespoke.faults.run_campaign, the same seed): every single stuck-at fault, and accuracy with
k random stuck-at faults present together. Both are synthesised on the example's target for the
hardening's area cost, and the restricted ones are simulated against their golden model
(Verilator) and their golden model compared with the exact one's on the training data, where the
clamps must never act. Prints a table; with --save writes benchmarks/results/faults.txt and
faults_<example>.png (every design's curve in one plot).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bespoke.api import compile_model
from bespoke.compiler.data import read_csv
from bespoke.faults import plot_curves, run_campaign

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
TARGET = {"cardio": "egfet", "bnn_digits": "nangate45"}
COUNTS = (1, 2, 4, 8, 16, 32, 64, 128)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", nargs="+", default=list(TARGET))
    parser.add_argument("--trials", type=int, default=500, help="fault sets per count")
    parser.add_argument("--max-single", type=int, default=40_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", action="store_true")
    args = parser.parse_args()
    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    say(f"# python benchmarks/faults.py --trials {args.trials} (seed {args.seed}), {time.strftime('%Y-%m-%d')}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.examples:
            d = ROOT / "examples" / name
            target = TARGET.get(name, "nangate45")
            camps, areas = [], []
            for restricted in (None, "layer", "neuron"):
                build = Path(tmp) / f"{name}_{restricted or 'exact'}"
                model = compile_model(d / f"{name}.onnx", build, calibration=d / "train.csv", restrict_ranges=restricted)
                if restricted:
                    x_train = read_csv(d / "train.csv", model.n_features)[0]
                    same = np.array_equal(model.predict(x_train), exact.predict(x_train))
                    sim = model.simulate(d / "test.csv")
                    say(f"{name} restricted per {restricted}: golden == exact golden on every training vector: {same}; "
                        f"Verilator {sim.vectors} vectors, {sim.mismatches} mismatches")
                else:
                    exact = model
                with contextlib.redirect_stdout(io.StringIO()):
                    area = model.report(target)["area"]
                camps.append(run_campaign(build, d / "test.csv", max_single=args.max_single, counts=COUNTS,
                                          trials=args.trials, seed=args.seed))
                areas.append(area)
                print(f"  {name} {restricted or 'exact'}: campaign {camps[-1].seconds:.1f} s", file=sys.stderr)
            _table(say, name, target, camps, areas)
            if args.save:
                plot_curves(camps, RESULTS / f"faults_{name}.png",
                            title=f"{name}: accuracy under stuck-at faults, exact and range-restricted")
    if args.save:
        (RESULTS / "faults.txt").write_text("\n".join(lines) + "\n")


def _table(say, name: str, target: str, camps, areas) -> None:
    pct = lambda v: f"{100 * v:6.2f}"
    unit = "cm2" if target == "egfet" else "um2"
    say(f"\n## {name} on {camps[0].data} ({camps[0].vectors} vectors), area on {target}")
    say(f"{'design':12s} {'area ' + unit:>11s} {'sites':>6s} {'single':>7s} {'critical':>8s} {'mean acc':>8s}  "
        + " ".join(f"{'k=' + str(p['faults']):>7s}" for p in camps[0].curve) + "   seconds")
    for c, area in zip(camps, areas):
        s = c.single
        label = f"per {c.restricted}" if c.restricted else "exact"
        say(f"{label:12s} {area[unit]:11.2f} {c.sites:6d} {s['faults']:7d} {pct(s['critical']):>8s} {pct(s['mean']):>8s}  "
            + " ".join(f"{pct(p['mean']):>7s}" for p in c.curve) + f"   {c.seconds:6.1f}")
    say(f"fault-free accuracy {' / '.join(pct(c.fault_free).strip() for c in camps)} %; k=N: mean accuracy (%) over "
        f"{camps[0].curve[0]['trials']} sets of N random stuck-at faults; area cost of the clamps "
        + ", ".join(f"per {c.restricted} {100 * (a[unit] / areas[0][unit] - 1):+.1f} %" for c, a in zip(camps[1:], areas[1:])))
    say("standard error of those means (points): " + " ".join(f"k={p['faults']}: {100 * p['se']:.1f}" for p in camps[0].curve))
    worst = camps[0].single["worst"][0]
    say(f"most critical single fault (exact): {worst['layer']} {worst['name']} bit {worst['bit']} {worst['kind']} -> "
        f"accuracy {pct(worst['metric'])} %")


if __name__ == "__main__":
    main()
