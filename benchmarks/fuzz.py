"""Differential fuzzing: random models through the golden model, the model's own reference
execution, the netlist interpreter and the RTL.

    python benchmarks/fuzz.py [--models 200] [--vectors 1000000] [--rtl-every 10] [--seed 0]

Model kinds, in turn:
- mlp: float Gemm MLPs (depth 1-3, widths 1-12, weights spanning 1e-3..1e3 with zero and
  negative ones, with or without bias and ReLU, ArgMax or raw scores), quantised by bespoke from
  random calibration data: the reference check measures agreement only (bespoke chose the
  quantisation), every other comparison is exact;
- qdq: QDQ int8 MLPs, power-of-two or float scales, int8 codes or ArgMax out: exact against
  onnxruntime;
- bnn: QONNX binarized MLPs (Quant input, BipolarQuant weights and activations, batch-norm):
  exact against qonnx;
- bnn_conv: QONNX binarized CNNs (conv, padded or not, max-pool, dense): exact against qonnx;
- approx: mlp models compiled with random approximation knobs (weight sets pow2 / csd<k>, input
  bits, ReLU saturation, argmax MSBs): agreement with the float model measured, everything below
  the approximated IR exact;
- tlg: bnn models mapped to threshold gates (random fan-in and weight bounds): exact against qonnx;
- gates: random learned logic-gate networks (gates.json, every op id, constant thresholds, skips):
  exact against the network's own gate-by-gate evaluation (compiler.gates_format).
For each model: compile (unrolled), encode random features, then
  golden model == netlist interpreter on every vector (exact),
  golden model == reference execution on every vector (exact models; for models bespoke
  quantised itself, the share of classes that agree is measured),
  golden model == RTL (Verilator) on the first 200 vectors of every `--rtl-every`-th model.
A disagreement is shrunk (fuzz_shrink: fewer neurons, fewer nonzero weights, a simpler row, while
the same comparison still fails on that row) and saved under benchmarks/results/fuzz_failures/ as
NAME.onnx + NAME.csv + NAME.json (model, row, compile options: a regression case that
`python benchmarks/fuzz.py --replay DIR` runs again). Prints a table per kind and the totals.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from bespoke.api import compile_model  # noqa: E402
from bespoke.hdl import interpret  # noqa: E402
from bespoke.sim.golden import run_all  # noqa: E402

import fuzz_shrink  # noqa: E402

KINDS = ("mlp", "qdq", "bnn", "bnn_conv", "approx", "tlg", "gates")
RTL_VECTORS = 200


def random_mlp(rng) -> tuple[onnx.ModelProto, int]:
    n_in = int(rng.integers(1, 13))
    widths = [n_in] + [int(rng.integers(1, 13)) for _ in range(int(rng.integers(1, 4)))]
    nodes, inits, x = [], [], "x"
    for k, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        w = rng.normal(size=(b, a)) * 10.0 ** rng.uniform(-3, 3)
        w[rng.random(w.shape) < 0.2] = 0.0
        inputs = [x, f"w{k}"]
        inits.append(numpy_helper.from_array(w.astype(np.float32), f"w{k}"))
        if rng.random() < 0.7:
            inits.append(numpy_helper.from_array((rng.normal(size=b) * 10.0 ** rng.uniform(-2, 2)).astype(np.float32), f"b{k}"))
            inputs.append(f"b{k}")
        nodes.append(helper.make_node("Gemm", inputs, [f"h{k}"], transB=1))
        x = f"h{k}"
        if k < len(widths) - 2 and rng.random() < 0.8:
            nodes.append(helper.make_node("Relu", [x], [f"r{k}"]))
            x = f"r{k}"
    if rng.random() < 0.6:
        nodes.append(helper.make_node("ArgMax", [x], ["cls"], axis=1, keepdims=1))
        out = helper.make_tensor_value_info("cls", TensorProto.INT64, ["N", 1])
    else:
        out = helper.make_tensor_value_info(x, TensorProto.FLOAT, ["N", widths[-1]])
    graph = helper.make_graph(nodes, "fuzz_mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", n_in])], [out], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), n_in


def random_approx(rng, model: onnx.ModelProto, input_bits: int) -> str:
    """Approximation knobs (compiler.approx.parse) that fit `model`: a weight set for every dense
    layer, input bits, and ReLU saturation / argmax MSBs where the model has a ReLU / an ArgMax."""
    ops = {node.op_type for node in model.graph.node}
    knobs = [f"weights={rng.choice(['pow2', 'csd1', 'csd2', 'exact'])}", f"input-bits={int(rng.integers(1, input_bits + 1))}"]
    if "Relu" in ops and rng.random() < 0.6:
        knobs.append(f"relu={int(rng.integers(2, 8))}b")
    if "ArgMax" in ops and rng.random() < 0.6:
        knobs.append(f"argmax=msb{int(rng.integers(2, 9))}")
    return ",".join(knobs)


def random_gates(rng, path: Path) -> Path:
    """A random gate network (tests/gates_builders.random_network) saved as gates.json."""
    from gates_builders import random_network

    classes = int(rng.integers(2, 5))
    sizes = tuple(int(rng.integers(4, 30)) for _ in range(int(rng.integers(0, 3)))) + (classes * int(rng.integers(1, 8)),)
    net = random_network(int(rng.integers(1 << 30)), features=int(rng.integers(1, 8)), sizes=sizes, classes=classes,
                         bits=int(rng.integers(2, 6)), skips=bool(rng.random() < 0.5))
    return net.save(path)


def make(kind: str, rng, work: Path):
    """(ONNX model or gates.json path, compile options, random real features of n rows)."""
    if kind in ("mlp", "approx"):
        model, n_in = random_mlp(rng)
        lo, hi = rng.uniform(-5, 0, n_in), rng.uniform(0.1, 5, n_in)
        calib = rng.uniform(lo, hi, (64, n_in))
        options = {"calibration": calib, "input_bits": int(rng.integers(2, 7))}
        if kind == "approx":
            options["approx"] = random_approx(rng, model, options["input_bits"])
        return model, options, lambda n: rng.uniform(lo - 0.5, hi + 0.5, (n, n_in))  # some beyond the range: clamped
    if kind == "gates":
        path = random_gates(rng, work / f"gates_{rng.integers(1 << 30)}.json")
        from bespoke.compiler.gates_format import read_gates

        n_in = read_gates(path).n_features
        return path, {}, lambda n: rng.uniform(-0.1, 1.1, (n, n_in))
    if kind == "qdq":
        from onnx_builders import qdq_mlp

        model = qdq_mlp(n_in=6, n_hidden=int(rng.integers(1, 9)), n_out=int(rng.integers(1, 6)), seed=int(rng.integers(1 << 30)),
                        per_channel=bool(rng.random() < 0.5), argmax=bool(rng.random() < 0.5), float_scales=bool(rng.random() < 0.5))
        s_x = float(numpy_helper.to_array(next(i for i in model.graph.initializer if i.name == "s_x")))
        return model, {}, lambda n: (rng.integers(-80, 1200, (n, 6)) / 2 * s_x).astype(np.float32)
    from bnn_builders import export, tiny_cnn, tiny_mlp

    if kind in ("bnn", "tlg"):
        # tlg maps an integer first layer only where a threshold follows it: two layers at least
        sizes = [int(rng.integers(2, 24))] + [int(rng.integers(2, 16)) for _ in range(int(rng.integers(1 + (kind == "tlg"), 4)))]
        bits = int(rng.integers(1, 9))
        layers, _ = tiny_mlp(rng, sizes=tuple(sizes), bits=bits, head="bn" if rng.random() < 0.5 else "scale")
        options = {} if kind == "bnn" else {"map": "tlg", "tlg_fanin": int(rng.integers(3, 8)),
                                            "tlg_max_weight": int(rng.integers(2, 4)),
                                            "tlg_integer": str(rng.choice(["bitplane", "arith"]))}
        return export(layers, bits, (sizes[0],)), options, lambda n: rng.integers(0, 2**bits, (n, sizes[0])).astype(float)
    size, pad = int(rng.integers(8, 12)), int(rng.integers(0, 2))
    layers, _ = tiny_cnn(rng, size=size, bits=4, pad=pad)
    return export(layers, 4, (1, size, size)), {}, lambda n: rng.integers(0, 16, (n, size * size)).astype(float)


def fuzz_one(kind: str, rng, n_vectors: int, rtl: bool, work: Path, failures: Path, index: int) -> dict:
    model, options, features = make(kind, rng, work)
    x = features(n_vectors)
    compiled, found, check, sim = compare(model, options, x, rtl, work / f"{kind}_{index}")
    row = {"kind": kind, "vectors": len(x), "exact": check.exact, "agree": check.agree, "ties": check.ties,
           "rtl": sim.vectors if sim is not None else 0,
           "classes": compiled.ir.layer(compiled.ir.output_node()).op == "argmax"}  # an inexact model's agreement means something for classes only
    if check.error:
        row["error"] = check.error
    row["mismatches"] = {k: len(v) for k, v in found.items() if len(v)}
    if row["mismatches"] and compiled.source is None:  # a gate network: saved as it is, not shrunk
        failures.mkdir(parents=True, exist_ok=True)
        (failures / f"{kind}_{index}.json").write_text(Path(model).read_text())
    elif row["mismatches"]:
        first = int(min(int(v[0]) for v in found.values() if len(v)))
        what = set(row["mismatches"])

        def fails(m, xs):  # the same kind of mismatch on this one row
            return bool(what & set(compare(m, options, xs.reshape(1, -1), "rtl" in what, work / "shrink")[1]))

        small, row_x = fuzz_shrink.shrink(compiled.source, x[first], fails)
        row["shrunk"] = f"{fuzz_shrink.size(compiled.source)} -> {fuzz_shrink.size(small)} (neurons, nonzero weights)"
        fuzz_shrink.save(failures, f"{kind}_{index}", small, row_x, options)
    return row


def compare(model, options: dict, x: np.ndarray, rtl: bool, build_dir: Path):
    """Compile and compare on the rows x: (compiled model, {comparison: indices of the rows that
    differ}, the reference check, the RTL simulation or None)."""
    compiled = compile_model(model, **options)
    codes = compiled.encode(x)
    values = run_all(compiled.ir, codes)
    golden = values[compiled.ir.output_node()]
    found = {}
    netlist = interpret.outputs(compiled.netlist, {"x": codes})["y"]
    found["netlist"] = np.flatnonzero(np.any(netlist != golden, axis=1))
    check = compiled.check_reference(x, codes, values) if compiled.source is not None else GateReference(model, x, golden)
    if check.failed:
        found["reference"] = np.array([d["row"] for d in check.first_disagreements])
    sim = None
    if rtl:
        sim = compiled.simulate(x[:RTL_VECTORS], build_dir=build_dir)
        if not sim.passed:
            found["rtl"] = np.array([m["index"] for m in sim.first_mismatches] or [0])
    return compiled, {k: v for k, v in found.items() if len(v)}, check, sim


class GateReference:
    """A gate network's own evaluation (gates_format.GateNetwork: gate by gate, in file order)
    against the golden model, in the shape of sim.onnx_reference's ReferenceCheck."""

    def __init__(self, path: Path, x: np.ndarray, golden: np.ndarray):
        from bespoke.compiler.gates_format import read_gates

        net = read_gates(path)
        ref = net.predict_codes(net.encode(x))  # class indices, like the IR's ArgMax
        differ = np.flatnonzero(ref != golden[:, 0])
        self.exact, self.ties, self.error = True, 0, None
        self.agree = int(len(x) - len(differ))
        self.failed = bool(len(differ))
        self.first_disagreements = [{"row": int(r)} for r in differ[:10]]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", type=int, default=200)
    p.add_argument("--vectors", type=int, default=1_000_000, help="in all, spread evenly over the models")
    p.add_argument("--rtl-every", type=int, default=10, help="simulate every N-th model in Verilator (0: none)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--out", type=Path, default=HERE / "results" / "fuzz.txt", help="where the table is written")
    p.add_argument("--failures", type=Path, default=HERE / "results" / "fuzz_failures", help="where failing models go")
    p.add_argument("--replay", type=Path, metavar="DIR", help="run the saved cases of DIR again instead of fuzzing")
    args = p.parse_args(argv)
    if args.replay:
        work = Path(tempfile.mkdtemp(prefix="bespoke-replay-"))
        failing = fuzz_shrink.replay(args.replay, lambda m, x, o: bool(compare(m, o, x.reshape(1, -1), True, work / "case")[1]))
        print(f"{len(list(args.replay.glob('*.onnx')))} saved cases, {len(failing)} fail again: {', '.join(failing) or '-'}")
        return 1 if failing else 0
    rng = np.random.default_rng(args.seed)
    work = Path(tempfile.mkdtemp(prefix="bespoke-fuzz-"))
    failures = args.failures
    rows, t0 = [], time.perf_counter()
    for i in range(args.models):
        kind = args.kinds[i % len(args.kinds)]
        rtl = bool(args.rtl_every) and (i // len(args.kinds)) % args.rtl_every == 0  # every N-th model of each kind
        per_model = max(1, args.vectors // args.models + (i < args.vectors % args.models))  # they add up to --vectors
        row = fuzz_one(kind, rng, per_model, rtl, work, failures, i)
        rows.append(row)
        if not args.quiet:
            ties = f" (+{row['ties']} ties)" if row["ties"] else ""
            error = f", reference error: {row['error']}" if "error" in row else ""
            error += f", shrunk {row['shrunk']}" if "shrunk" in row else ""
            print(f"{i:4d} {kind:9s} {row['vectors']:7d} vectors, reference {'exact' if row['exact'] else 'measured'} "
                  f"{row['agree']}/{row['vectors']}{ties}, rtl {row['rtl']}, mismatches {row['mismatches'] or 0}{error}", flush=True)
    text = summary(rows, time.perf_counter() - t0)
    print(text)
    args.out.write_text(f"python benchmarks/fuzz.py {' '.join(sys.argv[1:] if argv is None else argv)}\n\n{text}\n")
    return 1 if any(r["mismatches"] for r in rows) else 0


def summary(rows: list[dict], seconds: float) -> str:
    lines = ["| kind | models | vectors | netlist mismatches | reference (exact kinds) | class agreement (inexact models) | RTL vectors | RTL mismatches |",
             "|---|---|---|---|---|---|---|---|"]
    for kind in dict.fromkeys(r["kind"] for r in rows):
        rs = [r for r in rows if r["kind"] == kind]
        exact = [r for r in rs if r["exact"]]
        measured = [r for r in rs if not r["exact"] and r["classes"]]
        ref_exact = f"{sum(r['mismatches'].get('reference', 0) for r in exact)} disagreements in {sum(r['vectors'] for r in exact)}" if exact else "-"
        agreement = f"{100 * sum(r['agree'] for r in measured) / max(1, sum(r['vectors'] for r in measured)):.2f} %" if measured else "-"
        lines.append(f"| {kind} | {len(rs)} | {sum(r['vectors'] for r in rs)} | {sum(r['mismatches'].get('netlist', 0) for r in rs)} | "
                     f"{ref_exact} | {agreement} | {sum(r['rtl'] for r in rs)} | {sum(r['mismatches'].get('rtl', 0) for r in rs)} |")
    bad = sum(1 for r in rows if r["mismatches"])
    lines.append(f"\n{len(rows)} models, {sum(r['vectors'] for r in rows)} vectors, {bad} models with a mismatch, "
                 f"{sum(1 for r in rows if 'error' in r)} reference errors, {seconds:.0f} s")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
