"""A behavioural Verilog reference of an integer layer IR, written straight from the layers' fields.

The formal check (targets.formal) proves the emitted circuit equal to this module. It shares no
code with the circuit planners of bespoke.hdl (no CSD, no adder or compressor trees, no shared
sub-expressions): every tensor element is one signed wire, every layer the plain formula of its
`evaluate` in compiler/layers.py, with `*` and `+` on signals wide enough to never overflow.
Widths come from a magnitude bound computed here from the layer's fields (sum of |w| times the
input's bound), not from the IR's proven ranges, so a wrong range cannot hide in both designs.

The module has the emitted design's combinational port contract (hdl.lower.port_layout): input
`x`, element i at x[w*i + w-1 : w*i], output `y` likewise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bespoke.compiler import logic
from bespoke.compiler.errors import BespokeError
from bespoke.compiler.ir import (IR, ArgMax, Conv2d, Dense, GroupSum, Input, LogicGates, MaxPool2d, Pad2d, Relu, Requant,
                                 Thermometer, Threshold, XnorPopcount)


@dataclass
class _Tensor:
    """A tensor's element wires (signed) and a bound on every element's magnitude."""

    names: list[str]
    bound: int


@dataclass
class _Writer:
    lines: list[str] = field(default_factory=list)
    widths: dict[str, int] = field(default_factory=dict)

    def wire(self, width: int, expr: str, base: str = "t") -> str:
        """A new signed wire of `width` bits holding `expr` (evaluated at that width)."""
        name = f"{base}_{len(self.widths)}"
        self.widths[name] = width
        self.lines.append(f"  wire signed [{width - 1}:0] {name} = {expr};")
        return name


def width_for(bound: int) -> int:
    """Bits of a signed signal holding every value in [-bound, bound]."""
    return int(bound).bit_length() + 1


def const(value: int, width: int) -> str:
    """A signed literal of `width` bits (a wide sized literal: plain decimals are only 32 bits)."""
    value = int(value)
    return f"-{width}'sd{-value}" if value < 0 else f"{width}'sd{value}"


def _sum(terms: list[str], width: int) -> str:
    return " + ".join(terms) if terms else const(0, width)


def _bit(expr: str) -> str:
    """A 1-bit condition as a signed 0/1 value (so it adds in signed arithmetic)."""
    return f"$signed({{1'b0, {expr}}})"


# ------------------------------------------------------------------------------ layers


def _input(w: _Writer, layer: Input, layout: dict) -> _Tensor:
    width, signed = layout["in_width"], layout["in_signed"]
    names = []
    for i in range(layer.size):
        field_ = f"x[{width * i + width - 1}:{width * i}]"
        names.append(w.wire(width + 1, f"$signed({field_})" if signed else f"$signed({{1'b0, {field_}}})", "in"))
    return _Tensor(names, max(abs(layer.lo), abs(layer.hi), (1 << width) - 1 if not signed else 1 << (width - 1)))


def _dense(w: _Writer, layer: Dense, x: _Tensor) -> _Tensor:
    weight, bias = layer.weight.astype(object), layer.bias.astype(object)
    mask = None if layer.mask is None else layer.mask.astype(object)
    bound = max(int(sum(abs(v) for v in row)) * x.bound + abs(int(b)) for row, b in zip(weight, bias))
    width = width_for(bound)
    names = []
    for j in range(weight.shape[0]):
        terms = []
        for i, wt in enumerate(weight[j]):
            if wt == 0:
                continue
            src = x.names[i] if mask is None else f"({x.names[i]} & {const(mask[j, i], width)})"
            terms.append(f"{const(wt, width)} * {src}")
        terms.append(const(bias[j], width))
        names.append(w.wire(width, _sum(terms, width), "dense"))
    return _Tensor(names, bound)


def _relu(w: _Writer, layer: Relu, x: _Tensor) -> _Tensor:
    width = width_for(x.bound)
    return _Tensor([w.wire(width, f"({n} > 0) ? {n} : {const(0, width)}", "relu") for n in x.names], x.bound)


def _clip(value: str, lo: int, hi: int, width: int) -> str:
    return f"({value} < {const(lo, width)}) ? {const(lo, width)} : ({value} > {const(hi, width)}) ? {const(hi, width)} : {value}"


def _requant(w: _Writer, layer: Requant, x: _Tensor) -> _Tensor:
    n = len(x.names)
    mult, shift, zp, qmin, qmax = (np.broadcast_to(v, (n,)).astype(object)
                                   for v in (layer.mult, layer.shift, layer.zero_point, layer.qmin, layer.qmax))
    pbound = x.bound * max(abs(int(m)) for m in mult)
    out_bound = max(max(abs(int(v)) for v in qmin), max(abs(int(v)) for v in qmax))
    wide = width_for(pbound + max(abs(int(z)) for z in zp) + out_bound + 2)
    names = []
    for i, n in enumerate(x.names):
        s = int(shift[i])
        p = w.wire(wide, f"{const(mult[i], wide)} * {n}", "prod")
        q = w.wire(wide, f"{p} >>> {s}", "shr")  # arithmetic shift: floor division by 2^s
        if layer.rounding == "half_even" and s > 0:
            rem = w.wire(wide, f"{p} - ({q} <<< {s})", "rem")
            half = const(1 << (s - 1), wide)
            up = f"({rem} > {half}) || (({rem} == {half}) && {q}[0])"
            q = w.wire(wide, f"{q} + {_bit(up)}", "round")
        v = w.wire(wide, f"{q} + {const(zp[i], wide)}", "zp")
        for e, at, value in layer.exception_rows():
            if e == i:
                v = w.wire(wide, f"({n} == {const(at, x.width)}) ? {const(value, wide)} : {v}", "exception")
        names.append(w.wire(wide, _clip(v, int(qmin[i]), int(qmax[i]), wide), "requant"))
    return _Tensor(names, out_bound)


def _argmax(w: _Writer, layer: ArgMax, x: _Tensor) -> _Tensor:
    """The index i whose value beats every earlier one and is not beaten by any later one: the
    first maximum, as numpy's argmax (the golden model) picks it."""
    n = len(x.names)
    width = width_for(n - 1)
    terms = []
    for i, a in enumerate(x.names):
        conds = [f"({a} > {b})" for b in x.names[:i]] + [f"({a} >= {b})" for b in x.names[i + 1:]]
        wins = w.wire(2, _bit(" && ".join(conds) or "1'b1"), "wins")
        terms.append(f"({wins} * {const(i, width)})")
    return _Tensor([w.wire(width, _sum(terms, width), "argmax")], n - 1)


def _xnor_popcount(w: _Writer, layer: XnorPopcount, x: _Tensor) -> _Tensor:
    """#{i : x[i] == weight[j, i]}: x[i] where the weight bit is 1, 1 - x[i] where it is 0."""
    n_out, n_in = layer.weight.shape
    width = width_for(n_in)
    names = []
    for row in layer.weight.tolist():
        terms = [x.names[i] if b else f"({const(1, width)} - {x.names[i]})" for i, b in enumerate(row)]
        names.append(w.wire(width, _sum(terms, width), "popcount"))
    return _Tensor(names, n_in)


def _threshold(w: _Writer, layer: Threshold, x: _Tensor) -> _Tensor:
    """#{k : x[j] >= thresholds[j, k]}: a sum of comparison bits."""
    k = layer.thresholds.shape[1]
    width = width_for(k)
    names = []
    for n, row in zip(x.names, layer.thresholds.astype(object)):
        # the literal wide enough for the threshold and the input (the comparison takes the wider)
        terms = [_bit(f"{n} >= {const(t, width_for(max(abs(int(t)), x.bound)))}") for t in row]
        names.append(w.wire(width, _sum(terms, width), "thr"))
    return _Tensor(names, k)


def _conv2d(w: _Writer, layer: Conv2d, x: _Tensor) -> _Tensor:
    """Each output is the dense sum (or, binary, the XNOR count) over its window, CHW order."""
    c_out, c_in, kh, kw = layer.weight.shape
    _, h, wd = layer.in_shape
    _, ho, wo = layer.out_shape
    weight = layer.weight.astype(object)
    if layer.binary:
        bound = c_in * kh * kw
    else:
        bound = max(int(sum(abs(v) for v in weight[o].ravel())) * x.bound + abs(int(layer.bias[o])) for o in range(c_out))
    width = width_for(bound)
    names = []
    for o in range(c_out):
        for r in range(ho):
            for c in range(wo):
                terms = []
                for ci in range(c_in):
                    for i in range(kh):
                        for j in range(kw):
                            src = x.names[(ci * h + r * layer.stride + i) * wd + c * layer.stride + j]
                            wt = weight[o, ci, i, j]
                            if layer.binary:
                                terms.append(src if wt else f"({const(1, width)} - {src})")
                            elif wt != 0:
                                terms.append(f"{const(wt, width)} * {src}")
                if not layer.binary:
                    terms.append(const(layer.bias[o], width))
                names.append(w.wire(width, _sum(terms, width), "conv"))
    return _Tensor(names, bound)


def _maxpool2d(w: _Writer, layer: MaxPool2d, x: _Tensor) -> _Tensor:
    c, h, wd = layer.in_shape
    _, ho, wo = layer.out_shape
    width = width_for(x.bound)
    names = []
    for ch in range(c):
        for r in range(ho):
            for col in range(wo):
                best = None
                for i in range(layer.kernel):
                    for j in range(layer.kernel):
                        src = x.names[(ch * h + r * layer.stride + i) * wd + col * layer.stride + j]
                        best = src if best is None else w.wire(width, f"({src} > {best}) ? {src} : {best}", "max")
                names.append(best)
    return _Tensor(names, x.bound)


def _pad2d(w: _Writer, layer: Pad2d, x: _Tensor) -> _Tensor:
    bound = max([x.bound] + [abs(int(v)) for v in layer.value])
    per = int(np.prod(layer.out_shape[1:]))
    consts = [w.wire(width_for(bound), const(v, width_for(bound)), "pad") for v in layer.value.tolist()]
    return _Tensor([x.names[i] if i >= 0 else consts[k // per] for k, i in enumerate(layer.sources().tolist())], bound)


def _thermometer(w: _Writer, layer: Thermometer, x: _Tensor) -> _Tensor:
    names = []
    for f, t in zip(layer.feature.tolist(), layer.threshold.tolist()):
        width = width_for(max(abs(int(t)), x.bound)) + 1
        names.append(w.wire(2, _bit(f"{x.names[f]} >= {const(t, width)}"), "therm"))
    return _Tensor(names, 1)


def _logic_gates(w: _Writer, layer: LogicGates, x: _Tensor) -> _Tensor:
    """Each gate as its truth table: f(a, b) = table[2a + b] (compiler.logic)."""
    nets = list(x.names)
    for a, b, op in zip(layer.a.tolist(), layer.b.tolist(), layer.ops.tolist()):
        t = logic.table(op)
        cases = " : ".join(f"({nets[a]}[0] == 1'b{ab >> 1} && {nets[b]}[0] == 1'b{ab & 1}) ? 2'sd{t[ab]}" for ab in range(3))
        nets.append(w.wire(2, f"{cases} : 2'sd{t[3]}", "gate"))
    return _Tensor([nets[o] for o in layer.outputs.tolist()], 1)


def _group_sum(w: _Writer, layer: GroupSum, x: _Tensor) -> _Tensor:
    k = len(x.names) // layer.classes
    width = width_for(k * x.bound)
    names = [w.wire(width, _sum(x.names[c * k:(c + 1) * k], width), "group") for c in range(layer.classes)]
    return _Tensor(names, k * x.bound)


_LAYERS = {Dense: _dense, Relu: _relu, Requant: _requant, ArgMax: _argmax, XnorPopcount: _xnor_popcount,
           Threshold: _threshold, Conv2d: _conv2d, MaxPool2d: _maxpool2d, Pad2d: _pad2d, Thermometer: _thermometer,
           LogicGates: _logic_gates, GroupSum: _group_sum}


# ------------------------------------------------------------------------------ the module


def reference_verilog(ir: IR, layout: dict, module: str) -> str:
    """The reference module `module` of the integer IR `ir`, with the ports of `layout`."""
    if not ir.is_integer():
        raise BespokeError("the formal reference needs an integer IR; this one has float layers")
    w = _Writer()
    tensors: dict[str, _Tensor] = {}
    for n in ir.order():
        layer = ir.layer(n)
        w.lines.append(f"  // {n}: {layer.describe()}")
        if isinstance(layer, Input):
            tensors[n] = _input(w, layer, layout)
            continue
        rule = _LAYERS.get(type(layer))
        if rule is None:
            raise BespokeError(f"node {n!r}: the formal reference does not cover layer {layer.op!r}; "
                               f"it covers {', '.join(sorted(c.op for c in _LAYERS))}")
        (src,) = ir.inputs_of(n)
        tensors[n] = rule(w, layer, tensors[src])
    out = tensors[ir.output_node()]
    n_in, iw, n_out, ow = layout["n_in"], layout["in_width"], layout["n_out"], layout["out_width"]
    if len(out.names) != n_out or ir.out(ir.input_node()).size != n_in:
        raise BespokeError(f"the IR has {ir.out(ir.input_node()).size} inputs and {len(out.names)} outputs, the design's "
                           f"ports {n_in} and {n_out}: ir.json and the Verilog are not of the same build")
    # a wider wire is cut to the port, a narrower one sign-extended (it is signed)
    assigns = [f"  assign y[{ow * i + ow - 1}:{ow * i}] = {name}" + (f"[{ow - 1}:0];" if w.widths[name] > ow else ";")
               for i, name in enumerate(out.names)]
    head = [f"// Formal reference of IR {ir.name!r}: behavioural, written from the layer IR (bespoke targets.reference_verilog).",
            f"module {module}(x, y);", f"  input [{n_in * iw - 1}:0] x;", f"  output [{n_out * ow - 1}:0] y;"]
    return "\n".join(head + w.lines + assigns + ["endmodule", ""])


def layer_reference(layer, inputs: list[str], widths: list[int], bound: int) -> tuple[list[str], list[str]]:
    """One layer's reference on given signed input expressions (each of the given width, every
    value's magnitude at most `bound`): (its wire lines, its output wire names)."""
    rule = _LAYERS.get(type(layer))
    if rule is None:
        raise BespokeError(f"the formal reference does not cover layer {layer.op!r}")
    w = _Writer()
    names = [w.wire(width, expr, "in") for expr, width in zip(inputs, widths)]
    out = rule(w, layer, _Tensor(names, bound))
    return w.lines, out.names


def input_constraint(ir: IR, layout: dict) -> str | None:
    """A Verilog condition on `x` that holds exactly for input codes in the Input layer's range,
    or None when every value of the port is a code (the usual case: u4 codes 0..15)."""
    layer = ir.layer(ir.input_node())
    width, signed = layout["in_width"], layout["in_signed"]
    full = (-(1 << (width - 1)), (1 << (width - 1)) - 1) if signed else (0, (1 << width) - 1)
    if (layer.lo, layer.hi) == full:
        return None
    conds = []
    for i in range(layer.size):
        f = f"x[{width * i + width - 1}:{width * i}]"
        v = f"$signed({f})" if signed else f"$signed({{1'b0, {f}}})"
        conds.append(f"({v} >= {const(layer.lo, width + 2)}) && ({v} <= {const(layer.hi, width + 2)})")
    return " && ".join(conds)
