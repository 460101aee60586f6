"""One matrix-vector unit (MVU) of the folded engine: a group of hdl.folded_plan, in hardware.

Three stages, each one register deep (so a group's last write lands FILL_PER_LAYER = 2 cycles
after its last issue cycle):

- issue: counters walk (position, nf, sf); they address the weight ROM (registered read) and
  select the SIMD input elements from the source buffer (dense) or from the sliding window's
  row registers (conv), which are registered alongside;
- MAC: PE partial sums of SIMD products (XNOR agreements or integer products) are added into
  PE accumulators, which restart on the first synapse fold;
- write: after the last synapse fold, each accumulator is compared with its thresholds (or gets
  its bias) from the parameter ROM (read in the MAC stage) and the PE results are written into
  the destination buffer, ORed in when a max-pool is fused.

`start` (a one-cycle pulse) begins a pass over the whole layer (a conv first loads its window,
one cycle); `done` pulses in the cycle of the last write, so the next group can start on the same
clock edge that completes it.
"""

from __future__ import annotations

from amaranth import Array, Cat, Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from bespoke.hdl.folded_plan import LayerPlan, pool_spans
from bespoke.hdl.folded_read import padded_words, source_row

BLOCK_ROM_DEPTH = 64  # weight ROMs at least this deep carry a block-RAM hint


def shape(bits: int, is_signed: bool):
    return signed(bits) if is_signed else unsigned(bits)


def counter_shape(n: int):
    """A counter for 0..n-1 (at least one bit, so comparisons stay ordinary)."""
    return unsigned(max(1, (n - 1).bit_length()))


def tree_sum(values: list, m=None):
    """Balanced adder tree: each adder only as wide as its operands need (Amaranth widens by one).

    With a module `m`, every adder drives a kept wire. Yosys otherwise merges a whole tree into
    one multi-operand adder and maps it to full-adder cells: right for popcounts of bits (1008
    LUTs for 16 x 32 on xc7), but for 32 8-bit operands 16 such trees took 9.5k LUTs against
    6.9k for the kept two-operand adders, which map onto carry chains.
    """
    values = list(values)
    while len(values) > 1:
        level = []
        for i in range(0, len(values) - 1, 2):
            total = values[i] + values[i + 1]
            if m is not None:
                wire = Signal(total.shape(), attrs={"keep": 1})
                m.d.comb += wire.eq(total)
                total = wire
            level.append(total)
        values = level + values[len(values) - len(values) % 2:]
    return values[0]


def delay(m, values: dict, stage: int, control=("v", "end")) -> dict:
    """One register per value, named `<key><stage>`; only the control flags are reset."""
    regs = {}
    for key, value in values.items():
        value = Value.cast(value)
        regs[key] = Signal(value.shape(), name=f"{key}{stage}", reset_less=key not in control)
        m.d.sync += regs[key].eq(value)
    return regs


def field(word, k: int, bits: int, is_signed: bool):
    v = word[k * bits:(k + 1) * bits]
    return v.as_signed() if is_signed else v


class MVU(wiring.Component):
    def __init__(self, plan: LayerPlan):
        self.plan = plan
        super().__init__({"start": In(1), "src": In(plan.src.bits), "done": Out(1), "dst": Out(plan.dst.bits)})

    def elaborate(self, platform):
        m = Module()
        issue = self.issue_stage(m)
        mac = self.mac_stage(m, issue)
        self.write_stage(m, mac)
        return m

    # ----------------------------------------------------------------------- issue

    def issue_stage(self, m) -> dict:
        """Counters of the loop nest, the weight ROM address, and the registered input words."""
        p = self.plan
        oh, ow = p.positions
        run = Signal()
        sf, nf = Signal(counter_shape(p.sf)), Signal(counter_shape(p.nf))
        wa = Signal(counter_shape(p.nf * p.sf))  # weight ROM address nf*SF + sf, wraps per position
        ta = Signal(counter_shape(param_depth(p)))  # parameter ROM address, one step per row group
        oy, ox = Signal(counter_shape(oh)), Signal(counter_shape(ow))
        last_sf, last_nf = sf == p.sf - 1, nf == p.nf - 1
        last_pos = (oy == oh - 1) & (ox == ow - 1)
        end = last_sf & last_nf & last_pos
        next_row = run & last_sf & last_nf & (ox == ow - 1) & ~end

        with m.If(self.start):
            m.d.sync += [sf.eq(0), nf.eq(0), wa.eq(0), ta.eq(0), oy.eq(0), ox.eq(0)]
            if not p.read.window:
                m.d.sync += run.eq(1)
        with m.Elif(run):
            m.d.sync += [sf.eq(sf + 1), wa.eq(wa + 1)]
            with m.If(end):
                m.d.sync += run.eq(0)
            with m.Elif(last_sf):
                m.d.sync += [sf.eq(0), nf.eq(nf + 1), ta.eq(ta + 1)]
                if p.params is not None and not p.param_per_position:
                    with m.If(last_nf):
                        m.d.sync += ta.eq(0)
                with m.If(last_nf):
                    m.d.sync += [nf.eq(0), wa.eq(0)]
                    with m.If(ox == ow - 1):
                        m.d.sync += [ox.eq(0), oy.eq(oy + 1)]
                    with m.Else():
                        m.d.sync += ox.eq(ox + 1)
        rows = self.window(m, run, oy, next_row) if p.read.window else [self.src]

        depth = p.nf * p.sf
        # Deep (well folded) weight ROMs belong in block RAM: synth_xilinx otherwise builds the SFC's
        # 128 x 512-bit ROMs from ~4k LUTs each (1.4k LUTs and 15 RAMB18 with the hint).
        attrs = {"rom_style": "block"} if depth >= BLOCK_ROM_DEPTH else {}
        rom = Memory(shape=unsigned(p.pe * p.simd * p.weight_shape[0]), depth=depth, init=p.weight_words(), attrs=attrs)
        m.submodules.weights = rom
        rd = rom.read_port()
        m.d.comb += rd.addr.eq(wa)

        x1 = Signal(p.simd * p.src.width, reset_less=True)
        m.d.sync += x1.eq(self.read_words(rows, sf, ox))
        stage = delay(m, {"v": run, "first": sf == 0, "last": last_sf, "end": end & run, "nf": nf, "ta": ta, "oy": oy, "ox": ox}, 1)
        stage.update(x=x1, w=rd.data)
        return stage

    def window(self, m, run, oy, next_row) -> list:
        """The conv's line buffer: kh row registers holding source rows oy*s .. oy*s + kh - 1.

        `start` is the edge that completes the source buffer (the previous layer's last write,
        or the input capture), so the first rows load one cycle later, and issue begins after.
        At each new output row the rows move up by the stride and the missing ones are fetched.
        """
        p, rp = self.plan, self.plan.read
        width = p.src.width
        kh, stride = rp.window, p.stride
        src_row = lambda y: Cat(*(self.src[a * width:(a + n) * width] for a, n in source_row(p.src, rp.view, y)))
        rows = [Signal(rp.row_len * width, name=f"window{ky}", reset_less=True) for ky in range(kh)]
        load = Signal()
        m.d.sync += load.eq(self.start)
        with m.If(load):
            m.d.sync += [run.eq(1)] + [rows[ky].eq(src_row(ky)) for ky in range(kh)]
        if p.positions[0] == 1:
            return rows  # one output row: the window never moves down
        with m.If(next_row):
            for ky in range(kh):
                if ky + stride < kh:
                    m.d.sync += rows[ky].eq(rows[ky + stride])
                else:  # row (oy + 1) * s + ky, oy < OH - 1 here
                    m.d.sync += rows[ky].eq(Array(src_row((o + 1) * stride + ky) for o in range(p.positions[0] - 1))[oy])
        return rows

    def read_words(self, rows: list, sf, ox):
        """The SIMD input elements of synapse fold `sf` at output column `ox`: SIMD/unit aligned
        words of the window rows (conv) or of the source buffer (dense)."""
        p, rp = self.plan, self.plan.read
        unit_bits = rp.unit * p.src.width
        length = rp.row_len if rp.window else p.src.size
        words = padded_words(length, rp.unit)
        pad = words * unit_bits - length * p.src.width
        views = [Cat(r, Const(0, pad)) if pad else r for r in rows]
        chunks = []
        for q in range(rp.chunks):
            per_fold = [(int(r), int(o)) for r, o in zip(rp.row[:, q], rp.offset[:, q])]
            if rp.step == 0:  # dense: a fixed word per fold
                choices = [views[r].word_select(o, unit_bits) for r, o in per_fold]
            else:  # moves along the row with the output column
                index = lambda o: ox * rp.step + o if o else ox * rp.step
                choices = [views[r].word_select(index(o), unit_bits) for r, o in per_fold]
            unique = list(dict.fromkeys(per_fold))
            chunks.append(choices[0] if len(unique) == 1 else Array(choices)[sf])
        return Cat(*chunks)

    # ----------------------------------------------------------------------- MAC

    def mac_stage(self, m, s1: dict) -> dict:
        p = self.plan
        mask = self.lane_mask(s1["last"])
        xs = self.lanes(s1["x"], mask)
        x_sum = tree_sum(xs, m) if p.weight_code == "bipolar" else None  # shared by every PE row
        accs = []
        for row in range(p.pe):
            part = self.partial(m, s1["x"], xs, x_sum, s1["w"], row, mask)
            acc = Signal(shape(*p.acc_shape), name=f"acc{row}", reset_less=True)
            with m.If(s1["v"]):
                m.d.sync += acc.eq(Mux(s1["first"], part, acc + part))
            accs.append(acc)
        stage = delay(m, {"v": s1["v"] & s1["last"], "end": s1["end"], "nf": s1["nf"], "oy": s1["oy"], "ox": s1["ox"]}, 2)
        stage["acc"] = accs
        stage["params"] = self.param_read(m, s1["ta"])
        return stage

    def lane_mask(self, last):
        """Lanes past the last real column (a padded last fold) must add nothing: XNOR lanes would
        count agreements, bipolar lanes +-x (their inputs are zeroed). Other codes pad with weight 0."""
        p = self.plan
        if p.weight_code not in ("xnor", "bipolar") or p.last_fold_lanes == p.simd:
            return None
        return Mux(last, Const((1 << p.last_fold_lanes) - 1, p.simd), Const((1 << p.simd) - 1, p.simd))

    def lanes(self, x, mask) -> list | None:
        """The SIMD input elements of an integer layer (signed for ternary, which negates them as
        ~x + 1), padded lanes zeroed for bipolar."""
        p = self.plan
        if p.weight_code == "xnor":
            return None
        xs = [field(x, lane, p.src.width, p.src.signed) for lane in range(p.simd)]
        if p.weight_code == "ternary":
            xs = [self.wide(v) for v in xs]
        if mask is not None:
            xs = [Mux(mask[lane], v, 0) for lane, v in enumerate(xs)]
        return xs

    def partial(self, m, x, xs, x_sum, w, row: int, mask):
        """Sum over the SIMD lanes of one PE row's products, by the layer's weight code."""
        p = self.plan
        code = p.weight_code
        wrow = w[row * p.simd * p.weight_shape[0]:(row + 1) * p.simd * p.weight_shape[0]]
        if code == "xnor":
            agree = ~(x ^ wrow)
            return tree_sum([(agree & mask if mask is not None else agree)[i] for i in range(p.simd)])
        live = p.live_lanes()[row]
        if code == "bipolar":  # sum of (b ? x : -x) = 2 * sum of (b ? x : 0) - sum of x
            return (tree_sum([Mux(wrow[lane], v, 0) for lane, v in enumerate(xs)], m) << 1) - x_sum
        if code == "ternary":  # bit 0: nonzero, bit 1: negative; -x = ~x + 1, the +1s counted once
            terms = [Mux(wrow[2 * lane], Mux(wrow[2 * lane + 1], ~v, v), 0) for lane, v in enumerate(xs) if live[lane]]
            negatives = [wrow[2 * lane] & wrow[2 * lane + 1] for lane in range(p.simd) if live[lane]]
            return tree_sum(terms + [tree_sum(negatives)], m) if terms else Const(0)
        wbits, wsigned = p.weight_shape
        terms = [v * field(wrow, lane, wbits, wsigned) for lane, v in enumerate(xs) if live[lane]]
        return tree_sum(terms, m) if terms else Const(0)

    @staticmethod
    def wide(v):
        """v as a signed value, one bit wider when unsigned, so that ~v is -v - 1."""
        return v if v.shape().signed else Cat(v, Const(0, 1)).as_signed()

    def param_read(self, m, addr) -> list | None:
        """Per row: [K thresholds] or [bias], valid in the write stage (registered ROM read)."""
        p = self.plan
        if p.params is None:
            return None
        bits, is_signed = p.param_shape
        k = p.params.shape[2]
        rom = Memory(shape=unsigned(p.pe * k * bits), depth=p.params.shape[0], init=p.param_words())
        m.submodules.params = rom
        rd = rom.read_port()
        m.d.comb += rd.addr.eq(addr)
        return [[field(rd.data, row * k + j, bits, is_signed) for j in range(k)] for row in range(p.pe)]

    # ----------------------------------------------------------------------- write

    def write_stage(self, m, s2: dict) -> None:
        p = self.plan
        width = p.dst.width
        values = []
        for row in range(p.pe):
            v = Signal(width, name=f"out{row}")
            m.d.comb += v.eq(self.result(s2["acc"][row], None if s2["params"] is None else s2["params"][row]))
            values.append(v)
        buf = Signal(p.dst.bits, reset_less=True)
        m.d.comb += [self.dst.eq(buf), self.done.eq(s2["v"] & s2["end"])]
        if p.pool is not None:
            with m.If(self.start):
                m.d.sync += buf.eq(0)  # the OR of each pooling window starts from 0
        channels = p.rows
        for pixel, enable in self.pixel_enables(s2):
            for nf in range(p.nf):
                lo, hi = nf * p.pe, min(channels, (nf + 1) * p.pe)
                part = buf[(pixel * channels + lo) * width:(pixel * channels + hi) * width]
                data = Cat(*values[:hi - lo])
                with m.If(s2["v"] & enable & (s2["nf"] == nf)):
                    m.d.sync += part.eq(part | data if p.pool is not None else data)

    def result(self, acc, params):
        """The value written for one row: a threshold count, acc + bias, or the bare sum."""
        if params is None:
            return acc
        if self.plan.thresholded:
            return tree_sum([acc >= t for t in params])
        return acc + params[0]

    def pixel_enables(self, s2: dict):
        """(destination pixel, enable) pairs: the pixel(s) the current output position writes."""
        p = self.plan
        if p.dst.shape is None:
            yield 0, Const(1)
            return
        _, rows, cols = p.dst.shape
        if p.pool is None:
            row_en = [s2["oy"] == y for y in range(rows)]
            col_en = [s2["ox"] == x for x in range(cols)]
        else:  # conv output (oy, ox) lies in every pooling window whose span holds it
            row_en = [(s2["oy"] >= a) & (s2["oy"] <= b) for a, b in pool_spans(p, 1)]
            col_en = [(s2["ox"] >= a) & (s2["ox"] <= b) for a, b in pool_spans(p, 2)]
        for y in range(rows):
            for x in range(cols):
                yield y * cols + x, row_en[y] & col_en[x]


def param_depth(p: LayerPlan) -> int:
    return 1 if p.params is None else p.params.shape[0]
