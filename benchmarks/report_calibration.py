"""Calibration of the EGFET area estimate against published printed-MLP figures.

    python benchmarks/report_calibration.py

Publications report exact bespoke MLPs synthesised with a commercial flow on the EGFET library
(shared/cells/README.md): Cardio 21-3-3 33.4 cm², RedWine 11-2-6 17.6 cm², WhiteWine 11-4-7
31.2 cm², one 8-bit MAC about 1.1 cm², one ReLU about 0.03 cm². Their RTL is the usual hand style:
`x * w` products with constant weights and accumulators sized from bit widths. Ours differs twice:
the compiler emits CSD shift-and-add with accumulator widths from proven value ranges, and our
models have their own weights. So this script measures, with the same flow (targets/, egfet):
  1. the published building blocks (a 4-bit x 8-bit MAC, an 8-bit ReLU);
  2. each published model twice from our trained weights: in publication RTL style, and as the
     compiler's exact design;
  3. a Cardio 21-3-3 with dense random 8-bit weights (every weight non-zero) in both styles.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import networkx as nx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "targets"))

from mlp_designs import cardio as random_cardio

from bespoke.api import compile_model
from bespoke.compiler.ir import ArgMax, Dense, Input, Relu, Requant
from bespoke.targets import liberty, synth

EXAMPLES = ROOT / "examples"
PUBLISHED_CM2 = {"cardio": 33.4, "redwine": 17.6, "whitewine": 31.2}

BLOCKS = """\
module mac4x8(input [3:0] x, input signed [7:0] w, input signed [15:0] acc, output signed [15:0] y);
  assign y = acc + $signed({1'b0, x}) * w;
endmodule
module relu8(input signed [8:0] a, output [7:0] y);
  assign y = a[8] ? 8'd0 : a[7:0];
endmodule
"""


def publication_verilog(layers: list, name: str, weight_bits: int = 8) -> str:
    """Hand-style RTL of a dense/requant/argmax chain: `x * w` products, accumulators sized from bit
    widths (input bits + weight bits + log2(fan-in) + 1), no value-range knowledge."""
    v, prev, width = [], "x", None
    for k, layer in enumerate(layers):
        if isinstance(layer, Input):
            width = int(np.max(layer.hi)).bit_length()
            ports = f"input [{layer.size * width - 1}:0] x"
            for i in range(layer.size):
                v.append(f"  wire signed [{width}:0] x_{i} = {{1'b0, x[{(i + 1) * width - 1}:{i * width}]}};")
            n = layer.size
        elif isinstance(layer, Dense):
            w, b = np.asarray(layer.weight, dtype=np.int64), np.asarray(layer.bias, dtype=np.int64)
            acc = width + 1 + weight_bits + int(np.ceil(np.log2(w.shape[1] + 1))) + 1
            for j in range(w.shape[0]):
                terms = [f"{prev}_{i} * {int(c)}" for i, c in enumerate(w[j]) if c] + [str(int(b[j]))]
                v.append(f"  wire signed [{acc - 1}:0] d{k}_{j} = {' + '.join(terms)};")
            prev, width, n = f"d{k}", acc, w.shape[0]
        elif isinstance(layer, (Requant, Relu)):
            rq = layer if isinstance(layer, Requant) else None
            out_w = int(rq.qmax).bit_length() if rq else width
            if rq and (rq.rounding != "floor" or np.any(rq.zero_point) or rq.qmin != 0):
                raise ValueError("publication style covers floor requantisation to [0, qmax] only")
            for j in range(n):
                mult = int(np.broadcast_to(rq.mult, (n,))[j]) if rq else 1
                shift = int(np.broadcast_to(rq.shift, (n,))[j]) if rq else 0
                qmax = int(rq.qmax) if rq else (1 << (width - 1)) - 1
                v.append(f"  wire signed [{width + 8}:0] s{k}_{j} = {prev}_{j} < 0 ? 0 : ({prev}_{j} * {mult}) >>> {shift};")
                v.append(f"  wire [{out_w - 1}:0] q{k}_{j} = s{k}_{j} > {qmax} ? {qmax} : s{k}_{j}[{out_w - 1}:0];")
                v.append(f"  wire signed [{out_w}:0] r{k}_{j} = {{1'b0, q{k}_{j}}};")
            prev, width = f"r{k}", out_w
        elif isinstance(layer, ArgMax):
            ow = max(1, (n - 1).bit_length())
            v.append(f"  reg [{ow - 1}:0] best;\n  reg signed [{width - 1}:0] bestv;")
            v.append(f"  always @* begin\n    best = 0; bestv = {prev}_0;")
            v += [f"    if ({prev}_{j} > bestv) begin best = {j}; bestv = {prev}_{j}; end" for j in range(1, n)]
            v.append("  end")
            ports += f", output [{ow - 1}:0] y"
            v.append("  assign y = best;")
        else:
            raise ValueError(f"publication style has no rule for {layer.op}")
    return f"module {name}({ports});\n" + "\n".join(v) + "\nendmodule\n"


def area_cm2(path: Path, top: str) -> tuple[float, float]:
    t0 = time.perf_counter()
    res = synth.synth_cells([path], top, liberty.load("egfet"))
    return res.stat["area"] * 1e-8, time.perf_counter() - t0


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "blocks.v").write_text(BLOCKS)
        print("building blocks (EGFET, this flow vs published):")
        for top, pub in (("mac4x8", 1.1), ("relu8", 0.03)):
            a, _ = area_cm2(tmp / "blocks.v", top)
            print(f"  {top:10s} {a:7.3f} cm²  published ~{pub} cm²  ({100 * (a / pub - 1):+.0f} %)")
        print("\nmodels (cm²): publication-style RTL and the compiler's exact design, same weights, same flow")
        print(f"  {'model':18s} {'nonzero w':>9s} {'pub-style':>9s} {'compiler':>9s} {'published':>9s} "
              f"{'pub-style vs published':>22s}")
        for name, pub in PUBLISHED_CM2.items():
            d = EXAMPLES / name
            if not (d / f"{name}.onnx").is_file():
                continue
            model = compile_model(d / f"{name}.onnx", tmp / name, calibration=d / "train.csv")
            layers = [model.ir.graph.nodes[n]["layer"] for n in nx.topological_sort(model.ir.graph)]
            nz = sum(int(np.count_nonzero(layer.weight)) for layer in layers if isinstance(layer, Dense))
            total = sum(int(np.size(layer.weight)) for layer in layers if isinstance(layer, Dense))
            (tmp / f"{name}_pub.v").write_text(publication_verilog(layers, f"{name}_pub"))
            a_pub, _ = area_cm2(tmp / f"{name}_pub.v", f"{name}_pub")
            a_ours, _ = area_cm2(tmp / name / f"{model.name}.v", model.name)
            print(f"  {name:18s} {f'{nz}/{total}':>9s} {a_pub:9.2f} {a_ours:9.2f} {pub:9.1f} "
                  f"{100 * (a_pub / pub - 1):+21.0f} %")
        m = random_cardio()
        layers = [Input(size=21, lo=np.zeros(21, int), hi=np.full(21, 15)), Dense(weight=m.w1, bias=m.b1),
                  Requant(mult=np.ones(3, int), shift=np.full(3, m.shift), zero_point=np.zeros(3, int), qmin=0,
                          qmax=255, rounding="floor"),
                  Dense(weight=m.w2, bias=m.b2), ArgMax()]
        (tmp / "dense_pub.v").write_text(publication_verilog(layers, "dense_pub"))
        (tmp / "dense_csd.v").write_text(m.verilog())
        a_pub, _ = area_cm2(tmp / "dense_pub.v", "dense_pub")
        a_csd, _ = area_cm2(tmp / "dense_csd.v", "mlp")
        nz = int(np.count_nonzero(m.w1) + np.count_nonzero(m.w2))
        print(f"  {'cardio, dense rnd':18s} {f'{nz}/72':>9s} {a_pub:9.2f} {a_csd:9.2f} {33.4:9.1f} "
              f"{100 * (a_pub / 33.4 - 1):+21.0f} %")


if __name__ == "__main__":
    main()
