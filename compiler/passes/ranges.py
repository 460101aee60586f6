"""infer-ranges: interval analysis giving every integer tensor element a proven [lo, hi].

The HDL sizes every signal from these ranges, and the golden model checks every value against
them, so they must be sound (never too narrow); they are as tight as interval arithmetic allows.
The rule of each layer is its `infer_range` (bespoke.compiler.layers); this pass applies them in
topological order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bespoke.compiler.ir import IR
from bespoke.compiler.ops import dense_range  # noqa: F401  (re-exported: the exact range of a MAC)
from bespoke.compiler.passes import Pass, PassResult, register


@register
@dataclass(frozen=True)
class InferRanges(Pass):
    name = "infer-ranges"
    requires = ("integer",)
    ensures = ("integer", "ranges")

    def apply(self, ir: IR, ctx):
        for n in ir.order():
            info = ir.out(n)
            lo, hi = ir.layer(n).infer_range(*[(ir.out(i).lo, ir.out(i).hi) for i in ir.inputs_of(n)])
            info.lo = np.array([int(v) for v in lo], dtype=np.int64)
            info.hi = np.array([int(v) for v in hi], dtype=np.int64)
        return PassResult(ir, True)
