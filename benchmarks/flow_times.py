"""Wall time of `bespoke flow` (compile -> simulate the test split -> egfet report) per example.

    python benchmarks/flow_times.py [--examples cardio,seeds] [--cold]

Each flow runs as a user runs it: a fresh `bespoke` process, a fresh output directory (so the
design's Verilator build is never reused). The Verilator runtime objects come from the
per-machine cache (sim.verilator_cache) unless --cold points it at an empty directory. The
machine's load average is printed next to the figures: the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRINTED = ["cardio", "redwine", "whitewine", "pendigits", "seeds", "vertebral3c", "balance", "breastcancer", "mammographic"]
GOAL_S = 30.0
# Measured at commit 869a49e (before the runtime-object cache and `bespoke flow`) on this machine,
# load 2.8: cardio compile 2.6 s + simulate 44.4 s (Verilator build 40.5 s) + egfet report 7.7 s.
BEFORE = {"cardio": 54.7}


def flow(example: str, out: Path, env: dict) -> tuple[float, int, str]:
    ex = ROOT / "examples" / example
    model = next(ex.glob("*.onnx"))
    cmd = [sys.executable, "-m", "bespoke.cli", "flow", str(model), "--data", str(ex / "test.csv"), "--target", "egfet",
           "-o", str(out / example), "-q"]
    if (ex / "train.csv").is_file():
        cmd[5:5] = ["--calibration", str(ex / "train.csv")]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    return time.perf_counter() - t0, done.returncode, done.stdout + done.stderr


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--examples", default=",".join(PRINTED))
    ap.add_argument("--cold", action="store_true", help="an empty Verilator object cache (the first flow on a new machine)")
    args = ap.parse_args()
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as tmp:
        if args.cold:
            env["BESPOKE_CACHE_DIR"] = str(Path(tmp) / "cache")
        rows = []
        for ex in args.examples.split(","):
            load = os.getloadavg()[0]
            seconds, code, out = flow(ex, Path(tmp), env)
            verdict = out.splitlines()[0] if out else "(no output)"
            steps = {line.split()[0]: line.split()[1] for line in out.splitlines() if line.startswith("  ") and line.split()[0] in ("compile", "simulate", "report")}
            rows.append((ex, seconds, steps, verdict, load, code))
            print(f"{ex:13s} {seconds:6.1f} s  compile {steps.get('compile', '?'):>5} s  simulate {steps.get('simulate', '?'):>5} s  "
                  f"report {steps.get('report', '?'):>5} s  load {load:.1f}  {verdict}"
                  + (f"  (before: {BEFORE[ex]:.1f} s)" if ex in BEFORE else ""), flush=True)
    ok = [r for r in rows if r[5] == 0]
    under = sum(r[1] < GOAL_S for r in ok)
    print(f"\n{under}/{len(rows)} flows under {GOAL_S:.0f} s wall; {len(rows) - len(ok)} failed; "
          f"slowest {max(r[1] for r in rows):.1f} s; load average at the end {os.getloadavg()[0]:.1f} (2 cores)")
    return 0 if len(ok) == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
