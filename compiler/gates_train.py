"""Training a differentiable logic-gate network (difflogic's method) in numpy, for tabular data.

The method of Petersen et al. (NeurIPS'22), written here from the paper:
- inputs: each feature's ADC code (the encoding an exact MLP gets with the same input bits) as a
  thermometer code, [code >= t] for a few thresholds at the training data's quantiles;
- layers of gates with fixed random connections: every gate reads two distinct outputs of the
  layer before (the first layer: the input bits), each of them read by some gate where the
  layer is wide enough;
- relaxation: a gate holds 16 logits w; in training it outputs the softmax(w)-weighted mix of
  the 16 functions' real-valued forms (each function's multilinear extension, compiler.logic
  COEFFS: a + b - ab for OR, ...), on inputs that are probabilities;
- head: group sum, class score = (sum of its group's outputs) / tau, softmax cross-entropy;
- optimiser: Adam on mini-batches; discretisation: each gate becomes its most likely function.
After every epoch the discretised network is scored on the training data and the best so far is
kept (the test data, when given, is only printed). Fixed seed -> the same network.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bespoke.compiler import logic
from bespoke.compiler.errors import BespokeError
from bespoke.compiler.gates_format import GateNetwork


@dataclass(frozen=True)
class TrainOptions:
    gates: int = 300  # gates in all layers
    layers: int = 2
    group: int | None = None  # last-layer gates per class (None: equal layers)
    sizes: tuple[int, ...] | None = None  # gates per layer, overriding gates / layers / group
    thresholds: int = 3  # thermometer bits per feature (at most)
    threshold_step: int = 1  # thresholds on multiples of this code step only
    input_bits: int = 4
    epochs: int = 200
    min_steps: int = 2000  # at least this many mini-batch steps (more epochs on a small data set)
    batch: int = 128
    lr: float = 0.01
    tau: float | None = None  # None: sqrt(gates per class)
    seed: int = 0


def input_encoding(x: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """(scale, offset) per feature: the training range in 2^bits - 1 steps (the quantise pass's rule)."""
    lo, hi = x.min(axis=0), x.max(axis=0)
    step = (hi - lo) / ((1 << bits) - 1)
    return np.where(step > 0, step, 1.0), lo


def quantile_thresholds(codes: np.ndarray, k: int, step: int = 1) -> list[list[int]]:
    """Per feature at most k thresholds t (bit = code >= t) at the codes' (j / (k+1))-quantiles,
    each splitting the training codes (above their minimum); with `step`, multiples of it only
    (code >= 8 is a wire, code >= 4 or 12 one gate, on 4-bit codes)."""
    out = []
    for col in codes.T:
        lo, hi = int(col.min()), int(col.max())
        ts = {int(np.quantile(col, j / (k + 1), method="nearest")) for j in range(1, k + 1)}
        ts = {min(max(t, lo + 1), hi) for t in ts} if hi > lo else set()
        if step > 1:
            ts = {t for t in (step * max(1, round(t / step)) for t in ts) if lo < t <= hi}
        out.append(sorted(ts))
    return out


def layer_sizes(gates: int, layers: int, classes: int, group: int | None = None) -> list[int]:
    """Gates per layer: the last one `group` gates per class (None: equal layers, the last a
    multiple of the classes), the layers before it sharing the rest equally."""
    if group is None:
        per = gates // max(layers, 1)
        sizes = [per] * (layers - 1) + [per - per % classes]
    else:
        rest = gates - group * classes
        sizes = [rest // (layers - 1)] * (layers - 1) + [group * classes] if layers > 1 else [group * classes]
    if layers < 1 or min(sizes, default=0) < 1 or sizes[-1] < classes:
        raise BespokeError(f"{gates} gates in {layers} layers for {classes} classes"
                           + (f", {group} per class in the last layer" if group else "") + ": a layer would be empty")
    return sizes


def connections(rng: np.random.Generator, n_in: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Two distinct inputs per gate, every input read by some gate when 2n >= n_in."""
    picks = np.concatenate([rng.permutation(n_in) for _ in range(-(-2 * n // n_in))])[:2 * n]
    a, b = picks[:n].copy(), rng.permutation(picks[n:])
    if n_in > 1:
        same = a == b
        while same.any():
            b[same] = rng.integers(0, n_in, int(same.sum()))
            same = a == b
    return a, b


class _Layer:
    """One layer of relaxed gates; activations are [units, batch] float32 (gathers of whole rows)."""

    def __init__(self, rng, n_in: int, n: int):
        self.a, self.b = connections(rng, n_in, n)
        self.n_in = n_in
        self.w = rng.standard_normal((n, logic.N_OPS))
        self.m = np.zeros_like(self.w)
        self.v = np.zeros_like(self.w)
        self.fan_out = [_fan_out(idx) for idx in (self.a, self.b)]

    def coeffs(self, discrete: bool) -> np.ndarray:
        if discrete:
            return logic.COEFFS[self.w.argmax(axis=1)].astype(np.float32)
        e = np.exp(self.w - self.w.max(axis=1, keepdims=True))
        self.p = e / e.sum(axis=1, keepdims=True)
        return (self.p @ logic.COEFFS).astype(np.float32)

    def forward(self, x: np.ndarray, discrete: bool = False) -> np.ndarray:
        c = self.coeffs(discrete)
        self.xa, self.xb, self.c = x[self.a], x[self.b], c
        return c[:, 0, None] + c[:, 1, None] * self.xa + c[:, 2, None] * self.xb + c[:, 3, None] * self.xa * self.xb

    def backward(self, g: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        """Given dL/dy, the gradient of the logits (kept) and dL/dx (returned, when needed)."""
        xa, xb, c = self.xa, self.xb, self.c
        dc = np.stack([g.sum(axis=1), (g * xa).sum(axis=1), (g * xb).sum(axis=1), (g * xa * xb).sum(axis=1)],
                      axis=1).astype(np.float64)
        dp = dc @ logic.COEFFS.T
        self.grad = self.p * (dp - (self.p * dp).sum(axis=1, keepdims=True))
        if not need_dx:
            return None
        ga, gb = g * (c[:, 1, None] + c[:, 3, None] * xb), g * (c[:, 2, None] + c[:, 3, None] * xa)
        dx = np.zeros((self.n_in, g.shape[1]), dtype=np.float32)
        for (order, present, first), gv in zip(self.fan_out, (ga, gb)):
            dx[present] += np.add.reduceat(gv[order], first, axis=0)
        return dx

    def adam(self, lr: float, t: int, b1=0.9, b2=0.999, eps=1e-8) -> None:
        self.m = b1 * self.m + (1 - b1) * self.grad
        self.v = b2 * self.v + (1 - b2) * self.grad ** 2
        self.w -= lr * (self.m / (1 - b1 ** t)) / (np.sqrt(self.v / (1 - b2 ** t)) + eps)


def _fan_out(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(order, inputs read, first position of each in order): row j of a gradient in `order`
    goes to input idx[j]; reduceat over the runs sums each input's share (its fan-out)."""
    order = np.argsort(idx, kind="stable")
    present, first = np.unique(idx[order], return_index=True)
    return order, present, first


class Model:
    """The relaxed network: layers, group-sum head."""

    def __init__(self, n_bits: int, sizes: list[int], classes: int, tau: float, rng):
        self.layers, n_in = [], n_bits
        for n in sizes:
            self.layers.append(_Layer(rng, n_in, n))
            n_in = n
        self.classes, self.tau = classes, tau

    def forward(self, bits: np.ndarray, discrete: bool = False) -> np.ndarray:
        """Class scores [batch, classes] (group sums) of input bits [batch, bits]."""
        x = np.ascontiguousarray(bits.T, dtype=np.float32)
        for layer in self.layers:
            x = layer.forward(x, discrete)
        return x.reshape(self.classes, -1, x.shape[1]).sum(axis=1).T.astype(np.float64)

    def step(self, bits: np.ndarray, y: np.ndarray, lr: float, t: int) -> float:
        scores = self.forward(bits) / self.tau
        z = np.exp(scores - scores.max(axis=1, keepdims=True))
        prob = z / z.sum(axis=1, keepdims=True)
        loss = float(-np.log(prob[np.arange(len(y)), y] + 1e-12).mean())
        d = prob
        d[np.arange(len(y)), y] -= 1
        g = np.repeat((d.T / (len(y) * self.tau)).astype(np.float32), self.layers[-1].a.size // self.classes, axis=0)
        for k in range(len(self.layers) - 1, -1, -1):
            g = self.layers[k].backward(g, need_dx=k > 0)
        for layer in self.layers:
            layer.adam(lr, t)
        return loss

    def discrete_accuracy(self, bits: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean(np.argmax(self.forward(bits, True), axis=1) == y))


def _global_layers(model: Model, n_bits: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    out, start_prev, start = [], 0, n_bits  # start_prev: first net of the layer read; start: of this layer
    for layer in model.layers:
        out.append((layer.a + start_prev, layer.b + start_prev, layer.w.argmax(axis=1).astype(np.int64)))
        start_prev, start = start, start + len(layer.a)
    return out


def train(x: np.ndarray, y: np.ndarray, options: TrainOptions = TrainOptions(), x_test=None, y_test=None, log=None,
          name: str = "gates") -> GateNetwork:
    """A gate network for features x [samples, features] and labels y, trained as the module says."""
    o = options
    labels = sorted(set(np.asarray(y).tolist()))
    if len(labels) < 2:
        raise BespokeError("training a classifier needs at least two classes in the labels")
    index = {v: k for k, v in enumerate(labels)}
    yi = np.array([index[v] for v in np.asarray(y).tolist()])
    scale, offset = input_encoding(np.asarray(x, float), o.input_bits)
    net = GateNetwork(o.input_bits, scale, offset, [], [], len(labels), 1.0, labels, None, name)
    net.thresholds = quantile_thresholds(net.encode(x), o.thresholds, o.threshold_step)
    if not net.n_bits:
        raise BespokeError("every feature is constant on the training data: nothing to learn from")
    bits = net.input_bits(net.encode(x))
    sizes = list(o.sizes) if o.sizes else layer_sizes(o.gates, o.layers, len(labels), o.group)
    if sizes[-1] % len(labels) or min(sizes) < 1:
        raise BespokeError(f"layer sizes {sizes}: the last layer must split into {len(labels)} equal class groups")
    tau = o.tau or max(1.0, float(np.sqrt(sizes[-1] / len(labels))))
    rng = np.random.default_rng(o.seed)
    model = Model(net.n_bits, sizes, len(labels), tau, rng)
    test = None
    if x_test is not None and y_test is not None:
        test = net.input_bits(net.encode(x_test)), np.array([index.get(v, -1) for v in np.asarray(y_test).tolist()])
    steps_per_epoch = -(-len(yi) // o.batch)
    epochs = max(o.epochs, -(-o.min_steps // steps_per_epoch))
    best, best_layers, t = -1.0, None, 0
    if log:
        log(f"training {sum(sizes)} gates in layers {sizes} on {net.n_bits} input bits ({len(yi)} samples, "
            f"{len(labels)} classes, tau {tau:.3g}, {epochs} epochs, seed {o.seed})")
    for epoch in range(epochs):
        order = rng.permutation(len(yi))
        for s in range(steps_per_epoch):
            t += 1
            loss = model.step(bits[order[s * o.batch:(s + 1) * o.batch]], yi[order[s * o.batch:(s + 1) * o.batch]], o.lr, t)
        acc = model.discrete_accuracy(bits, yi)  # the discretised network, after every epoch
        if acc >= best:  # ties: the later, longer-trained network
            best, best_layers = acc, _global_layers(model, net.n_bits)
        if log and (epoch % max(1, epochs // 20) == 0 or epoch == epochs - 1):
            extra = f", test {100 * model.discrete_accuracy(*test):.1f} %" if test else ""
            log(f"epoch {epoch + 1}/{epochs}: loss {loss:.4f}, train {100 * acc:.1f} % (best {100 * best:.1f} %){extra}")
    net.layers = best_layers
    net.tau = tau
    net.meta = {"trainer": "bespoke train-gates (numpy, difflogic relaxation)", "options": o.__dict__ | {"tau": tau},
                "layer_sizes": sizes, "train_accuracy": best}
    return net
