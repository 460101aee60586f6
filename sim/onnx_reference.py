"""The user's ONNX model executed as ONNX defines it: the reference a PASS is checked against.

Plain ONNX graphs run in onnxruntime with its graph optimisations switched off. Optimised,
onnxruntime fuses DequantizeLinear -> MatMul -> QuantizeLinear into integer kernels (QGemm,
QLinearMatMul) whose u8 x s8 dot products saturate in 16 bits on x86 CPUs without VNNI
(AVX2 `vpmaddubsw`): the same QDQ model then gives different answers on different machines.
Unoptimised, every node computes what the ONNX operator definition says, in float32.

The golden model requantises as those integer kernels do (float32 multiplier, one float32
product: compiler.requant_fit); the unoptimised reference sums float32 products instead, so an
accumulator whose exact requantised value lies within float32 rounding (1e-4 relative) of a
rounding boundary can land on the other side. A row that differs only so (rounding those values
the other way reproduces the reference's output) is counted as a tie, apart from agreement.

Graphs with QONNX custom operators (Quant, BipolarQuant, MultiThreshold) run in qonnx's own
executor, node by node, which is how Brevitas and FINN define their meaning.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np
import onnx
from onnx import numpy_helper

from bespoke.compiler.errors import BespokeError, first_line
from bespoke.compiler.ir import IR, ArgMax, Requant
from bespoke.compiler.onnx_frontend import QONNX_DOMAINS
from bespoke.sim.golden import run_all

CHUNK = 4096  # rows per executor call: bounds memory for image models


def is_qonnx(model: onnx.ModelProto) -> bool:
    return any(n.domain in QONNX_DOMAINS for n in model.graph.node)


def run_reference(model: onnx.ModelProto, x: np.ndarray, output: str | None = None, batch: int = CHUNK) -> np.ndarray:
    """The named (default: first) output of the model for the rows of `x` (N x features, each
    row reshaped to the model's input shape), as an (N, k) array, `batch` rows per run (a graph
    whose Reshape fixes batch 1, as Brevitas' conv exports do, needs batch=1)."""
    inp = _graph_input(model)
    sample = [d.dim_value for d in inp.type.tensor_type.shape.dim[1:]]
    dtype = onnx.helper.tensor_dtype_to_np_dtype(inp.type.tensor_type.elem_type)
    x = np.asarray(x).astype(dtype).reshape([len(x)] + (sample or [-1]))
    output = output or model.graph.output[0].name
    runner = _qonnx_runner if is_qonnx(model) else _ort_runner
    outs, runs = [], {}
    for k in range(0, len(x), batch):
        chunk = x[k:k + batch]
        if len(chunk) not in runs:  # exporters fix the batch at 1: one graph per batch size
            runs[len(chunk)] = runner(_rebatched(model, len(chunk)), inp.name, output)
        outs.append(runs[len(chunk)](chunk).reshape(len(chunk), -1))
    return np.concatenate(outs) if outs else np.zeros((0, 1))


def _graph_input(model: onnx.ModelProto):
    inits = {t.name for t in model.graph.initializer}  # exporters may list initializers as inputs too
    inputs = [i for i in model.graph.input if i.name not in inits]
    if len(inputs) != 1:
        raise BespokeError(f"the model has {len(inputs)} inputs; the reference execution needs one")
    return inputs[0]


def _rebatched(model: onnx.ModelProto, batch: int) -> onnx.ModelProto:
    """The model with batch size `batch` on its input and outputs, and on the constant shapes of
    Reshapes that fix the exporter's batch of 1 (Brevitas' flatten: [1, -1])."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    del m.graph.value_info[:]  # inferred again for the new batch
    inits = {i.name: i for i in m.graph.initializer}
    for vi in [v for v in m.graph.input if v.name not in inits] + list(m.graph.output):
        dims = vi.type.tensor_type.shape.dim
        if len(dims):
            dims[0].Clear()
            dims[0].dim_value = batch
    for node in m.graph.node:
        shape = inits.get(node.input[1]) if node.op_type == "Reshape" and len(node.input) > 1 else None
        if shape is not None and _uses(m, shape.name) == 1:
            dims = numpy_helper.to_array(shape).copy()
            if dims.size and dims[0] == 1:
                dims[0] = batch
                shape.CopyFrom(numpy_helper.from_array(dims, shape.name))
    return m


def _uses(model: onnx.ModelProto, name: str) -> int:
    return sum(name in n.input for n in model.graph.node)


def _ort_runner(model: onnx.ModelProto, name: str, output: str):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return lambda chunk: np.asarray(session.run([output], {name: chunk})[0])


def _qonnx_runner(model: onnx.ModelProto, name: str, output: str):
    try:
        from qonnx.core.modelwrapper import ModelWrapper
        from qonnx.core.onnx_exec import execute_onnx
        from qonnx.custom_op.registry import add_domain_alias
        from qonnx.transformation.infer_shapes import InferShapes
    except ImportError:
        raise BespokeError("checking a QONNX model against its reference execution needs qonnx (pip install qonnx)") from None
    add_domain_alias("finn.custom_op.general", "qonnx.custom_op.general")  # FINN's domain, same operators
    with warnings.catch_warnings():  # qonnx notes that it renamed FINN's old domain
        warnings.simplefilter("ignore", UserWarning)
        wrapper = ModelWrapper(model).transform(InferShapes())
    return lambda chunk: np.asarray(execute_onnx(wrapper, {name: chunk})[output])


@dataclass
class ReferenceCheck:
    """The golden model against the user's ONNX model, executed by its reference engine, on the
    same real features: a PASS must mean the circuit computes what the user's model computes."""

    engine: str  # "onnxruntime" | "qonnx"
    vectors: int
    agree: int
    exact: bool  # the integer IR implements the model's own arithmetic: every row must agree
    why_inexact: list[str]  # what bespoke chose itself (calibrated quantisation, approximations)
    first_disagreements: list[dict]  # row, golden, reference
    ties: int = 0  # disagreements explained by float rounding: equal golden scores of both classes, or a
    # requantised value at a rounding boundary that the reference's float32 sums put on the other side
    error: str | None = None  # the reference engine could not run the model: nothing was checked

    @property
    def failed(self) -> bool:
        return self.error is None and self.exact and self.agree + self.ties < self.vectors

    def to_dict(self) -> dict:
        return {**asdict(self), "failed": self.failed}


def check_against_model(ir: IR, model: onnx.ModelProto, x: np.ndarray, codes: np.ndarray, values: dict | None = None) -> ReferenceCheck:
    """Run the golden model on `codes` (the encoding of the real features `x`; or take its node
    values `values`, sim.golden.run_all, when the caller has them) and the ONNX model on `x`, and
    compare the output the IR was compiled from."""
    values = run_all(ir, codes) if values is None else values
    engine, why = ("qonnx" if is_qonnx(model) else "onnxruntime"), list(ir.meta.get("inexact", []))
    try:
        ref = run_reference(model, x, ir.meta.get("output_name"))
    except BespokeError as e:
        return ReferenceCheck(engine, len(x), 0, not why, why, [], error=str(e))
    except Exception as e:  # the engine's own failure on this model: reported, not raised
        return ReferenceCheck(engine, len(x), 0, not why, why, [], error=f"{type(e).__name__}: {first_line(e)}")
    golden, same = _comparable(ir, values[ir.output_node()], ref)
    ties = _tied(ir, values, golden, ref, same)
    if not why:  # only an exact model's disagreements need explaining
        ties |= _rounded_apart(ir, values, ref, same | ties)
    rows = np.flatnonzero(~(same | ties))
    return ReferenceCheck(engine, len(x), int(same.sum()), not why, why,
                          [{"row": int(r), "golden": _plain(golden[r]), "reference": _plain(ref[r])} for r in rows[:5]],
                          int(ties.sum()))


def _comparable(ir: IR, out: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the golden output as the ONNX output states it, per-row agreement with `ref`)."""
    if isinstance(ir.layer(ir.output_node()), ArgMax):
        labels = ir.meta.get("labels")
        golden = np.asarray(labels, dtype=object)[out[:, :1]] if labels is not None else out[:, :1]
        return golden, np.all(golden.astype(ref.dtype) == ref, axis=1)
    if np.issubdtype(ref.dtype, np.integer):  # QuantizeLinear codes: compared as codes
        return out, np.all(out == ref, axis=1)
    info = ir.out(ir.output_node())
    real = out * info.scale + info.offset
    # float32 execution of the reference: sums of many terms round at ~1e-7 relative each
    return real, np.all(np.abs(real - ref) <= 1e-4 * (1 + np.abs(ref)), axis=1)


def _tied(ir: IR, values: dict, golden: np.ndarray, ref: np.ndarray, same: np.ndarray) -> np.ndarray:
    """Rows where golden and reference name different classes whose golden scores are equal: an
    exact tie, which the golden model breaks towards the lowest index and the float reference
    by its own rounding."""
    tied = np.zeros(len(same), dtype=bool)
    out = ir.output_node()
    labels = ir.meta.get("labels")
    if not isinstance(ir.layer(out), ArgMax) or labels is not None or not np.issubdtype(ref.dtype, np.integer):
        return tied
    (scores_node,) = ir.inputs_of(out)
    scores = values[scores_node]
    for r in np.flatnonzero(~same):
        a, b = int(golden[r, 0]), int(ref[r, 0])
        tied[r] = 0 <= b < scores.shape[1] and scores[r, a] == scores[r, b]
    return tied


BOUNDARY_REACH = 1e-4  # relative distance to a rounding boundary that float32 sums can cross
MAX_EXPLAINED = 100  # disagreeing rows examined for boundary roundings


def _rounded_apart(ir: IR, values: dict, ref: np.ndarray, explained: np.ndarray) -> np.ndarray:
    """Rows (at most MAX_EXPLAINED of the unexplained) whose reference output the golden model gives
    once its requantised values next to a rounding boundary are rounded the other way."""
    found = np.zeros(len(explained), dtype=bool)
    order, source = ir.order(), ir.input_node()
    for r in np.flatnonzero(~explained)[:MAX_EXPLAINED]:
        flipped = {source: values[source][r:r + 1]}
        for n in (n for n in order if n != source):
            layer, ins = ir.layer(n), [flipped[i] for i in ir.inputs_of(n)]
            flipped[n] = layer.evaluate(*ins)
            if isinstance(layer, Requant):
                flipped[n] = _other_rounding(ir, n, layer, ins[0], flipped[n])
        _, same = _comparable(ir, flipped[ir.output_node()], ref[r:r + 1])
        found[r] = bool(same[0])
    return found


def _other_rounding(ir: IR, n: str, layer: Requant, acc: np.ndarray, out: np.ndarray) -> np.ndarray:
    """`out` with each element whose exact value acc * s_in / s_out lies within BOUNDARY_REACH of a
    rounding boundary (a half-integer) moved to the integer on the boundary's other side."""
    s_in, s_out = ir.out(ir.inputs_of(n)[0]).scale, ir.out(n).scale
    if s_in is None or s_out is None:  # no real scale recorded (an inserted clamp): nothing to round
        return out
    v = acc.astype(np.float64) * s_in / s_out
    near = np.abs(v - np.floor(v) - 0.5) <= BOUNDARY_REACH * (1 + np.abs(v))
    if not near.any():
        return out
    other = np.where(out - layer.zero_point <= np.floor(v), np.ceil(v), np.floor(v)).astype(np.int64)
    return np.where(near, np.clip(other + layer.zero_point, layer.qmin, layer.qmax), out)


def _plain(v):
    v = np.asarray(v).ravel()
    return [x.item() if hasattr(x, "item") else x for x in v]
