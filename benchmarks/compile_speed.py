"""Compile speed side by side: this checkout against an earlier git revision, same machine, same run.

    python benchmarks/compile_speed.py [--against REV] [--repeat 3] [--sfc]

Times, in a fresh Python process per revision and measurement (so imports and caches are alike):
  - `compile_model` of pendigits (printed MLP, ONNX -> IR -> Verilog in memory), best of --repeat;
  - the hardware summary of bnn_cnn (its integer IR, made once by the earlier revision and read
    from JSON by both, -> per-layer adder/popcount counts), best of --repeat;
  - with --sfc: `compile_model` of the unrolled SFC (examples/bnn_sfc, made by
    `python benchmarks/bnn_train.py bnn_sfc`), once.
The earlier revision is checked out into a temporary git worktree; revisions from before the
`bespoke` namespace (top-level compiler/ hdl/ ...) are imported as they were laid out then.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_AGAINST = "608cd07"  # the last commit before the netlist architecture (issue 8)

# Runs inside the measured checkout; prints one JSON line {seconds, figure}.
PROBE = r"""
import json, sys, time
from pathlib import Path
ex, what, repeat, ir_json = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
if Path("compiler/api.py").exists():  # a checkout from before the bespoke namespace (cwd is its root)
    from compiler.api import compile_model
    from compiler.ir import IR
    from hdl.lower import summary
else:
    from bespoke.api import compile_model
    from bespoke.compiler.ir import IR
    from bespoke.hdl.lower import summary
    import bespoke
    assert Path(bespoke.__file__).resolve().is_relative_to(Path.cwd().resolve()), "measuring another checkout"
best, figure = float("inf"), None
if what == "ir":  # the integer IR of bnn_cnn (frontend and passes only), read by both revisions
    from compiler.api import pipeline_for
    from compiler.onnx_frontend import load_onnx, lower_onnx
    from compiler.passes import PassManager
    float_ir = lower_onnx(load_onnx(ex / "bnn_cnn" / "bnn_cnn.onnx"), "bnn_cnn")
    ir_json.write_text(PassManager.from_string(pipeline_for(float_ir)).run(float_ir).to_json())
    repeat = 0
elif what == "summary":
    ir = IR.from_json(ir_json.read_text())
for _ in range(repeat):
    t0 = time.perf_counter()
    if what == "summary":
        figure = summary(ir)["total"].get("full_adders")
    else:
        cal = ex / what / "train.csv"
        figure = len(compile_model(ex / what / f"{what}.onnx", calibration=cal if cal.exists() else None).verilog)
    best = min(best, time.perf_counter() - t0)
print(json.dumps({"seconds": best, "figure": figure}))
"""


def checkout(rev: str, tmp: Path) -> Path:
    """An importable tree of `rev`: its files, and for namespace-era revisions a `bespoke/` that
    links the subpackage folders as setuptools' package-dir mapping would."""
    src = tmp / "src"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(src), rev], check=True, capture_output=True)
    if not (src / "bespoke").is_dir():
        return src
    tree = tmp / "tree"
    shutil.copytree(src / "bespoke", tree / "bespoke")
    for sub in ("compiler", "hdl", "sim", "targets"):
        (tree / "bespoke" / sub).symlink_to(src / sub)
    return tree


def measure(tree: Path | None, what: str, repeat: int, ir_json: Path) -> dict:
    """Run the probe in `tree` (None: this checkout, as installed)."""
    cmd = [sys.executable, "-c", PROBE, str(ROOT / "examples"), what, str(repeat), str(ir_json)]
    env = {**os.environ, "PYTHONPATH": str(tree)} if tree else None
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=tree or ROOT, env=env)
    if out.returncode != 0:
        raise SystemExit(f"{what} failed in {tree or 'this checkout'}:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", default=DEFAULT_AGAINST, help=f"git revision to compare with (default {DEFAULT_AGAINST})")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sfc", action="store_true", help="also the unrolled SFC (examples/bnn_sfc)")
    args = parser.parse_args()
    jobs = [("pendigits", "compile pendigits", args.repeat), ("summary", "summary bnn_cnn", args.repeat)]
    if args.sfc:
        if not (ROOT / "examples/bnn_sfc/bnn_sfc.onnx").exists():
            raise SystemExit("examples/bnn_sfc is missing: run `python benchmarks/bnn_train.py bnn_sfc` first")
        jobs.append(("bnn_sfc", "compile bnn_sfc (unrolled)", 1))
    tmp = Path(tempfile.mkdtemp(prefix="bespoke-speed-"))
    try:
        old = checkout(args.against, tmp)
        ir_json = tmp / "bnn_cnn_ir.json"
        measure(old, "ir", 0, ir_json)
        print(f"{'measurement':28s} {args.against + ' s':>12s} {'this s':>10s} {'speed-up':>9s}   figure (Verilog bytes / full adders)")
        for what, label, repeat in jobs:
            a, b = measure(old, what, repeat, ir_json), measure(None, what, repeat, ir_json)
            print(f"{label:28s} {a['seconds']:12.3f} {b['seconds']:10.3f} {a['seconds'] / b['seconds']:8.1f}x   {a['figure']} / {b['figure']}", flush=True)
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tmp / "src")], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
