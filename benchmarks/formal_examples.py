"""`bespoke verify --formal` on every bundled printed example and the unrolled BNNs, plus two
deliberately broken designs (one weight changed in their Verilog: balance, proven exhaustively,
and cardio, proven by layers).

    python benchmarks/formal_examples.py [--examples seeds,bnn_digits] [--timeout 150]

Each example is compiled as the README says (exact, combinational, unrolled), then proven equal
to the reference of its ir.json (targets.formal). The table gives the verdict, the method, the
miter's size and the seconds; it is printed and saved to benchmarks/results/formal_examples.txt.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from bespoke.api import compile_model, verify_formal

PRINTED = ["balance", "mammographic", "vertebral3c", "seeds", "seeds_pipeline", "breastcancer", "redwine", "whitewine",
           "pendigits", "cardio", "cardio_2h"]
BNN = ["bnn_digits", "bnn_cnn"]
RESULT = ROOT / "benchmarks" / "results" / "formal_examples.txt"


def build(example: str, out: Path) -> Path:
    ex = ROOT / "examples" / example
    model = ex / f"{example}.onnx"
    calibration = ex / "train.csv" if (ex / "train.csv").is_file() else None
    compile_model(model, out, calibration=calibration)
    return out


def row(name: str, out: Path, timeout: float, simulate: bool = False) -> tuple:
    t0 = time.perf_counter()
    rep = verify_formal(out, timeout=timeout, simulate=simulate)
    r = rep.result
    extra = ""
    if rep.codes is not None:
        extra = f"codes {rep.codes}: golden {rep.expected}, circuit {rep.circuit}"
    return (name, r.verdict.upper(), r.method, str(r.input_bits), str(r.and_gates), f"{time.perf_counter() - t0:.1f}",
            r.detail if not extra else extra)


def broken(example: str, good: Path, work: Path) -> Path:
    """A copy of the build with the first shifted input term {xK, S'b0} shifted one bit further."""
    bad = work / f"{example}_broken"
    shutil.copytree(good, bad)
    v = next(bad.glob("*.v"))
    text = v.read_text()
    m = re.search(r"\{(x\d+), (\d+)'b0\}", text)
    v.write_text(text[:m.start()] + f"{{{m.group(1)}, {int(m.group(2)) + 1}'b0}}" + text[m.end():])
    return bad


def table(rows: list[tuple]) -> str:
    head = ("example", "verdict", "method", "input bits", "AND gates", "seconds", "what")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [head, *rows])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", help="comma-separated subset (default: every printed example and the BNNs)")
    ap.add_argument("--timeout", type=float, default=150, help="seconds per proof (default 150)")
    ap.add_argument("--save", action="store_true", help=f"write {RESULT.name} for a subset too")
    args = ap.parse_args()
    names = args.examples.split(",") if args.examples else PRINTED + BNN
    rows = []
    with tempfile.TemporaryDirectory(prefix="bespoke-formal-bench-") as tmp:
        work = Path(tmp)
        for name in names:
            out = build(name, work / name)
            rows.append(row(name, out, args.timeout))
            print(table(rows).splitlines()[-1], flush=True)
            if name in ("balance", "cardio"):  # the must-fail cases: one weight changed, confirmed by simulation
                rows.append(row(f"{name}, one weight changed", broken(name, out, work), args.timeout, simulate=True))
                print(table(rows).splitlines()[-1], flush=True)
    load = os.getloadavg()[0]
    text = (f"bespoke verify --formal, timeout {args.timeout:g} s per proof, {time.strftime('%Y-%m-%d')}, "
            f"load average {load:.1f} on {os.cpu_count()} cores\n\n{table(rows)}\n")
    print("\n" + text)
    if not args.examples or args.save:
        RESULT.write_text(text)
        print(f"wrote {RESULT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
