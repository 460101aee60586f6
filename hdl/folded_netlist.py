"""The folded engine as a netlist: hdl.folded_plan's schedules -> cells (hdl.netlist), planned once.

`plan_folded(ir, pe, simd)` builds the whole time-multiplexed network: the handshake and input
register (behind the comparators of a threshold on the input codes, if the IR starts with one),
one matrix-vector unit (MVU) per group of hdl.folded_plan, and the registered argmax.
The Verilog writers, the netlist interpreter (`hdl.interpret.run_cycles`) and the cost model all
read this one netlist; hdl.folded adds the documenting header.

Each MVU has three stages, each one register deep (so a group's last write lands
FILL_PER_LAYER = 2 cycles after its last issue cycle):

- issue: counters walk (position, nf, sf); they address the weight ROM (a registered read) and
  select the SIMD input elements from the source buffer (dense) or from the sliding window's row
  registers (conv), registered alongside;
- MAC: PE partial sums of SIMD products (XNOR agreements or integer products) are added into PE
  accumulators, which restart on the first synapse fold;
- write: after the last synapse fold each accumulator is compared with its thresholds (or gets its
  bias) from the parameter ROM (read in the MAC stage), and the PE results are written into the
  destination buffer, ORed in when a max-pool is fused.

`start` (a one-cycle pulse) begins a pass over the layer (a conv first loads its window, one
cycle); `done` pulses in the cycle of the last write, so the next group starts on the edge that
completes this one. Registers closing a loop (counters, accumulators, buffers with a write
enable) are a `reg` whose next value is a mux of the old one. Control registers and counters are
reset; data registers are not and start at the in-range value nearest 0.

Ranges: every net has the range its cell can drive, except where the schedule is the proof: an
accumulator holds a partial sum of one real row, a buffer element the value its IR node can take,
a counter 0..n-1. The interpreter checks those on every cycle.
"""

from __future__ import annotations

import numpy as np

from bespoke.compiler.ir import IR
from bespoke.hdl.folded_plan import LayerPlan, NetworkPlan, plan_network, pool_spans
from bespoke.hdl.folded_read import padded_words, source_row
from bespoke.hdl.interpret import run_cycles
from bespoke.hdl.netlist import Netlist
from bespoke.hdl.unrolled import Stage, argmax_stage, threshold_stage

BLOCK_ROM_DEPTH = 64  # weight ROMs at least this deep carry a block-RAM hint (see `weight_rom`)


def nearest_zero(lo: int, hi: int) -> int:
    return min(max(0, lo), hi)


class Seq(Stage):
    """Stage cell building plus clocked blocks, folding constants as it goes (a counter of one
    value is a constant, an AND with a constant 0 is 0), so degenerate foldings cost nothing."""

    def value(self, net: int) -> int | None:
        """The net's value when its range holds one value, else None."""
        return self.nl.lo[net] if self.nl.lo[net] == self.nl.hi[net] else None

    # -- bits
    def not_(self, a: int) -> int:
        v = self.value(a)
        return self.const(1 - v) if v is not None else self.cell("not", (a,), 0, 1)

    def and_(self, *bits: int) -> int:
        if any(self.value(b) == 0 for b in bits):
            return self.const(0)
        live = list(dict.fromkeys(b for b in bits if self.value(b) != 1))
        return live[0] if len(live) == 1 else self.cell("and", live, 0, 1) if live else self.const(1)

    def or_(self, *bits: int) -> int:
        if any(self.value(b) == 1 for b in bits):
            return self.const(1)
        live = list(dict.fromkeys(b for b in bits if self.value(b) != 0))
        return live[0] if len(live) == 1 else self.cell("or", live, 0, 1) if live else self.const(0)

    def compare(self, a: int, op: str, value: int) -> int:
        """a op value for a constant value; a constant where a's range decides it."""
        lo, hi = self.nl.lo[a], self.nl.hi[a]
        decide = {"==": (lo == hi == value, not lo <= value <= hi), ">=": (lo >= value, hi < value),
                  "<=": (hi <= value, lo > value)}[op]
        if decide[0] or decide[1]:
            return self.const(int(decide[0]))
        return self.cell("cmp", (a, self.const(value)), 0, 1, {"op": op})

    # -- words
    def mux(self, s: int, a: int, b: int, lo: int | None = None, hi: int | None = None, name=None) -> int:
        """a if s else b; the range is the hull unless the schedule proves a tighter one."""
        v = self.value(s)
        if v is not None or a == b:
            return a if v == 1 or a == b else b
        lo = min(self.nl.lo[a], self.nl.lo[b]) if lo is None else lo
        hi = max(self.nl.hi[a], self.nl.hi[b]) if hi is None else hi
        return self.cell("mux", (s, a, b), lo, hi, name=name)

    def add(self, a: int, b: int, sa: int = 0, keep: bool = False, sub: bool = False) -> int:
        """(a << sa) +- b with its exact range; `keep` asks synthesis not to merge it into a wider
        multi-operand adder (two-operand adders map onto FPGA carry chains)."""
        lo, hi = self.nl.lo, self.nl.hi
        if sub:
            r = ((lo[a] << sa) - hi[b], (hi[a] << sa) - lo[b])
        else:
            r = ((lo[a] << sa) + lo[b], (hi[a] << sa) + hi[b])
        params = {"sa": sa, "sb": 0} | ({"keep": 1} if keep else {})
        return self.cell("sub" if sub else "add", (a, b), *r, params)

    def tree(self, nets: list[int], keep: bool = False) -> int:
        """Balanced adder tree over the nets (0 for none)."""
        nets = list(nets)
        if not nets:
            return self.const(0)
        while len(nets) > 1:
            paired = [self.add(nets[i], nets[i + 1], keep=keep) for i in range(0, len(nets) - 1, 2)]
            nets = paired + nets[len(nets) - len(nets) % 2:]
        return nets[0]

    def select(self, s: int, choices: list[int], name=None) -> int:
        """choices[s], padded with the last choice to cover s's whole range."""
        if len(set(choices)) == 1:
            return choices[0]
        if (v := self.value(s)) is not None:
            return choices[v]
        choices = choices + [choices[-1]] * (self.nl.hi[s] + 1 - len(choices))
        lo = min(self.nl.lo[c] for c in choices)
        hi = max(self.nl.hi[c] for c in choices)
        return self.cell("select", (s, *choices), lo, hi, name=name)

    # -- clocked
    def state(self, lo: int, hi: int, name: str) -> int:
        """The output net of a register whose next value is built after it (`close`)."""
        return self.nl.net(lo, hi, self.prefix + name)

    def close(self, q: int, d: int, reset: bool = False, neuron=None) -> None:
        init = nearest_zero(self.nl.lo[q], self.nl.hi[q])
        self.nl.drive("reg", (d,), (q,), {"init": init, "reset": reset}, self.group, neuron)

    def reg(self, d: int, name: str, reset: bool = False, lo: int | None = None, hi: int | None = None) -> int:
        """d one cycle later (a constant stays a constant: its register would hold it from reset)."""
        if self.value(d) is not None and lo is None:
            return d
        lo = self.nl.lo[d] if lo is None else lo
        hi = self.nl.hi[d] if hi is None else hi
        return self.cell("reg", (d,), lo, hi, {"init": nearest_zero(lo, hi), "reset": reset}, name=name)

    def hold(self, write: int, d: int, lo: int, hi: int, name: str, reset: bool = False) -> int:
        """A register loading d when `write`, else keeping its value."""
        if lo == hi:
            return self.const(lo)
        q = self.state(lo, hi, name)
        self.close(q, self.mux(write, d, q, lo, hi), reset)
        return q

    def counter(self, n: int, name: str) -> tuple[int, int]:
        """(count, count == n-1) of a counter over 0..n-1, its next value set by `advance`."""
        if n == 1:
            return self.const(0), self.const(1)
        q = self.state(0, n - 1, name)
        return q, self.compare(q, "==", n - 1)

    def advance(self, q: int, last: int, n: int, start: int, step: int) -> None:
        """The counter (q, last) of `counter` is cleared by `start`, advanced by `step`, and wraps
        after n-1."""
        if n == 1:
            return
        inc = self.cell("add", (q, self.const(1)), 1, n, {"sa": 0, "sb": 0})
        nxt = self.mux(last, self.const(0), inc, 0, n - 1)  # inc = n only when last
        self.close(q, self.mux(start, self.const(0), self.mux(step, nxt, q, 0, n - 1), 0, n - 1), reset=True)

    def equals(self, a: int, b: int) -> int:
        """a == b for two bits."""
        return self.not_(self.cell("xor", (a, b), 0, 1))

    def bit_is(self, a: int, value: int) -> int:
        """a == value for a bit and a constant 0 or 1."""
        return a if value else self.not_(a)


# --------------------------------------------------------------------------- one MVU


class MVU:
    """The cells of one group (see the module docstring); `dst` and `done` are its outputs."""

    def __init__(self, nl: Netlist, p: LayerPlan, k: int, src: list[int], start, next_bank: int | None = None):
        """`start`: the net that starts a pass, or (dataflow) a function of the MVU's `ready` (idle,
        or in its last issue cycle) giving it, called once the issue counters exist. `next_bank`
        (dataflow): the register naming the destination slot the next start writes; None for one
        slot. Afterwards `start`, `release` (the last issue cycle: the source may change after it),
        `dst_banks` (the destination's elements per slot), `dst` (slot 0), `done`, `bank` (the
        slot the write stage writes) are the MVU's outputs."""
        self.p, self.src, self.start, self.next_bank = p, src, start, next_bank
        self.inverted: dict[int, int] = {}  # lane -> its ~x net (ternary weights)
        self.st = Seq(nl, p.name, f"l{k}_", src, [nl.lo[n] for n in src], [nl.hi[n] for n in src])
        s1 = self.issue()
        s2 = self.mac(s1)
        self.dst_banks, self.done = self.write(s2)
        self.dst, self.bank = self.dst_banks[0], s2["bank"]

    # ----------------------------------------------------------------------- issue

    def issue(self) -> dict:
        p, st = self.p, self.st
        oh, ow = p.positions
        run = st.state(0, 1, "run")
        load = st.state(0, 1, "load") if p.read.window else None
        sf, last_sf = st.counter(p.sf, "sf")
        nf, last_nf = st.counter(p.nf, "nf")
        wa, last_wa = st.counter(p.nf * p.sf, "wa")  # weight ROM address nf*SF + sf
        ox, last_ox = st.counter(ow, "ox")
        oy, last_oy = st.counter(oh, "oy")
        per_position = p.params is not None and p.param_per_position  # parameter ROM address: one per (position, nf)
        ta, last_ta = st.counter(p.params.shape[0], "ta") if per_position else (nf, None)
        end = st.and_(last_sf, last_nf, last_ox, last_oy)
        self.release = st.and_(run, end)
        if callable(self.start):
            idle = st.not_(run) if load is None else st.and_(st.not_(run), st.not_(load))
            self.start = self.start(st.or_(idle, self.release))
        start = self.start
        row_done = st.and_(run, last_sf, last_nf)
        st.advance(sf, last_sf, p.sf, start, run)
        st.advance(nf, last_nf, p.nf, start, st.and_(run, last_sf))
        st.advance(wa, last_wa, p.nf * p.sf, start, run)
        st.advance(ox, last_ox, ow, start, row_done)
        st.advance(oy, last_oy, oh, start, st.and_(row_done, last_ox))
        if per_position:
            st.advance(ta, last_ta, p.params.shape[0], start, st.and_(run, last_sf))
        if load is not None:
            st.close(load, start, reset=True)
        begin = load if p.read.window else start
        st.close(run, st.or_(begin, st.and_(run, st.not_(end))), reset=True)
        rows = self.window(load, oy, st.and_(row_done, last_ox, st.not_(last_oy))) if p.read.window else [self.src]
        lanes = self.read_lanes(rows, sf, ox)
        # dataflow: the slot being issued is the one the last start took (next_bank has moved on)
        bank = st.const(0) if self.next_bank is None else st.reg(st.not_(self.next_bank), "bank1")
        return {"v": st.reg(run, "v1", reset=True), "first": st.reg(st.compare(sf, "==", 0), "first1"),
                "last": st.reg(last_sf, "last1"), "end": st.reg(st.and_(end, run), "end1", reset=True),
                "nf": st.reg(nf, "nf1"), "ta": st.reg(ta, "ta1"), "oy": st.reg(oy, "oy1"), "ox": st.reg(ox, "ox1"),
                "bank": bank, "x": [st.reg(v, f"x1_{lane}") for lane, v in enumerate(lanes)], "w": self.weight_rom(wa)}

    def window(self, load: int, oy: int, next_row: int) -> list[list[int]]:
        """The conv's line buffer: kh row registers holding source rows oy*s .. oy*s + kh - 1.

        `start` is the edge that completes the source buffer (the previous layer's last write, or
        the input capture), so the first rows load one cycle later, and issue begins after. At each
        new output row the rows move up by the stride and the missing ones are fetched.
        """
        p, rp, st = self.p, self.p.read, self.st
        kh, stride, oh = rp.window, p.stride, p.positions[0]
        source = [[self.src[a + i] for a, n in source_row(p.src, rp.view, y) for i in range(n)] for y in range(rp.view[1])]
        lo = [min(st.nl.lo[r[j]] for r in source) for j in range(rp.row_len)]
        hi = [max(st.nl.hi[r[j]] for r in source) for j in range(rp.row_len)]
        rows = [[st.state(lo[j], hi[j], f"window{ky}_{j}") for j in range(rp.row_len)] for ky in range(kh)]
        for ky in range(kh):
            for j, q in enumerate(rows[ky]):
                moved = q
                if oh > 1:  # one output row: the window never moves down
                    if ky + stride < kh:
                        new = rows[ky + stride][j]
                    else:  # row (oy + 1) * s + ky, oy < OH - 1 here
                        new = st.select(oy, [source[(o + 1) * stride + ky][j] for o in range(oh - 1)])
                    moved = st.mux(next_row, new, q, lo[j], hi[j])
                st.close(q, st.mux(load, source[ky][j], moved, lo[j], hi[j]))
        return rows

    def read_lanes(self, rows: list[list[int]], sf: int, ox: int) -> list[int]:
        """The SIMD input elements of synapse fold `sf` at output column `ox`: lane q*unit + e is
        element e of word `offset + ox * step` (in units) of row `row` (hdl.folded_read.ReadPlan)."""
        p, rp, st = self.p, self.p.read, self.st
        length = rp.row_len if rp.window else p.src.size
        words = padded_words(length, rp.unit)
        zero = st.const(0)
        views = [r + [zero] * (words * rp.unit - length) for r in rows]
        at_column: dict[tuple[int, int, int], int] = {}

        def element(r: int, o: int, e: int) -> int:
            if rp.step == 0:
                return views[r][o * rp.unit + e]
            if (r, o, e) not in at_column:  # moves along the row with the output column
                at_column[r, o, e] = st.select(ox, [views[r][(x * rp.step + o) * rp.unit + e] for x in range(p.positions[1])])
            return at_column[r, o, e]

        lanes = []
        for q in range(rp.chunks):
            for e in range(rp.unit):
                lanes.append(st.select(sf, [element(int(r), int(o), e) for r, o in zip(rp.row[:, q], rp.offset[:, q])],
                                       name=f"lane{q * rp.unit + e}"))
        return lanes

    def weight_rom(self, addr: int) -> dict[tuple[int, int], list[int]]:
        """(PE row, lane) -> its weight code fields from the ROM: one bit (xnor: 1 = +1; bipolar:
        1 = +1), two bits (ternary: nonzero, negative) or the signed weight (int); lanes whose
        weight is 0 in every fold get none (their product is never built)."""
        p, st = self.p, self.st
        code = p.weight_code
        w = p.weights.reshape(p.nf, p.pe, p.sf, p.simd).transpose(0, 2, 1, 3).reshape(p.nf * p.sf, p.pe, p.simd)
        live = p.live_lanes()
        planes = {"xnor": [w], "bipolar": [(w > 0) * 1], "ternary": [(w != 0) * 1, (w < 0) * 1], "int": [w]}[code]
        keys, columns = [], []
        for row in range(p.pe):
            for lane in range(p.simd):
                if live[row, lane]:
                    keys.append((row, lane))
                    columns += [plane[:, row, lane] for plane in planes]
        if not columns:
            return {}
        data = np.stack(columns, axis=1).astype(np.int64)
        ranges = [(min(0, int(c.min())), max(0, int(c.max()))) for c in data.T]
        # Deep (well folded) weight ROMs belong in block RAM: synth_xilinx otherwise builds the SFC's
        # 128 x 512-bit ROMs from ~4k LUTs each (1.4k LUTs and 15 RAMB18 with the hint).
        params = {"data": data} | ({"rom_style": "block"} if data.shape[0] >= BLOCK_ROM_DEPTH else {})
        outs = st.nl.add("rom", (addr,), ranges, params, st.group, names=[st.prefix + "w"] * len(ranges))
        per = len(planes)
        return {key: list(outs[i * per:(i + 1) * per]) for i, key in enumerate(keys)}

    # ----------------------------------------------------------------------- MAC

    def mac(self, s1: dict) -> dict:
        p, st = self.p, self.st
        code = p.weight_code
        padded_lanes = code in ("xnor", "bipolar") and p.last_fold_lanes < p.simd
        keep = st.not_(s1["last"]) if padded_lanes else None  # lanes past the last real column add nothing
        use = lambda lane: keep if keep is not None and lane >= p.last_fold_lanes else None
        xs = s1["x"]
        if code == "bipolar":
            xs = [xs[lane] if use(lane) is None else st.mux(use(lane), xs[lane], st.const(0)) for lane in range(p.simd)]
            x_sum = st.tree(xs, keep=True)  # shared by every PE row
        bounds = self.acc_ranges()
        accs = []
        for row in range(p.pe):
            w = lambda lane, k=0: s1["w"][row, lane][k]
            lanes = [lane for lane in range(p.simd) if (row, lane) in s1["w"]]
            if code == "xnor":
                agree = [st.cell("not", (st.cell("xor", (xs[lane], w(lane)), 0, 1),), 0, 1) for lane in lanes]
                agree = [a if use(lane) is None else st.and_(a, use(lane)) for a, lane in zip(agree, lanes)]
                # a word adder tree, not the unrolled path's compressor: same area at SIMD widths
                # (benchmarks/bnn_unrolled.py --compare-popcount 32), and Verilator simulates word
                # adds several times faster than the full adders' bits
                part = st.tree(agree)
            elif code == "bipolar":  # sum of (b ? x : -x) = 2 * sum of (b ? x : 0) - sum of x
                chosen = st.tree([st.mux(w(lane), xs[lane], st.const(0)) for lane in lanes], keep=True)
                part = st.add(chosen, x_sum, sa=1, sub=True)
            elif code == "ternary":  # -x = ~x + 1, the +1s counted once
                terms = [st.mux(w(lane), st.mux(w(lane, 1), self.inverted_lane(xs, lane), xs[lane]), st.const(0))
                         for lane in lanes]
                negatives = [st.and_(w(lane), w(lane, 1)) for lane in lanes]
                part = st.tree(terms + ([st.popcount(negatives, False, name=f"neg{row}")] if lanes else []), keep=True)
            else:
                part = st.tree([st.cell("mul", (xs[lane], w(lane)), *product_range(st.nl, xs[lane], w(lane)))
                                for lane in lanes], keep=True)
            acc = st.state(*bounds[row], f"acc{row}")
            summed = st.mux(s1["first"], part, st.add(acc, part))
            st.close(acc, st.mux(s1["v"], summed, acc, *bounds[row]), neuron=row)
            accs.append(acc)
        return {"v": st.reg(st.and_(s1["v"], s1["last"]), "v2", reset=True), "end": st.reg(s1["end"], "end2", reset=True),
                "nf": st.reg(s1["nf"], "nf2"), "bank": st.reg(s1["bank"], "bank2"), "oy": st.reg(s1["oy"], "oy2"), "ox": st.reg(s1["ox"], "ox2"),
                "acc": accs, "params": self.param_rom(s1["ta"])}

    def inverted_lane(self, xs: list[int], lane: int) -> int:
        """~x = -x - 1 of a lane (one per lane: every PE row reads it)."""
        if lane not in self.inverted:
            lo, hi = self.st.nl.lo[xs[lane]], self.st.nl.hi[xs[lane]]
            self.inverted[lane] = self.st.cell("sub", (self.st.const(-1), xs[lane]), -hi - 1, -lo - 1, {"sa": 0, "sb": 0})
        return self.inverted[lane]

    def acc_ranges(self) -> list[tuple[int, int]]:
        """Per PE row: the range of every partial sum of any row it computes, padded rows included
        (their weights are 0, which the bipolar code reads as -1; masked lanes add nothing)."""
        p = self.p
        if p.weight_code == "xnor":
            return [(0, p.cols)] * p.pe
        eff = p.weights.copy()
        if p.weight_code == "bipolar":
            eff[p.rows:, :p.cols] = -1
        lo, hi = min(p.src.lo), max(p.src.hi)
        t_lo, t_hi = np.minimum(eff * lo, eff * hi), np.maximum(eff * lo, eff * hi)
        neg, pos = np.minimum(t_lo, 0).sum(axis=1), np.maximum(t_hi, 0).sum(axis=1)
        return [(int(neg[row::p.pe].min()), int(pos[row::p.pe].max())) for row in range(p.pe)]

    def param_rom(self, addr: int) -> list[list[int]] | None:
        """Per PE row: [K thresholds] or [bias], valid in the write stage (a registered read)."""
        p = self.p
        if p.params is None:
            return None
        depth, pe, k = p.params.shape
        data = p.params.reshape(depth, pe * k).astype(np.int64)
        ranges = [(min(0, int(c.min())), max(0, int(c.max()))) for c in data.T]
        outs = self.st.nl.add("rom", (addr,), ranges, {"data": data}, self.st.group, names=[self.st.prefix + "t"] * len(ranges))
        return [list(outs[row * k:(row + 1) * k]) for row in range(pe)]

    # ----------------------------------------------------------------------- write

    def write(self, s2: dict) -> tuple[list[list[int]], int]:
        """The destination buffer, per slot (one, or two in a dataflow chain), and `done`."""
        p, st = self.p, self.st
        values = [self.result(s2["acc"][row], None if s2["params"] is None else s2["params"][row]) for row in range(p.pe)]
        ir_index = {p.dst.phys(i): i for i in range(p.dst.size)}
        banks = [0] if self.next_bank is None else [0, 1]
        slots: list[list[int | None]] = [[None] * p.dst.size for _ in banks]
        written = [st.const(1)] if self.next_bank is None else [st.bit_is(s2["bank"], b) for b in banks]
        cleared = [self.start] if self.next_bank is None else [st.and_(self.start, st.bit_is(self.next_bank, b)) for b in banks]
        channels = p.rows
        for pixel, enable in self.pixel_enables(s2):
            for nf in range(p.nf):
                write = st.and_(s2["v"], enable, st.compare(s2["nf"], "==", nf))
                for b in banks:
                    write_b = st.and_(write, written[b])
                    for ch in range(nf * p.pe, min(channels, (nf + 1) * p.pe)):
                        slot = pixel * channels + ch
                        i = ir_index[slot]
                        lo, hi = p.dst.lo[i], p.dst.hi[i]
                        value = values[ch - nf * p.pe]
                        name = f"buf{slot}" if self.next_bank is None else f"buf{b}_{slot}"
                        if p.pool is None:
                            slots[b][slot] = st.hold(write_b, value, lo, hi, name)
                        elif lo == hi:
                            slots[b][slot] = st.const(lo)
                        else:  # the OR of each pooling window starts from 0 when its pass starts
                            q = st.state(lo, hi, name)
                            pooled = st.mux(write_b, st.or_(q, value), q)
                            st.close(q, st.mux(cleared[b], st.const(0), pooled))
                            slots[b][slot] = q
        return slots, st.and_(s2["v"], s2["end"])

    def result(self, acc: int, params: list[int] | None) -> int:
        """The value written for one row: a threshold count, acc + bias, or the bare sum."""
        st = self.st
        if params is None:
            return acc
        if self.p.thresholded:
            return st.tree([st.cell("cmp", (acc, t), 0, 1, {"op": ">="}) for t in params])
        return st.add(acc, params[0])

    def pixel_enables(self, s2: dict):
        """(destination pixel, enable) pairs: the pixel(s) the current output position writes."""
        p, st = self.p, self.st
        if p.dst.shape is None:
            yield 0, st.const(1)
            return
        _, rows, cols = p.dst.shape
        if p.pool is None:
            row_en = [st.compare(s2["oy"], "==", y) for y in range(rows)]
            col_en = [st.compare(s2["ox"], "==", x) for x in range(cols)]
        else:  # conv output (oy, ox) lies in every pooling window whose span holds it
            span = lambda v, a, b: st.and_(st.compare(v, ">=", a), st.compare(v, "<=", b))
            row_en = [span(s2["oy"], a, b) for a, b in pool_spans(p, 1)]
            col_en = [span(s2["ox"], a, b) for a, b in pool_spans(p, 2)]
        for y in range(rows):
            for x in range(cols):
                yield y * cols + x, st.and_(row_en[y], col_en[x])


def product_range(nl: Netlist, a: int, b: int) -> tuple[int, int]:
    corners = [x * y for x in (nl.lo[a], nl.hi[a]) for y in (nl.lo[b], nl.hi[b])]
    return min(corners), max(corners)


# --------------------------------------------------------------------------- the network


def plan_folded(ir: IR, pe: int | None = None, simd: int | None = None, dataflow: bool = False) -> Netlist:
    """The folded engine of `ir` at the given parallelism (hdl.folded_plan chooses and checks it)."""
    return build(plan_network(ir, pe, simd, dataflow))


def build(net: NetworkPlan) -> Netlist:
    """Ports x, in_valid, in_ready -> y, out_valid, out_ready (the handshake of hdl.folded)."""
    nl = Netlist(name=net.name)
    top = Seq(nl, "", "", [], [], [])
    x = [nl.net(lo, hi, f"x{i}") for i, (lo, hi) in enumerate(zip(net.input.lo, net.input.hi))]
    in_valid, out_ready = nl.net(0, 1, "in_valid"), nl.net(0, 1, "out_ready")
    captured = x
    if net.input_threshold is not None:  # FINN's thresholding layer, every element at once, before the register
        captured = threshold_stage(Seq(nl, net.input_threshold, "in_", x, [nl.lo[v] for v in x], [nl.hi[v] for v in x]),
                                   net.input_thresholds)
    chain = dataflow_chain if net.dataflow else sequential_chain
    y, y_range, in_ready, out_valid = chain(nl, top, net, captured, in_valid, out_ready)
    nl.inputs.update(x=x, in_valid=[in_valid], out_ready=[out_ready])
    nl.outputs.update(y=y, out_valid=[out_valid], in_ready=[in_ready])
    nl.port_ranges.update(x=(min(net.input.lo), max(net.input.hi)), y=y_range)
    layers = {plan.name: {"nodes": plan.nodes, "pe": plan.pe, "simd": plan.simd} for plan in net.layers}
    nl.meta.update(arch="folded", pipelined=True, handshake=True, latency=net.latency, interval=net.interval,
                   dataflow=net.dataflow, layers=layers)
    return nl


def framed(plan: LayerPlan, src: list[int], st: Seq) -> list[int]:
    """A padded conv's input: the producer's nets and the border constants."""
    if plan.pad_from is None:
        return src
    return [src[j] if j >= 0 else st.const(v) for j, v in zip(plan.pad_from, plan.pad_values)]


def sequential_chain(nl: Netlist, top: Seq, net: NetworkPlan, captured: list[int], in_valid: int, out_ready: int):
    """One inference at a time: each group starts on the edge the previous one completes."""
    busy, out_valid = top.state(0, 1, "busy"), top.state(0, 1, "out_valid")
    in_ready = top.and_(top.not_(busy), top.or_(out_ready, top.not_(out_valid)))
    accept = top.and_(in_valid, in_ready)
    src = [top.hold(accept, v, nl.lo[v], nl.hi[v], f"x_reg{i}") for i, v in enumerate(captured)]
    start = accept
    for k, plan in enumerate(net.layers):
        mvu = MVU(nl, plan, k, framed(plan, src, top), start)
        src, start = mvu.dst, mvu.done
    last = net.layers[-1].dst
    elements = [src[last.phys(i)] for i in range(last.size)]  # back to IR order
    if net.argmax is None:
        y, finished = elements, start  # the buffer holds still until the next inference's last layer
        y_range = (min(last.lo), max(last.hi))
    else:
        am = Stage(nl, net.argmax, "am_", elements, last.lo, last.hi)
        (index,) = argmax_stage(am)
        finished = top.reg(start, "go", reset=True)  # the cycle after the last write: the argmax sees the whole buffer
        y = [top.hold(finished, index, 0, last.size - 1, "y_reg")]
        y_range = (0, last.size - 1)
    top.close(out_valid, top.or_(finished, top.and_(out_valid, top.not_(out_ready))), reset=True)
    top.close(busy, top.and_(top.not_(finished), top.or_(accept, busy)), reset=True)
    return y, y_range, in_ready, out_valid


def dataflow_chain(nl: Netlist, top: Seq, net: NetworkPlan, captured: list[int], in_valid: int, out_ready: int):
    """Every group works on its own input: group k on input n while group k+1 works on n-1.

    Each buffer between groups has two slots, input n in slot n mod 2, with a `full` flag per
    slot: set on the edge of the producer's last write, cleared on the edge of the consumer's
    last issue cycle (after it the consumer no longer reads its source). A group starts when it is
    ready (idle, or in its last issue cycle), the slot it reads is full (or gets its last write in
    this cycle) and the slot it writes is empty. The input register is group 0's source: an input
    is accepted when group 0 starts on it, at most once per `net.interval` edges, so with results
    taken at once no group ever waits and every inference takes `net.latency`.
    """
    interval = net.interval
    gap = top.state(0, interval - 1, "gap") if interval > 1 else None  # edges until the next input may come
    may_accept = top.const(1) if gap is None else top.compare(gap, "==", 0)
    regs = [top.state(nl.lo[v], nl.hi[v], f"x_reg{i}") if nl.lo[v] < nl.hi[v] else top.const(nl.lo[v])
            for i, v in enumerate(captured)]
    ports: dict[str, int] = {}
    src, src_full, producer = regs, None, None
    for k, plan in enumerate(net.layers):
        ctl = Seq(nl, plan.name, f"l{k}_", [], [], [])
        next_bank = ctl.state(0, 1, "next_bank")
        dst_full = [ctl.state(0, 1, f"full{b}") for b in (0, 1)]
        free = ctl.not_(ctl.mux(next_bank, dst_full[1], dst_full[0]))
        if producer is not None:  # read the slot being issued: the one before next_bank
            src = [ctl.mux(next_bank, a, b) for a, b in zip(*producer.dst_banks)]

        def start_of(ready, ctl=ctl, next_bank=next_bank, free=free, src_full=src_full, producer=producer):
            if producer is None:
                ports["in_ready"] = ctl.and_(ready, free, may_accept)
                return ctl.and_(in_valid, ports["in_ready"])
            filled = ctl.or_(ctl.mux(next_bank, src_full[1], src_full[0]),
                             ctl.and_(producer.done, ctl.equals(producer.bank, next_bank)))
            return ctl.and_(ready, filled, free)

        mvu = MVU(nl, plan, k, framed(plan, src, ctl), start_of, next_bank)
        ctl.close(next_bank, ctl.mux(mvu.start, ctl.not_(next_bank), next_bank), reset=True)
        if producer is None:
            accept = mvu.start
            for q, v in zip(regs, captured):
                if nl.lo[v] < nl.hi[v]:
                    top.close(q, top.mux(accept, v, q))
            if gap is not None:
                dec = top.cell("sub", (gap, top.const(1)), -1, interval - 2, {"sa": 0, "sb": 0})
                waited = top.mux(may_accept, top.const(0), dec, 0, interval - 2)
                top.close(gap, top.mux(accept, top.const(interval - 1), waited, 0, interval - 1), reset=True)
        else:
            close_slots(ctl, src_full, producer, mvu.release, ctl.not_(next_bank))
        src_full, producer = dst_full, mvu
    last = net.layers[-1].dst
    out = Seq(nl, net.argmax or "", "out_", [], [], [])
    out_bank = out.state(0, 1, "bank")
    ready = out.mux(out_bank, src_full[1], src_full[0])
    elements = [out.mux(out_bank, producer.dst_banks[1][last.phys(i)], producer.dst_banks[0][last.phys(i)])
                for i in range(last.size)]  # back to IR order
    if net.argmax is None:  # the slot is the output register: out_valid while it is full
        out_valid, y, y_range = ready, elements, (min(last.lo), max(last.hi))
        taken = out.and_(ready, out_ready)
    else:
        am = Stage(nl, net.argmax, "am_", elements, last.lo, last.hi)
        (index,) = argmax_stage(am)
        out_valid = out.state(0, 1, "valid")
        taken = out.and_(ready, out.or_(out.not_(out_valid), out_ready))  # the slot moves into y_reg
        y, y_range = [out.hold(taken, index, 0, last.size - 1, "y_reg")], (0, last.size - 1)
        out.close(out_valid, out.or_(taken, out.and_(out_valid, out.not_(out_ready))), reset=True)
    out.close(out_bank, out.mux(taken, out.not_(out_bank), out_bank), reset=True)
    close_slots(out, src_full, producer, taken, out_bank)
    return y, y_range, ports["in_ready"], out_valid


def close_slots(st: Seq, full: list[int], producer: MVU, release: int, reading: int) -> None:
    """The full flags of a buffer: set by the producer's last write into the slot, cleared when
    the consumer, reading slot `reading`, releases it."""
    for b, q in enumerate(full):
        filled = st.and_(producer.done, st.bit_is(producer.bank, b))
        emptied = st.and_(release, st.bit_is(reading, b))
        st.close(q, st.and_(st.or_(q, filled), st.not_(emptied)), reset=True)


def run(nl: Netlist, codes: np.ndarray, check: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Every vector of `codes` through the folded netlist, each in its own copy, by the interpreter:
    x offered with in_valid in cycle 0, out_ready always high. Returns (y [batch, n_out] at the
    first out_valid, the cycle count from the accepting edge to out_valid, counting it)."""
    codes = np.asarray(codes, dtype=np.int64)
    latency = nl.meta["latency"]
    stimulus = lambda t: {"x": codes, "in_valid": np.full((1, 1), int(t == 0)), "out_ready": np.ones((1, 1))}
    trace = run_cycles(nl, stimulus, latency + 2, len(codes), watch=("y", "out_valid", "in_ready"))
    valid = trace["out_valid"][:, :, 0]
    if not trace["in_ready"][0].all():
        raise AssertionError("in_ready is low after reset")
    first = np.argmax(valid, axis=0)
    if not valid.any(axis=0).all():
        raise AssertionError(f"out_valid never rose within {latency + 2} cycles")
    return trace["y"][first, np.arange(len(codes))], first


def stream(nl: Netlist, codes: np.ndarray, take=None, check: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The vectors of `codes` through one copy of the folded netlist, back to back: vector k offered
    with in_valid from the cycle after vector k-1 was taken; out_ready high in cycle t when
    `take(t)` (default: always). Returns (y [n, n_out] in output order, the cycle each input was
    taken, the cycle each output was taken), cycles counted from the first after reset."""
    codes = np.asarray(codes, dtype=np.int64)
    n, latency, interval = len(codes), nl.meta["latency"], nl.meta["interval"]
    take = take or (lambda t: 1)
    taken, given, outputs = [], [], []

    def stimulus(t):
        k = min(len(taken), n - 1)
        return {"x": codes[k:k + 1], "in_valid": np.full((1, 1), int(len(taken) < n)), "out_ready": np.full((1, 1), take(t))}

    def observe(t, ports):
        if ports["in_ready"][0, 0] and len(taken) < n:
            taken.append(t)
        if ports["out_valid"][0, 0] and take(t):
            given.append(t)
            outputs.append(ports["y"][0].copy())

    budget = 4 * (latency + (n + 1) * interval) + 2
    run_cycles(nl, stimulus, budget, 1, watch=("y", "out_valid", "in_ready"), check=check, observe=observe)
    if len(given) < n:
        raise AssertionError(f"{len(given)} of {n} outputs taken within {budget} cycles")
    return np.array(outputs[:n]), np.array(taken), np.array(given[:n])
