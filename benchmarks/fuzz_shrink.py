"""Shrinking a failing fuzz case to a small one: fewer neurons, fewer nonzero weights, a simpler
input vector, as long as the failure stays.

`shrink(model, x, fails)` takes an ONNX model, one input row and a predicate fails(model, x) ->
bool (True: the failure is still there; a model that no longer compiles counts as False, so
shrinking never wanders into another bug). Greedy passes until nothing changes:

- drop a neuron of a Gemm (transB=1) layer: its weight row and bias entry, and the next layer's
  column (the last layer keeps at least one output);
- zero weights and biases (the initializers a Gemm, MatMul, Conv, bias Add or quantiser reads),
  delta-debugging style: a whole block of nonzero values at once, halves of the block when that
  loses the failure, down to single values;
- zero the features of the input vector the same way.

benchmarks/fuzz.py shrinks every failure it finds before it saves the model and the row;
`replay(directory, fails)` runs the saved cases again (the regression check).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
from onnx import numpy_helper

Fails = Callable[[onnx.ModelProto, np.ndarray], bool]


def shrink(model: onnx.ModelProto, x: np.ndarray, fails: Fails, max_rounds: int = 8) -> tuple[onnx.ModelProto, np.ndarray]:
    """The smallest model and row found that still fail (fails(model, x) must hold at the start)."""
    x = np.array(x, dtype=float).reshape(-1)
    if not _holds(fails, model, x):
        raise ValueError("the case does not fail to begin with")
    for _ in range(max_rounds):
        before = size(model) + (int(np.count_nonzero(x)),)
        model = _drop_neurons(model, x, fails)
        model = _zero_weights(model, x, fails)
        x = _zero_features(model, x, fails)
        if size(model) + (int(np.count_nonzero(x)),) == before:
            break
    return model, x


def size(model: onnx.ModelProto) -> tuple[int, int]:
    """(neurons of the Gemm layers, nonzero weights and biases)."""
    neurons = sum(_weights(model)[n.input[1]].shape[0] for n in _gemms(model))
    nonzero = sum(int(np.count_nonzero(a)) for a in parameters(model).values())
    return neurons, nonzero


# the inputs that carry a layer's weights and biases (a quantiser's input: its integer or float values)
_PARAMETER_INPUTS = {"Gemm": (1, 2), "MatMul": (1,), "Conv": (1, 2), "Add": (1,), "DequantizeLinear": (0,), "Quant": (0,)}


def parameters(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    """The initializers that hold weights or biases (not scales, zero points or shapes)."""
    names = {n.input[i] for n in model.graph.node for i in _PARAMETER_INPUTS.get(n.op_type, ()) if i < len(n.input)}
    return {i.name: numpy_helper.to_array(i) for i in model.graph.initializer
            if i.name in names and numpy_helper.to_array(i).size > 1}


def _holds(fails: Fails, model, x) -> bool:
    try:
        return bool(fails(model, x))
    except Exception:  # noqa: BLE001 - a model the flow rejects is not the failure being shrunk
        return False


def _weights(model) -> dict[str, np.ndarray]:
    return {i.name: numpy_helper.to_array(i) for i in model.graph.initializer if len(i.dims) == 2}


def _gemms(model) -> list:
    """The Gemm nodes with an initializer weight in transB=1 form, in graph order."""
    weights = _weights(model)
    return [n for n in model.graph.node if n.op_type == "Gemm" and n.input[1] in weights
            and any(a.name == "transB" and a.i == 1 for a in n.attribute)]


def _with(model, arrays: dict[str, np.ndarray]) -> onnx.ModelProto:
    """A copy of `model` with the initializers named in `arrays` replaced (dtype kept)."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    for init in out.graph.initializer:
        if init.name in arrays:
            dtype = numpy_helper.to_array(init).dtype
            init.CopyFrom(numpy_helper.from_array(arrays[init.name].astype(dtype), init.name))
    return out


def _drop_neurons(model, x, fails: Fails):
    k = 0
    while k < len(_gemms(model)):
        gemms = _gemms(model)
        node, following = gemms[k], gemms[k + 1] if k + 1 < len(gemms) else None
        j = 0
        while True:
            w = numpy_helper.to_array(next(i for i in model.graph.initializer if i.name == node.input[1]))
            if j >= w.shape[0] or w.shape[0] == 1:
                break
            candidate = _without_neuron(model, node, following, j)
            if candidate is not None and _holds(fails, candidate, x):
                model = candidate
            else:
                j += 1
        k += 1
    return model


def _without_neuron(model, node, following, j: int):
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    arrays = {node.input[1]: np.delete(inits[node.input[1]], j, axis=0)}
    if len(node.input) > 2 and node.input[2] in inits:
        arrays[node.input[2]] = np.delete(inits[node.input[2]], j, axis=0)
    if following is not None:
        if following.input[0] != node.output[0] and not _feeds(model, node, following):
            return None
        arrays[following.input[1]] = np.delete(inits[following.input[1]], j, axis=1)
    candidate = onnx.ModelProto()
    candidate.CopyFrom(model)
    for init in candidate.graph.initializer:
        if init.name in arrays:
            init.CopyFrom(numpy_helper.from_array(arrays[init.name], init.name))
    if following is None:  # the output's width changes with the last layer
        for out in candidate.graph.output:
            dims = out.type.tensor_type.shape.dim
            if len(dims) == 2 and dims[1].HasField("dim_value") and dims[1].dim_value > 1:
                dims[1].dim_value -= 1
    return candidate


def _feeds(model, node, following) -> bool:
    """`node` reaches `following` through elementwise nodes only (a Relu between two Gemms)."""
    value = node.output[0]
    for n in model.graph.node:
        if n.input and n.input[0] == value and n.op_type in ("Relu",):
            value = n.output[0]
    return following.input[0] == value


def _zero_weights(model, x, fails: Fails):
    for name in list(parameters(model)):
        def zeroed(mask, name=name):
            w = parameters(model)[name].copy()
            w.reshape(-1)[mask] = 0
            return _with(model, {name: w})

        nonzero = np.flatnonzero(parameters(model)[name])
        kept = _ddmin_zero(list(nonzero), lambda idx: _holds(fails, zeroed(np.array(idx, dtype=int)), x))
        model = zeroed(np.array(kept, dtype=int))
    return model


def _zero_features(model, x, fails: Fails) -> np.ndarray:
    def zeroed(idx):
        y = x.copy()
        y[np.array(idx, dtype=int)] = 0
        return y

    kept = _ddmin_zero(list(np.flatnonzero(x)), lambda idx: _holds(fails, model, zeroed(idx)))
    return zeroed(kept)


def _ddmin_zero(items: list[int], still_fails_without: Callable[[list[int]], bool]) -> list[int]:
    """The items to zero: blocks first (all, then halves, quarters, ...), each kept zeroed when
    the failure survives it together with the blocks zeroed before."""
    zeroed: list[int] = []
    blocks = [items]
    while blocks:
        block = blocks.pop(0)
        if not block:
            continue
        if still_fails_without(zeroed + block):
            zeroed += block
        elif len(block) > 1:
            blocks += [block[: len(block) // 2], block[len(block) // 2:]]
    return zeroed


def save(directory: Path, name: str, model: onnx.ModelProto, x: np.ndarray, options: dict) -> None:
    """A regression case: NAME.onnx, NAME.csv (the row) and NAME.json (the compile options)."""
    directory.mkdir(parents=True, exist_ok=True)
    onnx.save(model, directory / f"{name}.onnx")
    np.savetxt(directory / f"{name}.csv", np.asarray(x).reshape(1, -1), delimiter=",")
    plain = {k: (np.asarray(v).tolist() if isinstance(v, np.ndarray) else v) for k, v in options.items()}
    (directory / f"{name}.json").write_text(json.dumps(plain))


def replay(directory: Path, fails: Callable[[onnx.ModelProto, np.ndarray, dict], bool]) -> list[str]:
    """The saved cases of `directory` that fail again."""
    failing = []
    for path in sorted(Path(directory).glob("*.onnx")):
        x = np.loadtxt(path.with_suffix(".csv"), delimiter=",", ndmin=1)
        options = json.loads(path.with_suffix(".json").read_text())
        options = {k: (np.asarray(v) if isinstance(v, list) else v) for k, v in options.items()}
        if fails(onnx.load(str(path)), x, options):
            failing.append(path.stem)
    return failing
