"""Importing a difflogic-style PyTorch logic-gate network into a GateNetwork (gates.json).

difflogic's modules keep, per logic layer, the connection index tensors `indices` = (a, b) into
the previous layer's outputs and the gate logits `weights` [gates, 16] (the discrete gate is the
argmax, op ids in compiler.logic's order, which is difflogic's), and a group-sum head `GroupSum(k,
tau)` over the last layer. `from_torch` walks a module's submodules in definition order and reads
exactly that; torch is imported only by the caller's module (this file needs tensors' `.tolist()`
and `.detach()` only). The input encoding is not part of such a module: the caller states how
its input bits come from features (thresholds per feature on codes of `bits` bits).
"""

from __future__ import annotations

import numpy as np

from bespoke.compiler.errors import BespokeError
from bespoke.compiler.gates_format import GateNetwork, check


def _logic_layers(module) -> list:
    return [m for m in module.modules() if hasattr(m, "indices") and hasattr(m, "weights")]


def _group_sum(module):
    heads = [m for m in module.modules() if type(m).__name__ == "GroupSum" or (hasattr(m, "k") and hasattr(m, "tau"))]
    if not heads:
        raise BespokeError("the module has no GroupSum head (a submodule with `k` classes and `tau`)")
    return heads[-1]


def from_torch(module, thresholds: list[list[int]], bits: int = 1, scale=1.0, offset=0.0, labels: list | None = None,
               name: str = "gates") -> GateNetwork:
    """The discrete network of a difflogic-style module (see the module docstring). Its first
    layer reads the input bits [code_i >= t] for the `thresholds` of each feature, in order."""
    layers = _logic_layers(module)
    if not layers:
        raise BespokeError("the module has no logic layers (submodules with `indices` and `weights`)")
    head = _group_sum(module)
    n_features = len(thresholds)
    net = GateNetwork(bits, np.broadcast_to(np.asarray(scale, float), (n_features,)).copy(),
                      np.broadcast_to(np.asarray(offset, float), (n_features,)).copy(), [list(t) for t in thresholds], [],
                      int(head.k), float(getattr(head, "tau", 1.0)), labels, None, name, {"imported": "difflogic-style torch module"})
    start_prev, start, width = 0, net.n_bits, net.n_bits  # first net of the layer read, of this layer; width read
    for k, layer in enumerate(layers):
        a, b = (np.asarray(t.detach().cpu().tolist() if hasattr(t, "detach") else t, dtype=np.int64) for t in layer.indices)
        w = np.asarray(layer.weights.detach().cpu().tolist(), dtype=np.float64)
        if w.ndim != 2 or w.shape[1] != 16 or a.shape != (w.shape[0],) or b.shape != a.shape:
            raise BespokeError(f"logic layer {k}: weights must be [gates, 16] and indices two [gates] tensors, got "
                               f"{list(w.shape)}, {list(a.shape)}, {list(b.shape)}")
        if a.min(initial=0) < 0 or max(a.max(initial=0), b.max(initial=0)) >= width or b.min(initial=0) < 0:
            raise BespokeError(f"logic layer {k}: an index is outside the {width} outputs of the layer before")
        net.layers.append((a + start_prev, b + start_prev, w.argmax(axis=1).astype(np.int64)))
        start_prev, start, width = start, start + len(a), len(a)
    check(net)
    return net
