"""Folding passes: remove layers whose work can be absorbed by their neighbours at no cost.

- fold-affine: elementwise x*scale+offset (normalisers, batch-norm, Add/Sub/Mul/Div by constants)
  goes into the weights and bias of the adjacent dense layer.
- merge-dense: two dense layers with nothing non-linear between them become one.
- fuse-relu: a ReLU right before a requantisation becomes the requantiser's lower clamp.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from bespoke.compiler.ir import IR, Affine, Dense, Relu, Requant
from bespoke.compiler.passes import Pass, PassResult, register


def _single_input(ir: IR, n: str) -> str:
    (src,) = ir.inputs_of(n)
    return src


def _float_dense(layer) -> bool:
    return isinstance(layer, Dense) and not layer.is_integer_valued()


def _fold_into_producer(ir: IR, n: str) -> bool:
    """Dense -> Affine: scale the rows, shift the bias. Only when the dense feeds nothing else."""
    src = _single_input(ir, n)
    dense, aff = ir.layer(src), ir.layer(n)
    if not _float_dense(dense) or ir.users_of(src) != [n]:
        return False
    weight_scale = None if dense.weight_scale is None else dense.weight_scale * np.abs(aff.scale)
    ir.replace_layer(src, Dense(weight=dense.weight * aff.scale[:, None], bias=dense.bias * aff.scale + aff.offset, weight_scale=weight_scale))
    ir.remove_passthrough(n)
    return True


def _fold_into_next_affine(ir: IR, n: str) -> bool:
    """Affine -> Affine: compose the two into the second."""
    users = ir.users_of(n)
    if len(users) != 1 or not isinstance(ir.layer(users[0]), Affine):
        return False
    first, second = ir.layer(n), ir.layer(users[0])
    ir.replace_layer(users[0], Affine(scale=first.scale * second.scale, offset=first.offset * second.scale + second.offset))
    ir.remove_passthrough(n)
    return True


def _fold_into_consumers(ir: IR, n: str) -> bool:
    """Affine -> Dense (every user): scale the columns, move the offset into the bias."""
    users = ir.users_of(n)
    if not users or not all(_float_dense(ir.layer(u)) for u in users):
        return False
    aff = ir.layer(n)
    for u in users:
        d = ir.layer(u)
        # An integer weight grid (QDQ) no longer holds once its columns are rescaled.
        ir.replace_layer(u, Dense(weight=d.weight * aff.scale[None, :], bias=d.bias + d.weight @ aff.offset, weight_scale=None))
    ir.remove_passthrough(n)
    return True


@register
@dataclass(frozen=True)
class FoldAffine(Pass):
    name = "fold-affine"

    def apply(self, ir: IR, ctx):
        changed = False
        for n in ir.order():
            if isinstance(ir.layer(n), Affine):
                aff = ir.layer(n)
                if np.all(aff.scale == 1) and np.all(aff.offset == 0):
                    ir.remove_passthrough(n)
                elif not (_fold_into_producer(ir, n) or _fold_into_next_affine(ir, n) or _fold_into_consumers(ir, n)):
                    continue
                changed = True
        return PassResult(ir, changed)


@register
@dataclass(frozen=True)
class MergeDense(Pass):
    name = "merge-dense"

    def apply(self, ir: IR, ctx):
        changed = False
        for n in ir.order():
            if n not in ir.graph or not _float_dense(ir.layer(n)):
                continue
            src = _single_input(ir, n)
            first, second = ir.layer(src), ir.layer(n)
            if _float_dense(first) and ir.users_of(src) == [n]:
                ir.replace_layer(n, Dense(weight=second.weight @ first.weight, bias=second.weight @ first.bias + second.bias))
                (grand,) = ir.inputs_of(src)
                ir.graph.remove_node(src)
                ir.graph.add_edge(grand, n, port=0)
                changed = True
        return PassResult(ir, changed)


@register
@dataclass(frozen=True)
class FuseRelu(Pass):
    """requant(relu(x)) == requant'(x) with qmin' = max(qmin, zero_point), as rounding keeps 0 at 0."""

    name = "fuse-relu"
    requires = ("integer",)
    ensures = ("integer",)  # and no ranges: the fused requant's are recomputed by infer-ranges

    def apply(self, ir: IR, ctx):
        changed = False
        for n in ir.order():
            layer = ir.layer(n)
            if not isinstance(layer, Requant) or np.any(layer.mult <= 0):
                continue
            src = _single_input(ir, n)
            if isinstance(ir.layer(src), Relu) and ir.users_of(src) == [n]:
                zp_floor = int(layer.zero_point.min())
                if zp_floor != int(layer.zero_point.max()):
                    continue  # per-element zero points would need per-element clamps
                ir.replace_layer(n, replace(layer, qmin=max(layer.qmin, zp_floor)))
                ir.remove_passthrough(src)
                changed = True
        if changed:
            ir.clear_ranges()
        return PassResult(ir, changed)
