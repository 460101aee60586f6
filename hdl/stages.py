"""The stage structure of the unrolled architecture, shared by its netlist planner (hdl.unrolled)
and the Amaranth lowering (hdl.lower): which IRs can be built, which binarized accumulator is fused
into its K = 1 threshold, and where the pipeline registers go.
"""

from __future__ import annotations

import numpy as np

from bespoke.compiler.errors import BespokeError
from bespoke.compiler.ir import IR, ArgMax, Conv2d, Dense, Input, MaxPool2d, Requant, Threshold, XnorPopcount
from bespoke.hdl.conv import conv_taps
from bespoke.hdl.xnor_plan import BitRow

SUPPORTED = ("input", "dense", "relu", "requant", "argmax", "xnor_popcount", "threshold", "conv2d", "maxpool2d", "pad2d", "thermometer",
             "logic_gates", "group_sum")
# layers followed by a register stage when pipelined (unless their only user is in POOLED_INTO)
REGISTERED = (Dense, Requant, ArgMax, XnorPopcount, Conv2d, Threshold, MaxPool2d)
POOLED_INTO = (Threshold, MaxPool2d)

def check_ir(ir: IR) -> None:
    """User errors first: only integer layers we can build, one input and output, ranges known."""
    for n in ir.order():
        layer = ir.layer(n)
        if isinstance(layer, (Dense, Conv2d)) and not layer.is_integer_valued() or not layer.integer:
            raise BespokeError(f"node {n}: {layer.op} is a float layer; run a quantize pass before lowering to hardware")
        binary = isinstance(layer, XnorPopcount) or isinstance(layer, Conv2d) and layer.binary
        if binary and not np.isin(layer.weight, (0, 1)).all():
            raise BespokeError(f"node {n}: {layer.op} is binarized but has weights other than 0/1 (1 stands for +1, 0 for -1)")
        if layer.op not in SUPPORTED:
            raise BespokeError(f"node {n}: operator {layer.op!r} has no HDL lowering; supported: {', '.join(SUPPORTED)}")
        if len(ir.inputs_of(n)) != (0 if isinstance(layer, Input) else 1):
            raise BespokeError(f"node {n} ({layer.op}): expected {'no' if isinstance(layer, Input) else 'one'} input")
    if not ir.has_ranges():
        raise BespokeError("the HDL lowering needs value ranges; run the infer-ranges pass first")
    try:
        ir.input_node(), ir.output_node()
    except ValueError as e:
        raise BespokeError(f"cannot lower IR {ir.name!r}: {e}") from None


def binary_rows(layer) -> list[BitRow]:
    """(input index, weight bit) per neuron of an XnorPopcount or a binary Conv2d."""
    idx, w = binary_taps(layer)
    return [list(zip(i, b)) for i, b in zip(idx.tolist(), w.tolist())]


def binary_taps(layer) -> tuple[np.ndarray, np.ndarray]:
    """binary_rows as two [neurons, fan-in] arrays: the input indices and the weight bits."""
    w = np.asarray(layer.weight)
    if isinstance(layer, XnorPopcount):
        return np.broadcast_to(np.arange(w.shape[1]), w.shape), w
    c_out, _, kh, kw = w.shape
    taps = conv_taps(tuple(layer.in_shape), kh, kw, layer.stride)  # a convolution: each channel's kernel at every position
    return np.tile(taps, (c_out, 1)), np.repeat(w.reshape(c_out, -1), len(taps), axis=0)


def fused_accumulator(ir: IR, n: str) -> str | None:
    """The binarized accumulator computed inside K = 1 Threshold node n (it feeds only n), if any."""
    layer = ir.layer(n)
    if not isinstance(layer, Threshold) or layer.thresholds.shape[1] != 1:
        return None
    (acc,) = ir.inputs_of(n)
    kind = ir.layer(acc)
    binary = isinstance(kind, XnorPopcount) or isinstance(kind, Conv2d) and kind.binary
    return acc if binary and ir.users_of(acc) == [n] else None


def registered(ir: IR, n: str) -> bool:
    """Whether a pipeline register follows node n."""
    users = ir.users_of(n)
    pooled = len(users) == 1 and isinstance(ir.layer(users[0]), POOLED_INTO)
    return isinstance(ir.layer(n), REGISTERED) and not pooled


def stage_depths(ir: IR, pipeline: bool) -> dict[str, int]:
    """Register stages between the input and each node's output."""
    depth = {}
    for n in ir.order():
        srcs = ir.inputs_of(n)
        depth[n] = (depth[srcs[0]] if srcs else 0) + int(pipeline and registered(ir, n))
    return depth


def stage_op(ir: IR, n: str) -> str:
    acc = fused_accumulator(ir, n)
    return f"{ir.layer(acc).op}+threshold" if acc else ir.layer(n).op
