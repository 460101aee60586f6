"""infer-ranges: interval analysis giving every integer tensor element a proven [lo, hi].

The HDL sizes every signal from these ranges, and the golden model checks every value against
them, so they must be sound (never too narrow); they are as tight as interval arithmetic allows.
The rule of each layer is its `infer_range` (bespoke.compiler.layers); this pass applies them in
topological order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bespoke.compiler.errors import BespokeError
from bespoke.compiler.ir import IR
from bespoke.compiler.ops import dense_range  # noqa: F401  (re-exported: the exact range of a MAC)
from bespoke.compiler.passes import Pass, PassResult, register

# int64 must hold every intermediate value of the golden model; ranges beyond this are refused.
INT64_SAFE_BITS = 62


@register
@dataclass(frozen=True)
class InferRanges(Pass):
    name = "infer-ranges"
    requires = ("integer",)
    ensures = ("integer", "ranges")

    def apply(self, ir: IR, ctx):
        for n in ir.order():
            info = ir.out(n)
            ins = [(ir.out(i).lo, ir.out(i).hi) for i in ir.inputs_of(n)]
            lo, hi = ir.layer(n).infer_range(*ins)
            lo, hi = [int(v) for v in lo], [int(v) for v in hi]
            check_int64_safe(n, ir.layer(n), max(map(abs, lo + hi), default=0), ins)
            info.lo = np.array(lo, dtype=np.int64)
            info.hi = np.array(hi, dtype=np.int64)
        return PassResult(ir, True)


def check_int64_safe(node: str, layer, peak: int, ins) -> None:
    """A user error when a layer's proven values (or what it forms on the way) do not fit the
    INT64_SAFE_BITS the golden model and the netlist interpreter compute in: refused with the
    limit rather than computed wrong."""
    peak = max(peak, layer.work_peak(*ins) if ins else 0)
    if peak.bit_length() > INT64_SAFE_BITS:
        raise BespokeError(f"node {node!r} ({layer.op}): values reach {peak.bit_length()} bits, beyond the "
                           f"{INT64_SAFE_BITS}-bit limit of the golden model's int64 arithmetic; use fewer --input-bits, "
                           "--weight-bits or --act-bits")
