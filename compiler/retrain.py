"""Hardware-aware retraining of an integer MLP IR (approximation, issue 9), in numpy.

After coefficient approximation (weights restricted to powers of two, few-digit CSD, pruned),
input-bit masks, fewer activation bits or a coarse argmax, the integer network loses accuracy;
`retrain` fine-tunes its weights and biases so that it recovers, and returns a new integer IR:

- latent float weights start at the IR's integer weights; every step projects them onto the
  allowed sets (`project[name]`, e.g. `approx_sets.nearest_pow2`; plain rounding within the
  layer's current magnitude otherwise; biases rounded and kept within the accumulator's range);
- the forward pass is the IR's own integer semantics on the projected weights (each layer's
  `evaluate`: masks, requant floor/clip, argmax), so what is trained is what the circuit computes;
- the backward pass is a straight-through estimator: the projection, the rounding of a requant
  and the bits a mask drops pass the gradient unchanged (a requant scales it by mult / 2^shift
  and a clip stops it outside [qmin, qmax]; a mask 0 stops it: a pruned connection stays pruned);
- loss: softmax cross-entropy on the integers that feed the argmax divided by a temperature
  fixed at the start (from their spread over the training samples); Adam with a cosine-decayed
  step, shuffled mini-batches from np.random.default_rng(seed), so the same seed gives the same IR;
- after every epoch the projected network is evaluated on the whole training set with the
  integer semantics; the best epoch wins, and epoch 0 (the input IR projected, untrained) takes
  part, so the result is never worse on the training data than projecting without retraining.

It takes the printed-MLP family: a chain input -> (dense | requant | relu)* -> argmax with at
least one dense layer (e.g. input -> dense -> requant -> dense -> [requant] -> argmax); anything
else is a BespokeError. The compiler does not import bespoke.sim (the layering contract), so the
integer evaluation is a loop over the layers' `evaluate`, as the golden model's is.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

import numpy as np

from bespoke.compiler.errors import BespokeError
from bespoke.compiler.ir import IR, ArgMax, Dense, Relu, Requant
from bespoke.compiler.passes import PassManager

Projection = Callable[[np.ndarray], np.ndarray]

_CHAIN = "input -> (dense | requant | relu)* -> argmax"
_ADAM = (0.9, 0.999, 1e-8)
# temperature of the loss / spread of the initial logits; 0.1..0.5 measured alike on the bundled
# examples (pow2 and CSD-2 projections), sharper than 1 recovers more
_TEMPERATURE = 0.3


@dataclass
class _DenseParams:
    """One dense layer being trained: latent floats, their projection, and Adam's state."""

    name: str
    project: Projection
    w: np.ndarray  # latent float weights
    b: np.ndarray  # latent float biases
    w_limit: float  # latent weights stay within +-w_limit
    b_bound: int  # projected biases stay within +-b_bound
    lr_w: float
    lr_b: float
    live: np.ndarray | None  # mask != 0 (float), or None without a mask
    m_w: np.ndarray = None
    v_w: np.ndarray = None
    m_b: np.ndarray = None
    v_b: np.ndarray = None

    def __post_init__(self):
        self.m_w, self.v_w = np.zeros_like(self.w), np.zeros_like(self.w)
        self.m_b, self.v_b = np.zeros_like(self.b), np.zeros_like(self.b)

    def projected(self) -> tuple[np.ndarray, np.ndarray]:
        """(integer weights, integer biases) the hardware would get from the latent floats now."""
        w = np.asarray(self.project(self.w.copy()))
        if w.shape != self.w.shape:
            raise BespokeError(f"retrain: the projection of layer {self.name!r} returned shape {w.shape}, "
                               f"its weights are {self.w.shape}")
        if not np.issubdtype(w.dtype, np.integer):
            if not np.all(np.isfinite(w)) or np.any(w != np.rint(w)):
                raise BespokeError(f"retrain: the projection of layer {self.name!r} returned non-integer weights")
        b = np.clip(np.rint(self.b), -self.b_bound, self.b_bound)
        return w.astype(np.int64), b.astype(np.int64)


def retrain(ir: IR, codes: np.ndarray, labels: np.ndarray, project: dict[str, Projection] | None = None, *,
            epochs: int = 60, lr: float = 0.03, seed: int = 0, batch: int | None = None) -> IR:
    """The IR with its dense weights and biases retrained on (codes, labels) under `project`.

    ir: an integer MLP IR (see the module docstring), masks allowed; codes: [N, n_in] integer
    input codes (`ir.encode_inputs` of the features); labels: [N] class indices (argmax outputs).
    project: dense layer name -> function from a float weight matrix to the nearest allowed
    integer matrix of the same shape; a layer without one is rounded to integers within its
    current largest magnitude. epochs: passes over the data (0: only project); lr: Adam's step,
    relative to each layer's largest weight magnitude (biases: times the mean magnitude of the
    layer's input), decayed along a cosine over the epochs; batch: samples per step (default: about
    16 steps per epoch, 32..512 samples). Returns a new IR with int64 weights and biases, ranges
    re-inferred and verified; the input IR is not changed.
    """
    chain = _mlp_chain(ir)
    codes, labels = _check_data(ir, chain, codes, labels)
    if epochs < 0 or not lr > 0 or (batch is not None and batch < 1):
        raise BespokeError(f"retrain: needs epochs >= 0, lr > 0 and batch >= 1, got epochs={epochs}, lr={lr}, batch={batch}")
    dense_names = [n for n, layer in chain if isinstance(layer, Dense)]
    unknown = sorted(set(project or {}) - set(dense_names))
    if unknown:
        raise BespokeError(f"retrain: project names {unknown}, which are not dense layers of the IR; "
                           f"its dense layers: {dense_names}")
    params = _init_params(ir, chain, codes, project or {}, lr)

    best = _snapshot(params)
    logits = _forward(chain, best, codes)
    best_acc = _accuracy(chain, logits, labels)
    temperature = _temperature(logits)
    n = len(codes)
    batch = batch or int(np.clip(-(-n // 16), 32, 512))
    rng = np.random.default_rng(seed)
    step = 0
    for epoch in range(epochs):
        rate = _schedule(epoch, epochs)
        order = rng.permutation(n)
        for start in range(0, n, batch):
            rows = order[start:start + batch]
            step += 1
            current = _snapshot(params)
            cache: list = []
            z = _forward(chain, current, codes[rows], cache)
            _backward(chain, params, current, cache, _softmax_grad(z, labels[rows], temperature), step, rate)
        current = _snapshot(params)
        acc = _accuracy(chain, _forward(chain, current, codes), labels)
        if acc > best_acc:
            best, best_acc = current, acc
    return _build(ir, best)


# --------------------------------------------------------------------------- the network


def _mlp_chain(ir: IR) -> list[tuple[str, object]]:
    """The IR's layers from input to argmax, or a BespokeError naming what does not fit."""
    if not ir.is_integer():
        bad = next(n for n in ir.order() if not ir.layer(n).is_integer_valued())
        raise BespokeError(f"retrain: needs an integer IR, node {bad!r} ({ir.layer(bad).op}) is not integer; quantize first")
    try:
        node = ir.input_node()
        ir.output_node()
    except ValueError as e:
        raise BespokeError(f"retrain: {e}; supported: a chain {_CHAIN}") from None
    chain = []
    while True:
        layer = ir.layer(node)
        if chain and not isinstance(layer, (Dense, Requant, Relu, ArgMax)):
            raise BespokeError(f"retrain: node {node!r} ({layer.op}) is not supported; supported: a chain {_CHAIN}")
        chain.append((node, layer))
        users = ir.users_of(node)
        if isinstance(layer, ArgMax):
            break
        if len(users) != 1:
            raise BespokeError(f"retrain: node {node!r} ({layer.op}) feeds {len(users)} layers; supported: a chain {_CHAIN}")
        node = users[0]
    if len(chain) != ir.graph.number_of_nodes() or not any(isinstance(l, Dense) for _, l in chain):
        raise BespokeError(f"retrain: the IR is not a chain {_CHAIN} with a dense layer")
    return chain


def _check_data(ir, chain, codes, labels) -> tuple[np.ndarray, np.ndarray]:
    codes, labels = np.asarray(codes), np.asarray(labels)
    inp = chain[0][1]
    if codes.ndim != 2 or codes.shape[1] != inp.size or len(codes) == 0:
        raise BespokeError(f"retrain: codes must be [samples, {inp.size}], got shape {codes.shape}")
    if not np.issubdtype(codes.dtype, np.integer) or codes.min() < inp.lo or codes.max() > inp.hi:
        raise BespokeError(f"retrain: codes must be integers in the input's range [{inp.lo}, {inp.hi}] (ir.encode_inputs)")
    if labels.shape != (len(codes),):
        raise BespokeError(f"retrain: {len(codes)} samples need {len(codes)} labels, got shape {labels.shape}")
    n_classes = ir.out(chain[-2][0]).size
    if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() >= n_classes:
        raise BespokeError(f"retrain: labels must be class indices 0..{n_classes - 1} (the argmax outputs)")
    return codes.astype(np.int64), labels.astype(np.int64)


def _init_params(ir, chain, codes, project, lr) -> dict[str, _DenseParams]:
    try:
        ranged = PassManager.from_string("infer-ranges").run(ir)  # accumulator ranges bound the biases
    except ValueError as e:
        raise BespokeError(f"retrain: the IR's ranges cannot be inferred: {e}") from None
    params, h = {}, codes
    for name, layer in chain[1:]:
        if isinstance(layer, Dense):
            w = layer.weight.astype(np.float64)
            magnitude = float(np.abs(w).max()) if w.size else 0.0
            bound = int(magnitude) if magnitude > 0 else 127
            proj = project.get(name) or (lambda v, bound=bound: np.clip(np.rint(v), -bound, bound))
            acc = ranged.out(name)
            b_bound = int(max(np.abs(acc.lo).max(), np.abs(acc.hi).max(), np.abs(layer.bias).max(), 1))
            scale = max(magnitude, 1.0)
            mean_in = max(float(np.abs(h).mean()), 1.0)
            params[name] = _DenseParams(
                name=name, project=proj, w=w.copy(), b=layer.bias.astype(np.float64),
                w_limit=2 * max(bound, 1), b_bound=b_bound, lr_w=lr * scale, lr_b=lr * scale * mean_in,
                live=None if layer.mask is None else (layer.mask != 0).astype(np.float64))
        h = layer.evaluate(h)
    return params


def _snapshot(params) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {name: p.projected() for name, p in params.items()}


def _forward(chain, weights, x, cache: list | None = None) -> np.ndarray:
    """The integer network on projected `weights` (the layers' own evaluate) -> the argmax's
    input; with `cache`, records what the backward pass needs per layer."""
    h = x
    for name, layer in chain[1:-1]:
        if isinstance(layer, Dense):
            w, b = weights[name]
            out = dataclasses.replace(layer, weight=w, bias=b).evaluate(h)
            if cache is not None:
                cache.append(h)
        else:
            out = layer.evaluate(h)
            if cache is not None:
                if isinstance(layer, Requant):
                    u = layer._unclipped(h)
                    cache.append(((u >= layer.qmin) & (u <= layer.qmax)) * (layer.mult / np.exp2(layer.shift)))
                else:
                    cache.append((h > 0).astype(np.float64))
        h = out
    return h


def _backward(chain, params, weights, cache, g, step, rate) -> None:
    """Straight-through gradients of the loss, from its gradient g at the argmax's input, and
    one Adam step on every dense layer's latent weights and biases."""
    layers = chain[1:-1]
    first_dense = next(k for k, (_, l) in enumerate(layers) if isinstance(l, Dense))
    for k in range(len(layers) - 1, first_dense - 1, -1):
        name, layer = layers[k]
        saved = cache[k]
        if not isinstance(layer, Dense):
            g = g * saved
            continue
        p = params[name]
        w = weights[name][0].astype(np.float64)
        if layer.mask is None:
            g_w = g.T @ saved
            w_back = w
        else:
            masked = (saved[:, None, :] & layer.mask[None]).astype(np.float64)  # what each connection reads
            g_w = np.einsum("bo,boi->oi", g, masked)
            w_back = w * p.live
        g_b = g.sum(axis=0)
        if k > first_dense:
            g = g @ w_back
        _adam(p, g_w, g_b, step, rate)


def _adam(p: _DenseParams, g_w, g_b, step, rate) -> None:
    beta1, beta2, eps = _ADAM
    c1, c2 = 1 - beta1 ** step, 1 - beta2 ** step
    for value, m, v, grad, lr in ((p.w, p.m_w, p.v_w, g_w, p.lr_w), (p.b, p.m_b, p.v_b, g_b, p.lr_b)):
        m *= beta1
        m += (1 - beta1) * grad
        v *= beta2
        v += (1 - beta2) * grad * grad
        value -= rate * lr * (m / c1) / (np.sqrt(v / c2) + eps)
    np.clip(p.w, -p.w_limit, p.w_limit, out=p.w)
    np.clip(p.b, -2 * p.b_bound, 2 * p.b_bound, out=p.b)


def _schedule(epoch: int, epochs: int) -> float:
    """The step's factor in an epoch: cosine decay from 1 towards 0 over the run."""
    return 0.5 * (1 + np.cos(np.pi * epoch / epochs))


def _temperature(logits) -> float:
    """The loss's fixed temperature: a share of the spread of the argmax inputs about each
    sample's mean, at the start."""
    z = logits.astype(np.float64)
    spread = float((z - z.mean(axis=1, keepdims=True)).std())
    return _TEMPERATURE * spread if spread > 0 else 1.0


def _softmax_grad(z, labels, temperature) -> np.ndarray:
    """Gradient of the mean cross-entropy of softmax(z / temperature) with respect to z."""
    s = z.astype(np.float64) / temperature
    s -= s.max(axis=1, keepdims=True)
    p = np.exp(s)
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(labels)), labels] -= 1
    return p / (len(labels) * temperature)


def _accuracy(chain, logits, labels) -> float:
    """Share of samples whose argmax (the IR's ArgMax layer: lowest index on ties) is the label."""
    return float(np.mean(chain[-1][1].evaluate(logits)[:, 0] == labels))


def _build(ir: IR, weights) -> IR:
    out = ir.copy()
    for name, (w, b) in weights.items():
        out.replace_layer(name, dataclasses.replace(out.layer(name), weight=w, bias=b))
    out.clear_ranges()
    out = PassManager.from_string("infer-ranges").run(out)
    out.verify()
    return out
