"""Accuracy of the printed MLPs with approximated weights, before and after hardware-aware retraining.

    python benchmarks/retrain_printed.py [--seed 0] [--models cardio,pendigits,...]

Per model (examples/, 4-bit inputs, 8-bit weights): the float test accuracy (meta.json), the exact
integer IR's, every dense layer's weights projected to powers of two without retraining, and
retrained (bespoke.compiler.retrain) with powers of two and with CSD of at most 2 nonzero digits.
Retraining uses the training split; accuracies are the golden model's on the test split (the
training-split figure in brackets), with the retraining time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bespoke.compiler.approx_sets import nearest_csd, nearest_pow2
from bespoke.compiler.data import read_csv
from bespoke.compiler.ir import Dense
from bespoke.compiler.retrain import retrain
from bespoke.flow import frontend, run_passes
from bespoke.sim.golden import run

EXAMPLES = ROOT / "examples"
MODELS = ["cardio", "pendigits", "redwine", "whitewine", "seeds", "breastcancer"]
PROJECTIONS = {"pow2": nearest_pow2, "csd2": lambda w: nearest_csd(w, 2)}


def split(ir, fir, path):
    x, y = read_csv(path, fir.out(fir.input_node()).size)
    classes = list(fir.meta["labels"])
    return ir.encode_inputs(x), np.array([classes.index(v) for v in y])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--models", default=",".join(MODELS))
    args = ap.parse_args(argv)
    cols = ["float", "exact", "pow2", "pow2 retrained", "csd2 retrained"]
    print(f"{'model':<13}" + "".join(f"{c:>22}" for c in cols))
    for name in args.models.split(","):
        d = EXAMPLES / name
        fir = frontend(d / f"{name}.onnx")
        ir = run_passes(fir, calibration=d / "train.csv")
        train, test = split(ir, fir, d / "train.csv"), split(ir, fir, d / "test.csv")
        dense = [n for n in ir.order() if isinstance(ir.layer(n), Dense)]

        def acc(model, data):
            return float(np.mean(run(model, data[0])[:, 0] == data[1]))

        cells = [f"{json.loads((d / 'meta.json').read_text())['float_test_accuracy']:.4f}",
                 f"{acc(ir, test):.4f} ({acc(ir, train):.4f})"]
        untrained = retrain(ir, *train, {n: nearest_pow2 for n in dense}, epochs=0)
        cells.append(f"{acc(untrained, test):.4f} ({acc(untrained, train):.4f})")
        for fn in PROJECTIONS.values():
            t = time.perf_counter()
            out = retrain(ir, *train, {n: fn for n in dense}, seed=args.seed)
            seconds = time.perf_counter() - t
            cells.append(f"{acc(out, test):.4f} ({acc(out, train):.4f}) {seconds:.2f}s")
        print(f"{name:<13}" + "".join(f"{c:>22}" for c in cells), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
