"""Binarized neurons: XNOR with hard-wired weights, popcount, and an optional fused threshold.

y[j] = #{i in row j : x[i] == w[j, i]} (a count), or with a K = 1 threshold fused in, the bit
y[j] = count >= T[j]. With the weight a constant, the XNOR is a wire (w = 1) or an inverter
(w = 0). Inputs whose range is a single value are constants: their agreements join a constant
count, and only the other bits reach the compressor tree (hdl.popcount).

A fused threshold is decided from the count's reach: always true or false (a constant), "at
least one" (an OR), "all" (an AND), or else the popcount's ge form, which folds the comparison
into the tree and saves the comparator and the top sum bits (measured 1-2.5 % smaller than
count-then-compare in nangate45 area at 32, 256 and 784 inputs; see hdl.popcount).
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth import Cat, Module, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from bespoke.compiler.errors import BespokeError
from bespoke.hdl.popcount import emit_popcount, ge_addend, plan_popcount
from bespoke.hdl.vec import ints, vec_layout, vec_shape

BitRow = list[tuple[int, int]]  # a neuron's (input index, weight bit) pairs


@dataclass(frozen=True)
class Neuron:
    """One output: `bits` (input index, inverted) are the non-constant inputs, `const` the
    agreements of the constant ones; `threshold` None gives the count, else count >= threshold."""

    bits: tuple[tuple[int, bool], ...]
    const: int
    threshold: int | None = None

    @property
    def kind(self) -> str:
        n = len(self.bits)
        if self.threshold is None:
            return "count" if n else "const"
        need = self.threshold - self.const  # agreements still needed from the live bits
        if need <= 0 or need > n:
            return "const"
        return "or" if need == 1 else "and" if need == n else "ge"

    @property
    def out_range(self) -> tuple[int, int]:
        if self.threshold is None:
            return self.const, self.const + len(self.bits)
        if self.kind == "const":
            value = int(self.const >= self.threshold)
            return value, value
        return 0, 1

    @property
    def addend(self) -> int:
        """The ge form's addend coding the live bits' threshold."""
        return ge_addend(len(self.bits), self.threshold - self.const)


def plan_neuron(row: BitRow, lo: list[int], hi: list[int], threshold: int | None = None) -> Neuron:
    bits, const = [], 0
    for i, w in row:
        if lo[i] == hi[i]:
            const += int(lo[i] == w)
        else:
            bits.append((i, w == 0))
    return Neuron(tuple(bits), const, threshold)


def check_bits(lo: list[int], hi: list[int], what: str) -> None:
    if any(a < 0 or b > 1 for a, b in zip(lo, hi)):
        raise BespokeError(f"{what}: inputs must be bits (range [0, 1]); a binarized layer needs a sign or threshold before it")


class XnorPopcount(wiring.Component):
    """XNOR-popcount neurons over bit inputs; `thresholds` (one per row) fuses a K = 1 threshold."""

    def __init__(self, rows: list[BitRow], in_lo, in_hi, thresholds=None):
        self.in_lo, self.in_hi = ints(in_lo), ints(in_hi)
        check_bits(self.in_lo, self.in_hi, "xnor_popcount")
        ts = [None] * len(rows) if thresholds is None else ints(thresholds)
        self.neurons = [plan_neuron(row, self.in_lo, self.in_hi, t) for row, t in zip(rows, ts)]
        self.out_lo = [nr.out_range[0] for nr in self.neurons]
        self.out_hi = [nr.out_range[1] for nr in self.neurons]
        super().__init__({"x": In(vec_layout(self.in_lo, self.in_hi)), "y": Out(vec_layout(self.out_lo, self.out_hi))})

    def stats(self) -> dict:
        fa = ha = gates = adders = 0
        for nr in self.neurons:
            kind = nr.kind
            if kind in ("count", "ge"):
                s = plan_popcount(len(nr.bits), kind == "ge").stats()
                fa, ha = fa + s["full_adders"], ha + s["half_adders"]
                adders += int(kind == "count" and nr.const > 0)
            elif kind in ("or", "and"):
                gates += len(nr.bits) - 1
        return {"xnor_bits": sum(len(nr.bits) for nr in self.neurons if nr.kind != "const"), "full_adders": fa, "half_adders": ha,
                "gates": gates, "adders": adders}

    def elaborate(self, platform):
        m = Module()
        for j, nr in enumerate(self.neurons):
            m.d.comb += self.y[j].eq(self.neuron_value(m, nr, f"n{j}"))
        return m

    def neuron_value(self, m: Module, nr: Neuron, name: str) -> Value | int:
        kind = nr.kind
        if kind == "const":
            return nr.out_range[0]
        bits = [~self.x[i][0] if inv else self.x[i][0] for i, inv in nr.bits]
        if kind == "or":
            return Cat(*bits).any()
        if kind == "and":
            return Cat(*bits).all()
        if kind == "ge":
            return emit_popcount(m, plan_popcount(len(bits), ge=True), bits, nr.addend, name)
        count = emit_popcount(m, plan_popcount(len(bits)), bits, name=name)
        return count + nr.const if nr.const else count


# --------------------------------------------------------------------------- direct Verilog


def popcount_module(prefix: str, n: int, ge: bool) -> str:
    """Name of the shared popcount module of n bits (one per size and form, for all layers)."""
    return f"{prefix}__pop{'ge' if ge else 'count'}{n}"


def concat(nets: list[int]) -> str:
    """Verilog concatenation of x bits whose bit k is x[nets[k]]; ascending runs as part-selects."""
    parts, k = [], 0
    while k < len(nets):
        end = k
        while end + 1 < len(nets) and nets[end + 1] == nets[end] + 1:
            end += 1
        parts.append(f"x[{nets[end]}:{nets[k]}]" if end > k else f"x[{nets[k]}]")
        k = end + 1
    return parts[0] if len(parts) == 1 else "{" + ", ".join(reversed(parts)) + "}"


def xnor_verilog(module: str, prefix: str, comp: XnorPopcount) -> tuple[str, dict[str, int]]:
    """The layer as module `module(x, y)` instantiating shared popcount modules; returns its text
    and the popcount modules it uses (name -> (n, ge))."""
    w_out = vec_shape(comp.out_lo, comp.out_hi).width
    n_in, n_out = len(comp.in_lo), len(comp.out_lo)
    lines, used = [], {}

    def out(j: int) -> str:
        return f"y[{j}]" if w_out == 1 else f"y[{(j + 1) * w_out - 1}:{j * w_out}]"

    for j, nr in enumerate(comp.neurons):
        kind = nr.kind
        if kind == "const":
            lines.append(f"  assign {out(j)} = {w_out}'d{nr.out_range[0]};")
            continue
        nets = [i for i, _ in nr.bits]
        mask = sum(1 << k for k, (_, inv) in enumerate(nr.bits) if inv)
        vec = "x" if nets == list(range(n_in)) else concat(nets)
        vec = f"{vec} ^ {len(nets)}'h{mask:x}" if mask else vec
        if kind in ("or", "and"):
            lines.append(f"  assign {out(j)} = {'|' if kind == 'or' else '&'}({vec});")
            continue
        ge = kind == "ge"
        name = popcount_module(prefix, len(nets), ge)
        used[name] = (len(nets), ge)
        width = plan_popcount(len(nets), ge).width
        if ge:
            lines.append(f"  {name} n{j}(.x({vec}), .c({width}'d{nr.addend}), .y({out(j)}));")
            continue
        # the count is `width` bits; the output element may be wider (zero-extended) or offset
        lines.append(f"  wire [{width - 1}:0] c{j};")
        lines.append(f"  {name} n{j}(.x({vec}), .y(c{j}));")
        lines.append(f"  assign {out(j)} = c{j}" + (f" + {w_out}'d{nr.const};" if nr.const else ";"))
    head = [f"module {module}(x, y);", f"  input [{n_in - 1}:0] x;", f"  output [{n_out * w_out - 1}:0] y;"]
    return "\n".join(head + lines + ["endmodule"]) + "\n", used
