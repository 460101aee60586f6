"""The user's ONNX model executed as ONNX defines it: the reference a PASS is checked against.

Plain ONNX graphs run in onnxruntime with its graph optimisations switched off. Optimised,
onnxruntime fuses DequantizeLinear -> MatMul -> QuantizeLinear into integer kernels (QGemm,
QLinearMatMul) whose u8 x s8 dot products saturate in 16 bits on x86 CPUs without VNNI
(AVX2 `vpmaddubsw`): the same QDQ model then gives different answers on different machines.
Unoptimised, every node computes what the ONNX operator definition says, in float32.

Graphs with QONNX custom operators (Quant, BipolarQuant, MultiThreshold) run in qonnx's own
executor, node by node, which is how Brevitas and FINN define their meaning.
"""

from __future__ import annotations

import warnings

import numpy as np
import onnx

from bespoke.compiler.errors import BespokeError
from bespoke.compiler.onnx_frontend import QONNX_DOMAINS

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
    m = onnx.ModelProto()
    m.CopyFrom(model)
    del m.graph.value_info[:]  # inferred again for the new batch
    inits = {i.name for i in m.graph.initializer}
    for vi in [v for v in m.graph.input if v.name not in inits] + list(m.graph.output):
        dims = vi.type.tensor_type.shape.dim
        if len(dims):
            dims[0].Clear()
            dims[0].dim_value = batch
    return m


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
