"""Formal equivalence of an emitted combinational design to the reference of its integer IR.

Yosys (pyosys) reads the emitted Verilog, the behavioural reference (targets.reference_verilog)
and a miter module whose one output `trigger` is 1 exactly when, for an input in the IR's code
range, the two designs' outputs differ; it bit-blasts the miter to an AIG. Then, in order:

1. random simulation of the AIG (numpy, 64 patterns per word): finds a broken design at once;
2. exhaustive simulation of every input when the input port has at most EXHAUSTIVE_MAX_BITS
   bits: a complete proof, by enumeration;
3. otherwise yosys-abc `iprove` (SAT sweeping) under a time limit.

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

import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bespoke.compiler.errors import BespokeError
from bespoke.compiler.ir import IR
from bespoke.targets import yosys
from bespoke.targets.equiv import _abc, _verdict
from bespoke.targets.reference_verilog import input_constraint, reference_verilog

EXHAUSTIVE_MAX_BITS = 28  # 2^28 vectors: about a minute of numpy on the printed examples' miters
RANDOM_WORDS = 64  # 4,096 random vectors before any proof
CHUNK_BITS = 20  # vectors simulated at once in the exhaustive sweep (2^20: 16,384 words per node)
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
        return done("undecided", "SAT sweeping (ABC iprove)", last)


def _iprove(work: Path, aig: Aig, timeout: float) -> tuple[str, str, list[int] | None]:
    """ABC's iprove on the miter; (verdict, its line, the counterexample's input bits or None)."""
    aig.write_binary(work / "miter.aig")
    script = f"read {work / 'miter.aig'}; strash; iprove; write_cex {work / 'cex.txt'}"
    try:
        out = subprocess.run([_abc(), "-c", script], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "undecided", f"the time limit of {timeout:.0f} s was hit (ABC iprove did not finish)", None
    verdict, last = _verdict(out.stdout)
    cex = None
    if verdict == "counterexample" and (work / "cex.txt").exists():
        bits = "".join(c for c in (work / "cex.txt").read_text().split("\n")[0] if c in "01")
        cex = [int(b) for b in bits[:aig.n_inputs]] if len(bits) >= aig.n_inputs else None
    return verdict, last, cex


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


# ------------------------------------------------------------------------------ the AIG


@dataclass
class Aig:
    """An AIG with one output (AIGER literals: 2 * variable + negation); inputs are variables
    1..n_inputs, latches (current-state literal, next-state literal) any others."""

    n_inputs: int
    ands: np.ndarray  # [n_ands, 3] literals: lhs, rhs0, rhs1, in topological order
    output: int
    latches: list[tuple[int, int]] = field(default_factory=list)
    input_ids: list[int] | None = None  # the input's index in the AIGER file it was read from (None: k)

    @property
    def n_ands(self) -> int:
        return len(self.ands)

    @classmethod
    def read(cls, path: Path) -> Aig:
        """An ASCII AIGER file ('aag M I L O A') with one output."""
        lines = path.read_text().split("\n")
        _, m, i, n_latches, o, a = lines[0].split()[:6]
        i, n_latches, a = int(i), int(n_latches), int(a)
        if int(o) != 1:
            raise BespokeError(f"the miter has {o} outputs; expected one")
        if [int(v) for v in lines[1:1 + i]] != list(range(2, 2 * i + 1, 2)):
            raise BespokeError("the miter's AIGER inputs are not numbered 1..I")
        latches = [tuple(int(v) for v in ln.split()[:2]) for ln in lines[1 + i:1 + i + n_latches]]
        output = int(lines[1 + i + n_latches])
        start = 2 + i + n_latches
        ands = np.array([ln.split() for ln in lines[start:start + a]], dtype=np.int64).reshape(a, 3)
        return cls(i, ands, output, latches)

    def transparent(self, latency: int) -> Aig:
        """The combinational AIG with every latch replaced by its next-state function, after
        checking that the output is a function of the inputs exactly `latency` latches back: every
        path from an input to the output crosses that many latches, and no latch feeds back."""
        deps = {lhs >> 1: (r0, r1) for lhs, r0, r1 in self.ands.tolist()}
        nxt = {cur >> 1: n for cur, n in self.latches}
        order, depth, state = [], {0: None, **{v: 0 for v in range(1, self.n_inputs + 1)}}, {}
        for root in [self.output >> 1, *deps, *nxt]:
            stack = [root]
            while stack:  # iterative depth-first topological order (designs are deep)
                v = stack[-1]
                if v in depth:
                    stack.pop()
                    continue
                kids = [r >> 1 for r in deps[v]] if v in deps else [nxt[v] >> 1]
                todo = [k for k in kids if k not in depth]
                if state.get(v) and todo:
                    raise BespokeError("a register feeds back into its own input: not a feed-forward pipeline")
                if todo:
                    state[v] = True
                    stack.extend(todo)
                    continue
                stack.pop()
                ds = {depth[k] for k in kids} - {None}
                if len(ds) > 1:
                    raise BespokeError(f"paths through {sorted(ds)} registers meet: the pipeline is not balanced")
                d = next(iter(ds), None)
                depth[v] = d if v in deps or d is None else d + 1
                order.append(v)
        if depth[self.output >> 1] not in (None, latency):
            raise BespokeError(f"y is {depth[self.output >> 1]} registers behind x, the design claims latency {latency}")
        lit = {0: 0, **{v: 2 * v for v in range(1, self.n_inputs + 1)}}
        ands = []
        for v in order:
            if v in deps:
                r0, r1 = deps[v]
                lit[v] = 2 * (self.n_inputs + len(ands) + 1)
                ands.append((lit[v], lit[r0 >> 1] ^ (r0 & 1), lit[r1 >> 1] ^ (r1 & 1)))
            elif v in nxt:
                n = nxt[v]
                lit[v] = lit[n >> 1] ^ (n & 1)
        out = lit[self.output >> 1] ^ (self.output & 1)
        return Aig(self.n_inputs, np.array(ands, dtype=np.int64).reshape(-1, 3), out).without_unused_inputs()

    def without_unused_inputs(self) -> Aig:
        """The same function of only the inputs it reads (a pipeline's clk, rst, in_valid drop out)."""
        used = sorted({r >> 1 for r in self.ands[:, 1:].ravel().tolist()} | {self.output >> 1})
        kept = [v for v in used if 1 <= v <= self.n_inputs]
        new = {0: 0, **{v: k + 1 for k, v in enumerate(kept)}}
        shift = self.n_inputs - len(kept)
        for lhs in self.ands[:, 0].tolist():
            new[lhs >> 1] = (lhs >> 1) - shift

        def relit(x: int) -> int:
            return 2 * new[x >> 1] + (x & 1)

        ands = np.array([[relit(x) for x in row] for row in self.ands.tolist()], dtype=np.int64).reshape(-1, 3)
        ids = self.input_ids or list(range(self.n_inputs))
        return Aig(len(kept), ands, relit(self.output), input_ids=[ids[v - 1] for v in kept])

    def constant_output(self) -> int | None:
        return self.output if self.output in (0, 1) else None

    def write_binary(self, path: Path) -> None:
        """The binary AIGER form ABC reads (inputs 1..I, ands in order, delta-encoded)."""
        n_vars = self.n_inputs + self.n_ands
        out = bytearray(f"aig {n_vars} {self.n_inputs} 0 1 {self.n_ands}\n{self.output}\n".encode())
        for lhs, r0, r1 in self.ands.tolist():
            r0, r1 = max(r0, r1), min(r0, r1)
            for delta in (lhs - r0, r0 - r1):
                while delta >= 0x80:
                    out.append((delta & 0x7F) | 0x80)
                    delta >>= 7
                out.append(delta)
        path.write_bytes(bytes(out))

    def simulate(self, inputs: np.ndarray) -> np.ndarray:
        """The output's words for input words [n_inputs, W] (uint64, 64 vectors per word)."""
        ones = np.uint64(0xFFFFFFFFFFFFFFFF)
        values: dict[int, np.ndarray] = {0: np.zeros(inputs.shape[1], dtype=np.uint64)}
        for k in range(self.n_inputs):
            values[k + 1] = inputs[k]
        last_use = self._last_use()

        def lit(v):
            word = values[v >> 1]
            return word ^ ones if v & 1 else word

        for step, (lhs, r0, r1) in enumerate(self.ands.tolist()):
            values[lhs >> 1] = lit(r0) & lit(r1)
            for var in last_use.get(step, ()):
                del values[var]  # no later gate reads it: keep the live set small
        return lit(self.output)

    def _last_use(self) -> dict[int, list[int]]:
        cached = getattr(self, "_last", None)
        if cached is None:
            last: dict[int, int] = {}
            for step, (_, r0, r1) in enumerate(self.ands.tolist()):
                last[r0 >> 1] = last[r1 >> 1] = step
            last.pop(self.output >> 1, None)
            last.pop(0, None)
            cached = {}
            for var, step in last.items():
                if var > self.n_inputs:  # inputs stay (they are the caller's arrays)
                    cached.setdefault(step, []).append(var)
            self._last = cached
        return cached

    def find(self, inputs: np.ndarray) -> list[int] | None:
        """The input bits of the first vector among `inputs` whose output is 1, or None."""
        out = self.simulate(inputs)
        hit = np.flatnonzero(out)
        if not len(hit):
            return None
        word = int(hit[0])
        bit = (int(out[word]) & -int(out[word])).bit_length() - 1
        return [int(inputs[k, word]) >> bit & 1 for k in range(self.n_inputs)]

    def exhaustive(self, deadline: float | None = None) -> tuple[list[int] | None, int]:
        """(the first input vector, in counting order, whose output is 1, or None; how many vectors
        were swept). Stops early at `deadline` (time.perf_counter()) having swept fewer than 2^n."""
        n = self.n_inputs
        chunk = min(n, CHUNK_BITS)
        base = _counting_words(chunk)  # the low `chunk` input bits count through one chunk
        for high in range(1 << (n - chunk)):
            if deadline is not None and time.perf_counter() > deadline:
                return None, high << chunk
            inputs = np.empty((n, base.shape[1]), dtype=np.uint64)
            inputs[:chunk] = base
            for k in range(chunk, n):
                inputs[k] = np.uint64(0xFFFFFFFFFFFFFFFF) if high >> (k - chunk) & 1 else np.uint64(0)
            cex = self.find(inputs)
            if cex is not None:
                return cex, (high + 1) << chunk
        return None, 1 << n


def _counting_words(bits: int) -> np.ndarray:
    """[bits, W] words holding the vectors v = 0 .. 2^bits - 1 (bit j of v is input j), 64 per word;
    below 64 vectors the extra lanes repeat them (bit j of a lane index depends on it mod 2^(j+1))."""
    n_words = max(1, (1 << bits) // 64)
    v = np.arange(n_words * 64, dtype=np.uint64).reshape(n_words, 64)  # the vector in each (word, lane)
    lanes = np.uint64(1) << np.arange(64, dtype=np.uint64)
    return np.stack([np.bitwise_or.reduce(((v >> np.uint64(j)) & np.uint64(1)) * lanes, axis=1) for j in range(bits)]) \
        if bits else np.zeros((0, n_words), dtype=np.uint64)
