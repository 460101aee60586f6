"""restrict-ranges: clamp activations to the ranges seen on the calibration data (Ranger, Chen et al., DSN 2021).

A hardware fault (a stuck net, a flipped register bit) usually shows as an activation far outside
anything the network produced on its training data, and a large wrong value carries the error
through every layer after it. Clamping each activation layer to the [min, max] it reached on the
calibration data stops such a value at the clamp, for the price of the clamp's comparators.

Clamped (per="layer", the default: one bound pair per layer, as Ranger does; per="neuron": one
per element, tighter, with more comparators):
  - every requantiser: its qmin/qmax tightened to the profiled range;
  - the raw scores in front of an ArgMax (unless a requantiser already feeds it): an identity
    Requant (mult 1, shift 0) inserted as their clamp.
Binary activations (Threshold) have nothing to restrict. On the calibration data the clamps never
act, so the design computes there exactly what it did before; an input that drives an activation
beyond every profiled value is clamped, so the pass marks the model inexact. It clears the proven
ranges (the clamps make them tighter): run infer-ranges after it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from bespoke.compiler.errors import BespokeError
from bespoke.compiler.ir import IR, ArgMax, Requant
from bespoke.compiler.passes import Pass, PassResult, register

INEXACT = "activations clamped to the ranges seen on the calibration data (restrict-ranges)"


@register
@dataclass(frozen=True)
class RestrictRanges(Pass):
    name = "restrict-ranges"
    requires = ("integer",)
    per: str = "layer"

    def apply(self, ir: IR, ctx) -> PassResult:
        if self.per not in ("neuron", "layer"):
            raise BespokeError(f"restrict-ranges: per={self.per!r}; expected per=neuron or per=layer")
        data = ctx.get("calibration")
        if data is None:
            raise BespokeError("restrict-ranges clamps activations to the ranges seen on calibration data: "
                               "give the training data with --calibration CSV")
        values = ir.node_values(ir.encode_inputs(np.asarray(data, dtype=float)).astype(np.int64))
        modified = False
        for n in list(ir.order()):
            layer = ir.layer(n)
            if isinstance(layer, Requant):
                lo, hi = self._range(values[n])
                lo, hi = np.maximum(layer.qmin, lo), np.minimum(layer.qmax, hi)
                if not (np.all(lo == layer.qmin) and np.all(hi == layer.qmax)):
                    ir.replace_layer(n, dataclasses.replace(layer, qmin=self._clamp(lo), qmax=self._clamp(hi)))
                    modified = True
            elif isinstance(layer, ArgMax) and not isinstance(ir.layer(src := ir.inputs_of(n)[0]), Requant):
                lo, hi = self._range(values[src])
                ones, zeros = np.ones(len(lo), np.int64), np.zeros(len(lo), np.int64)
                clamp = Requant(mult=ones, shift=zeros, zero_point=zeros, qmin=self._clamp(lo), qmax=self._clamp(hi))
                ir.insert_before(n, f"{src}_restricted", clamp)
                modified = True
        if modified:
            ir.meta["inexact"] = list(ir.meta.get("inexact", [])) + [INEXACT]
            ir.clear_ranges()
        return PassResult(ir, modified)

    def _range(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(lo, hi) per element of values v [samples, elements]: each element's own (per=neuron)
        or the layer's extremes for every element (per=layer)."""
        if self.per == "neuron":
            return v.min(axis=0).astype(np.int64), v.max(axis=0).astype(np.int64)
        return np.full(v.shape[1], v.min(), np.int64), np.full(v.shape[1], v.max(), np.int64)

    @staticmethod
    def _clamp(bounds: np.ndarray) -> int | np.ndarray:
        """The Requant field: one int when every element has the same bound."""
        return int(bounds[0]) if np.all(bounds == bounds[0]) else bounds.astype(np.int64)

