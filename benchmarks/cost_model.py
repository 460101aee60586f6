"""The in-memory cost model (targets.estimate) against real synthesis (targets.report.make_report).

    python benchmarks/cost_model.py            # compare with the stored calibration
    python benchmarks/cost_model.py --fit      # refit targets/estimate_calibration.json, then compare

Designs: the printed examples (examples/*, not binarized; calibration = train.csv), RANDOM
seeded random float MLPs (Gemm-Relu-Gemm-ArgMax, 4-30 inputs, 2-12 hidden, 2-10 outputs, random
calibration data) and APPROXIMATED seeded random approximations of each printed example
(`compile --approx`: weight sets, masks, saturated ReLUs, argmax bits: what `bespoke explore`
prices). Each is compiled with bespoke.api.compile_model; synthesis reads its Verilog,
the estimate reads the unrolled netlist of the same integer IR (hdl.unrolled.plan_unrolled); both
get the same input vectors for switching activity. Per design and target: area, delay and power,
estimate / synthesis / error; per target the Spearman rank correlation and the median absolute
error, on the fitting half (even design index) and the held-out half (odd). Synthesis results are
cached in the temporary directory (never in the repo), keyed by the Verilog text.

--fit: per target, the per-kind area factors are a non-negative least-squares fit of the
synthesised areas on the raw per-kind areas of the fitting half; the delay and power factors are
the median synthesis/estimate ratios of that half.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from report_printed import printed_examples  # noqa: E402

from bespoke.api import compile_model  # noqa: E402
from bespoke.compiler.data import read_csv  # noqa: E402
from bespoke.hdl.unrolled import plan_unrolled  # noqa: E402
from bespoke.targets import estimate as est  # noqa: E402

TARGETS = ("egfet", "nangate45")
RANDOM = 22
APPROXIMATED = 2  # random approximations per printed example
N_VECTORS = 200  # input vectors for switching activity, both sides
CACHE = Path(tempfile.gettempdir()) / "bespoke_cost_model_cache"


def random_mlp(seed: int) -> tuple[onnx.ModelProto, np.ndarray]:
    """A float Gemm-Relu-Gemm-ArgMax MLP and calibration data, from `seed`."""
    rng = np.random.default_rng(seed)
    n_in, n_hid, n_out = int(rng.integers(4, 31)), int(rng.integers(2, 13)), int(rng.integers(2, 11))
    inits = [numpy_helper.from_array(a.astype(np.float32), n) for n, a in (
        ("w1", rng.normal(size=(n_hid, n_in))), ("b1", rng.normal(size=n_hid) * 0.1),
        ("w2", rng.normal(size=(n_out, n_hid))), ("b2", rng.normal(size=n_out) * 0.1))]
    nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], name="fc1", transB=1),
             helper.make_node("Relu", ["h"], ["h2"], name="relu1"),
             helper.make_node("Gemm", ["h2", "w2", "b2"], ["z"], name="fc2", transB=1),
             helper.make_node("ArgMax", ["z"], ["y"], name="argmax", axis=1, keepdims=0)]
    graph = helper.make_graph(nodes, f"mlp{seed}", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", n_in])],
                              [helper.make_tensor_value_info("y", TensorProto.INT64, ["N"])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return model, rng.uniform(0, 1, size=(300, n_in))


def approx_spec(name: str, path: Path, cal: np.ndarray, seed: int) -> str:
    """A random approximation of a printed example (`compile --approx` knobs), as exploration
    makes them: a weight set, some features read with fewer bits or dropped, connections
    pruned or shortened (a masks file), saturated ReLUs, an argmax on fewer bits."""
    from bespoke.compiler.approx import dense_layers, input_widths, logit_width
    from bespoke.flow import frontend, run_passes

    rng = np.random.default_rng(seed)
    ir = run_passes(frontend(path), calibration=cal)
    first = dense_layers(ir)[0]
    n_in = ir.layer(first).weight.shape[1]
    feats = np.where(rng.random(n_in) < 0.4, rng.integers(0, 5, n_in), 4)
    masks = {}
    for n in dense_layers(ir):
        widths = input_widths(ir, n)
        shape = ir.layer(n).weight.shape
        masks[n] = np.where(rng.random(shape) < 0.35, rng.integers(0, widths + 1, shape), widths[None, :]).tolist()
    file = CACHE / f"masks_{name}.json"
    CACHE.mkdir(exist_ok=True)
    file.write_text(json.dumps(masks))
    weights = ["pow2", "csd2", "exact"][seed % 3]
    return (f"weights={weights},input-bits={','.join(map(str, feats))},relu={int(rng.integers(3, 9))}b,"
            f"argmax=msb{int(rng.integers(4, logit_width(ir) + 1))},masks={file}")


def designs() -> list[tuple[str, object, np.ndarray, str | None]]:
    """(name, ONNX path or model, calibration features, approximation knobs) of every design:
    the printed examples, random MLPs, and random approximations of the examples (the designs
    exploration prices)."""
    out = []
    for d in printed_examples():
        out.append((d.name, d / f"{d.name}.onnx", read_csv(d / "train.csv")[0], None))
    for seed in range(RANDOM):
        model, cal = random_mlp(seed)
        out.append((f"mlp{seed}", model, cal, None))
    for k in range(APPROXIMATED):
        for d in printed_examples():
            if d.name.endswith("_pipeline"):
                continue
            name, cal = f"{d.name}_ax{k}", read_csv(d / "train.csv")[0]
            out.append((name, d / f"{d.name}.onnx", cal, approx_spec(name, d / f"{d.name}.onnx", cal, k)))
    return out


def _compile(name, model, cal, approx=None):
    if isinstance(model, onnx.ModelProto):
        path = Path(tempfile.mkdtemp()) / f"{name}.onnx"
        onnx.save(model, path)
        model = path
    compiled = compile_model(model, calibration=cal, name=name, approx=approx)
    codes = compiled.encode(cal[:N_VECTORS])
    return compiled, codes


def synthesise(job) -> dict:
    """make_report figures of one (design, target), cached by Verilog text."""
    name, model, cal, approx, target = job
    from bespoke.targets.report import make_report

    compiled, codes = _compile(name, model, cal, approx)
    key = hashlib.sha256((compiled.verilog + target + str(codes.tobytes())).encode()).hexdigest()[:20]
    cached = CACHE / f"{name}_{target}_{key}.json"
    if cached.exists():
        return json.loads(cached.read_text())
    with tempfile.TemporaryDirectory() as tmp:
        v = Path(tmp) / f"{name}.v"
        v.write_text(compiled.verilog)
        rep = make_report([v], compiled.name, target, vectors=codes, layout=compiled.layout)
    fig = {"area_um2": rep["area"]["um2"], "cells": rep["area"]["cells"], "delay_s": rep["timing"]["critical_path_s"],
           "leakage_w": rep["power"]["leakage_w"], "dynamic_w": rep["power"]["dynamic_w"],
           "seconds": rep["runtime_s"]["total"]}
    CACHE.mkdir(exist_ok=True)
    cached.write_text(json.dumps(fig))
    return fig


def estimated(name, model, cal, target, approx=None) -> tuple[est.Estimate, float]:
    compiled, codes = _compile(name, model, cal, approx)
    nl = plan_unrolled(compiled.ir)
    t0 = time.perf_counter()
    e = est.estimate(nl, target, vectors=codes)
    return e, time.perf_counter() - t0


def fit(rows: dict, names: list[str]) -> dict:
    """Per target: NNLS area factors per kind, median delay and power ratios, on the fitting half."""
    from scipy.optimize import nnls

    cal = {}
    fitting = names[0::2]
    for target in TARGETS:
        kinds = sorted({k for n in fitting for k in rows[n, target]["raw"]})
        a = np.array([[rows[n, target]["raw"].get(k, 0.0) for k in kinds] for n in fitting])
        b = np.array([rows[n, target]["synth"]["area_um2"] for n in fitting])
        scale = a.max(axis=0)  # columns of one scale for a well-conditioned fit
        x, _ = nnls(a / scale, b)
        factors = {k: float(f / s) for k, f, s in zip(kinds, x, scale) if f > 0}
        prev = est.calibration(target)
        delay = np.median([r["synth"]["delay_s"] / (r["est"]["delay_s"] / prev.get("delay", 1.0))
                           for (n, t), r in rows.items() if t == target and n in fitting])
        power = np.median([r["synth"]["dynamic_w"] / (r["est"]["dynamic_w"] / prev.get("power", 1.0))
                           for (n, t), r in rows.items() if t == target and n in fitting])
        cal[target] = {"area": factors, "delay": float(delay), "power": float(power),
                       "fitted_on": fitting}
    return cal


def collect(jobs, synth) -> dict:
    rows = {}
    for (name, model, cal, approx, target), s in zip(jobs, synth):
        e, dt = estimated(name, model, cal, target, approx)
        rows[name, target] = {"synth": s, "raw": e.by_kind, "seconds": dt,
                              "est": {"area_um2": e.area_um2, "delay_s": e.total.critical_path_s,
                                      "leakage_w": e.total.leakage_w, "dynamic_w": e.total.dynamic_w}}
    return rows


def _err(e, s):
    return (e - s) / s if s else float("inf")


def summarise(rows: dict, names: list[str]) -> None:
    from scipy.stats import spearmanr

    for target in TARGETS:
        print(f"\n== {target}")
        print(f"{'design':13s} {'est um2':>12s} {'synth um2':>12s} {'err':>7s}   {'est delay':>10s} {'synth':>10s} "
              f"{'err':>7s}   {'est dyn W':>10s} {'synth':>10s} {'err':>7s}   {'est ms':>6s}")
        for n in names:
            r = rows[n, target]
            e, s = r["est"], r["synth"]
            print(f"{n:13s} {e['area_um2']:12.4g} {s['area_um2']:12.4g} {_err(e['area_um2'], s['area_um2']):+7.1%}   "
                  f"{e['delay_s']:10.3g} {s['delay_s']:10.3g} {_err(e['delay_s'], s['delay_s']):+7.1%}   "
                  f"{e['dynamic_w']:10.3g} {s['dynamic_w']:10.3g} {_err(e['dynamic_w'], s['dynamic_w']):+7.1%}   "
                  f"{r['seconds'] * 1e3:6.1f}")
        exact = [n for n in names if "_ax" not in n]
        groups = (("fitting half", names[0::2]), ("held-out half", names[1::2]), ("exact designs", exact),
                  ("approximated", [n for n in names if n not in exact]), ("all", names))
        for label, half in groups:
            for what in ("area_um2", "delay_s", "dynamic_w", "leakage_w"):
                e = [rows[n, target]["est"][what] for n in half]
                s = [rows[n, target]["synth"][what] for n in half]
                rho = spearmanr(e, s).statistic
                med = float(np.median([abs(_err(a, b)) for a, b in zip(e, s)]))
                print(f"  {label:13s} {what:10s} Spearman {rho:.3f}  median |error| {med:.1%}")


def timings() -> None:
    d = ROOT / "examples" / "cardio"
    e, dt = estimated("cardio", d / "cardio.onnx", read_csv(d / "train.csv")[0], "egfet")
    print(f"\nestimate time, cardio (egfet, {N_VECTORS} vectors): {dt * 1e3:.1f} ms")
    sfc = ROOT / "examples" / "bnn_sfc" / "bnn_sfc.onnx"
    if sfc.exists():
        compiled = compile_model(sfc)
        t0 = time.perf_counter()
        nl = plan_unrolled(compiled.ir)
        t1 = time.perf_counter()
        e = est.estimate(nl, "nangate45")
        t2 = time.perf_counter()
        print(f"estimate time, unrolled SFC ({len(nl.cells)} cells; nangate45, default activity): {t2 - t1:.2f} s "
              f"(+ {t1 - t0:.2f} s planning); area {e.area_um2:.4g} um2")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit", action="store_true", help="refit targets/estimate_calibration.json first")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    ds = designs()
    names = [d[0] for d in ds]
    jobs = [(*d, t) for t in TARGETS for d in ds]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(args.jobs) as pool:
        synth = list(pool.map(synthesise, jobs))
    print(f"{len(jobs)} syntheses in {time.perf_counter() - t0:.0f} s (cached in {CACHE})")
    rows = collect(jobs, synth)
    if args.fit:
        est.CALIBRATION.write_text(json.dumps(fit(rows, names), indent=1, sort_keys=True) + "\n")
        est.calibration.cache_clear()
        print(f"wrote {est.CALIBRATION.relative_to(ROOT)}")
        rows = collect(jobs, synth)
    summarise(rows, names)
    timings()


if __name__ == "__main__":
    main()
