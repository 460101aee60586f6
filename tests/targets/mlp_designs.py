"""Hand-built bespoke MLP Verilog (shift-and-add constant products) with a numpy reference.

Used by the targets tests and by benchmarks/report_printed.py as a representative design of the
published exact bespoke MLPs until `bespoke compile` produces them. Ports follow the compiler's
port contract (flat `x`, flat `y`; `clk`, `rst`, `in_valid`, `out_valid` when pipelined).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def csd(w: int) -> list[tuple[int, int]]:
    """Canonical signed digits of w as (sign, shift) pairs: w == sum(sign << shift)."""
    digits, k = [], 0
    while w:
        if w & 1:
            d = 2 - (w & 3)  # +1 when w = ...01, -1 when w = ...11
            digits.append((d, k))
            w -= d
        w >>= 1
        k += 1
    return digits


@dataclass
class Mlp:
    """A two-layer integer MLP: ReLU and requantisation (>> shift, saturate) after the hidden layer,
    argmax (first maximum wins) after the output layer."""

    w1: np.ndarray  # (hidden, inputs) int
    b1: np.ndarray
    w2: np.ndarray  # (classes, hidden) int
    b2: np.ndarray
    in_bits: int = 4
    shift: int = 6
    hid_bits: int = 8

    @classmethod
    def random(cls, sizes: tuple[int, int, int], seed: int = 0, in_bits: int = 4, weight_bits: int = 8,
               shift: int = 6) -> Mlp:
        """Random weights shaped like trained ones: mostly small, a few near the 8-bit limit."""
        rng = np.random.default_rng(seed)
        lim = 2 ** (weight_bits - 1) - 1
        n_in, n_hid, n_out = sizes
        w = lambda *s: np.clip(np.rint(rng.normal(0, lim / 3, s)), -lim, lim).astype(np.int64)
        return cls(w(n_hid, n_in), w(n_hid) * 4, w(n_out, n_hid), w(n_out) * 4, in_bits, shift)

    @property
    def sizes(self) -> tuple[int, int, int]:
        return self.w1.shape[1], self.w1.shape[0], self.w2.shape[0]

    @property
    def out_width(self) -> int:
        return max(1, (self.sizes[2] - 1).bit_length())

    def layout(self, pipelined: bool = False) -> dict:
        n_in, _, _ = self.sizes
        return {"top": "mlp", "n_in": n_in, "in_width": self.in_bits, "in_signed": False, "n_out": 1,
                "out_width": self.out_width, "out_signed": False, "pipelined": pipelined,
                "latency": 2 if pipelined else 0}

    def predict(self, x: np.ndarray) -> np.ndarray:
        h = x.astype(np.int64) @ self.w1.T + self.b1
        h = np.clip(np.maximum(h, 0) >> self.shift, 0, 2 ** self.hid_bits - 1)
        o = h @ self.w2.T + self.b2
        return np.argmax(o, axis=1)

    def verilog(self, pipelined: bool = False) -> str:
        n_in, n_hid, n_out = self.sizes
        ib, hb, ow = self.in_bits, self.hid_bits, self.out_width
        v = ["module mlp("]
        if pipelined:
            v.append("  input wire clk, input wire rst, input wire in_valid, output reg out_valid,")
        v.append(f"  input wire [{n_in * ib - 1}:0] x,")
        v.append(f"  output {'reg' if pipelined else 'wire'} [{ow - 1}:0] y);")
        acc = 24  # wide enough for every sum here; Yosys trims unused high bits
        for i in range(n_in):
            v.append(f"  wire signed [{ib}:0] x{i} = {{1'b0, x[{(i + 1) * ib - 1}:{i * ib}]}};")

        def dot(name, w, b, src):
            terms = [f"{acc}'sd{b}" if b >= 0 else f"-{acc}'sd{-b}"]
            for j, wj in enumerate(w):
                for s, k in csd(int(wj)):
                    terms.append(f"{'+' if s > 0 else '-'} ({src}{j} <<< {k})")
            v.append(f"  wire signed [{acc - 1}:0] {name} = {' '.join(terms)};")

        for n in range(n_hid):
            dot(f"a{n}", self.w1[n], int(self.b1[n]), "x")
            v.append(f"  wire signed [{acc - 1}:0] r{n} = a{n} < 0 ? {acc}'sd0 : (a{n} >>> {self.shift});")
            v.append(f"  wire [{hb - 1}:0] hq{n} = r{n} > {2 ** hb - 1} ? {hb}'d{2 ** hb - 1} : r{n}[{hb - 1}:0];")
        hsrc = "hq"
        if pipelined:
            v.append("  reg valid1;")
            for n in range(n_hid):
                v.append(f"  reg [{hb - 1}:0] hr{n};")
            v.append("  always @(posedge clk) begin")
            v.append("    if (rst) valid1 <= 1'b0; else valid1 <= in_valid;")
            for n in range(n_hid):
                v.append(f"    if (in_valid) hr{n} <= hq{n};")
            v.append("  end")
            hsrc = "hr"
        for n in range(n_hid):
            v.append(f"  wire signed [{hb}:0] h{n} = {{1'b0, {hsrc}{n}}};")
        for n in range(n_out):
            dot(f"o{n}", self.w2[n], int(self.b2[n]), "h")
        v.append(f"  reg [{ow - 1}:0] best;")
        v.append(f"  reg signed [{acc - 1}:0] bestv;")
        v.append("  always @* begin")
        v.append("    best = 0; bestv = o0;")
        for n in range(1, n_out):
            v.append(f"    if (o{n} > bestv) begin best = {n}; bestv = o{n}; end")
        v.append("  end")
        if pipelined:
            v.append("  always @(posedge clk) begin")
            v.append("    if (rst) out_valid <= 1'b0; else out_valid <= valid1;")
            v.append("    if (valid1) y <= best;")
            v.append("  end")
        else:
            v.append("  assign y = best;")
        v.append("endmodule")
        return "\n".join(v) + "\n"


def cardio() -> Mlp:
    """Representative Cardio 21-3-3 (8-bit weights, 4-bit inputs), the published calibration point."""
    return Mlp.random((21, 3, 3), seed=3)


def pendigits() -> Mlp:
    """Representative Pendigits 16-5-10."""
    return Mlp.random((16, 5, 10), seed=16)
