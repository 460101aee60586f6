"""The golden model: a numpy interpreter of the IR, batched, bit-exact on integer IRs.

This is the reference every circuit is checked against. Each layer's meaning is its own
`evaluate` (bespoke.compiler.layers); this module walks the graph, binds the batch to the input,
and checks every integer value against its proven range. Integer IRs are evaluated in int64,
float IRs (the frontend's output, before quantisation) in float64, which gives the float model's
predictions.
"""

from __future__ import annotations

import numpy as np

from bespoke.compiler.ir import IR
from bespoke.compiler.ops import round_shift, windows  # noqa: F401  (the golden model's arithmetic, re-exported)

# int64 must hold every intermediate value; refuse IRs whose proven ranges come near that
# (infer-ranges already refuses them as a user error).
from bespoke.compiler.passes.ranges import INT64_SAFE_BITS as _INT64_SAFE_BITS  # noqa: E402


def eval_layer(layer, args: list[np.ndarray]) -> np.ndarray:
    """Evaluate one layer on a batch (rows are samples): the layer's declared semantics."""
    return layer.evaluate(*args)


def run_all(ir: IR, x: np.ndarray, check_ranges: bool = True) -> dict[str, np.ndarray]:
    """Every node's output tensor for the batch `x` (integer codes for integer IRs).

    With `check_ranges`, every integer tensor is checked against its proven range: a value
    outside it means the range analysis (and so the hardware widths) would be wrong.
    """
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"golden model expects a 2-D batch, got shape {x.shape}")
    integer = ir.is_integer()
    if integer:
        if not np.issubdtype(x.dtype, np.integer):
            raise ValueError("an integer IR takes integer input codes")
        _check_int64_safe(ir)
    size = ir.layer(ir.input_node()).size
    if x.shape[1] != size:
        raise ValueError(f"input has {x.shape[1]} features, the model takes {size}")
    return ir.node_values(x.astype(np.int64) if integer else x.astype(np.float64),
                          _check_range(ir) if integer and check_ranges else None)


def _check_range(ir: IR):
    """check(node, value) for IR.node_values: every element inside its node's proven range."""
    def check(n: str, value: np.ndarray) -> None:
        info = ir.out(n)
        if not info.has_ranges():
            return
        bad = (value < info.lo) | (value > info.hi)
        if bad.any():
            row, col = map(int, np.argwhere(bad)[0])
            raise AssertionError(f"node {n}: value {value[row, col]} of element {col} (sample {row}) outside its "
                                 f"proven range [{info.lo[col]}, {info.hi[col]}]")
    return check


def run(ir: IR, x: np.ndarray, check_ranges: bool = True) -> np.ndarray:
    """The output tensor of the IR for the batch `x`."""
    return run_all(ir, x, check_ranges)[ir.output_node()]


def _check_int64_safe(ir: IR) -> None:
    for n in ir.graph:
        info = ir.out(n)
        if info.has_ranges():
            peak = max(abs(int(info.lo.min())), abs(int(info.hi.max())))
            srcs = [ir.out(i) for i in ir.inputs_of(n)]
            if all(s.has_ranges() for s in srcs):
                peak = max(peak, ir.layer(n).work_peak(*[(s.lo, s.hi) for s in srcs]))
            if peak.bit_length() > _INT64_SAFE_BITS:
                raise ValueError(f"node {n}: values up to {peak} do not fit the golden model's int64")
