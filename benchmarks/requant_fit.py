"""QDQ requantisers fitted to onnxruntime's float32 kernels, against the former 24-bit multipliers.

    python benchmarks/requant_fit.py [--models 100] [--seed 0]

Random float-scale QDQ MLPs (tests/onnx_builders.qdq_mlp: 6 inputs, 1-8 hidden, 1-5 outputs,
per-tensor or per-channel) and three onnxruntime `quantize_static` models. For every requantiser
channel: the fitted multiplier (compiler.requant_fit, exact on every accumulator value of the
proven range, with exceptions where no line fits) next to the 24-bit approximation of the ratio
s_a s_b / s_y that bespoke used before, counting the accumulator values of the proven range where
each rounds unlike onnxruntime's kernel (fl32(fl32(acc) * S)), and the signed digits and bits of
the multipliers (the adders of the shift-add constant multiplier). Prints one table.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def _models(n: int, seed: int, work: Path):
    from onnx_builders import qdq_mlp, quantize_static_mlp

    rng = np.random.default_rng(seed)
    for k in range(n):
        yield "qdq_mlp", qdq_mlp(n_in=6, n_hidden=int(rng.integers(1, 9)), n_out=int(rng.integers(1, 6)), seed=int(rng.integers(1 << 30)),
                                 per_channel=bool(rng.random() < 0.5), float_scales=True)
    for k in range(3):
        (work / str(k)).mkdir()
        yield "quantize_static", quantize_static_mlp(work / str(k), k)


def _channels(ir):
    """(accumulator scale, output scale, lo, hi, Requant, element) of every QDQ requantiser channel."""
    from bespoke.compiler.ir import Requant

    for n in ir.order():
        layer = ir.layer(n)
        if isinstance(layer, Requant) and layer.rounding == "half_even":
            (src,) = ir.inputs_of(n)
            acc, out = ir.out(src), ir.out(n)
            for e in range(acc.size):
                yield float(acc.scale[e]), float(out.scale[e]), int(acc.lo[e]), int(acc.hi[e]), layer, e


def _off(f, lo: int, hi: int, layer, e: int, mult: int | None = None, shift: int | None = None) -> int:
    """Accumulator values of [lo, hi] where element e of `layer` (or, given mult and shift, that
    line with the layer's zero point and clamp) differs from onnxruntime's kernel f: on every value."""
    from bespoke.compiler.ops import round_shift

    acc = np.arange(lo, hi + 1, dtype=np.int64)
    zp, qmin, qmax = int(layer.zero_point[e]), int(np.min(layer.qmin)), int(np.max(layer.qmax))
    want = np.clip(f(acc) + zp, qmin, qmax)
    if mult is None:
        x = np.zeros((len(acc), len(layer.mult)), dtype=np.int64)
        x[:, e] = acc
        got = layer.evaluate(x)[:, e]
    else:
        got = np.clip(round_shift(acc * mult, np.int64(shift), "half_even") + zp, qmin, qmax)
    return int((got != want).sum())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    from bespoke.api import compile_model
    from bespoke.compiler.passes.quantize import _as_fraction
    from bespoke.compiler.requant_fit import kernel_requant, kernel_scale, signed_digits

    t0 = time.perf_counter()
    totals = {"models": 0, "channels": 0, "with exceptions": 0, "exceptions": 0, "fitted off": 0, "24-bit off": 0,
              "24-bit channels off": 0, "fitted digits": 0, "24-bit digits": 0, "fitted bits": 0, "24-bit bits": 0, "inexact models": 0}
    with tempfile.TemporaryDirectory() as tmp:
        for kind, model in _models(args.models, args.seed, Path(tmp)):
            ir = compile_model(model).ir
            totals["models"] += 1
            totals["inexact models"] += bool(ir.meta.get("inexact"))
            for s_acc, s_out, lo, hi, layer, e in _channels(ir):
                f = kernel_requant(kernel_scale(s_acc, s_out))
                mult, shift = int(layer.mult[e]), int(layer.shift[e])
                fixes = [row for row in layer.exception_rows() if row[0] == e]
                old_mult, old_shift = _as_fraction(s_acc / s_out, "benchmark")
                old_off = _off(f, lo, hi, layer, e, old_mult, old_shift)
                totals["channels"] += 1
                totals["with exceptions"] += bool(fixes)
                totals["exceptions"] += len(fixes)
                totals["fitted off"] += _off(f, lo, hi, layer, e)
                totals["24-bit off"] += old_off
                totals["24-bit channels off"] += bool(old_off)
                totals["fitted digits"] += signed_digits(mult)
                totals["24-bit digits"] += signed_digits(old_mult)
                totals["fitted bits"] += mult.bit_length()
                totals["24-bit bits"] += old_mult.bit_length()
    t = totals
    print(f"python benchmarks/requant_fit.py --models {args.models} --seed {args.seed}\n")
    print("| | fitted (compiler.requant_fit) | 24-bit ratio (before) |")
    print("|---|---|---|")
    print(f"| accumulator values rounding unlike onnxruntime's kernel | {t['fitted off']} | {t['24-bit off']} "
          f"(on {t['24-bit channels off']} of {t['channels']} channels) |")
    print(f"| channels with exceptions (values) | {t['with exceptions']} ({t['exceptions']}) | - |")
    print(f"| multiplier signed digits, total | {t['fitted digits']} | {t['24-bit digits']} |")
    print(f"| multiplier bits, total | {t['fitted bits']} | {t['24-bit bits']} |")
    print(f"\n{t['models']} models ({args.models} qdq_mlp with float scales, 3 quantize_static), {t['channels']} channels, "
          f"{t['inexact models']} inexact, {time.perf_counter() - t0:.0f} s")
    return 0 if t["fitted off"] == 0 and t["inexact models"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
