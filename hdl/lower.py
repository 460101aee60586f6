# amaranth: UnusedElaboratable=no

"""Lowering an integer IR with proven ranges to one Amaranth top component, and to Verilog.

The circuit chains one stage per layer (Dense, Relu, Requant, ArgMax, XnorPopcount, Threshold,
Conv2d, MaxPool2d), each typed from the IR's ranges; an XNOR-popcount (or binary conv) feeding
only a K = 1 threshold is one fused stage (hdl.stages.fused_accumulator), since its count never
needs to exist.
This is the unrolled architecture: one inference per cycle, every weight hard-wired. The folded
one lives in hdl.folded; `to_verilog`, `port_layout` and `summary` delegate to it for
arch="folded" and arch="dataflow" (the folded layers overlapping consecutive inputs), passing
the same arguments (plus `pe`, `simd`).

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

The circuit is planned once, as a netlist (hdl.unrolled.plan_unrolled); the Verilog is written
from it directly, a module per layer (hdl.write_verilog, the default), or through Amaranth
(hdl.write_amaranth, writer="amaranth"). The two writers are proven equivalent by Yosys + ABC
(tests/hdl/test_writers.py); the direct one is the default because Amaranth elaborates ~1.6 ms
per cell (pendigits: 1.0 s of a 1.0 s compile; the unrolled SFC would take minutes). The
summary is counted on the same netlist.
"""

from __future__ import annotations

import json

from bespoke.compiler import input_encoding
from bespoke.compiler.errors import BespokeError
from bespoke.compiler.ir import IR, ArgMax
from bespoke.hdl import folded
from bespoke.hdl.netlist import Netlist, gc_paused
from bespoke.hdl.stages import (POOLED_INTO, REGISTERED, SUPPORTED, binary_rows, check_ir,  # noqa: F401 (re-exported)
                                fused_accumulator, registered, stage_depths, stage_op)
from bespoke.hdl.unrolled import plan_unrolled
from bespoke.hdl.unrolled_summary import netlist_summary
from bespoke.hdl.vec import vec_shape
from bespoke.hdl.write import WRITERS, default_name, write  # noqa: F401 (WRITERS re-exported)

ARCHS = ("unrolled", *folded.ARCHS)


def lower(ir: IR, pipeline: bool = False):
    """The Amaranth top component of the unrolled circuit (for simulation in Amaranth)."""
    from bespoke.hdl.write_amaranth import NetlistTop

    return NetlistTop(plan_unrolled(ir, registers=pipeline))


def _check_arch(arch: str, pe: int | None, simd: int | None) -> bool:
    """True for the folded architecture; a user error for unknown ones or unrolled with pe/simd."""
    if arch not in ARCHS:
        raise BespokeError(f"unknown architecture {arch!r}; supported: {', '.join(ARCHS)}")
    if arch == "unrolled" and (pe is not None or simd is not None):
        raise BespokeError("pe and simd set the parallelism of the folded architecture; the unrolled one takes neither")
    return arch in folded.ARCHS


def port_layout(ir: IR, pipeline: bool = False, name: str | None = None, arch: str = "unrolled", pe: int | None = None,
                simd: int | None = None) -> dict:
    """The port contract of `to_verilog(ir, name, pipeline, arch, pe, simd)`, JSON-serialisable."""
    if _check_arch(arch, pe, simd):
        return folded.port_layout(ir, pipeline=pipeline, name=name, arch=arch, pe=pe, simd=simd)
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


@gc_paused()  # over planning and counting, so the collector never sees the netlist, freed on return
def summary(ir: IR, pipeline: bool = False, arch: str = "unrolled", pe: int | None = None, simd: int | None = None) -> dict:
    """Per-layer hardware counts (adders, weights, CSD digits, popcount cells, widths) and totals."""
    if _check_arch(arch, pe, simd):
        return folded.summary(ir, pipeline=pipeline, arch=arch, pe=pe, simd=simd)
    return netlist_summary(plan_unrolled(ir, registers=pipeline), ir)


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
    if "input_program" in ir.meta:  # the model quantises its own input: how a feature becomes a code
        lines.append("//   " + input_encoding.describe(ir.meta["input_program"]))
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
               simd: int | None = None, writer: str = "direct") -> str:
    """Verilog of the lowered IR, top module `name`, with the documenting header. arch="folded"
    hands over to hdl.folded (with pe, simd); `writer` picks the netlist's writer (hdl.write)."""
    if _check_arch(arch, pe, simd):
        return folded.to_verilog(ir, name, pipeline=pipeline, arch=arch, pe=pe, simd=simd, writer=writer)
    return write_netlist(plan_unrolled(ir, registers=pipeline), ir, name, pipeline, writer)


def write_netlist(nl: Netlist, ir: IR, name: str, pipeline: bool = False, writer: str = "direct") -> str:
    """The header and the Verilog of `nl` (planned from `ir`), by the writer named `writer`."""
    text = write(nl, name, writer)  # checks the name and the writer before the header is built
    return header(ir, name, pipeline) + text
