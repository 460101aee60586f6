"""And-inverter graphs of miters (ASCII AIGER as Yosys writes them): reading, making a pipeline's
registers transparent, bit-parallel simulation (random and exhaustive), and ABC's iprove."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bespoke.compiler.errors import BespokeError
from bespoke.targets.equiv import _abc, _verdict

CHUNK_BITS = 20  # vectors simulated at once in the exhaustive sweep (2^20: 16,384 words per node)
RANDOM_WORDS = 64  # 4,096 random vectors before any proof


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
