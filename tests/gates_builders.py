"""Random learned gate networks for the gate tests (every op id, constant input bits, skips)."""

from __future__ import annotations

import numpy as np

from bespoke.compiler.gates_format import GateNetwork


def random_network(seed: int, features: int = 5, sizes=(24, 18, 12), classes: int = 3, bits: int = 4,
                   skips: bool = True) -> GateNetwork:
    """Layers reading the layer before (or, with `skips`, any earlier net); thresholds including
    ones the code range makes constant (0 and 2^bits)."""
    rng = np.random.default_rng(seed)
    top = 1 << bits
    thresholds = [sorted(rng.choice(np.arange(0, top + 1), size=int(rng.integers(0, 4)), replace=False).tolist())
                  for _ in range(features)]
    if not sum(map(len, thresholds)):
        thresholds[0] = [top // 2]
    B = sum(map(len, thresholds))
    layers, lo, hi = [], 0, B
    for n in sizes:
        first = 0 if skips else lo
        a, b = rng.integers(first, hi, n), rng.integers(first, hi, n)
        same = rng.random(n) < 0.1
        b[same] = a[same]  # a gate reading one net twice
        layers.append((a, b, rng.integers(0, 16, n)))
        lo, hi = hi, hi + n
    return GateNetwork(bits, np.full(features, 1.0 / (top - 1)), np.zeros(features), thresholds, layers, classes,
                       labels=[10 + k for k in range(classes)])


def all_codes(features: int, bits: int, limit: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 1 << bits, (limit, features))
