"""Binarized neurons as an Amaranth component, from the plan of hdl.xnor_plan: XNOR with
hard-wired weights, a compressor-tree popcount (hdl.popcount), an optional fused threshold; and
the same layer written as Verilog directly for big layers."""

from __future__ import annotations

from amaranth import Cat, Module, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from bespoke.hdl.emit import emit_popcount
from bespoke.hdl.popcount import plan_popcount
from bespoke.hdl.xnor_plan import BitRow, Neuron, check_bits, plan_neuron  # noqa: F401 (re-exported)
from bespoke.hdl.vec import ints, vec_layout, vec_shape

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
