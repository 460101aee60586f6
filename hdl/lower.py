# amaranth: UnusedElaboratable=no

"""Lowering an integer IR with proven ranges to one Amaranth top component, and to Verilog.

The top chains one component per layer (Dense, Relu, Requant, ArgMax, XnorPopcount, Threshold,
Conv2d, MaxPool2d), each typed from the IR's ranges; an XNOR-popcount (or binary conv) feeding
only a K = 1 threshold is one fused component (hdl.xnor), since its count never needs to exist.
This is the unrolled architecture: one inference per cycle, every weight hard-wired. The folded
one lives in hdl.folded; `to_verilog`, `port_layout` and `summary` delegate to it for
arch="folded", passing the same arguments (minus `arch`, plus `pe`, `simd`).

Port contract (others rely on it; see `port_layout`):

- `x`: flat input vector, element i at bits [i*W_in, (i+1)*W_in), W_in wide enough for every
  element's range (two's complement for all elements if any can be negative);
- `y`: flat output vector, same rule; for an ArgMax output, one unsigned class index;
- combinational (pipeline=False): no other ports;
- pipelined: `clk`, `rst` (synchronous, active high), `in_valid`, `out_valid`. A register stage
  follows every Dense, Requant, ArgMax, XnorPopcount, Conv2d, Threshold and MaxPool2d layer,
  except one whose only user is a Threshold or MaxPool2d: accumulators are compared and bits
  pooled in the same stage, so registers hold the narrow tensor (a Relu is merged into the next
  stage too); inputs are not registered. `latency` = number of register stages: a vector sampled (x, in_valid=1)
  at rising edge t is on y with out_valid=1 after rising edge t + latency - 1, until edge
  t + latency. One vector may enter every cycle; `rst` clears only the valid chain.

Dense layers above DIRECT_DENSE_ADDERS adders, and XNOR-popcount layers of comparable size, are
written as Verilog directly (hdl.dense_verilog, hdl.xnor) and instantiated as black boxes:
Amaranth's per-bit netlist makes huge layers slow to elaborate.
"""

from __future__ import annotations

import json
import re

from amaranth import Const, Instance, Module, Signal
from amaranth.back import verilog
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

import numpy as np

from bespoke.compiler.errors import BespokeError
from bespoke.compiler.ir import IR, ArgMax, Conv2d, Dense, Input, MaxPool2d, Relu, Requant, Threshold, XnorPopcount
from bespoke.hdl import argmax, dense, maxpool, relu, requant, threshold, xnor
from bespoke.hdl.conv import conv_rows
from bespoke.hdl.dense_verilog import dense_verilog
from bespoke.hdl.popcount import plan_popcount, popcount_verilog
from bespoke.hdl.stages import (POOLED_INTO, REGISTERED, SUPPORTED, binary_rows, check_ir,  # noqa: F401 (re-exported)
                                fused_accumulator, registered, stage_depths, stage_op)
from bespoke.hdl.vec import ints, narrow, range_shape, vec_layout, vec_shape

ARCHS = ("unrolled", "folded")
# Dense layers with more adders than this are written as Verilog directly (hdl.dense_verilog):
# Amaranth needs ~1 ms per adder, so this bounds a layer's elaboration to ~20 s.
DIRECT_DENSE_ADDERS = 20_000
# Elaboration cost of one popcount cell (full/half adder, gate) in word adders: measured 1.6 ms
# per cell (three signals each) against ~1 ms per adder.
CELL_COST = 1.5


# --------------------------------------------------------------------------- stages


def make_component(layer, lo, hi, acc=None) -> wiring.Component:
    """The component computing `layer` on an input vector with element ranges [lo, hi]; `acc`: the
    binarized accumulator layer fused into a Threshold `layer`."""
    if acc is not None:
        return xnor.XnorPopcount(binary_rows(acc), lo, hi, thresholds=layer.thresholds[:, 0])
    if isinstance(layer, Dense):
        return dense.Dense(layer.weight, layer.bias, lo, hi)
    if isinstance(layer, XnorPopcount) or isinstance(layer, Conv2d) and layer.binary:
        return xnor.XnorPopcount(binary_rows(layer), lo, hi)
    if isinstance(layer, Conv2d):
        positions = layer.out_size([]) // layer.weight.shape[0]
        rows = conv_rows(layer.weight, layer.in_shape, layer.stride)
        return dense.Dense(None, np.repeat(layer.bias, positions), lo, hi, rows=rows)
    if isinstance(layer, Threshold):
        return threshold.Threshold(layer.thresholds, lo, hi)
    if isinstance(layer, MaxPool2d):
        return maxpool.MaxPool2d(layer.in_shape, layer.kernel, layer.stride, lo, hi)
    if isinstance(layer, Relu):
        return relu.Relu(lo, hi)
    if isinstance(layer, Requant):
        return requant.Requant(layer.mult, layer.shift, layer.zero_point, layer.qmin, layer.qmax, layer.rounding, lo, hi)
    if isinstance(layer, ArgMax):
        return argmax.ArgMax(lo, hi)
    raise AssertionError(layer)


def build_stages(ir: IR) -> tuple[dict[str, wiring.Component], dict[str, str]]:
    """One component per non-input node (a fused accumulator has none), in topological order,
    typed from the IR's ranges; and the node each stage reads."""
    check_ir(ir)
    fused = {a: n for n in ir.order() if (a := fused_accumulator(ir, n)) is not None}
    stages, sources = {}, {}
    for n in ir.order():
        if isinstance(ir.layer(n), Input) or n in fused:
            continue
        acc = fused_accumulator(ir, n)
        (src,) = ir.inputs_of(acc or n)
        comp = make_component(ir.layer(n), ir.out(src).lo, ir.out(src).hi, acc and ir.layer(acc))
        lo, hi = ints(ir.out(n).lo), ints(ir.out(n).hi)
        # the circuit's exact ranges must lie inside the proven ones, or the IR's widths lie
        if any(a < l or b > h for a, b, l, h in zip(comp.out_lo, comp.out_hi, lo, hi)):
            raise ValueError(f"node {n}: hardware range exceeds the IR's proven range; re-run infer-ranges")
        stages[n], sources[n] = comp, src
    return stages, sources


def elaboration_cost(comp) -> int:
    """A component's Amaranth elaboration cost in word adders (what `direct_above` bounds)."""
    if isinstance(comp, dense.Dense):
        return comp.stats()["adders"]
    if isinstance(comp, xnor.XnorPopcount):
        s = comp.stats()
        return int((s["full_adders"] + s["half_adders"] + s["gates"]) * CELL_COST)
    return 0


def instance_name(k: int, node: str) -> str:
    return f"l{k}_{re.sub(r'[^A-Za-z0-9_]', '_', node)}"


# --------------------------------------------------------------------------- the top


class Top(wiring.Component):
    """The whole network: `x` -> `y` (and `in_valid` -> `out_valid` when pipelined).

    Dense layers with more than `direct_above` adders become black-box instances of modules
    listed in `direct_modules` (name -> Verilog text), which `to_verilog` appends.
    """

    def __init__(self, ir: IR, pipeline: bool = False, name: str | None = None, direct_above: int | None = DIRECT_DENSE_ADDERS):
        self.ir, self.pipeline = ir, pipeline
        self.stages, self.sources = build_stages(ir)
        self.depth = stage_depths(ir, pipeline)
        self.latency = self.depth[ir.output_node()]
        self.prefix = name or default_name(ir)
        self.direct = {
            n: f"{self.prefix}__{instance_name(k, n)}"
            for k, (n, comp) in enumerate(self.stages.items())
            if isinstance(comp, (dense.Dense, xnor.XnorPopcount)) and direct_above is not None
            and elaboration_cost(comp) > direct_above
        }
        inp, out = ir.out(ir.input_node()), ir.out(ir.output_node())
        ports = {"x": In(vec_layout(inp.lo, inp.hi)), "y": Out(vec_layout(out.lo, out.hi))}
        if pipeline:
            ports.update(in_valid=In(1), out_valid=Out(1))
        super().__init__(ports)

    def direct_modules(self) -> dict[str, str]:
        """Verilog of the directly written layers, then the popcount modules they share."""
        modules, popcounts = {}, {}
        for n, module in self.direct.items():
            comp = self.stages[n]
            if isinstance(comp, xnor.XnorPopcount):
                modules[module], used = xnor.xnor_verilog(module, self.prefix, comp)
                popcounts.update(used)
            else:
                modules[module] = dense_verilog(module, comp)
        for name, (n, ge) in sorted(popcounts.items()):
            modules[name] = popcount_verilog(name, plan_popcount(n, ge))
        return modules

    def elaborate(self, platform):
        m = Module()
        ir = self.ir
        inp = ir.input_node()
        tensors = {inp: [narrow(self.x[i], lo, hi) for i, (lo, hi) in enumerate(zip(ints(ir.out(inp).lo), ints(ir.out(inp).hi)))]}
        for k, (n, comp) in enumerate(self.stages.items()):
            name = instance_name(k, n)
            if n in self.direct:
                x, y = Signal(comp.x.shape(), name=f"{name}_x"), Signal(comp.y.shape(), name=f"{name}_y")
                m.submodules[name] = Instance(self.direct[n], i_x=x.as_value(), o_y=y.as_value())
            else:
                m.submodules[name] = comp
                x, y = comp.x, comp.y
            src = self.sources[n]
            m.d.comb += [x[i].eq(v) for i, v in enumerate(tensors[src])]
            lo, hi = ints(ir.out(n).lo), ints(ir.out(n).hi)
            outs = [narrow(y[j], a, b) for j, (a, b) in enumerate(zip(lo, hi))]
            if self.depth[n] > self.depth[src]:
                outs = self.register(m, outs, lo, hi, name)
            tensors[n] = outs
        m.d.comb += [self.y[j].eq(v) for j, v in enumerate(tensors[ir.output_node()])]
        if self.pipeline:
            m.d.comb += self.out_valid.eq(self.valid_chain(m))
        return m

    @staticmethod
    def register(m, values, lo, hi, name):
        """A pipeline register per element, each only as wide as its range (none for a constant);
        no reset needed, as out_valid says when the data is meaningful."""
        out = []
        for j, (v, a, b) in enumerate(zip(values, lo, hi)):
            if a == b:
                out.append(Const(a, range_shape(a, b)))
                continue
            reg = Signal(range_shape(a, b), name=f"{name}_r{j}", reset_less=True)
            m.d.sync += reg.eq(v)
            out.append(reg)
        return out

    def valid_chain(self, m):
        """in_valid delayed by `latency` cycles; reset clears it."""
        valid = self.in_valid
        for k in range(self.latency):
            reg = Signal(name=f"valid_{k}")
            m.d.sync += reg.eq(valid)
            valid = reg
        return valid


def lower(ir: IR, pipeline: bool = False, name: str | None = None, direct_above: int | None = DIRECT_DENSE_ADDERS) -> Top:
    """The Amaranth top for `ir`. Simulate it in Amaranth only if `top.direct` is empty (set
    `direct_above=None` to keep every layer in Amaranth)."""
    return Top(ir, pipeline, name, direct_above)


# --------------------------------------------------------------------------- contract and reports


def default_name(ir: IR) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", ir.name) or "model"
    return name if re.match(r"[A-Za-z_]", name) else f"m_{name}"


def _check_arch(arch: str, pe: int | None, simd: int | None) -> bool:
    """True for the folded architecture; a user error for unknown ones or unrolled with pe/simd."""
    if arch not in ARCHS:
        raise BespokeError(f"unknown architecture {arch!r}; supported: {', '.join(ARCHS)}")
    if arch == "unrolled" and (pe is not None or simd is not None):
        raise BespokeError("pe and simd set the parallelism of the folded architecture; the unrolled one takes neither")
    return arch == "folded"


def _folded():
    """hdl.folded, imported only when asked for (it is optional)."""
    try:
        from bespoke.hdl import folded
    except ModuleNotFoundError as e:
        if e.name != "bespoke.hdl.folded":
            raise
        raise BespokeError("folded architecture not available") from None
    return folded


def port_layout(ir: IR, pipeline: bool = False, name: str | None = None, arch: str = "unrolled", pe: int | None = None,
                simd: int | None = None) -> dict:
    """The port contract of `to_verilog(ir, name, pipeline, arch, pe, simd)`, JSON-serialisable."""
    if _check_arch(arch, pe, simd):
        return _folded().port_layout(ir, pipeline=pipeline, name=name, pe=pe, simd=simd)
    check_ir(ir)
    inp, out = ir.out(ir.input_node()), ir.out(ir.output_node())
    in_shape, out_shape = vec_shape(inp.lo, inp.hi), vec_shape(out.lo, out.hi)
    return {
        "top": name or default_name(ir),
        "n_in": inp.size,
        "in_width": in_shape.width,
        "in_signed": in_shape.signed,
        "n_out": out.size,
        "out_width": out_shape.width,
        "out_signed": out_shape.signed,
        "pipelined": bool(pipeline),
        "latency": stage_depths(ir, pipeline)[ir.output_node()],
    }


def summary(ir: IR, pipeline: bool = False, arch: str = "unrolled", pe: int | None = None, simd: int | None = None) -> dict:
    """Per-layer hardware counts (adders, weights, CSD digits, popcount cells, widths) and totals."""
    if _check_arch(arch, pe, simd):
        return _folded().summary(ir, pipeline=pipeline, pe=pe, simd=simd)
    stages, sources = build_stages(ir)
    depth = stage_depths(ir, pipeline)
    keys = ("adders", "comparators", "muxes", "nonzero_weights", "csd_digits", "xnor_bits", "full_adders", "half_adders",
            "gates", "register_bits")
    layers, totals = [], dict.fromkeys(keys, 0)
    for n, comp in stages.items():
        row = {"name": n, "op": stage_op(ir, n), "out_width": vec_shape(comp.out_lo, comp.out_hi).width}
        row.update(comp.stats())
        src = sources[n]
        if depth[n] > depth[src]:
            row["register_bits"] = sum(range_shape(a, b).width for a, b in zip(ints(ir.out(n).lo), ints(ir.out(n).hi)) if a != b)
        for key in totals:
            totals[key] += row.get(key, 0)
        layers.append(row)
    latency = depth[ir.output_node()]
    totals["register_bits"] += latency  # the valid chain
    totals["acc_width"] = max((row.get("acc_width", 0) for row in layers), default=0)
    return {"layers": layers, "total": totals, "pipelined": bool(pipeline), "latency": latency, "arch": "unrolled"}


def _fmt(v) -> str:
    return f"{float(v):.9g}"


def _text(s) -> str:
    """A label or name as a one-line, star-free comment string."""
    return json.dumps(str(s)).replace("*", "\\u002a")


def _element_lines(info, names=None) -> list[str]:
    """'elements a..b: codes [lo, hi], real = ...' lines, runs of identical elements merged."""
    def desc(i):
        d = f"codes [{int(info.lo[i])}, {int(info.hi[i])}]"
        if info.scale is not None and info.offset is not None:
            off = float(info.offset[i])
            d += f", real = {_fmt(info.scale[i])} x code {'-' if off < 0 else '+'} {_fmt(abs(off))}"
        if names is not None:
            d += f", feature {_text(names[i])}"
        return d

    lines, start = [], 0
    for i in range(1, info.size + 1):
        if i == info.size or desc(i) != desc(start):
            span = f"element {start}" if i - 1 == start else f"elements {start}..{i - 1}"
            lines.append(f"//   {span}: {desc(start)}")
            start = i
    return lines


def _range(width: int) -> str:
    return f"[{width - 1}:0] " if width > 1 else ""


def _bits(name: str, width: int, index: str) -> str:
    """Where element `index` sits in a flat port, written without '*' (x[4i+3:4i])."""
    return f"{name}[{index}]" if width == 1 else f"{name}[{width}{index}+{width - 1}:{width}{index}]"


def header(ir: IR, name: str, pipeline: bool) -> str:
    """The comment block documenting ports, encodings and timing, put before the Verilog."""
    lay = port_layout(ir, pipeline, name)
    inp, out = ir.out(ir.input_node()), ir.out(ir.output_node())
    kind = lambda signed: "two's complement" if signed else "unsigned"
    n_in, w_in, n_out, w_out = lay["n_in"], lay["in_width"], lay["n_out"], lay["out_width"]
    lines = [
        f"// {name}: bespoke hard-wired datapath for IR {_text(ir.name)}, generated by bespoke (hdl.lower).",
        "//",
        "// Layers",
        *(f"//   {n}: {ir.layer(n).describe()}".replace("*", "x") for n in ir.order()),
        "//",
        "// Ports",
        f"//   input  {_range(n_in * w_in)}x : {n_in} elements of {w_in} bits, {kind(lay['in_signed'])}; element i at {_bits('x', w_in, 'i')}",
    ]
    is_argmax = isinstance(ir.layer(ir.output_node()), ArgMax)
    if is_argmax:
        lines.append(f"//   output {_range(w_out)}y : class index 0..{int(out.hi[0])}, unsigned (argmax; lowest index wins ties)")
    else:
        lines.append(f"//   output {_range(n_out * w_out)}y : {n_out} elements of {w_out} bits, {kind(lay['out_signed'])}; element j at {_bits('y', w_out, 'j')}")
    if pipeline:
        lines += [
            "//   input clk, input rst (synchronous, active high; clears the valid chain only)",
            "//   input in_valid, output out_valid",
        ]
    onnx_names = lambda key: f" (model {key.split('_')[0]} {_text(ir.meta[key])})" if key in ir.meta else ""
    lines += ["//", "// Input encoding" + onnx_names("input_name")] + _element_lines(inp, ir.meta.get("feature_names"))
    lines += ["//", "// Output encoding" + onnx_names("output_name")]
    labels = ir.meta.get("labels")
    if is_argmax and labels is not None:
        lines += [f"//   class {i}: {_text(label)}" for i, label in enumerate(labels)]
    elif not is_argmax:
        lines += _element_lines(out)
    lines += ["//", "// Timing"]
    if pipeline and lay["latency"] > 0:
        L = lay["latency"]
        lines += [
            f"//   pipelined, latency {L}: x with in_valid=1 sampled at rising edge t is on y with out_valid=1",
            f"//   after rising edge t+{L - 1} ({L} rising edges, counting edge t) and until edge t+{L}.",
            "//   A new vector may enter every cycle. Registers hold the outputs of: "
            + ", ".join(n for n in ir.order() if registered(ir, n)).replace("*", "x") + ".",
        ]
    elif pipeline:
        lines.append("//   no register stage in this network: combinational, out_valid = in_valid.")
    else:
        lines.append("//   combinational: y depends only on x, no clock.")
    return "\n".join(lines) + "\n\n"


def to_verilog(ir: IR, name: str, pipeline: bool = False, arch: str = "unrolled", pe: int | None = None,
               simd: int | None = None, direct_above: int | None = DIRECT_DENSE_ADDERS) -> str:
    """Verilog of the lowered IR, top module `name`, with the documenting header; large layers
    (costing more than `direct_above` adders to elaborate) written directly as extra modules at
    the end. arch="folded" hands over to hdl.folded (with pe, simd)."""
    if _check_arch(arch, pe, simd):
        return _folded().to_verilog(ir, name, pipeline=pipeline, pe=pe, simd=simd)
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise BespokeError(f"module name {name!r} is not a Verilog identifier (letters, digits, _)")
    top = lower(ir, pipeline, name, direct_above)
    text = verilog.convert(top, name=name, emit_src=False, strip_internal_attrs=True)
    return header(ir, name, pipeline) + text + "".join("\n" + v for v in top.direct_modules().values())
