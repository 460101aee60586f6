"""Formal equivalence of an emitted combinational design to the reference of its integer IR.

Yosys (pyosys) reads the emitted Verilog, the behavioural reference (targets.reference_verilog)
and a miter module whose one output `trigger` is 1 exactly when, for an input in the IR's code
range, the two designs' outputs differ; it bit-blasts the miter to an AIG. Then, in order:

1. random simulation of the AIG (numpy, 64 patterns per word): finds a broken design at once;
2. exhaustive simulation of every input when the input port has at most EXHAUSTIVE_MAX_BITS
   bits: a complete proof, by enumeration;
3. otherwise the layered proof (targets.formal_layers: the Verilog equals its netlist, the
   netlist equals the IR layer by layer), which reaches the printed MLPs and unrolled BNNs;
   where it cannot decide, or finds a difference, the miter above: random simulation for a
   counterexample, then yosys-abc `iprove` (SAT sweeping) under a time limit.

Verdicts: "proven" (equal for every input), "counterexample" (with the input port word that
shows it), "undecided" (the limit that was hit). Equivalence of differently structured adder
trees is hard for SAT, so wide designs may stay undecided; the result names the method.

A pipelined design (registers between layers, latency L) is compared with the reference of x
delayed by L registers. Its AIG is then checked to be a feed-forward pipeline whose every path
from x to the output crosses exactly L registers; replacing each register by its input then
gives a combinational miter, and its proof means y(t) = reference(x(t - L)) for every t >= L
and every input sequence, whatever the registers held at the start. The valid chain (in_valid
to out_valid) is not part of the proof; simulation measures it.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bespoke.compiler.errors import BespokeError
from bespoke.compiler.ir import IR
from bespoke.targets import yosys
from bespoke.targets.aig import RANDOM_WORDS, Aig, _iprove  # noqa: F401 (Aig, _iprove re-exported)
from bespoke.targets.reference_verilog import input_constraint, reference_verilog

EXHAUSTIVE_MAX_BITS = 28  # 2^28 vectors: about a minute of numpy on the printed examples' miters
REFERENCE = "bespoke_reference"
MITER = "bespoke_miter"


@dataclass(frozen=True)
class FormalResult:
    verdict: str  # "proven" | "counterexample" | "undecided"
    method: str  # how it was decided, e.g. "exhaustive simulation of all 2^28 inputs"
    detail: str  # what was proven, the counterexample's source, or the limit hit
    seconds: float
    input_bits: int
    and_gates: int
    counterexample: int | None = None  # the input port word x that shows a difference


def miter_verilog(ir: IR, layout: dict) -> str:
    """The miter of the emitted top and the reference: trigger = in range and outputs differ.

    For a pipelined top (latency L), the reference reads x delayed by L registers and the
    design's in_valid is a free input; trigger then compares y with the reference of x L cycles
    earlier."""
    n_in, n_out = layout["n_in"] * layout["in_width"], layout["n_out"] * layout["out_width"]
    latency = int(layout.get("latency") or 0) if layout.get("pipelined") else 0
    ok = input_constraint(ir, layout) or "1'b1"
    ports, lines = "x, trigger", [f"  input [{n_in - 1}:0] x;"]
    gate = f"  {layout['top']} u_gate(.x(x), .y(y_gate));"
    xr = "x"
    if layout.get("pipelined"):
        ports = "clk, rst, in_valid, x, trigger"
        lines += ["  input clk, rst, in_valid;"] + [f"  reg [{n_in - 1}:0] x_d{k};" for k in range(1, latency + 1)]
        lines += [f"  always @(posedge clk) x_d{k} <= {'x' if k == 1 else f'x_d{k - 1}'};" for k in range(1, latency + 1)]
        gate = f"  {layout['top']} u_gate(.clk(clk), .rst(rst), .in_valid(in_valid), .x(x), .y(y_gate), .out_valid());"
        xr = f"x_d{latency}" if latency else "x"
    return "\n".join([
        f"module {MITER}({ports});", *lines, "  output trigger;", f"  wire [{n_out - 1}:0] y_ref, y_gate;",
        f"  {REFERENCE} u_ref(.x({xr}), .y(y_ref));", gate,
        f"  assign trigger = ({ok.replace('x[', xr + '[')}) && (y_ref != y_gate);", "endmodule", ""])


def check_layout(layout: dict) -> None:
    if layout.get("handshake"):
        raise BespokeError("this build is a ready/valid (folded) engine: formal verification covers combinational and "
                           "pipelined unrolled designs; simulate this one with `bespoke simulate`")


def build_miter(verilog: str, ir: IR, layout: dict, work: Path, timeout: float) -> Path:
    """Write the design, the reference and the miter into `work`, and the miter's AIG (ASCII AIGER)."""
    (work / "design.v").write_text(verilog)
    (work / "reference.v").write_text(reference_verilog(ir, layout, REFERENCE))
    (work / "miter.v").write_text(miter_verilog(ir, layout))
    cmds = [f"read_verilog -sv {yosys.quote(work / f)}" for f in ("design.v", "reference.v", "miter.v")]
    # ROMs become logic, undefined bits 0 (as targets.equiv); the miter is then one AIG
    cmds += [f"hierarchy -check -top {MITER}", "proc", "memory", "setundef -zero", "flatten", "opt_clean", "techmap",
             "opt -fast", "dffunmap", "aigmap", "write_aiger -ascii -map miter.map miter.aag"]
    yosys.run(cmds, work, timeout=timeout)
    return work / "miter.aag"


def prove_reference(verilog: str, ir: IR, layout: dict, timeout: float = 300, seed: int = 0) -> FormalResult:
    """Prove the emitted design (Verilog text, top layout["top"]) equal to the IR's reference;
    `timeout` bounds the whole check in seconds (the SAT step gets what is left)."""
    check_layout(layout)
    t0 = time.perf_counter()
    layered = None
    if layout["n_in"] * layout["in_width"] > EXHAUSTIVE_MAX_BITS:  # too wide to enumerate: prove it layer by layer
        from bespoke.targets.formal_layers import prove_by_layers

        layered = prove_by_layers(verilog, ir, layout, timeout)
        if isinstance(layered, tuple):
            return FormalResult("proven", layered[0], layered[1], time.perf_counter() - t0,
                                layout["n_in"] * layout["in_width"], 0)
    with tempfile.TemporaryDirectory(prefix="bespoke-formal-") as tmp:
        work = Path(tmp)
        try:
            aig = Aig.read(build_miter(verilog, ir, layout, work, timeout))
        except BespokeError:
            if time.perf_counter() - t0 < timeout:
                raise
            return FormalResult("undecided", "Yosys", f"building the miter did not finish within the time limit of "
                                f"{timeout:g} s", time.perf_counter() - t0, layout["n_in"] * layout["in_width"], 0)
        timing = "for every input"
        if aig.latches:  # a pipelined design: proven as a delayed combinational function, if it is one
            latency = int(layout.get("latency") or 0)
            aig = aig.transparent(latency)
            timing = (f"for every input sequence, at every cycle t >= {latency}: y(t) equals the reference of x(t - "
                      f"{latency}) (every path from x to y crosses exactly {latency} registers, checked; out_valid is not "
                      f"part of the proof)")
        port = _input_bits(work / "miter.map", aig.input_ids or list(range(aig.n_inputs)))

        def done(verdict: str, method: str, detail: str, cex: int | None = None) -> FormalResult:
            return FormalResult(verdict, method, detail, time.perf_counter() - t0, len(port), aig.n_ands, cex)

        if aig.constant_output() == 0:
            return done("proven", "Yosys simplification", f"the miter output is the constant 0: equal {timing}")
        cex = aig.find(np.random.default_rng(seed).integers(0, 2**63, size=(aig.n_inputs, RANDOM_WORDS), dtype=np.uint64))
        if cex is not None:
            return done("counterexample", "random simulation", "outputs differ", _port_word(cex, port))
        if aig.n_inputs <= EXHAUSTIVE_MAX_BITS:
            method = f"exhaustive simulation of all 2^{aig.n_inputs} inputs"
            cex, swept = aig.exhaustive(deadline=t0 + timeout)
            if cex is not None:
                return done("counterexample", "exhaustive simulation", "outputs differ", _port_word(cex, port))
            if swept < 1 << aig.n_inputs:
                return done("undecided", method, f"the time limit of {timeout:g} s was hit after {swept:,} of "
                            f"{1 << aig.n_inputs:,} input vectors (all of them equal)")
            return done("proven", method, f"equal {timing} (every input word enumerated)")
        verdict, last, cex = _iprove(work, aig, max(1.0, timeout - (time.perf_counter() - t0)))
        if verdict == "counterexample" and cex is not None:
            return done(verdict, "SAT (ABC iprove)", last, _port_word(cex, port))
        if verdict == "proven":
            return done(verdict, "SAT sweeping (ABC iprove)", f"equal {timing}")
        if verdict == "counterexample":  # ABC says they differ but wrote no readable vector
            last = f"ABC reports a difference ({last}) but its input vector could not be read"
        return done("undecided", "SAT sweeping (ABC iprove)", last + (f"; the layered proof: {layered}" if layered else ""))


def _input_bits(map_file: Path, ids: list[int]) -> list[int]:
    """For each AIG input (its index in the AIGER file), the bit of port x it stands for (Yosys'
    AIGER map: 'input index bit name')."""
    x_bits = {}
    for line in map_file.read_text().splitlines():
        kind, index, bit, name = line.split(maxsplit=3)
        if kind == "input" and name == "x":
            x_bits[int(index)] = int(bit)
    port = [x_bits.get(i, -1) for i in ids]
    if -1 in port:
        raise BespokeError("the design's y depends on inputs other than x (in_valid, rst?): it is not a pure datapath")
    return port


def _port_word(bits: list[int], port: list[int]) -> int:
    return sum(int(b) << port[k] for k, b in enumerate(bits))
