"""Compile time of every bundled printed-MLP example (ONNX -> integer IR -> Verilog), with design figures.

    python benchmarks/compile_times.py [--pipeline] [--repeat 3]

Prints per model: best compile time over the repeats, Verilog size, adders, CSD digits and the
widest accumulator. Nothing is written to disk.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bespoke.api import compile_model

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipeline", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{'model':16s} {'compile s':>9s} {'verilog kB':>10s} {'adders':>7s} {'CSD digits':>10s} {'acc bits':>8s}")
    printed = [p for p in sorted(EXAMPLES.iterdir()) if (p / f"{p.name}.onnx").exists()
               and not json.loads((p / "meta.json").read_text()).get("binarized")]
    for d in printed:
        best = float("inf")
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            model = compile_model(d / f"{d.name}.onnx", calibration=d / "train.csv", pipeline=args.pipeline)
            best = min(best, time.perf_counter() - t0)
        total = model.summary["total"]
        print(f"{d.name:16s} {best:9.3f} {len(model.verilog) / 1024:10.1f} {total['adders']:7d} {total['csd_digits']:10d} {total['acc_width']:8d}")


if __name__ == "__main__":
    main()
