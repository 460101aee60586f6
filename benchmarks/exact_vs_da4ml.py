"""Exact constant-matrix-vector multiplication: our per-neuron and shared plans against da4ml.

For each matrix (the first dense layer of cardio, pendigits and whitewine after the default passes,
with the input ranges the passes proved, and a seeded random 64-input, 32-output matrix of 8-bit
weights on 8-bit unsigned inputs) it builds, with no bias:
  (a) our per-neuron design (hdl.unrolled's dense stage, sharing=False),
  (b) our shared design (hdl.mcm's sub-expressions, whichever plan has fewer adder bits),
  (c) da4ml's design of the same matrix and input intervals (its combinational Verilog,
      `comb_logic_gen` of the `comb_trace` of x @ W.T, with its helper modules),
checks each computes W x (ours with the netlist interpreter, da4ml's with its own evaluator), and
synthesises all three with the Yosys flow of `bespoke report` (targets.synth.synth_cells for egfet
and nangate45: area; targets.fpga.synthesise for xilinx7: LUTs). Prints the table.

da4ml is a benchmark anchor, not a dependency: `pip install da4ml` (or `pip install .[bench]`).

    python benchmarks/exact_vs_da4ml.py [--targets egfet,nangate45,xilinx7] [--matrices cardio,...]
    python benchmarks/exact_vs_da4ml.py --networks --targets egfet   # whole networks, sharing on / off
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bespoke import flow
from bespoke.compiler.ir import Dense
from bespoke.hdl import interpret
from bespoke.hdl.dense_plan import full_row
from bespoke.hdl.netlist import Netlist, ints
from bespoke.hdl.unrolled import Stage, dense_stage
from bespoke.hdl.write_verilog import write_verilog
from bespoke.targets import fpga, liberty, synth

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TARGETS = ("egfet", "nangate45", "xilinx7")
MATRICES = ("cardio", "pendigits", "whitewine", "random64x32")


def example_matrix(name: str) -> tuple[np.ndarray, list[int], list[int]]:
    """The integer weights [out, in] of the first dense layer and its input ranges."""
    d = EXAMPLES / name
    ir = flow.run_passes(flow.frontend(d / f"{name}.onnx"), calibration=d / "train.csv")
    n = next(n for n in ir.order() if isinstance(ir.layer(n), Dense))
    (src,) = ir.inputs_of(n)
    return np.asarray(ir.layer(n).weight, dtype=np.int64), ints(ir.out(src).lo), ints(ir.out(src).hi)


def random_matrix(seed: int = 0) -> tuple[np.ndarray, list[int], list[int]]:
    w = np.random.default_rng(seed).integers(-128, 128, size=(32, 64))
    return w, [0] * 64, [255] * 64


def ours(w: np.ndarray, lo: list[int], hi: list[int], sharing: bool, top: str) -> tuple[Netlist, str, dict]:
    """The dense stage alone (no bias) as a netlist and its Verilog."""
    nl = Netlist(name=top)
    nl.inputs["x"] = [nl.net(a, b, f"x{i}") for i, (a, b) in enumerate(zip(lo, hi))]
    st = Stage(nl, "dense", "l0_", nl.inputs["x"], lo, hi)
    outs, info = dense_stage(st, [full_row(r) for r in w], [0] * len(w), sharing)
    nl.outputs["y"] = outs
    nl.verify()
    return nl, write_verilog(nl, top), info


def da4ml_verilog(w: np.ndarray, lo: list[int], hi: list[int], top: str) -> tuple[str, list[Path], object]:
    """da4ml's combinational design of x @ w.T: its top module, its helper Verilog files, its
    CombLogic (to evaluate)."""
    from da4ml.codegen.rtl.verilog import comb as da4ml_comb
    from da4ml.trace import FixedVariableArray, comb_trace

    n = len(lo)
    inp = FixedVariableArray.from_lhs(np.asarray(lo, float), np.asarray(hi, float), np.ones(n))
    logic = comb_trace(inp, inp @ w.T.astype(np.float64))
    text = da4ml_comb.comb_logic_gen(logic, top)
    # the helper modules the top instantiates (lookup_table.v reads a memory file: left out unless used)
    helpers = [f for f in sorted((Path(da4ml_comb.__file__).parent / "source").glob("*.v"))
               if re.search(rf"\b{f.stem}\s*[#(]", text)]
    return text, helpers, logic


def check(w, lo, hi, nl: Netlist, logic, vectors: int = 200) -> None:
    rng = np.random.default_rng(1)
    x = rng.integers(np.asarray(lo), np.asarray(hi) + 1, size=(vectors, len(lo)))
    want = x @ w.T
    np.testing.assert_array_equal(interpret.outputs(nl, {"x": x})["y"], want)
    got = np.array([[float(v) for v in logic(row.astype(float))] for row in x[:50]])
    np.testing.assert_array_equal(got, want[:50])


def synthesise(files: list[Path], top: str, target: str) -> float:
    """egfet / nangate45: area in um2; xilinx7: LUTs."""
    if target == "xilinx7":
        return fpga.resources(fpga.synthesise(files, top, "xilinx7").stat, "xilinx7")["by_category"]["lut"]
    return float(synth.synth_cells(files, top, liberty.load(target)).stat["area"])


def fmt(value: float, target: str) -> str:
    if target == "egfet":
        return f"{value * 1e-8:.2f} cm2"
    if target == "nangate45":
        return f"{value:,.0f} um2"
    return f"{value:,.0f} LUT"


PRINTED = ("cardio", "pendigits", "whitewine", "redwine", "seeds", "breastcancer", "cardio_2h", "seeds_pipeline")


def networks(target: str) -> None:
    """Whole bundled printed networks as `bespoke compile` builds them, with and without sharing."""
    print(f"| network | target | per-neuron | shared | shared / per-neuron |\n|---|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="exact-vs-da4ml-") as tmp:
        for name in PRINTED:
            d = EXAMPLES / name
            ir = flow.run_passes(flow.frontend(d / f"{name}.onnx"), calibration=d / "train.csv")
            got = []
            for sharing in (False, True):
                (Path(tmp) / f"{name}.v").write_text(flow.hardware(ir, name, sharing=sharing).verilog)
                got.append(synthesise([Path(tmp) / f"{name}.v"], name, target))
            print(f"| {name} | {target} | {fmt(got[0], target)} | {fmt(got[1], target)} | {got[1] / got[0]:.3f} |", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", default=",".join(TARGETS))
    ap.add_argument("--matrices", default=",".join(MATRICES))
    ap.add_argument("--networks", action="store_true",
                    help="instead: the whole bundled printed networks, per-neuron against shared, on each target")
    args = ap.parse_args(argv)
    if args.networks:
        for target in args.targets.split(","):
            networks(target)
        return 0
    targets, matrices = args.targets.split(","), args.matrices.split(",")
    rows = []
    with tempfile.TemporaryDirectory(prefix="exact-vs-da4ml-") as tmp:
        for name in matrices:
            w, lo, hi = random_matrix() if name == "random64x32" else example_matrix(name)
            designs = {}
            for kind, sharing in (("per-neuron", False), ("shared", True)):
                nl, text, info = ours(w, lo, hi, sharing, f"ours_{name}")
                (Path(tmp) / f"{kind}_{name}.v").write_text(text)
                designs[kind] = ([Path(tmp) / f"{kind}_{name}.v"], f"ours_{name}", nl, info)
            text, helpers, logic = da4ml_verilog(w, lo, hi, f"da4ml_{name}")
            (Path(tmp) / f"da4ml_{name}.v").write_text(text)
            designs["da4ml"] = ([Path(tmp) / f"da4ml_{name}.v", *helpers], f"da4ml_{name}", None, {})
            check(w, lo, hi, designs["shared"][2], logic)
            check(w, lo, hi, designs["per-neuron"][2], logic)
            span = f"x in [{min(lo)}, {max(hi)}]"
            print(f"{name}: {w.shape[0]} outputs x {w.shape[1]} inputs, {span}, weights in [{w.min()}, {w.max()}], "
                  f"{np.count_nonzero(w)} nonzero; shared plan: {designs['shared'][3]}; all three == W x", flush=True)
            for target in targets:
                t0 = time.perf_counter()
                got = {kind: synthesise(files, top, target) for kind, (files, top, _, _) in designs.items()}
                rows.append((name, target, got))
                print(f"  {target}: per-neuron {fmt(got['per-neuron'], target)}, shared {fmt(got['shared'], target)}, "
                      f"da4ml {fmt(got['da4ml'], target)}  ({time.perf_counter() - t0:.0f} s)", flush=True)
    print()
    print("| matrix | target | ours per-neuron | ours shared | da4ml | shared / da4ml |")
    print("|---|---|---:|---:|---:|---:|")
    for name, target, got in rows:
        print(f"| {name} | {target} | {fmt(got['per-neuron'], target)} | {fmt(got['shared'], target)} | "
              f"{fmt(got['da4ml'], target)} | {got['shared'] / got['da4ml']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
