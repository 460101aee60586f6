"""Reference execution of QONNX / FINN-style ONNX models with the `qonnx` package (pip install qonnx).

qonnx executes its custom operators (Quant, BipolarQuant, MultiThreshold) in numpy and every
standard operator through onnxruntime, node by node: the ground truth bespoke's predictions are
checked against. Models are exported for batch 1; they are re-batched here (the batch axis of the
input and outputs set to the batch size, shapes inferred again) so one pass runs many samples.
"""

from __future__ import annotations

import warnings

import numpy as np
import onnx


def _rebatched(model: onnx.ModelProto, batch: int) -> onnx.ModelProto:
    m = onnx.ModelProto()
    m.CopyFrom(model)
    del m.graph.value_info[:]
    inits = {i.name for i in m.graph.initializer}  # exporters may list initializers as inputs too
    for vi in [v for v in m.graph.input if v.name not in inits] + list(m.graph.output):
        dims = vi.type.tensor_type.shape.dim
        if len(dims):
            dims[0].Clear()
            dims[0].dim_value = batch
    return m


def qonnx_run(model: onnx.ModelProto | str, x: np.ndarray, output: str = "label", batch: int = 250) -> np.ndarray:
    """The named output of the model for every row of x (rows reshaped to the model's input shape)."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.custom_op.registry import add_domain_alias
    from qonnx.transformation.infer_shapes import InferShapes

    add_domain_alias("finn.custom_op.general", "qonnx.custom_op.general")  # FINN's domain, same operators
    proto = onnx.load(model) if isinstance(model, str) else model
    inits = {i.name for i in proto.graph.initializer}
    inp = next(v for v in proto.graph.input if v.name not in inits)
    sample = [d.dim_value for d in inp.type.tensor_type.shape.dim][1:]
    outs, wrappers = [], {}
    for k in range(0, len(x), batch):
        chunk = np.asarray(x[k:k + batch], dtype=np.float32).reshape(-1, *sample)
        n = len(chunk)
        if n not in wrappers:
            with warnings.catch_warnings():  # qonnx notes that it renamed FINN's old domain
                warnings.simplefilter("ignore", UserWarning)
                wrappers[n] = ModelWrapper(_rebatched(proto, n)).transform(InferShapes())
        outs.append(np.asarray(execute_onnx(wrappers[n], {inp.name: chunk})[output]).reshape(n, -1))
    return np.concatenate(outs)


def qonnx_agreement(onnx_path, x: np.ndarray, golden: np.ndarray) -> tuple[int, int]:
    """(images on which the golden model's classes `golden` equal qonnx's, images): the check that
    what the RTL is verified against is the exported network itself."""
    return int(np.sum(qonnx_run(str(onnx_path), x)[:, 0] == np.asarray(golden).reshape(len(x), -1)[:, 0])), len(x)
