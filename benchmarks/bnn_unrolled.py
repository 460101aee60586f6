"""Unrolled binarized networks: compile time, Verilog size, popcount cells; optionally RTL simulation and LUTs.

    python benchmarks/bnn_unrolled.py                         # the SFC (trained first if missing)
    python benchmarks/bnn_unrolled.py --model bnn_digits --simulate 360 --luts --asic nangate45
    python benchmarks/bnn_unrolled.py --simulate 1000         # Verilator: build time, mismatches
    python benchmarks/bnn_unrolled.py --compare-popcount      # compressor tree vs word adder tree

--simulate N also checks the golden model against the QONNX reference execution on those images.
--luts synthesises with synth_xilinx (targets.report, target xilinx7) and prints LUTs, carries
and the synthesis time; --asic nangate45 (or sky130hd, egfet) prints area, cells, critical path
and power with the activity of the first 100 test images. --compare-popcount measures one
popcount (random XNOR weights) built as this project's compressor tree and as the range-sized
word adder tree of hdl.adder_tree (both as netlists, written by hdl.write_verilog), with yosys
`synth` cells and nangate45 area, plus the fused threshold against count-then-compare.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def ensure_model(name: str) -> Path:
    """The example's ONNX file, training it (bnn_train.py) when it is not there."""
    onnx = EXAMPLES / name / f"{name}.onnx"
    if not onnx.exists():
        sys.path.insert(0, str(ROOT / "benchmarks"))
        import bnn_train

        print(f"{onnx} missing: training it (benchmarks/bnn_train.py {name})", flush=True)
        bnn_train.main([name])
    return onnx


def compile_figures(name: str, pipeline: bool):
    from bespoke.api import compile_model

    t0 = time.perf_counter()
    model = compile_model(ensure_model(name), arch="unrolled", pipeline=pipeline)
    seconds = time.perf_counter() - t0
    total = model.summary["total"]
    print(f"{name}: compiled unrolled in {seconds:.1f} s; Verilog {len(model.verilog) / 1e6:.2f} MB, "
          f"{model.verilog.count(chr(10) + 'module ')} modules")
    print(f"  word adders {total['adders']}, popcount full adders {total['full_adders']}, half adders "
          f"{total['half_adders']}, XNOR bits {total['xnor_bits']}, comparators {total['comparators']}")
    for row in model.summary["layers"]:
        cells = f"FA {row['full_adders']} HA {row['half_adders']}" if "full_adders" in row else f"adders {row.get('adders', 0)}"
        print(f"    {row['name']:20s} {row['op']:26s} {cells}")
    return model


def simulate(model, name: str, n: int) -> bool:
    from bnn_reference import qonnx_agreement
    from bespoke.compiler.data import read_csv

    x, y = read_csv(EXAMPLES / name / "test.csv", model.n_features)
    x, y = x[:n], (None if y is None else y[:n])
    build = Path(tempfile.gettempdir()) / f"bespoke-bnn-unrolled-{name}"
    report = model.simulate(x, y, build_dir=build)
    print(f"  Verilator: build {report.seconds_build:.1f} s (0 = reused from {build}), run {report.seconds_run:.1f} s, "
          f"{report.vectors} vectors, {report.mismatches} mismatches, hardware accuracy {report.hardware_accuracy}")
    agree, total = qonnx_agreement(EXAMPLES / name / f"{name}.onnx", x, model.predict_codes(model.encode(x)))
    print(f"  golden model == QONNX reference execution on {agree}/{total} images")
    return report.passed and agree == total


def synthesis(model, name: str, luts: bool, asic: str | None, timeout: float) -> None:
    """LUTs (synth_xilinx) and/or standard-cell figures, activity from the first 100 test images."""
    from bespoke.compiler.data import read_csv
    from synth_figures import asic_figures, fpga_figures

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{model.name}.v"
        path.write_text(model.verilog)
        if luts:
            print("  " + fpga_figures(path, model.name, model.layout, timeout=timeout)[1], flush=True)
        if asic:
            x, _ = read_csv(EXAMPLES / name / "test.csv", model.n_features)
            print("  " + asic_figures(path, model.name, model.layout, asic, model.encode(x[:100]), timeout=timeout)[1])


# --------------------------------------------------------------------------- popcount comparison


def popcount_designs(n: int, rng) -> dict[str, str]:
    """Verilog `top(x, y)` for a popcount of XNOR(x, w) (and >= T) in both constructions: each a
    netlist of the cells the unrolled planner builds (hdl.unrolled.Stage), written by
    hdl.write_verilog."""
    from bespoke.hdl.adder_tree import Term, plan_sum
    from bespoke.hdl.netlist import Netlist
    from bespoke.hdl.popcount import ge_addend
    from bespoke.hdl.unrolled import Stage
    from bespoke.hdl.write_verilog import write_verilog

    w = rng.integers(0, 2, n)
    t = n // 2 + 3

    def design(build) -> str:
        nl = Netlist("top")
        x = nl.inputs["x"] = [nl.net(0, 1, f"x{i}") for i in range(n)]
        st = Stage(nl, "pc", "", x, [0] * n, [1] * n)
        nl.outputs["y"] = [build(st, [x[i] if w[i] else st.inverted(i) for i in range(n)])]
        return write_verilog(nl, "top")

    def compressor(st, bits):
        return st.popcount(bits, ge=False)

    def word_tree(st, bits):
        return st.sum_tree(plan_sum([Term(0, 1, 0, i) for i in range(n)], []), lambda i: bits[i])

    def then_compare(count):
        return lambda st, bits: st.cell("cmp", (count(st, bits), st.const(t)), 0, 1, {"op": ">="})

    return {"compressor": design(compressor), "word tree": design(word_tree),
            "compressor >= T": design(then_compare(compressor)),
            "fused ge": design(lambda st, bits: st.popcount(bits, True, ge_addend(n, t))),
            "word tree >= T": design(then_compare(word_tree))}


def compare_popcount(sizes: list[int]) -> None:
    from bespoke.targets import liberty, synth, yosys

    rng = np.random.default_rng(1)
    lib = liberty.load("nangate45")
    print(f"{'n':>5s} {'design':16s} {'synth cells':>11s} {'nangate45 um2':>13s}")
    for n in sizes:
        for label, text in popcount_designs(n, rng).items():
            with tempfile.TemporaryDirectory() as tmp:
                work = Path(tmp)
                (work / "d.v").write_text(text)
                yosys.run(["read_verilog -sv d.v", "synth -top top -flatten", "tee -q -o stat.txt stat"], work)
                cells = next(line.split()[0] for line in (work / "stat.txt").read_text().splitlines() if line.strip().endswith("cells"))
                area = synth.synth_cells([work / "d.v"], "top", lib).stat["area"]
            print(f"{n:5d} {label:16s} {cells:>11s} {area:13.1f}", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="bnn_sfc", help="example name (bnn_sfc, bnn_digits, bnn_cnn)")
    parser.add_argument("--pipeline", action="store_true", help="registers after every layer")
    parser.add_argument("--simulate", type=int, metavar="N", help="simulate N test images with Verilator")
    parser.add_argument("--luts", action="store_true", help="LUT counts from synth_xilinx")
    parser.add_argument("--asic", metavar="TARGET", help="standard-cell area, timing, power (e.g. nangate45)")
    parser.add_argument("--synth-timeout", type=float, default=7200, metavar="SECONDS",
                        help="limit for each synthesis run (synth_xilinx of the unrolled SFC takes the better part of an hour)")
    parser.add_argument("--compare-popcount", nargs="*", type=int, metavar="N",
                        help="compare popcount constructions at these sizes (default 32 256 784) and exit")
    args = parser.parse_args(argv)
    if args.compare_popcount is not None:
        compare_popcount(args.compare_popcount or [32, 256, 784])
        return 0
    model = compile_figures(args.model, args.pipeline)
    ok = simulate(model, args.model, args.simulate) if args.simulate else True
    synthesis(model, args.model, args.luts, args.asic, args.synth_timeout)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
