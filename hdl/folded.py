"""The folded (time-multiplexed) architecture: a chain of matrix-vector units with ready/valid,
one inference at a time (arch="folded") or with the layers overlapping consecutive inputs
(arch="dataflow").

The circuit is planned once as a netlist (hdl.folded_netlist, from hdl.folded_plan's schedules)
and written by hdl.write_verilog (default) or hdl.write_amaranth; this module owns the entry
points, the port contract and the documenting header.

Entry points (same signatures as hdl.lower's, which delegates here for both archs):
    to_verilog(ir, name, pipeline=False, arch="folded", pe=None, simd=None) -> str
    port_layout(ir, pipeline=False, name=None, arch="folded", pe=None, simd=None) -> dict
    summary(ir, pipeline=False, arch="folded", pe=None, simd=None) -> dict

`pipeline` is ignored: a folded design is always clocked. pe / simd: rows and columns of each
layer's matrix computed per cycle, one value for every layer and capped at the layer's size
(a 10-class output layer with pe=16 gets 10); a value that does not divide a layer is padded.
Not given: per layer, the largest divisor of its rows not above 16 (columns: 32).

Port contract: clk, rst (synchronous, active high), x (element i at bits [i*W_in, (i+1)*W_in)),
in_valid, in_ready, y, out_valid, out_ready. One inference per transaction: x is captured on the
rising edge where in_valid and in_ready are both high; after `latency` rising edges, counting
that one, out_valid rises with the result on y, and both hold until a rising edge with out_ready
high. in_ready is high while no inference is running and no result waits (or it is being taken),
so a new input is accepted on the edge that takes the previous result. `latency` =
sum over layers of positions * ceil(rows/PE) * ceil(cols/SIMD), plus 2 per layer, 1 per conv
layer (its sliding window's first rows), 1 for the capture and 1 for a registered argmax (see
hdl.folded_plan), independent of out_ready.

Dataflow: the same MVUs and latency, but every buffer between layers has two slots, so layer k
works on input n while layer k+1 works on input n-1 (FINN's streaming form, with ping-pong
buffers in place of FIFOs). in_ready rises at most once every `interval` rising edges (the
layout's "interval", NetworkPlan.interval: the slowest MVU, or two neighbours turning a buffer's
two slots over); with inputs offered and out_ready high, an input is taken exactly every
interval and every inference takes exactly `latency`. Results leave in input order; while
out_ready is low the chain stalls behind the held result.
"""

from __future__ import annotations

import json

from bespoke.compiler.errors import BespokeError
from bespoke.compiler.ir import IR
from bespoke.hdl.folded_netlist import build
from bespoke.hdl.folded_plan import NetworkPlan, plan_network
from bespoke.hdl.netlist import Netlist
from bespoke.hdl.write import default_name, write


ARCHS = ("folded", "dataflow")


def check_arch(arch: str) -> bool:
    """True for the dataflow engine (layers overlapping consecutive inputs)."""
    if arch not in ARCHS:
        raise BespokeError(f"hdl.folded builds arch='folded' or 'dataflow', not {arch!r}")
    return arch == "dataflow"


def output_type(net: NetworkPlan) -> tuple[int, int]:
    """(elements, bits per element) of y: the class index, or the last buffer's elements."""
    if net.argmax is not None:
        return 1, max(1, (net.layers[-1].dst.size - 1).bit_length())
    return net.layers[-1].dst.size, net.layers[-1].dst.width


# --------------------------------------------------------------------------- entry points


def port_layout(ir: IR, pipeline: bool = False, name: str | None = None, arch: str = "folded", pe: int | None = None,
                simd: int | None = None) -> dict:
    """The port contract of `to_verilog(ir, name, arch="folded", pe=pe, simd=simd)`, JSON-serialisable."""
    return layout_of(plan_network(ir, pe, simd, check_arch(arch)), name or default_name(ir))


def layout_of(net: NetworkPlan, name: str) -> dict:
    n_out, out_width = output_type(net)
    out_signed = net.argmax is None and net.layers[-1].dst.signed
    return {"top": name, "n_in": net.input.size, "in_width": net.input.width, "in_signed": net.input.signed,
            "n_out": n_out, "out_width": out_width, "out_signed": out_signed, "pipelined": True, "handshake": True,
            "latency": net.latency, "interval": net.interval, "arch": "folded", "dataflow": net.dataflow}


def summary(ir: IR, pipeline: bool = False, arch: str = "folded", pe: int | None = None, simd: int | None = None) -> dict:
    """Per layer: folding, cycles, ROM and buffer bits; totals; the analytic cycle count."""
    return summary_of(plan_network(ir, pe, simd, check_arch(arch)), pe, simd)


def summary_of(net: NetworkPlan, pe, simd) -> dict:
    layers = [layer.stats() for layer in net.layers]
    total = {key: sum(row[key] for row in layers) for key in ("cycles", "weight_rom_bits", "param_rom_bits", "buffer_bits")}
    total["buffer_bits"] += net.input_register.bits
    text = (f"{net.latency} cycles per inference = {net.cycles} (" + " + ".join(str(row["cycles"]) for row in layers) +
            f") + fill {net.fill} ({net.fill_formula()})")
    if net.dataflow:
        text += f"; layers overlap consecutive inputs: one input every {net.interval} cycles"
    return {"arch": "folded", "dataflow": net.dataflow, "pe": pe, "simd": simd, "layers": layers, "total": total,
            "pipelined": True, "handshake": True, "cycles": net.cycles, "fill": net.fill, "latency": net.latency,
            "interval": net.interval, "cycles_text": text}


def netlist(ir: IR, pe: int | None = None, simd: int | None = None, arch: str = "folded") -> Netlist:
    """The folded engine as a netlist (hdl.folded_netlist), planned once."""
    return build(plan_network(ir, pe, simd, check_arch(arch)))


def to_verilog(ir: IR, name: str, pipeline: bool = False, arch: str = "folded", pe: int | None = None, simd: int | None = None,
               writer: str = "direct", nl: Netlist | None = None) -> str:
    """Verilog of the folded engine, top module `name`, with a documenting header; written from
    its netlist (`nl`, planned here when not given) by the writer named `writer`."""
    net = plan_network(ir, pe, simd, check_arch(arch))
    text = write(nl or build(net), name, writer)
    return header(ir, net, name, pe, simd) + text


def header(ir: IR, net: NetworkPlan, name: str, pe, simd) -> str:
    lay, summ = layout_of(net, name), summary_of(net, pe, simd)
    text = lambda s: json.dumps(str(s)).replace("*", "\\u002a")
    kind = lambda signed: "two's complement" if signed else "unsigned"
    lines = [f"// {name}: bespoke folded engine for IR {text(ir.name)}, generated by bespoke (hdl.folded).", "//",
             "// Layers (matrix-vector units; cycles = positions x ceil(rows/PE) x ceil(cols/SIMD))"]
    for row in summ["layers"]:
        lines.append(f"//   {row['name']}: {row['op']}, {row['rows']}x{row['cols']}, PE {row['pe']}, SIMD {row['simd']}, "
                     f"{row['formula']} = {row['cycles']} cycles")
    lines += ["//", "// Ports",
              "//   input clk, input rst (synchronous, active high)",
              f"//   input  x : {lay['n_in']} elements of {lay['in_width']} bits, {kind(lay['in_signed'])}, element i at x[W*i+W-1:W*i], W = {lay['in_width']}",
              "//   input in_valid, output in_ready : x is taken on a rising edge with both high"]
    if net.argmax:
        lines.append(f"//   output y : class index, {lay['out_width']} bits unsigned (argmax; lowest index wins ties)")
    else:
        lines.append(f"//   output y : {lay['n_out']} elements of {lay['out_width']} bits, {kind(lay['out_signed'])}")
    lines += ["//   output out_valid, input out_ready : y holds from out_valid until a rising edge with out_ready high",
              "//", "// Timing",
              f"//   latency {lay['latency']}: out_valid rises {lay['latency']} rising edges after the accepting one (counting it);",
              f"//   {summ['cycles_text']}.",
              "//   " + (f"Layers work on consecutive inputs (two slots per buffer): in_ready rises at most every {net.interval} edges,"
                     " and with out_ready high every inference takes the latency above." if net.dataflow else
                     "One inference at a time; the next input is accepted on the edge that takes the result.")]
    return "\n".join(lines).replace("*", "x") + "\n\n"
