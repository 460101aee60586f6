"""The input stage of a model that quantises its own input, run as the model runs it: in float32.

A QDQ or QONNX model turns its float input into codes with its own arithmetic: an optional
elementwise prefix (Brevitas' `2x - 1`, FINN's `x / 255`), then a quantiser (QuantizeLinear,
Quant, BipolarQuant, MultiThreshold). onnxruntime and qonnx compute it in float32, so the code
of a feature exactly halfway between two steps, or exactly on a threshold, is what float32
rounding makes it. The encoder replays the same float32 operations, so the circuit gets the codes
the model itself would compute, bit for bit.

An encoding (JSON-able, kept in the IR's meta["input_program"]):
  {"ops": [["affine", scale[], offset[]] | ["div", divisor[]], ...],   applied in order
   "quantiser": {"kind": "round", "scale": [], "zero_point": [], "lo": int, "hi": int, "rounding": str,
                 "zero_point_after": bool}
              | {"kind": "steps", "scale": [], "zero_point": [], "thresholds": [[...] per element]}}
"round": code = clip(rounding(v / scale + zero_point), lo, hi) as QONNX's Quant computes it, or
with zero_point_after clip(rint(v / scale) + zero_point, lo, hi) as QuantizeLinear does (the
float32 sum of the two can round differently); "steps": code = the number of
thresholds t with v / scale + zero_point >= t (an input binariser: one threshold, 0).
"""

from __future__ import annotations

import numpy as np

from bespoke.compiler.ops import ROUNDING_FUNCTIONS

F32 = np.float32


def encode(program: dict, x: np.ndarray) -> np.ndarray:
    """Real features (samples x elements) -> integer codes, by the model's float32 arithmetic."""
    v = np.asarray(x, dtype=np.float64).astype(F32)
    with np.errstate(over="ignore", invalid="ignore"):
        for op in program["ops"]:
            if op[0] == "div":
                v = v / _f32(op[1])
            else:
                v = v * _f32(op[1]) + _f32(op[2])
        q = program["quantiser"]
        y = v / _f32(q["scale"])
        if q.get("zero_point_after"):
            codes = ROUNDING_FUNCTIONS[q["rounding"]](y).astype(np.float64) + np.asarray(q["zero_point"], dtype=np.float64)
            return np.clip(np.nan_to_num(codes, nan=0.0), q["lo"], q["hi"]).astype(np.int64)
        y = y + _f32(q["zero_point"])
        if q["kind"] == "steps":
            t = np.asarray(q["thresholds"], dtype=F32)
            return np.sum(y[:, :, None] >= t[None, :, :], axis=2).astype(np.int64)
        y = np.clip(np.nan_to_num(y, nan=0.0), q["lo"], q["hi"])  # qonnx clips, then rounds
        return ROUNDING_FUNCTIONS[q["rounding"]](y).astype(np.int64)


def clamped(program: dict, x: np.ndarray) -> np.ndarray:
    """Per element, whether the quantiser saturates it: its code would lie outside [lo, hi]
    without the clip (a thresholding quantiser has no range to leave: never)."""
    q = program["quantiser"]
    if q["kind"] == "steps":
        return np.zeros(np.shape(x), dtype=bool)
    unclipped = encode({**program, "quantiser": {**q, "lo": -np.inf, "hi": np.inf}}, x)
    return (unclipped < q["lo"]) | (unclipped > q["hi"])


def describe(program: dict) -> str:
    """The encoding in words, for the Verilog header (element 0's constants)."""
    expr, bare = "feature", True  # bare: needs no parentheses
    for op in program["ops"]:
        inner = expr if bare else f"({expr})"
        if op[0] == "div":
            expr = f"{inner} / {_g(op[1][0])}"
        else:
            scale, offset = op[1][0], op[2][0]
            expr = inner if scale == 1 else f"{_g(scale)} x {inner}"
            expr += f" {'-' if offset < 0 else '+'} {_g(abs(offset))}" if offset else ""
        bare = False
    q = program["quantiser"]
    y = expr if q["scale"][0] == 1 else f"{expr if bare else f'({expr})'} / {_g(q['scale'][0])}"
    y += f" + {_g(q['zero_point'][0])}" if q["zero_point"][0] else ""
    if q["kind"] == "steps":
        return f"code = number of thresholds t with {y} >= t, t in {', '.join(_g(t) for t in q['thresholds'][0])} (float32, as the model computes)"
    return f"code = {q['rounding'].lower()}({y}) clipped to [{q['lo']}, {q['hi']}] (float32, as the model computes)"


def _f32(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).astype(F32)


def _g(v) -> str:
    return f"{float(v):g}"
