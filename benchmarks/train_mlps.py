"""Train the printed-MLP benchmark classifiers with scikit-learn and export them with skl2onnx.

For every model: a fixed, stratified 70/30 split (seed 0), min-max normalisation fitted on the
training split, then the printed-MLP input convention: features clipped to [0, 1] and rounded to
the 4-bit grid k/15 (what a printed sensor's 4-bit ADC delivers), an MLPClassifier with a fixed
seed trained on those inputs (the first seed from 0 up with no dead hidden unit), exported by
skl2onnx. Written to
examples/<model>/: <model>.onnx, train.csv, test.csv (normalised features x0.., label) and
meta.json (topology, float accuracy). The `*_pipeline` variant instead exports
Pipeline(MinMaxScaler, MLPClassifier) and raw (unnormalised) CSVs.

    python benchmarks/train_mlps.py            # all models
    python benchmarks/train_mlps.py seeds      # one
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATASETS = HERE / "datasets"
EXAMPLES = HERE.parent / "examples"
INPUT_BITS = 4
MAX_SEEDS = 20

# name: (data set, hidden layers, export as Pipeline(MinMaxScaler, MLP) on raw features)
MODELS = {
    "seeds": ("seeds", (3,), False),
    "cardio": ("cardio", (3,), False),
    "pendigits": ("pendigits", (5,), False),
    "redwine": ("redwine", (2,), False),
    "whitewine": ("whitewine", (4,), False),
    "cardio_2h": ("cardio", (6, 4), False),
    "breastcancer": ("breastcancer", (3,), False),
    # the further printed-MLP benchmarks of the approximation papers (issue 9), same hidden sizes as the others
    "vertebral3c": ("vertebral3c", (3,), False),
    "balance": ("balance", (3,), False),
    "mammographic": ("mammographic", (3,), False),
    "seeds_pipeline": ("seeds", (3,), True),
}


def load(dataset: str) -> tuple[np.ndarray, np.ndarray]:
    table = np.genfromtxt(DATASETS / f"{dataset}.csv", delimiter=",", names=True)
    names = table.dtype.names
    x = np.stack([table[c] for c in names if c != "label"], axis=1).astype(np.float64)
    return x, table["label"].astype(np.int64)


def dead_units(mlp, x: np.ndarray) -> int:
    """Hidden ReLU units that output 0 on every training sample: they cost inputs and accuracy,
    and the printed-MLP topologies are meant with every unit alive."""
    dead, h = 0, x
    for w, b in zip(mlp.coefs_[:-1], mlp.intercepts_[:-1]):
        h = np.maximum(h @ w + b, 0)
        dead += int(np.sum(h.max(axis=0) <= 0))
    return dead


def adc(x: np.ndarray, bits: int = INPUT_BITS) -> np.ndarray:
    """Normalised features as a `bits`-bit ADC reports them: clipped to [0, 1], on the grid k/(2^bits-1)."""
    top = 2**bits - 1
    return np.rint(np.clip(x, 0.0, 1.0) * top) / top


def write_csv(path: Path, x: np.ndarray, y: np.ndarray) -> None:
    header = ",".join([f"x{i}" for i in range(x.shape[1])] + ["label"])
    rows = [",".join([f"{v:.6g}" for v in row] + [str(int(label))]) for row, label in zip(x, y)]
    path.write_text(header + "\n" + "\n".join(rows) + "\n")


def train(name: str) -> dict:
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import MinMaxScaler
    from skl2onnx import to_onnx

    dataset, hidden, as_pipeline = MODELS[name]
    x, y = load(dataset)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)
    scaler = MinMaxScaler().fit(x_tr)
    fit_tr, fit_te = (x_tr, x_te) if as_pipeline else (adc(scaler.transform(x_tr)), adc(scaler.transform(x_te)))
    t0 = time.perf_counter()
    for seed in range(MAX_SEEDS):  # the first seed whose hidden units all live
        mlp = MLPClassifier(hidden_layer_sizes=hidden, activation="relu", max_iter=3000, random_state=seed, learning_rate_init=0.01)
        model = Pipeline([("scale", MinMaxScaler()), ("mlp", mlp)]) if as_pipeline else mlp
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(fit_tr, y_tr)
        if not dead_units(mlp, scaler.transform(x_tr) if as_pipeline else fit_tr):
            break
    seconds = time.perf_counter() - t0
    acc = float(np.mean(model.predict(fit_te) == y_te))
    onnx_model = to_onnx(model, fit_tr[:1].astype(np.float32), target_opset={"": 17, "ai.onnx.ml": 3},
                         options={id(mlp): {"zipmap": False}})
    out = EXAMPLES / name
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.onnx").write_bytes(onnx_model.SerializeToString())
    write_csv(out / "train.csv", fit_tr, y_tr)
    write_csv(out / "test.csv", fit_te, y_te)
    topology = "-".join(str(n) for n in (x.shape[1], *hidden, len(np.unique(y_tr)) if len(np.unique(y_tr)) > 2 else 1))
    meta = {"dataset": dataset, "topology": topology, "seed": seed, "dead_hidden_units": dead_units(mlp, scaler.transform(x_tr) if as_pipeline else fit_tr), "pipeline": as_pipeline, "float_test_accuracy": round(acc, 4),
            "train_samples": len(y_tr), "test_samples": len(y_te)}
    (out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    return meta, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", choices=[[], *MODELS], help="default: all")
    args = parser.parse_args()
    for name in args.models or MODELS:
        meta, seconds = train(name)
        print(f"{name:16s} {meta['topology']:10s} float test accuracy {100 * meta['float_test_accuracy']:.2f} %  (trained in {seconds:.2f} s)")


if __name__ == "__main__":
    main()
