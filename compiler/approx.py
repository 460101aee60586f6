"""Approximations of a printed MLP's arithmetic (issue 9), as edits of its integer layer IR.

An `Approximation` says, per dense layer, which weights are allowed (`weights`: "exact", "pow2"
or "csd<k>": at most k nonzero canonical-signed digits) and how many top bits of its input each
connection reads (`bits`, [out, in]; 0 prunes the connection), and how many top bits of the
logits the argmax compares (`argmax_shift`: the low bits it ignores). `apply` turns it into layers whose semantics the
golden model, the netlist interpreter and the RTL share, so an approximated design is verified
bit-exactly like an exact one:

- allowed weights: the integer weights projected onto the set (`project`; retraining,
  compiler.retrain, moves the float weights so that the projection loses little);
- bits per connection: `Dense.mask` keeps the top b bits of the input's proven width
  (x & mask). On the first layer these are the ADC bits of each feature (`input_bits`: the most
  any connection reads); on a later layer, the truncated low bits of the ReLU activations;
- saturated ReLU activations (`relu_bits`, per requant layer): its clamp lowered to 2^b - 1, so
  the activation has b bits (and the next layer's masks keep the top bits of those b);
- argmax on the top bits: a `Requant` (mult 1, floor shift) in front of the ArgMax, so ties
  of the shortened logits go to the lowest index, as ArgMax defines.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

import numpy as np

from bespoke.compiler.approx_sets import nearest_csd
from bespoke.compiler.errors import BespokeError
from bespoke.compiler.ir import IR, ArgMax, Dense, Input, Relu, Requant
from bespoke.compiler.ops import bits_for_range
from bespoke.compiler.passes import PassManager

WEIGHT_SET = re.compile(r"^(exact|pow2|csd([1-9]))$")


@dataclass(frozen=True)
class Approximation:
    weights: dict[str, str] = field(default_factory=dict)  # dense layer -> "exact" | "pow2" | "csd<k>"
    bits: dict[str, np.ndarray] = field(default_factory=dict)  # dense layer -> [out, in] top bits read
    relu_bits: dict[str, int] = field(default_factory=dict)  # requant layer (unsigned clamp) -> activation bits
    argmax_shift: int = 0  # low bits of the logits the argmax ignores (it compares the top ones)

    def is_exact(self) -> bool:
        return (not self.bits and not self.argmax_shift and not self.relu_bits
                and all(v == "exact" for v in self.weights.values()))


# --------------------------------------------------------------------------- weight sets


def project(weight: np.ndarray, weight_set: str) -> np.ndarray:
    """Integer weights projected onto a weight set (compiler.approx_sets: nearest in value, ties
    to the smaller magnitude); "exact" rounds."""
    m = WEIGHT_SET.match(weight_set)
    if not m:
        raise BespokeError(f"unknown weight set {weight_set!r}; use exact, pow2 or csd<k> (k = 1..9)")
    if weight_set == "exact":
        return np.rint(weight).astype(np.int64)
    return nearest_csd(weight, 1 if weight_set == "pow2" else int(m.group(2)))


# --------------------------------------------------------------------------- bits


def top_bits_mask(width: int, bits: int) -> int:
    """The mask keeping the top `bits` of a `width`-bit unsigned value (0 keeps none)."""
    bits = min(max(int(bits), 0), width)
    return ((1 << width) - 1) ^ ((1 << (width - bits)) - 1)


def dense_layers(ir: IR) -> list[str]:
    return [n for n in ir.order() if isinstance(ir.layer(n), Dense)]


def input_widths(ir: IR, name: str) -> np.ndarray:
    """The width of each input of dense layer `name`: the declared width of its source (input
    codes, a requant's clamp), else its proven range; so a mask's bits keep their meaning when
    other approximations change the ranges."""
    (src,) = ir.inputs_of(name)
    info, layer = ir.out(src), ir.layer(src)
    if isinstance(layer, (Input, Requant)):
        lo, hi = (layer.lo, layer.hi) if isinstance(layer, Input) else (layer.qmin, layer.qmax)
        los, his = [lo] * info.size, [hi] * info.size
    elif info.lo is not None:
        los, his = info.lo.tolist(), info.hi.tolist()
    else:
        raise BespokeError(f"layer {name!r}: bit approximation needs the proven ranges of its inputs")
    if min(los) < 0:
        raise BespokeError(f"layer {name!r}: bit approximation needs non-negative inputs")
    return np.array([max(1, int(h).bit_length()) for h in his], dtype=np.int64)


def check_mlp(ir: IR) -> None:
    """Approximation works on integer MLPs: Input -> (Dense -> Requant|Relu)* -> Dense -> ArgMax."""
    if not ir.is_integer() or not ir.has_ranges():
        raise BespokeError("approximation needs an integer IR with proven ranges (quantise the model first)")
    for n in ir.order():
        if not isinstance(ir.layer(n), (Input, Dense, Requant, Relu, ArgMax)):
            raise BespokeError(f"approximation supports printed MLPs (dense, relu, requant, argmax); node {n!r} is {ir.layer(n).op}")
        if isinstance(ir.layer(n), Requant) and ir.layer(n).per_element_clamp():
            raise BespokeError(f"node {n!r} has range-restricted clamps: approximate first, then restrict ranges "
                               "(compile --approx ... --restrict-ranges does both in that order)")


def apply(ir: IR, approx: Approximation) -> IR:
    """The approximated IR (a new one, with proven ranges)."""
    check_mlp(ir)
    out = ir.copy()
    for name, weight_set in approx.weights.items():
        layer = _dense(out, name)
        out.replace_layer(name, dataclasses.replace(layer, weight=project(layer.weight, weight_set)))
    for name, b in approx.relu_bits.items():
        layer = out.layer(name) if name in out.graph else None
        if not isinstance(layer, Requant) or layer.qmin != 0:
            raise BespokeError(f"relu bits need a requant layer clamped at 0; {name!r} is not one")
        if not 1 <= b <= 32:
            raise BespokeError(f"layer {name!r}: relu bits must be 1..32, got {b}")
        out.replace_layer(name, dataclasses.replace(layer, qmax=min(int(layer.qmax), (1 << int(b)) - 1)))
    for name, bits in approx.bits.items():
        layer = _dense(out, name)
        bits = np.asarray(bits, dtype=np.int64)
        if bits.shape != layer.weight.shape:
            raise BespokeError(f"layer {name!r}: bits must be [{layer.weight.shape[0]}, {layer.weight.shape[1]}], have {list(bits.shape)}")
        widths = input_widths(out, name).tolist()  # after relu_bits: the top bits of the saturated activation
        mask = np.array([[top_bits_mask(w, b) for w, b in zip(widths, row)] for row in bits.tolist()], dtype=np.int64)
        out.replace_layer(name, dataclasses.replace(layer, mask=mask))
    if approx.argmax_shift:
        out = _argmax_on_top_bits(out, ir, approx.argmax_shift)
    out.clear_ranges()
    out = PassManager.from_string("infer-ranges").run(out)
    out.verify()
    if not approx.is_exact():
        out.meta["inexact"] = list(ir.meta.get("inexact", [])) + ["approximated on purpose (approximation knobs)"]
    return out


def _dense(ir: IR, name: str) -> Dense:
    if name not in ir.graph or not isinstance(ir.layer(name), Dense):
        raise BespokeError(f"no dense layer {name!r}; dense layers: {', '.join(dense_layers(ir))}")
    return ir.layer(name)


def logit_width(ir: IR) -> int:
    """The two's-complement width of the logits the argmax compares (all of them in one range)."""
    (src,) = ir.inputs_of(ir.output_node())
    info = ir.out(src)
    return bits_for_range(int(info.lo.min()), int(info.hi.max()))[0]


def _argmax_on_top_bits(out: IR, ir: IR, shift: int) -> IR:
    am = ir.output_node()
    if not isinstance(ir.layer(am), ArgMax):
        raise BespokeError("argmax approximation needs a model that ends in ArgMax")
    width = logit_width(ir)
    if not 0 <= shift < width:
        raise BespokeError(f"the argmax can ignore 0..{width - 1} low bits of the {width}-bit logits, not {shift}")
    (src,) = ir.inputs_of(am)
    info = ir.out(src)
    n = info.size
    lo, hi = int(info.lo.min()) >> shift, int(info.hi.max()) >> shift
    requant = Requant(mult=np.ones(n, np.int64), shift=np.full(n, shift, np.int64), zero_point=np.zeros(n, np.int64),
                      qmin=lo, qmax=hi, rounding="floor")
    out.insert_before(am, f"{am}_msb", requant)
    return out


# --------------------------------------------------------------------------- what a design reads


def input_bits(ir: IR, approx: Approximation) -> list[int]:
    """Per input feature, the ADC bits the approximated design reads (0: the feature is unused):
    the most any live connection of the first layer reads."""
    first = next(n for n in dense_layers(ir) if ir.inputs_of(n) == [ir.input_node()])
    layer = ir.layer(first)
    widths = input_widths(ir, first)
    bits = np.asarray(approx.bits.get(first, np.broadcast_to(widths, layer.weight.shape)))
    weight = project(layer.weight, approx.weights.get(first, "exact"))
    live = np.where(weight != 0, np.minimum(bits, widths[None, :]), 0)
    return live.max(axis=0).tolist()


def describe(ir: IR, approx: Approximation) -> dict[str, str]:
    """Per layer, what is approximated in words (for reports)."""
    words = {}
    for n in dense_layers(ir):
        layer = ir.layer(n)
        weight = project(layer.weight, approx.weights.get(n, "exact"))
        parts = [approx.weights.get(n, "exact") + " weights"]
        if n in approx.bits:
            bits = np.asarray(approx.bits[n])
            widths = input_widths(ir, n)
            pruned = int(np.sum((bits == 0) & (weight != 0)))
            cut = int(np.sum((bits > 0) & (bits < widths[None, :]) & (weight != 0)))
            parts += [f"{pruned}/{weight.size} connections pruned"] if pruned else []
            parts += [f"{cut} read fewer bits"] if cut else []
        words[n] = ", ".join(parts)
    for n, b in approx.relu_bits.items():
        if b < int(ir.layer(n).qmax).bit_length():
            words[n] = f"relu saturated at {b} bits"
    if approx.argmax_shift:
        width = logit_width(ir)
        words[ir.output_node()] = f"argmax on the top {width - approx.argmax_shift} of {width} bits"
    words["input"] = "bits " + ",".join(map(str, input_bits(ir, approx)))
    return words


# --------------------------------------------------------------------------- the --approx option


def parse(spec: str, ir: IR) -> Approximation:
    """`bespoke compile --approx` knobs for integer MLP `ir`, comma-separated:
    weights=SET (every dense layer) or weights.LAYER=SET, with SET exact, pow2 or csd<k>;
    input-bits=B or B0,B1,... (per feature; 0 drops it); relu=Nb (every hidden requant saturates
    at N bits); argmax=msbK (compare the top K bits of the logits); masks=FILE.json ({layer:
    [[bits per connection]]}, as `bespoke explore` writes for its chosen design)."""
    import json
    from pathlib import Path

    check_mlp(ir)
    weights, bits, relu, shift = {}, {}, {}, 0
    dense = dense_layers(ir)
    first = next(n for n in dense if ir.inputs_of(n) == [ir.input_node()])
    items = re.split(r",(?=[A-Za-z][\w.\-]*=)", spec.strip())  # input-bits lists have commas too
    for item in filter(None, items):
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not value:
            raise BespokeError(f"--approx: expected KEY=VALUE, got {item!r}")
        if key == "weights" or key.startswith("weights."):
            layers = dense if key == "weights" else [key.split(".", 1)[1]]
            for n in layers:
                _dense(ir, n)
                project(np.zeros(1), value)  # checks the set's name
                weights[n] = value
        elif key == "input-bits":
            caps = _ints(value, "input-bits")
            n_in = ir.layer(first).weight.shape[1]
            caps = caps * n_in if len(caps) == 1 else caps
            if len(caps) != n_in:
                raise BespokeError(f"--approx: input-bits has {len(caps)} values, the model has {n_in} features")
            widths = input_widths(ir, first)
            bits[first] = np.minimum(bits.get(first, np.broadcast_to(widths, ir.layer(first).weight.shape)), np.array(caps)[None, :])
        elif key == "relu":
            m = re.fullmatch(r"(\d+)b?", value)
            if not m:
                raise BespokeError(f"--approx: relu takes bits like 4b, got {value!r}")
            relu.update({n: int(m.group(1)) for n in ir.order() if isinstance(ir.layer(n), Requant) and ir.layer(n).qmin == 0
                         and any(isinstance(ir.layer(u), Dense) for u in ir.users_of(n))})
        elif key == "argmax":
            m = re.fullmatch(r"msb(\d+)", value)
            if not m:
                raise BespokeError(f"--approx: argmax takes msbK (compare the top K bits), got {value!r}")
            shift = max(0, logit_width(ir) - int(m.group(1)))
        elif key == "masks":
            try:
                table = json.loads(Path(value).read_text())
            except (OSError, ValueError) as e:
                raise BespokeError(f"--approx: cannot read masks file {value}: {e}") from None
            for n, rows in table.items():
                layer = _dense(ir, n)
                arr = np.asarray(rows)
                if arr.shape != layer.weight.shape or not np.issubdtype(arr.dtype, np.integer):
                    raise BespokeError(f"--approx: masks of {n!r} must be integers of shape {list(layer.weight.shape)}")
                bits[n] = np.minimum(bits[n], arr) if n in bits else arr
        else:
            raise BespokeError(f"--approx: unknown knob {key!r}; knobs: weights, weights.LAYER, input-bits, relu, argmax, masks")
    return Approximation(weights=weights, bits={n: np.asarray(b, np.int64) for n, b in bits.items()}, relu_bits=relu,
                         argmax_shift=shift)


def _ints(text: str, what: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise BespokeError(f"--approx: {what} takes integers, got {text!r}") from None
    if any(v < 0 for v in values):
        raise BespokeError(f"--approx: {what} must not be negative")
    return values
