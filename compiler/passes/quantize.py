"""quantize: float IR (after folding) -> integer IR.

Two sources of quantisation parameters, mixed freely in one walk over the graph:
- explicit: FakeQuant layers and integer weight grids from QDQ models are reproduced exactly
  (requantisation by mult / 2^shift with ONNX's round-half-even, the multiplier fitted to round
  as onnxruntime's float32 kernels do on the whole proven accumulator range: compiler.requant_fit);
- implicit, for float models: inputs become unsigned `input_bits` codes over the calibrated (or
  declared) feature range; weights signed `weight_bits` per layer or per output channel; biases
  at accumulator scale; hidden activations requantised to `act_bits` by a per-neuron right shift
  chosen so the calibration maximum fits, rounding half up for free through the bias.

Every tensor of the result records its real scale (real = scale * q + offset).

Context (`ctx`): "calibration": float array (samples, features) of model inputs, and/or
"input_range": (lo, hi) arrays or scalars of declared feature ranges.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bespoke.compiler.errors import BespokeError
from bespoke.compiler.ir import IR, ArgMax, Dense, FakeQuant, Input, Relu, Requant
from bespoke.compiler.passes import Pass, PassResult, register
from bespoke.compiler.passes.ranges import check_int64_safe
from bespoke.compiler.requant_fit import MAX_EXCEPTIONS, exceptions, fit, kernel_requant, kernel_scale

# An explicit requantisation multiplier is searched as m / 2^shift with m below this bound.
_MULT_BITS = 24
_MAX_SHIFT = 38  # with a _MULT_BITS multiplier the right shift stays below 62 (int64 shifts)


@dataclass
class _Tensor:
    """What the walk knows about one integer tensor of the new IR."""

    node: str
    scale: np.ndarray
    offset: np.ndarray
    lo: np.ndarray  # proven range
    hi: np.ndarray
    calib: np.ndarray | None  # values on the calibration batch


@register
@dataclass(frozen=True)
class Quantize(Pass):
    name = "quantize"
    requires = ("folded",)
    ensures = ("integer",)
    in_place = False  # builds a new IR
    input_bits: int = 4
    weight_bits: int = 8
    act_bits: int = 8
    per_channel: bool = False

    def apply(self, ir: IR, ctx):
        for opt in ("input_bits", "weight_bits", "act_bits"):
            if not 1 <= getattr(self, opt) <= 32:
                raise BespokeError(f"quantize: {opt}={getattr(self, opt)} must be between 1 and 32")
        if self.weight_bits < 2:
            raise BespokeError("quantize: weight_bits must be at least 2 (signed weights)")
        return PassResult(_Walk(self, ir, ctx).run(), True)


class _Walk:
    def __init__(self, opts: Quantize, src: IR, ctx: dict):
        self.opts, self.src, self.ctx = opts, src, ctx
        self.dst = IR(src.name)
        self.dst.meta = dict(src.meta)
        self.t: dict[str, _Tensor] = {}  # source node -> tensor in dst
        self.by_dst: dict[str, _Tensor] = {}  # dst node -> its tensor
        self.inexact: list[str] = []  # what the walk chose itself, so the result differs from the model's own arithmetic

    def run(self) -> IR:
        for n in self.src.order():
            layer = self.src.layer(n)
            handler = {Input: self._input, FakeQuant: self._fakequant, Dense: self._dense, Relu: self._relu, ArgMax: self._argmax}.get(type(layer))
            if handler is None:
                raise BespokeError(f"node {n!r} ({layer.op}): cannot be quantised; supported: input, dense, relu, argmax, QDQ pairs")
            handler(n, layer)
        self.dst.meta["quantization"] = {k: getattr(self.opts, k) for k in ("input_bits", "weight_bits", "act_bits", "per_channel")}
        self.dst.meta["inexact"] = self.inexact
        for tensor in self.by_dst.values():
            info = self.dst.out(tensor.node)
            info.scale, info.offset = tensor.scale.astype(np.float64), tensor.offset.astype(np.float64)
        return self.dst

    # -- helpers
    def _arg(self, n: str) -> _Tensor:
        (src,) = self.src.inputs_of(n)
        return self.t[src]

    def _add(self, n: str, layer, src: _Tensor | None, scale, offset) -> _Tensor:
        name = self.dst.unique_name(n)
        self.dst.add(name, layer, [src.node] if src else [])
        if src is None:
            lo, hi = np.full(layer.size, layer.lo), np.full(layer.size, layer.hi)
            calib = None
        else:  # ranges in Python ints first: the calibration batch is evaluated in int64
            check_int64_safe(name, layer, _peak(src.lo, src.hi), [(src.lo, src.hi)])
            lo, hi = layer.infer_range((src.lo, src.hi))
            check_int64_safe(name, layer, _peak(lo, hi), [])
            calib = None if src.calib is None else layer.evaluate(src.calib)
        n_out = self.dst.out(name).size
        t = _Tensor(name, np.broadcast_to(scale, (n_out,)).astype(float), np.broadcast_to(offset, (n_out,)).astype(float),
                    np.array(lo, dtype=object), np.array(hi, dtype=object), calib)
        self.by_dst[name] = t
        return t

    # -- layers
    def _input(self, n, layer: Input):
        users = self.src.users_of(n)
        fq = self.src.layer(users[0]) if len(users) == 1 and isinstance(self.src.layer(users[0]), FakeQuant) else None
        if fq is not None:  # QDQ model: the first QuantizeLinear is the input quantiser
            codes = Input(size=layer.size, lo=fq.qmin, hi=fq.qmax)
            scale, offset = np.full(layer.size, fq.scale), np.full(layer.size, -fq.scale * fq.zero_point)
            # encoded as QuantizeLinear computes it: float32 x / scale, half to even, + zero point, saturated
            self.dst.meta["input_program"] = {"ops": [], "quantiser": {
                "kind": "round", "scale": scale.tolist(), "zero_point": [float(fq.zero_point)] * layer.size,
                "lo": int(fq.qmin), "hi": int(fq.qmax), "rounding": "HALF_EVEN", "zero_point_after": True}}
        else:
            fmin, fmax = self._feature_ranges(layer.size)
            codes = Input(size=layer.size, lo=0, hi=2**self.opts.input_bits - 1)
            self.inexact.append(f"inputs quantised by bespoke to {self.opts.input_bits} bits")
            step = (fmax - fmin) / codes.hi
            scale, offset = np.where(step > 0, step, 1.0), fmin
        t = self._add(n, codes, None, scale, offset)
        calib = self.ctx.get("calibration")
        if calib is not None:
            self.dst.out(t.node).scale, self.dst.out(t.node).offset = t.scale, t.offset
            t.calib = self.dst.encode_inputs(calib)
        self.t[n] = t
        if fq is not None:
            self.t[users[0]] = t  # the FakeQuant is absorbed into the input encoding

    def _feature_ranges(self, size: int):
        if "input_range" in self.ctx:
            lo, hi = self.ctx["input_range"]
            lo, hi = np.broadcast_to(np.asarray(lo, float), (size,)), np.broadcast_to(np.asarray(hi, float), (size,))
        elif self.ctx.get("calibration") is not None:
            data = np.asarray(self.ctx["calibration"], dtype=float)
            if data.ndim != 2 or data.shape[1] != size:
                raise BespokeError(f"calibration data has {data.shape[-1]} features, the model takes {size}")
            lo, hi = data.min(axis=0), data.max(axis=0)
        else:
            raise BespokeError("quantising a float model needs calibration data (--calibration CSV) or declared input ranges (--input-range LO:HI)")
        what = "declared input range" if "input_range" in self.ctx else "calibration data"
        with np.errstate(over="ignore", invalid="ignore"):
            finite = np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)) and np.all(np.isfinite(hi - lo))
        if not finite:
            raise BespokeError(f"{what}: feature ranges must be finite numbers whose span fits a float, got "
                               f"[{np.min(lo):g}, {np.max(hi):g}]")
        if np.any(hi < lo):
            raise BespokeError("declared input range has hi < lo")
        return lo.astype(float), hi.astype(float)

    def _fakequant(self, n, fq: FakeQuant):
        if n in self.t:
            return  # absorbed by the input
        x = self._arg(n)
        if np.any(x.offset != 0):
            raise BespokeError(f"node {n!r} (QuantizeLinear): its input has an offset; only accumulators can be requantised")
        fitted = [self._kernel_multiplier(n, s, lo, hi, fq) for s, lo, hi in zip(x.scale, x.lo, x.hi)]
        mult, shift = zip(*(m for m, _ in fitted))
        missed = [ch for ch, (_, apart) in enumerate(fitted) if apart is None]
        if missed:
            self.inexact.append(f"requantisation of {n}: on {len(missed)} of {len(fitted)} channels (first: {missed[0]}) "
                                f"onnxruntime's float32 kernel rounds off every integer multiplier's line at more than "
                                f"{MAX_EXCEPTIONS} accumulator values")
        rows = [(ch, at, value + fq.zero_point) for ch, (_, apart) in enumerate(fitted) for at, value in apart or []]
        layer = Requant(mult=np.array(mult, dtype=np.int64), shift=np.array(shift, dtype=np.int64),
                        zero_point=np.full(len(mult), fq.zero_point, dtype=np.int64), qmin=fq.qmin, qmax=fq.qmax, rounding="half_even",
                        exceptions=np.array(rows, dtype=np.int64) if rows else None)
        self.t[n] = self._add(n, layer, x, fq.scale, -fq.scale * fq.zero_point)

    def _kernel_multiplier(self, n, s_acc, lo, hi, fq: FakeQuant) -> tuple[tuple[int, int], list | None]:
        """((mult, shift), exceptions): mult / 2^shift rounding as onnxruntime's integer kernels
        requantise in float32, on every accumulator value of the proven range [lo, hi], no
        exceptions (compiler.requant_fit); if none does, the kernel's own float32 multiplier and the
        (accumulator, value) pairs where the kernel rounds otherwise (None: too many)."""
        _as_fraction(s_acc / fq.scale, n)  # the ratio is within the supported range
        f, codes = kernel_requant(kernel_scale(s_acc, fq.scale)), (fq.qmin - fq.zero_point, fq.qmax - fq.zero_point)
        found = fit(f, lo, hi, *codes)
        if found:
            return found, []
        mult, shift = _as_fraction(float(kernel_scale(s_acc, fq.scale)), n)
        return (mult, shift), exceptions(f, mult, shift, int(lo), int(hi), *codes)

    def _relu(self, n, layer):
        x = self._arg(n)
        if np.any(x.offset != 0) or np.any(x.scale <= 0):
            raise BespokeError(f"node {n!r} (Relu): its input is not a plain accumulator and cannot be rectified in integers")
        self.t[n] = self._add(n, Relu(), x, x.scale, x.offset)

    def _argmax(self, n, layer):
        x = self._arg(n)
        if not np.allclose(x.scale, x.scale[0], rtol=1e-9) or np.any(x.scale <= 0):
            raise BespokeError(f"node {n!r} (ArgMax): its scores do not share one positive scale; quantise the last layer per tensor")
        self.t[n] = self._add(n, ArgMax(), x, 1.0, 0.0)

    def _dense(self, n, layer: Dense):
        x = self._arg(n)
        if not isinstance(self.dst.layer(x.node), (Input, Requant)):
            x = self._requantise(x)
        w_eff = layer.weight * x.scale[None, :]
        b_eff = layer.bias + layer.weight @ x.offset
        s_w = self._weight_scale(n, layer, w_eff, b_eff, x)
        w_int = np.rint(w_eff / s_w[:, None]).astype(np.int64)
        b_int = np.rint(b_eff / s_w).astype(np.int64)
        self.t[n] = self._add(n, Dense(weight=w_int, bias=b_int), x, s_w, 0.0)

    def _weight_scale(self, n, layer: Dense, w_eff, b_eff, x: _Tensor) -> np.ndarray:
        n_out = layer.weight.shape[0]
        if layer.weight_scale is not None and np.allclose(x.scale, x.scale[0]):
            s = layer.weight_scale * x.scale[0]  # QDQ weights: keep their integer grid exactly
            ints = w_eff / s[:, None]
            if np.allclose(ints, np.rint(ints), atol=1e-3):
                return s
        qmax = 2 ** (self.opts.weight_bits - 1) - 1
        self.inexact.append(f"weights of {n} quantised by bespoke to {self.opts.weight_bits} bits")
        users = [self.src.layer(u) for u in self.src.users_of(n)]
        per_channel = self.opts.per_channel and users and all(isinstance(u, Relu) for u in users)
        scale = np.abs(w_eff).max(axis=1, initial=0.0) / qmax
        # A neuron whose weights all but vanish would get a tiny scale and a bias far wider than
        # any accumulator: keep the bias within what qmax-sized weights can reach.
        reach = qmax * layer.weight.shape[1] * max(1, int(np.abs(np.concatenate([x.lo, x.hi])).max()))
        scale = np.maximum(scale, np.abs(b_eff) / reach)
        if not per_channel:
            scale = np.full(n_out, scale.max())
        return np.where(scale > 0, scale, 1.0)

    def _requantise(self, x: _Tensor) -> _Tensor:
        """Implicit requantisation of an accumulator to act_bits before the next dense layer."""
        unsigned = isinstance(self.dst.layer(x.node), Relu)
        bits = self.opts.act_bits
        self.inexact.append(f"activations of {x.node} requantised by bespoke to {bits} bits")
        qmin, qmax = (0, 2**bits - 1) if unsigned else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
        if x.calib is not None:
            peak = np.abs(x.calib).max(axis=0) if len(x.calib) else np.zeros(len(x.scale))
        else:
            peak = np.maximum(np.abs(x.lo.astype(float)), np.abs(x.hi.astype(float)))
        shift = np.array([_shift_to_fit(int(p), qmax) for p in peak], dtype=np.int64)
        x = self._round_half_up_through_bias(x, shift)
        layer = Requant(mult=np.ones(len(shift), dtype=np.int64), shift=shift, zero_point=np.zeros(len(shift), dtype=np.int64),
                        qmin=qmin, qmax=qmax, rounding="floor")
        return self._add(f"{x.node}_q", layer, x, x.scale * 2.0**shift, 0.0)

    def _round_half_up_through_bias(self, x: _Tensor, shift: np.ndarray) -> _Tensor:
        """Add 2^(shift-1) to the producing dense layer's bias so the floor shift rounds half up.

        Only on a private chain dense [-> relu] -> here, as other users would see the change;
        relu(acc + r) >> s equals (relu(acc) + r) >> s for r = 2^(s-1), so a relu may sit between.
        """
        chain = [x]  # from x back to the dense layer
        while not isinstance(self.dst.layer(chain[-1].node), Dense):
            if not isinstance(self.dst.layer(chain[-1].node), Relu):
                return x
            chain.append(self.by_dst[self.dst.inputs_of(chain[-1].node)[0]])
        private = all(len(self.src.users_of(self._src_name(t))) == 1 for t in chain)
        if not private:
            return x
        dense_t = chain[-1]
        dense = self.dst.layer(dense_t.node)
        half = np.where(shift > 0, np.int64(1) << np.maximum(shift - 1, 0), 0)
        self.dst.replace_layer(dense_t.node, Dense(weight=dense.weight, bias=dense.bias + half))
        for t in reversed(chain):  # the chain's ranges and calibration values move with the bias
            inp = self.by_dst[self.dst.inputs_of(t.node)[0]]
            layer = self.dst.layer(t.node)
            lo, hi = layer.infer_range((inp.lo, inp.hi))
            t.lo, t.hi = np.array(lo, dtype=object), np.array(hi, dtype=object)
            t.calib = None if inp.calib is None else layer.evaluate(inp.calib)
        return x

    def _src_name(self, t: _Tensor) -> str:
        return next(src for src, tt in self.t.items() if tt is t)


def _peak(lo, hi) -> int:
    return max((abs(int(v)) for v in [*np.ravel(lo), *np.ravel(hi)]), default=0)


def _shift_to_fit(peak: int, qmax: int) -> int:
    """Smallest s >= 0 with round_half_up(peak / 2^s) <= qmax."""
    s = 0
    while ((peak + ((1 << s) >> 1)) >> s) > qmax:
        s += 1
    return s


def _as_fraction(ratio: float, node: str) -> tuple[int, int]:
    """ratio as mult / 2^shift: exact when ratio is a dyadic fraction, else mult of _MULT_BITS bits."""
    if not ratio > 0:
        raise BespokeError(f"node {node!r} (QuantizeLinear): non-positive requantisation scale {ratio}")
    if not 2.0**-_MAX_SHIFT <= ratio < 2.0**_MULT_BITS:
        raise BespokeError(f"node {node!r} (QuantizeLinear): requantisation scale {ratio:g} (input scale / output scale) is "
                           f"outside the supported 2^-{_MAX_SHIFT} .. 2^{_MULT_BITS}; check the model's quantisation scales")
    for shift in range(0, 63):
        m = ratio * 2.0**shift
        if m == int(m) and m < 2**_MULT_BITS:
            return int(m), shift
    shift = max(0, _MULT_BITS - 1 - int(np.floor(np.log2(ratio))))
    return int(round(ratio * 2.0**shift)), shift
