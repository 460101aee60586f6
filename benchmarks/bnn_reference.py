"""Reference execution of QONNX / FINN-style ONNX models for the BNN benchmarks: the ground truth
bespoke's predictions are checked against (bespoke.sim.onnx_reference, qonnx's executor)."""

from __future__ import annotations

import numpy as np
import onnx

from bespoke.sim.onnx_reference import run_reference


def qonnx_run(model: onnx.ModelProto | str, x: np.ndarray, output: str = "label", batch: int = 250) -> np.ndarray:
    """The named output of the model for every row of x (rows reshaped to the model's input shape)."""
    proto = onnx.load(model) if isinstance(model, str) else model
    return run_reference(proto, x, output, batch)


def qonnx_agreement(onnx_path, x: np.ndarray, golden: np.ndarray) -> tuple[int, int]:
    """(images on which the golden model's classes `golden` equal qonnx's, images): the check that
    what the RTL is verified against is the exported network itself."""
    return int(np.sum(qonnx_run(str(onnx_path), x)[:, 0] == np.asarray(golden).reshape(len(x), -1)[:, 0])), len(x)
