"""Planning and interpreting the unrolled SFC as a netlist (hdl.unrolled, hdl.interpret).

Prints the time to build the integer IR, to plan the netlist (target < 5 s) and verify it, its
cell counts, and the interpreter's time on the first 100 test vectors, checked against the layer
golden model. examples/bnn_sfc is a local model (not bundled); pass another example's name to
time it instead.

    python benchmarks/unrolled_netlist.py [example]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from bespoke.api import pipeline_for
from bespoke.compiler.data import read_csv
from bespoke.compiler.onnx_frontend import load_onnx, lower_onnx
from bespoke.compiler.passes import PassManager
from bespoke.hdl import interpret
from bespoke.hdl.unrolled import plan_unrolled
from bespoke.sim import golden

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def main(name: str = "bnn_sfc", n: int = 100) -> None:
    d = EXAMPLES / name
    t = time.perf_counter()
    float_ir = lower_onnx(load_onnx(d / f"{name}.onnx"))
    cal = d / "train.csv"
    ctx = {"calibration": read_csv(cal, float_ir.out(float_ir.input_node()).size)[0]} if cal.exists() else {}
    ir = PassManager.from_string(pipeline_for(float_ir)).run(float_ir, ctx)  # the IR compile_model builds
    print(f"{name}: integer IR {time.perf_counter() - t:.2f} s")
    t = time.perf_counter()
    nl = plan_unrolled(ir)
    print(f"plan_unrolled {time.perf_counter() - t:.2f} s: {len(nl.cells)} cells, {nl.n_nets} nets, {nl.count()}")
    t = time.perf_counter()
    nl.verify()
    print(f"verify {time.perf_counter() - t:.2f} s")
    x, _ = read_csv(d / "test.csv", ir.out(ir.input_node()).size)
    codes = ir.encode_inputs(x[:n])
    t = time.perf_counter()
    y = interpret.outputs(nl, {"x": codes})["y"]
    print(f"interpret {len(codes)} vectors {time.perf_counter() - t:.2f} s; "
          f"== golden model: {np.array_equal(y, golden.run(ir, codes))}")


if __name__ == "__main__":
    main(*sys.argv[1:])
