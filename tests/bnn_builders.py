"""Tiny binarized networks for tests: random weights, batch-norm statistics from a forward pass.

Built with the trainer's layers (benchmarks/bnn_train.py) and written by its exporters
(benchmarks/bnn_export.py), so tests need neither training nor torch.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import bnn_train  # noqa: E402
from bnn_export import multithreshold_model, qonnx_model  # noqa: E402
from bnn_reference import qonnx_run  # noqa: E402,F401  (qonnx itself is imported only when run)


def random_net(layers, x: np.ndarray, rng, negative: float = 0.3) -> list:
    """Set every batch-norm to the batch statistics of x, then randomise its scale and shift.

    A fraction `negative` of the scales is negative (the comparison flips) and one is zero
    (a constant neuron), so streamlining meets every case.
    """
    for layer in layers:
        if isinstance(layer, bnn_train.BatchNorm):
            layer.momentum = 1.0
    bnn_train.forward(layers, x, train=True)
    for layer in layers:
        if isinstance(layer, bnn_train.BatchNorm):
            n = len(layer.gamma)
            layer.gamma = (rng.uniform(0.5, 2, n) * np.where(rng.random(n) < negative, -1, 1)).astype(np.float32)
            layer.gamma[rng.integers(n)] = 0.0
            layer.beta = rng.normal(0, 0.5, n).astype(np.float32)
    return layers


def tiny_mlp(rng, sizes=(20, 12, 8, 5), bits=8, head="scale", n=200):
    x = rng.integers(0, 2**bits, (n, sizes[0])).astype(np.float32)
    return random_net(bnn_train.mlp(sizes, rng, head=head), x, rng), x


def tiny_cnn(rng, size=10, channels=(3, 4), n_classes=4, bits=4, n=100, pad=0):
    """conv3x3 bn sign pool2, conv3x3 bn sign, dense; each conv with `pad` zeros around its input."""
    c1, c2 = channels
    x = rng.integers(0, 2**bits, (n, 1, size, size)).astype(np.float32)
    s1 = (size - 2 + 2 * pad) // 2
    s2 = s1 - 2 + 2 * pad
    layers = [bnn_train.BinaryConv(1, c1, 3, rng, pad), bnn_train.BatchNorm(c1), bnn_train.Sign(), bnn_train.MaxPool(2),
              bnn_train.BinaryConv(c1, c2, 3, rng, pad), bnn_train.BatchNorm(c2), bnn_train.Sign(), bnn_train.Flatten(),
              bnn_train.BinaryDense(c2 * s2 * s2, n_classes, rng), bnn_train.Scale(0.5)]
    return random_net(layers, x, rng), x


def export(layers, bits: int, shape: tuple, form: str = "qonnx") -> onnx.ModelProto:
    spec = bnn_train.export_spec(layers, bits)
    if form == "mt":
        return multithreshold_model(spec, shape)
    return qonnx_model(spec, shape, act="sign" if form == "sign" else "bipolarquant")


def save(model: onnx.ModelProto, path: Path) -> Path:
    onnx.save(model, str(path))
    return path
