"""Planning the folded (time-multiplexed) engine: integer IR -> per-layer schedules and memory images.

Pure Python and numpy, no Amaranth: `summary` and the analytic cycle count need no elaboration.

The network is a chain of *groups*; a group is one matrix-vector layer (Dense with integer
weights, XnorPopcount, or Conv2d, binary or integer) optionally followed by a Threshold and, for
a conv with one-bit thresholded outputs, a MaxPool2d (an OR on bits, done on write). An ArgMax may
end the chain. Each group becomes one matrix-vector unit (MVU): `rows` output neurons (conv:
output channels), `cols` inputs per neuron (conv: kernel window C*kh*kw), computed PE rows x
SIMD columns per cycle, in the loop nest

    for each output position (conv: raster order; dense: one)
      for nf in range(NF = ceil(rows / PE))      # neuron fold: which PE rows
        for sf in range(SF = ceil(cols / SIMD))  # synapse fold: which SIMD columns

so a group takes positions * NF * SF cycles. A PE or SIMD that does not divide a layer is
padded: padded rows are computed and never written, padded columns carry weight 0 (integer) or
are masked out of the popcount (XNOR).

Activations live in register buffers, one per group output (the input vector in a register
captured at the handshake). Buffers written by conv/pool groups are stored channel-innermost
(HWC), so a conv reading them fetches C neighbouring channels of one pixel as one aligned word;
the MVU's column order and weight columns are permuted to the storage order instead of the data.
A conv reads through a sliding-window generator: a line buffer of kh source rows (see ReadPlan),
so its multiplexers choose among output columns, not among every element of the feature map.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bespoke.compiler.errors import BespokeError
from bespoke.compiler.ir import IR, ArgMax, Conv2d, Dense, MaxPool2d, Pad2d, Threshold, XnorPopcount, bits_for_range
from bespoke.hdl.folded_buffer import Buffer, buffer_of
from bespoke.hdl.folded_read import ReadPlan, conv_columns, read_plan

# Defaults when pe/simd are not given: per layer, the largest divisor of its rows (cols) not
# above these, so nothing is padded; 16 x 32 is the example and FINN's usual SFC folding.
DEFAULT_PE, DEFAULT_SIMD = 16, 32
# Cycles a group needs beyond its issue cycles: the weight ROM's registered read (with the
# input words registered alongside), and the accumulator register before compare-and-write.
FILL_PER_LAYER = 2
WINDOW_LOAD_CYCLES = 1  # a conv's sliding window loads its first rows before the first issue
CAPTURE_CYCLES = 1  # the handshake edge captures x and starts the first group
ARGMAX_CYCLES = 1  # the class index is registered after the last group's last write
# Dataflow (see hdl.folded_netlist): the output stage holds a slot of the last buffer one cycle,
# and a slot released on an edge is seen free on the next, so a slot turns over in fill + 1
OUTPUT_STAGE_CYCLES = 1
SLOT_TURNAROUND = FILL_PER_LAYER + 1
MAC_LAYERS = (Dense, XnorPopcount, Conv2d)


# --------------------------------------------------------------------------- layer plans


@dataclass
class LayerPlan:
    """One MVU: what it computes, how it is folded, and its memory images (see module doc)."""

    name: str  # the matrix-vector node
    nodes: list[str]  # every IR node the group implements
    binary: bool  # XNOR-popcount (else integer multiply-accumulate)
    rows: int
    cols: int
    pe: int
    simd: int
    positions: tuple[int, int]  # (OH, OW) output positions; (1, 1) for dense
    src: Buffer
    dst: Buffer
    weights: np.ndarray  # [NF*PE, SF*SIMD], columns in read order, padded
    acc_lo: int  # every partial sum of a real row lies in [acc_lo, acc_hi]
    acc_hi: int
    params: np.ndarray | None  # [depth, PE, K] thresholds (bias folded in) or [depth, PE, 1] biases
    thresholded: bool
    param_per_position: bool  # params addressed by (position, nf), else by nf
    read: ReadPlan  # how each synapse fold's SIMD inputs are fetched
    stride: int = 1
    kernel: tuple[int, int] = (1, 1)
    pool: tuple[int, int] | None = None  # (kernel, stride) of a fused max-pool
    # a padded conv reads `src`, its input framed by constants: per storage slot of `src`, the slot
    # of the producer's buffer it copies (-1: a border constant), and the constant
    pad_from: list[int] | None = None
    pad_values: list[int] | None = None
    ops: list[str] = field(default_factory=list)  # the op of each node, for reports

    @property
    def nf(self) -> int:
        return -(-self.rows // self.pe)

    @property
    def sf(self) -> int:
        return -(-self.cols // self.simd)

    @property
    def n_positions(self) -> int:
        return self.positions[0] * self.positions[1]

    @property
    def cycles(self) -> int:
        """Issue cycles: one PE x SIMD slice of the matrix per cycle."""
        return self.n_positions * self.nf * self.sf

    @property
    def occupancy(self) -> int:
        """Cycles from one start of the MVU to the earliest next: its window load and issue."""
        return self.cycles + (WINDOW_LOAD_CYCLES if self.read.window else 0)

    @property
    def last_fold_lanes(self) -> int:
        """Columns used in the last synapse fold (SIMD when nothing is padded)."""
        return self.cols - (self.sf - 1) * self.simd

    @property
    def weight_code(self) -> str:
        """How weights are stored and multiplied: "xnor" (bits, 1 = +1, agreements counted),
        "bipolar" (integer layer with weights +-1: one bit, 1 = +1, a conditional negation),
        "ternary" (weights in {-1, 0, 1}: two bits, nonzero and negative), "int" (two's complement,
        a multiplier). Small codes keep 1-2 bit weights out of DSP multipliers and halve the ROM."""
        if self.binary:
            return "xnor"
        values = set(np.unique(self.weights[:self.rows, :self.cols]).tolist())
        if values <= {-1, 1}:
            return "bipolar"
        return "ternary" if values <= {-1, 0, 1} else "int"

    @property
    def weight_shape(self) -> tuple[int, bool]:
        """(bits, signed) of one weight in the ROM."""
        code = self.weight_code
        if code in ("xnor", "bipolar", "ternary"):
            return (2 if code == "ternary" else 1), False
        return bits_for_range(min(0, int(self.weights.min())), max(0, int(self.weights.max())))

    def live_lanes(self) -> np.ndarray:
        """[PE, SIMD]: False where the weight is 0 in every fold (e.g. a diagonal matrix), so that
        product is never built. XNOR and bipolar weights are never 0."""
        if self.weight_code in ("xnor", "bipolar"):
            return np.ones((self.pe, self.simd), dtype=bool)
        slices = self.weights.reshape(self.nf, self.pe, self.sf, self.simd)
        return (slices != 0).any(axis=(0, 2))

    @property
    def acc_shape(self) -> tuple[int, bool]:
        return bits_for_range(self.acc_lo, self.acc_hi)

    @property
    def param_shape(self) -> tuple[int, bool]:
        return bits_for_range(min(0, int(self.params.min())), max(0, int(self.params.max())))

    def weight_words(self) -> list[int]:
        """ROM image: word nf*SF + sf holds weight [nf*PE + p, sf*SIMD + l] at field p*SIMD + l."""
        bits, _ = self.weight_shape
        codes = {"bipolar": (self.weights > 0).astype(np.int64),
                 "ternary": (self.weights != 0) | ((self.weights < 0).astype(np.int64) << 1)}.get(self.weight_code, self.weights)
        slices = codes.reshape(self.nf, self.pe, self.sf, self.simd).transpose(0, 2, 1, 3)
        return pack_words(slices.reshape(self.nf * self.sf, self.pe * self.simd), bits)

    def param_words(self) -> list[int]:
        """ROM image: word a holds param [a, p, k] at field p*K + k."""
        bits, _ = self.param_shape
        return pack_words(self.params, bits)

    def stats(self) -> dict:
        wbits, _ = self.weight_shape
        row = {"name": self.name, "op": "+".join(self.ops), "rows": self.rows, "cols": self.cols,
               "pe": self.pe, "simd": self.simd, "nf": self.nf, "sf": self.sf, "positions": self.n_positions,
               "cycles": self.cycles, "weight_rom_bits": self.weights.size * wbits,
               "param_rom_bits": 0 if self.params is None else self.params.size * self.param_shape[0],
               "acc_width": self.acc_shape[0], "buffer_bits": self.dst.bits, "read_unit": self.read.unit,
               "weights": self.weight_code}
        row["formula"] = (f"{self.n_positions} x " if self.n_positions > 1 else "") + f"ceil({self.rows}/{self.pe}) x ceil({self.cols}/{self.simd})"
        return row


def pack_words(values: np.ndarray, bits: int) -> list[int]:
    """Each leading index -> one int with the remaining elements (flattened) as `bits`-wide fields."""
    mask = (1 << bits) - 1
    flat = values.reshape(values.shape[0], -1)
    words = []
    for row in flat:
        word = 0
        for k, v in enumerate(row.tolist()):
            word |= (int(v) & mask) << (k * bits)
        words.append(word)
    return words


# --------------------------------------------------------------------------- the network


@dataclass
class NetworkPlan:
    name: str
    input: Buffer  # the input codes (port x)
    layers: list[LayerPlan]
    argmax: str | None  # the ArgMax node, if the chain ends in one
    output_node: str
    # a Threshold on the input codes (FINN's standalone thresholding layer): applied to every
    # element in parallel in front of the input register, so it costs comparators, not cycles
    input_threshold: str | None = None
    input_thresholds: np.ndarray | None = None
    thresholded_input: Buffer | None = None  # the counts it gives, which the input register holds
    # layers work on consecutive inputs at once, each buffer in two slots (hdl.folded_netlist)
    dataflow: bool = False

    @property
    def input_register(self) -> Buffer:
        return self.thresholded_input or self.input

    @property
    def cycles(self) -> int:
        return sum(layer.cycles for layer in self.layers)

    @property
    def windows(self) -> int:
        return sum(1 for layer in self.layers if layer.read.window)

    @property
    def fill(self) -> int:
        return (FILL_PER_LAYER * len(self.layers) + WINDOW_LOAD_CYCLES * self.windows + CAPTURE_CYCLES
                + (ARGMAX_CYCLES if self.argmax else 0))

    @property
    def latency(self) -> int:
        """Rising edges from the one accepting the input (counted) to the one raising out_valid."""
        return self.cycles + self.fill

    @property
    def interval(self) -> int:
        """Initiation interval: rising edges between accepted inputs while inputs are offered and
        results taken at once. One inference at a time: the latency. Dataflow: the slowest MVU's
        occupancy, unless two neighbours together need longer to turn a buffer's two slots over
        (slot of input n is free for input n + 2 once the consumer has issued input n)."""
        if not self.dataflow:
            return self.latency
        return dataflow_interval([layer.occupancy for layer in self.layers])

    def fill_formula(self) -> str:
        parts = [f"{FILL_PER_LAYER} x {len(self.layers)} layers"]
        if self.windows:
            parts.append(f"{WINDOW_LOAD_CYCLES} x {self.windows} window loads")
        parts.append(f"{CAPTURE_CYCLES} capture")
        if self.argmax:
            parts.append(f"{ARGMAX_CYCLES} argmax")
        return " + ".join(parts)


def dataflow_interval(occupancies: list[int]) -> int:
    """The dataflow engine's initiation interval from its MVUs' occupancies, in chain order."""
    occ = list(occupancies) + [OUTPUT_STAGE_CYCLES]
    pairs = [-(-(a + b + SLOT_TURNAROUND) // 2) for a, b in zip(occ, occ[1:])]
    return max(occ[:-1] + pairs)


def plan_network(ir: IR, pe=None, simd=None, dataflow: bool = False) -> NetworkPlan:
    """The folded engine for `ir` at the given parallelism (its layers overlapping consecutive
    inputs with `dataflow`), or a BespokeError naming what is wrong. `pe` and `simd` are one
    value for every layer (capped at each layer's size), one per matrix layer (a list), or None
    (per layer, the largest divisor not above DEFAULT_PE / DEFAULT_SIMD)."""
    check_ir(ir)
    groups, argmax, pads, input_threshold = chain_groups(ir)
    shapes = [group_dims(ir, g) for g in groups]
    pes = per_layer(pe, "pe", [(g[0], rows) for g, (rows, _) in zip(groups, shapes)], DEFAULT_PE)
    simds = per_layer(simd, "simd", [(g[0], cols) for g, (_, cols) in zip(groups, shapes)], DEFAULT_SIMD)
    net = NetworkPlan(ir.name, buffer_of(ir, ir.input_node(), None), [], argmax, ir.output_node(), dataflow=dataflow)
    if input_threshold is not None:
        net.input_threshold, net.input_thresholds = input_threshold, ir.layer(input_threshold).thresholds
        net.thresholded_input = buffer_of(ir, input_threshold, None)
    src = net.input_register
    for group, p, s in zip(groups, pes, simds):
        layer = plan_layer(ir, group, src, p, s, pads.get(group[0]))
        net.layers.append(layer)
        src = layer.dst
    return net


def largest_divisor(n: int, limit: int) -> int:
    return max(d for d in range(1, min(n, limit) + 1) if n % d == 0)


def per_layer(value, option: str, layers: list[tuple[str, int]], default: int) -> list[int]:
    """pe (simd) for each matrix layer, from one value, a list with one per layer, or None."""
    if value is None:
        return [largest_divisor(n, default) for _, n in layers]
    if isinstance(value, (list, tuple)):
        if len(value) != len(layers):
            raise BespokeError(f"{option} has {len(value)} values for {len(layers)} matrix layers "
                               f"({', '.join(name for name, _ in layers)}); give one value or one per layer")
        for v, (name, n) in zip(value, layers):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 1 <= v <= n:
                raise BespokeError(f"{option} {v!r} of layer {name} must be an integer 1..{n}, its {parallel_what(option)}")
        return [int(v) for v in value]
    check_parallelism(value, option, layers)
    return [min(int(value), n) for _, n in layers]


def parallel_what(option: str) -> str:
    return "rows (output neurons or channels)" if option == "pe" else "columns (inputs per neuron)"


def check_parallelism(value, option: str, layers: list[tuple[str, int]]) -> None:
    """pe (simd) must be a positive integer no larger than the rows (cols) of some layer."""
    biggest, what = max(n for _, n in layers), parallel_what(option)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise BespokeError(f"{option}={value!r} must be a positive integer (1..{biggest}, the most {what} of any layer)")
    if value > biggest:
        sizes = ", ".join(f"{n}: {k}" for n, k in layers)
        raise BespokeError(f"{option}={value} exceeds the {what} of every layer ({sizes}); choose 1..{biggest}")


# --------------------------------------------------------------------------- checks and grouping


SUPPORTED = ("input, dense (integer weights), xnor_popcount, conv2d (integer or binary, pad2d in front), threshold, "
             "maxpool2d (after a thresholded conv2d), argmax (last)")


def check_ir(ir: IR) -> None:
    if not ir.is_integer():
        bad = next(n for n in ir.order() if not ir.layer(n).integer or
                   isinstance(ir.layer(n), (Dense, Conv2d)) and not ir.layer(n).is_integer_valued())
        raise BespokeError(f"node {bad}: {ir.layer(bad).op} is a float layer; run the streamline (or quantize) pass before lowering")
    if not ir.has_ranges():
        raise BespokeError("the folded architecture needs value ranges; run the infer-ranges pass first")
    try:
        ir.input_node(), ir.output_node()
    except ValueError as e:
        raise BespokeError(f"cannot lower IR {ir.name!r}: {e}") from None
    for n in ir.order():
        if len(ir.users_of(n)) > 1:
            raise BespokeError(f"node {n} ({ir.layer(n).op}) feeds {len(ir.users_of(n))} layers; the folded architecture takes a chain")


def chain_groups(ir: IR) -> tuple[list[list[str]], str | None, dict[str, str], str | None]:
    """The chain from the input as groups [mac, threshold?, maxpool?], the final ArgMax node, the
    Pad2d in front of each padded conv (conv node -> pad node), and a Threshold on the input codes."""
    groups, argmax, pads, pad, input_threshold = [], None, {}, None, None
    node = ir.input_node()
    while ir.users_of(node):
        (node,) = ir.users_of(node)
        layer = ir.layer(node)
        if argmax is not None:
            raise BespokeError(f"node {node} ({layer.op}) follows the argmax; the folded architecture ends with it")
        if pad is not None and not isinstance(layer, Conv2d):
            raise BespokeError(f"node {pad} (pad2d): the folded architecture pads only the input of a conv2d, not of {layer.op}")
        if isinstance(layer, Pad2d):
            pad = node
        elif isinstance(layer, MAC_LAYERS):
            groups.append([node])
            if pad is not None:
                pads[node], pad = pad, None
        elif isinstance(layer, ArgMax) and groups:
            argmax = node
        elif groups and extends(ir, groups[-1], layer):
            groups[-1].append(node)
        elif isinstance(layer, Threshold) and not groups and input_threshold is None and pad is None:
            input_threshold = node
        else:
            raise BespokeError(f"node {node}: {layer.op} cannot be placed in the folded architecture here; "
                               f"it takes a chain of {SUPPORTED}")
    if not groups:
        raise BespokeError(f"IR {ir.name!r} has no dense, xnor_popcount or conv2d layer to fold")
    return groups, argmax, pads, input_threshold


def extends(ir: IR, group: list[str], layer) -> bool:
    """A threshold follows a bare matrix layer; a max-pool follows a thresholded conv."""
    if isinstance(layer, Threshold):
        return len(group) == 1
    return isinstance(layer, MaxPool2d) and len(group) == 2 and isinstance(ir.layer(group[0]), Conv2d)


def group_dims(ir: IR, group: list[str]) -> tuple[int, int]:
    """(rows, cols) of a group's matrix."""
    layer = ir.layer(group[0])
    if isinstance(layer, Conv2d):
        c_out, c_in, kh, kw = layer.weight.shape
        return c_out, c_in * kh * kw
    return layer.weight.shape


def plan_layer(ir: IR, group: list[str], src: Buffer, pe: int, simd: int, pad: str | None = None) -> LayerPlan:
    mac = group[0]
    layer = ir.layer(mac)
    pad_from = pad_values = None
    if pad is not None:
        src, pad_from, pad_values = padded_source(ir, pad, src)
    binary = isinstance(layer, XnorPopcount) or (isinstance(layer, Conv2d) and layer.binary)
    rows, cols = group_dims(ir, group)
    if binary:
        check_binary(ir, mac, layer, src)
    conv = isinstance(layer, Conv2d)
    if conv:
        view = check_conv_view(mac, layer, src)
        weights, places = conv_columns(layer, src, view)
    else:
        order = np.argsort([src.phys(i) for i in range(src.size)])  # storage slot -> IR column
        weights, places = layer.weight[:, order], [(0, j) for j in range(cols)]
    thr = next((n for n in group if isinstance(ir.layer(n), Threshold)), None)
    pool = next((n for n in group if isinstance(ir.layer(n), MaxPool2d)), None)
    out_shape = (ir.layer(pool).out_shape if pool else layer.out_shape) if conv else None
    dst = buffer_of(ir, group[-1], out_shape)
    if pool:
        check_pool(ir, pool, thr, dst)
    nf, sf = -(-rows // pe), -(-cols // simd)
    padded = np.zeros((nf * pe, sf * simd), dtype=np.int64)
    padded[:rows, :cols] = weights
    acc_lo, acc_hi = acc_bounds(binary, padded[:rows], src)
    bias = np.zeros(rows, dtype=np.int64) if binary else layer.bias.astype(np.int64)
    positions = tuple(layer.out_shape[1:]) if conv else (1, 1)
    params, per_position = row_params(ir, thr, bias, acc_lo, acc_hi, rows, pe, positions)
    read = read_plan(places, cols, simd, src, layer if conv else None)
    return LayerPlan(
        name=mac, nodes=list(group), binary=binary, rows=rows, cols=cols, pe=pe, simd=simd, positions=positions,
        src=src, dst=dst, weights=padded, acc_lo=acc_lo, acc_hi=acc_hi, params=params, thresholded=thr is not None,
        param_per_position=per_position, read=read, stride=layer.stride if conv else 1, kernel=tuple(layer.weight.shape[2:]) if conv else (1, 1),
        pool=(ir.layer(pool).kernel, ir.layer(pool).stride) if pool else None, ops=[ir.layer(n).op for n in group],
        pad_from=pad_from, pad_values=pad_values)


def padded_source(ir: IR, pad: str, src: Buffer) -> tuple[Buffer, list[int], list[int]]:
    """The conv's input as the pad frames it, stored like its producer's buffer (HWC or IR order):
    the buffer, and per slot the producer's slot it copies (-1 on the border) and the constant.
    No registers: the border is constant nets, the rest the producer's own."""
    layer = ir.layer(pad)
    if src.shape is not None and tuple(src.shape) != tuple(layer.in_shape):
        raise BespokeError(f"node {pad} (pad2d): reads {src.node} of shape {src.shape} as {layer.in_shape}; "
                           "the folded architecture needs the producer's shape")
    framed = buffer_of(ir, pad, layer.out_shape if src.shape is not None else None)
    per = int(np.prod(layer.out_shape[1:]))
    slots, values = [-1] * framed.size, [0] * framed.size
    for i, j in enumerate(layer.sources().tolist()):
        slot = framed.phys(i)
        slots[slot] = src.phys(j) if j >= 0 else -1
        values[slot] = int(layer.value[i // per])
    return framed, slots, values


def check_binary(ir: IR, node: str, layer, src: Buffer) -> None:
    bad = layer.weight[(layer.weight != 0) & (layer.weight != 1)]
    if bad.size:
        raise BespokeError(f"node {node} ({layer.op}): weight {int(bad[0])} is not a bit (0 for -1, 1 for +1) in a binary layer")
    if min(src.lo) < 0 or max(src.hi) > 1:
        raise BespokeError(f"node {node} ({layer.op}): its input {src.node} is not binary (range [{min(src.lo)}, {max(src.hi)}])")


def check_conv_view(node: str, layer: Conv2d, src: Buffer) -> tuple:
    if src.shape is not None and tuple(src.shape) != tuple(layer.in_shape):
        raise BespokeError(f"node {node} (conv2d): reads {src.node} of shape {src.shape} as {layer.in_shape}; "
                           "the folded architecture needs the producer's shape")
    if int(np.prod(layer.in_shape)) != src.size:
        raise BespokeError(f"node {node} (conv2d): input shape {layer.in_shape} does not match {src.size} elements")
    return tuple(layer.in_shape)


def check_pool(ir: IR, pool: str, thr: str, dst: Buffer) -> None:
    info = ir.out(thr)
    if int(info.lo.min()) < 0 or int(info.hi.max()) > 1:
        raise BespokeError(f"node {pool} (maxpool2d): the folded architecture pools bits (an OR); its input {thr} has range "
                           f"[{int(info.lo.min())}, {int(info.hi.max())}]")
    if tuple(ir.layer(pool).in_shape) != tuple(ir.layer(ir.inputs_of(thr)[0]).out_shape):
        raise BespokeError(f"node {pool} (maxpool2d): input shape {ir.layer(pool).in_shape} is not its conv's output shape")


# --------------------------------------------------------------------------- matrices


def acc_bounds(binary: bool, weights: np.ndarray, src: Buffer) -> tuple[int, int]:
    """Bounds on every partial sum (any subset of a real row's terms): popcounts lie in [0, cols];
    integer rows in [sum of negative term minima, sum of positive term maxima]."""
    if binary:
        return 0, weights.shape[1]
    lo, hi = min(src.lo), max(src.hi)
    t_lo = np.minimum(weights * lo, weights * hi)
    t_hi = np.maximum(weights * lo, weights * hi)
    neg = np.minimum(t_lo, 0).sum(axis=1)
    pos = np.maximum(t_hi, 0).sum(axis=1)
    return int(min(0, neg.min())), int(max(0, pos.max()))


def row_params(ir: IR, thr: str | None, bias: np.ndarray, acc_lo: int, acc_hi: int, rows: int, pe: int,
               positions: tuple) -> tuple[np.ndarray | None, bool]:
    """The per-row parameter ROM: thresholds minus bias (a comparison on the bare accumulator),
    clamped to [acc_lo, acc_hi + 1] where they stop mattering (constant neurons), or the biases
    when no threshold follows (None when they are all zero). Thresholds that differ between the
    output positions of a conv are stored per position."""
    nf = -(-rows // pe)
    if thr is None:
        if not bias.any():
            return None, False
        vals, per_position = bias[None, :, None], False
    else:
        t = ir.layer(thr).thresholds.astype(np.int64)
        n_pos = positions[0] * positions[1]
        k = t.shape[1]
        t = t.reshape(rows, n_pos, k).transpose(1, 0, 2)  # [position, row, K]: CHW order has rows outermost
        per_position = bool((t != t[:1]).any())
        vals = t if per_position else t[:1]
        vals = np.clip(vals - bias[None, :, None], acc_lo, acc_hi + 1)
    padded = np.zeros((vals.shape[0], nf * pe, vals.shape[2]), dtype=np.int64)
    padded[:, :rows] = vals
    return padded.reshape(vals.shape[0] * nf, pe, vals.shape[2]), per_position


def pool_spans(layer: LayerPlan, axis: int) -> list[tuple[int, int]]:
    """For each pooled row (axis 1) or column (axis 2), the inclusive range of conv outputs it covers."""
    k, s = layer.pool
    return [(i * s, i * s + k - 1) for i in range(layer.dst.shape[axis])]
