"""Approximate printed MLPs against the published ones: the smallest design within 1, 2 and 5 %
of the float model's accuracy per data set, synthesised, next to the published figures.

    python benchmarks/approx_printed.py [models ...] [--population 80] [--generations 90] [--synth-front 4]

Per model (examples/<model>/: trained by benchmarks/train_mlps.py on the fixed 70/30 split): one
`bespoke.explore` run on egfet with a 5 % budget (selection on the training split only), then
from its front the smallest design within 1 %, 2 % and 5 % of the float model's training
accuracy; each is synthesised (Yosys + ABC, EGFET library, power from the test split's
activity) and its test accuracy measured. The exact design is synthesised the same way. A few
more front designs are synthesised to check the cost model's ranking (Spearman over all
synthesised designs). Printed next to the published areas at <= 1 % loss (cm2 / mW, their
flows: Synopsys DC + EGFET, or an open flow for the ICCAD'23 resynthesis).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
MODELS = ["cardio", "redwine", "whitewine", "pendigits", "seeds", "vertebral3c", "balance", "breastcancer", "mammographic"]
BUDGETS = (0.01, 0.02, 0.05)

# published designs at <= 1 % accuracy loss: (area cm2, power mW, source)
PUBLISHED = {
    "cardio": [(6.1, 20.8, "Retrain&AxSum TC'23"), (7.9, 25.3, "ICCAD'23 (open flow)")],
    "redwine": [(1.1, 3.9, "Retrain&AxSum TC'23"), (2.8, 8.7, "ICCAD'23 (open flow)")],
    "whitewine": [(6.5, 21.3, "Retrain&AxSum TC'23"), (6.4, 19.5, "ICCAD'23 (open flow)")],
    "pendigits": [(16.5, 52.2, "ICCAD'23 (open flow)")],
    "seeds": [(2.2, 8.4, "Retrain&AxSum TC'23")],
    "vertebral3c": [(1.8, 7.0, "Retrain&AxSum TC'23")],
    "balance": [(0.5, 2.1, "Retrain&AxSum TC'23")],
    "breastcancer": [(3.2, 10.3, "ICCAD'23 (open flow)"), (5.0, 17.0, "po2 MLP DATE'23")],
    "mammographic": [(0.5, 1.8, "po2 MLP DATE'23")],
}


def spearman(a, b) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def smallest_within(result, loss: float):
    """The smallest front design whose training accuracy is within `loss` of the float model's."""
    ok = [p for p in result.front if not p.exact and p.train_accuracy >= result.float_train_accuracy - loss - 1e-12]
    return min(ok, key=lambda p: p.area) if ok else None


def run_model(name: str, args) -> dict:
    from bespoke.compiler.data import read_csv
    from bespoke.explore import explore, synthesise

    d = EXAMPLES / name
    t0 = time.perf_counter()
    result = explore(d / f"{name}.onnx", d / "train.csv", d / "test.csv", target="egfet", max_loss=max(BUDGETS),
                     population=args.population, generations=args.generations, rounds=args.rounds, seed=args.seed)
    seconds = time.perf_counter() - t0
    picks = {b: smallest_within(result, b) for b in BUDGETS}
    chosen = [result.exact] + list({id(p): p for p in picks.values() if p is not None}.values())
    others = [p for p in result.front if all(p is not q for q in chosen)]
    step = max(1, len(others) // max(args.synth_front, 1))
    extra = others[::step][:args.synth_front] if args.synth_front else []
    x_test, _ = read_csv(d / "test.csv", result.exact.ir.out(result.exact.ir.input_node()).size)
    synthesise(chosen + extra, "egfet", result.exact.ir.encode_inputs(x_test), log=None)
    row = {"model": name, "seconds": seconds, "evaluations": result.evaluations,
           "float_train": result.float_train_accuracy, "float_test": result.float_test_accuracy,
           "exact": figures(result.exact), "budgets": {str(b): figures(p) if p else None for b, p in picks.items()},
           "synthesised": [(p.area, p.synth["area"]) for p in chosen + extra if p.synth and p.synth.get("area")]}
    return row


def figures(p) -> dict:
    return {"train": p.train_accuracy, "test": p.test_accuracy, "est_area": p.area, "est_power": p.power,
            "area": p.synth and p.synth.get("area"), "power": p.synth and p.synth.get("power"), "approx": p.describe()}


def print_row(row: dict) -> None:
    e = row["exact"]
    print(f"\n{row['model']}: float {100 * row['float_test']:.1f} % test ({100 * row['float_train']:.1f} % train); "
          f"{row['evaluations']} designs explored in {row['seconds']:.0f} s")
    print(f"  {'design':10s} {'train %':>8s} {'test %':>8s} {'area cm2':>9s} {'power mW':>9s}   approximation")
    print(f"  {'exact':10s} {100 * e['train']:8.1f} {100 * e['test']:8.1f} {e['area']:9.2f} {e['power']:9.2f}")
    for b, f in row["budgets"].items():
        label = f"<= {100 * float(b):.0f} % loss"
        if f is None:
            print(f"  {label:10s} none found")
            continue
        words = "; ".join(f"{k}: {v}" for k, v in f["approx"].items() if k != "input")
        print(f"  {label:10s} {100 * f['train']:8.1f} {100 * f['test']:8.1f} {f['area']:9.2f} {f['power']:9.2f}   {words}; input {f['approx'].get('input', '')}")
    for area, power, src in PUBLISHED.get(row["model"], []):
        print(f"  {'published':10s} {'':8s} {'':8s} {area:9.2f} {power:9.2f}   {src} (<= 1 % loss)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=MODELS)
    parser.add_argument("--population", type=int, default=80)
    parser.add_argument("--generations", type=int, default=90)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--synth-front", type=int, default=4, help="extra front designs synthesised per model (cost-model check)")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    rows = []
    for name in args.models:
        if not (EXAMPLES / name / f"{name}.onnx").exists():
            sys.exit(f"examples/{name} is missing: run `python benchmarks/train_mlps.py {name}`")
        rows.append(run_model(name, args))
        print_row(rows[-1])
        sys.stdout.flush()
        if args.json:
            args.json.write_text(json.dumps(rows, indent=1, default=str))
    summary(rows)


def summary(rows: list[dict]) -> None:
    print(f"\n{'model':13s} {'exact cm2':>9s} {'<=1% cm2':>9s} {'mW':>6s} {'test loss':>9s} {'best published':>14s} {'ratio':>6s} {'vs exact':>8s}")
    reductions, at_or_below, half, under_30 = [], 0, 0, 0
    for row in rows:
        f = row["budgets"]["0.01"]
        best = min((a for a, _, _ in PUBLISHED.get(row["model"], [])), default=None)
        if f is None:
            print(f"{row['model']:13s} {row['exact']['area']:9.2f} {'none':>9s}")
            continue
        red = row["exact"]["area"] / f["area"]
        reductions.append(red)
        ratio = f["area"] / best if best else float("nan")
        at_or_below += ratio <= 1
        half += ratio <= 0.5
        under_30 += f["power"] < 30
        loss = 100 * (row["float_test"] - f["test"])
        print(f"{row['model']:13s} {row['exact']['area']:9.2f} {f['area']:9.2f} {f['power']:6.2f} {loss:8.1f}pt {best or float('nan'):14.2f} {ratio:6.2f} {red:7.1f}x")
    n = len(reductions)
    print(f"\nat or below the best published area: {at_or_below}/{n}; at most half of it: {half}/{n}; "
          f"<= 1 % designs under 30 mW: {under_30}/{n}")
    if reductions:
        print(f"mean area reduction of the <= 1 % designs against our exact designs: {np.mean(reductions):.2f}x "
              f"(geometric mean {np.exp(np.mean(np.log(reductions))):.2f}x, median {np.median(reductions):.2f}x)")
    pairs = [pair for row in rows for pair in row["synthesised"]]
    if len(pairs) >= 3:
        est, syn = zip(*pairs)
        err = np.median(np.abs(np.array(est) / np.array(syn) - 1))
        print(f"cost model vs synthesis over {len(pairs)} synthesised designs: Spearman {spearman(est, syn):.3f}, "
              f"median |area error| {100 * err:.1f} %")


if __name__ == "__main__":
    main()
