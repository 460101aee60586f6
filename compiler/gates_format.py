"""The learned gate network model file (gates.json) and its frontend to the layer IR.

A gates.json holds a discrete logic-gate network as difflogic (Petersen et al., NeurIPS'22)
trains one, plus how its input bits come from sensor readings:

    {"format": "bespoke-gates", "version": 1, "name": "cardio",
     "inputs": {"features": 21, "bits": 4, "scale": [...], "offset": [...],
                "thresholds": [[3, 8], [], [1, 5, 12], ...]},
     "layers": [{"a": [...], "b": [...], "op": [...]}, ...],
     "head": {"classes": 3, "tau": 4.0},
     "labels": [1, 2, 3], "feature_names": [...]}

- inputs: feature i is read as the code clip(rint((x_i - offset_i) / scale_i), 0, 2^bits - 1)
  (the ADC of an exact MLP compiled with `--input-bits bits`; scale and offset may be one number
  for all features); its input bits are [code_i >= t] for its `thresholds` t, ascending (a
  thermometer code). The input bits are numbered feature by feature, each feature's thresholds
  in order: bits 0..B-1.
- layers: gate j of layer l computes op[j] (0..15, compiler.logic's table: difflogic's order) of
  the nets a[j] and b[j]. Nets are numbered globally: 0..B-1 the input bits, then every layer's
  gates in order (gate j of layer l is net B + (gates of layers before l) + j). A difflogic layer
  reads only the previous layer; the format allows any net, as long as the gates form no cycle.
- head: difflogic's group sum: the last layer's gates split into `classes` equal consecutive
  groups, each class's score the number of ones in its group; the class is the argmax, ties to
  the lowest index (tau only scales the training logits).
- labels (optional): the data set's label of each class index.

`read_gates` validates a file (one-line BespokeError naming the layer and gate: a bad op id, an
index out of range, a cycle) and `to_irs` builds the integer IR the hardware computes (input
codes -> thermometer -> logic_gates -> group_sum -> argmax) after constant folding, merging of
identical gates and dead-gate removal, and the float IR (the same network on real features, its
thresholds at the code boundaries).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bespoke.compiler import logic
from bespoke.compiler.errors import BespokeError
from bespoke.compiler.ir import IR, ArgMax, GroupSum, Input, LogicGates, Thermometer

FORMAT, VERSION = "bespoke-gates", 1


@dataclass
class GateNetwork:
    """A discrete gate network with its input encoding (see the module docstring)."""

    bits: int
    scale: np.ndarray  # [features]
    offset: np.ndarray  # [features]
    thresholds: list[list[int]]  # per feature, ascending codes
    layers: list[tuple[np.ndarray, np.ndarray, np.ndarray]]  # per layer (a, b, op), global net ids
    classes: int
    tau: float = 1.0
    labels: list | None = None
    feature_names: list | None = None
    name: str = "gates"
    meta: dict = field(default_factory=dict)  # e.g. how it was trained

    @property
    def n_features(self) -> int:
        return len(self.thresholds)

    @property
    def n_bits(self) -> int:
        return sum(len(t) for t in self.thresholds)

    @property
    def n_gates(self) -> int:
        return sum(len(op) for _, _, op in self.layers)

    def bit_sources(self) -> tuple[np.ndarray, np.ndarray]:
        """(feature, threshold) of every input bit, in bit order."""
        feat = [i for i, ts in enumerate(self.thresholds) for _ in ts]
        thr = [t for ts in self.thresholds for t in ts]
        return np.array(feat, dtype=np.int64), np.array(thr, dtype=np.int64)

    def encode(self, x_real: np.ndarray) -> np.ndarray:
        """Real features -> input codes."""
        codes = np.rint((np.asarray(x_real, dtype=np.float64) - self.offset) / self.scale)
        return np.clip(codes, 0, (1 << self.bits) - 1).astype(np.int64)

    def input_bits(self, codes: np.ndarray) -> np.ndarray:
        feat, thr = self.bit_sources()
        return (np.asarray(codes)[:, feat] >= thr).astype(np.int64)

    def scores(self, codes: np.ndarray) -> np.ndarray:
        """Group sums [samples, classes], evaluating the file's gates as they are (no simplification)."""
        bits = self.input_bits(codes)
        order = topological_order(self)
        nets: list = [c for c in bits.T] + [None] * self.n_gates
        a, b, op = (np.concatenate([layer[k] for layer in self.layers]) for k in range(3))
        for g in order:
            nets[self.n_bits + g] = logic.apply(int(op[g]), nets[a[g]], nets[b[g]])
        last = self.n_bits + self.n_gates - len(self.layers[-1][2])
        out = np.stack([np.broadcast_to(nets[n], (len(bits),)) for n in range(last, self.n_bits + self.n_gates)], axis=1)
        return out.reshape(len(bits), self.classes, -1).sum(axis=2)

    def predict_codes(self, codes: np.ndarray) -> np.ndarray:
        """Class indices (argmax of the group sums, lowest index on ties)."""
        return np.argmax(self.scores(codes), axis=1)

    # -- the file
    def to_dict(self) -> dict:
        inputs = {"features": self.n_features, "bits": self.bits, "scale": [float(v) for v in self.scale],
                  "offset": [float(v) for v in self.offset], "thresholds": [[int(t) for t in ts] for ts in self.thresholds]}
        d = {"format": FORMAT, "version": VERSION, "name": self.name, "inputs": inputs,
             "layers": [{"a": a.tolist(), "b": b.tolist(), "op": op.tolist()} for a, b, op in self.layers],
             "head": {"classes": self.classes, "tau": float(self.tau)}}
        if self.labels is not None:
            d["labels"] = list(self.labels)
        if self.feature_names is not None:
            d["feature_names"] = list(self.feature_names)
        if self.meta:
            d["meta"] = self.meta
        return d

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), separators=(",", ":")) + "\n")
        return path


# --------------------------------------------------------------------------- reading and checking


def is_gates_file(path) -> bool:
    """Whether `path` names a gates.json (by its suffix: .json)."""
    return isinstance(path, (str, Path)) and Path(path).suffix.lower() == ".json"


def read_gates(path: str | Path) -> GateNetwork:
    """The checked network of a gates.json file; a BespokeError naming what is wrong otherwise."""
    path = Path(path)
    try:
        d = json.loads(path.read_text())
    except OSError as e:
        raise BespokeError(f"{path}: cannot read the gate network ({e.strerror or e})") from None
    except ValueError as e:
        raise BespokeError(f"{path}: not JSON ({e})") from None
    try:
        return from_dict(d, name=path.stem)
    except BespokeError as e:
        raise BespokeError(f"{path}: {e}") from None


def _ints(v, what: str) -> np.ndarray:
    if not isinstance(v, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        raise BespokeError(f"{what} must be a list of integers")
    return np.array(v, dtype=np.int64)


def _per_feature(v, n: int, what: str) -> np.ndarray:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        v = [v] * n
    if not isinstance(v, list) or len(v) != n or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
        raise BespokeError(f"inputs.{what} must be a number or a list of {n} numbers")
    return np.array(v, dtype=np.float64)


def from_dict(d, name: str = "gates") -> GateNetwork:
    """A GateNetwork from a parsed gates.json, checked (see check)."""
    if not isinstance(d, dict) or d.get("format") != FORMAT or d.get("version") != VERSION:
        raise BespokeError(f"not a gate network file (needs \"format\": \"{FORMAT}\", \"version\": {VERSION})")
    inp = d.get("inputs")
    if not isinstance(inp, dict):
        raise BespokeError("missing the \"inputs\" object")
    n = inp.get("features")
    if not isinstance(n, int) or n < 1:
        raise BespokeError("inputs.features must be a positive integer")
    bits = inp.get("bits")
    if not isinstance(bits, int) or not 1 <= bits <= 16:
        raise BespokeError("inputs.bits must be an integer 1..16")
    scale, offset = _per_feature(inp.get("scale", 1.0), n, "scale"), _per_feature(inp.get("offset", 0.0), n, "offset")
    if not np.all(scale > 0):
        raise BespokeError("inputs.scale must be positive")
    ths = inp.get("thresholds")
    if not isinstance(ths, list) or len(ths) != n:
        raise BespokeError(f"inputs.thresholds must be a list of {n} lists (one per feature)")
    thresholds = []
    for i, ts in enumerate(ths):
        t = _ints(ts, f"inputs.thresholds[{i}]")
        if np.any(np.diff(t) <= 0):
            raise BespokeError(f"inputs.thresholds[{i}] must be strictly ascending")
        thresholds.append(t.tolist())
    layers = d.get("layers")
    if not isinstance(layers, list) or not layers:
        raise BespokeError("\"layers\" must be a non-empty list")
    parsed = []
    for k, layer in enumerate(layers):
        if not isinstance(layer, dict):
            raise BespokeError(f"layer {k} must be an object with a, b, op")
        a, b, op = (_ints(layer.get(key), f"layer {k}: {key}") for key in ("a", "b", "op"))
        if not len(op) or len(a) != len(op) or len(b) != len(op):
            raise BespokeError(f"layer {k}: a, b and op must have the same non-zero length ({len(a)}, {len(b)}, {len(op)})")
        parsed.append((a, b, op))
    head = d.get("head")
    if not isinstance(head, dict) or not isinstance(head.get("classes"), int) or head["classes"] < 1:
        raise BespokeError("head.classes must be a positive integer")
    tau = head.get("tau", 1.0)
    if not isinstance(tau, (int, float)) or not tau > 0:
        raise BespokeError("head.tau must be a positive number")
    labels = d.get("labels")
    if labels is not None and (not isinstance(labels, list) or len(labels) != head["classes"]):
        raise BespokeError(f"labels must be a list of {head['classes']} class labels")
    names = d.get("feature_names")
    if names is not None and (not isinstance(names, list) or len(names) != n):
        raise BespokeError(f"feature_names must be a list of {n} names")
    net = GateNetwork(bits, scale, offset, thresholds, parsed, head["classes"], float(tau), labels, names,
                      str(d.get("name") or name), d.get("meta") or {})
    check(net)
    return net


def gate_name(net: GateNetwork, g: int) -> str:
    """'layer l gate j' of global gate number g."""
    for k, (_, _, op) in enumerate(net.layers):
        if g < len(op):
            return f"layer {k} gate {g}"
        g -= len(op)
    raise AssertionError(g)


def check(net: GateNetwork) -> None:
    """Op ids in 0..15, every index a net, the head's groups equal, no cycle (BespokeError)."""
    n_nets = net.n_bits + net.n_gates
    for k, (a, b, op) in enumerate(net.layers):
        for j in range(len(op)):
            if not 0 <= op[j] < logic.N_OPS:
                raise BespokeError(f"layer {k} gate {j}: op id {int(op[j])} is not one of the 16 two-input functions 0..15")
            for key, v in (("a", a), ("b", b)):
                if not 0 <= v[j] < n_nets:
                    raise BespokeError(f"layer {k} gate {j}: input {key} = {int(v[j])} is out of range (nets 0..{n_nets - 1}: "
                                       f"{net.n_bits} input bits, then {net.n_gates} gates)")
    last = len(net.layers[-1][2])
    if last % net.classes:
        raise BespokeError(f"head: the last layer's {last} gates do not split into {net.classes} equal groups")
    topological_order(net)


def topological_order(net: GateNetwork) -> list[int]:
    """The gates (global numbers) in an order where each comes after the gates it reads; file
    order where it allows. A cycle is a BespokeError that names it."""
    B = net.n_bits
    a, b = (np.concatenate([layer[k] for layer in net.layers]).tolist() for k in range(2))
    n = len(a)
    reads = [[s - B for s in (a[g], b[g]) if s >= B] for g in range(n)]
    if all(s < g for g in range(n) for s in reads[g]):
        return list(range(n))  # already in order (every layered, difflogic-style network)
    users: list[list[int]] = [[] for _ in range(n)]
    pending = [0] * n
    for g, srcs in enumerate(reads):
        for s in set(srcs):
            users[s].append(g)
            pending[g] += 1
    import heapq

    ready = [g for g in range(n) if not pending[g]]
    heapq.heapify(ready)
    order = []
    while ready:
        g = heapq.heappop(ready)
        order.append(g)
        for u in users[g]:
            pending[u] -= 1
            if not pending[u]:
                heapq.heappush(ready, u)
    if len(order) < n:
        left = {g for g in range(n) if pending[g]}
        g, path = min(left), []
        while g not in path:  # walk back along inputs that are themselves on or behind the cycle
            path.append(g)
            g = next(s for s in reads[g] if s in left)
        cycle = path[path.index(g):][::-1]  # in the direction values flow
        k = cycle.index(min(cycle))
        cycle = cycle[k:] + cycle[:k]
        raise BespokeError("the gates form a cycle (each feeds the next): "
                           + " -> ".join(gate_name(net, h) for h in cycle + cycle[:1]))
    return order


# --------------------------------------------------------------------------- simplification


@dataclass(frozen=True)
class Lit:
    """A net's value as a literal: source `src` (an input bit, or a simplified gate), inverted when
    `inv`; src None is the constant `inv`."""

    src: int | None
    inv: int


def _unary(f, lit: Lit) -> Lit:
    """The literal of g(v) = f(value of lit) for a one-variable function f."""
    g0, g1 = f(lit.inv), f(1 - lit.inv)  # f at source 0, at source 1
    if g0 == g1:
        return Lit(None, g0)
    return Lit(lit.src, g0)  # g(s) = s ^ g0


@dataclass
class Simplified:
    """The network after constant folding, merging and dead-gate removal."""

    bits: list[int]  # the input bits (indices into the file's bit order) the gates read, in order
    a: list[int]
    b: list[int]
    ops: list[int]
    outputs: list[int]  # per head input, a net (0..len(bits)-1 the bits, then the gates)
    counts: dict


def simplify(net: GateNetwork) -> Simplified:
    """Constant folding (constant input bits and gates, one-variable functions become wires or
    inversions absorbed by the gates reading them), merging of identical gates, dead-gate removal;
    the head's groups keep their nets (a constant or inverted one gets a gate of its own)."""
    B = net.n_bits
    top = (1 << net.bits) - 1
    lits: list[Lit] = [Lit(None, int(t <= 0)) if t <= 0 or t > top else Lit(i, 0)
                       for i, t in enumerate(net.bit_sources()[1].tolist())]
    lits += [None] * net.n_gates
    a, b, op = (np.concatenate([layer[k] for layer in net.layers]).tolist() for k in range(3))
    gates: dict[tuple, int] = {}  # (table over (s1, s2) with f(0,0) = 0, s1, s2) -> source id
    made: list[tuple] = []
    for g in topological_order(net):
        t = logic.table(op[g])
        f = lambda x, y: t[2 * x + y]
        la, lb = lits[a[g]], lits[b[g]]
        if la.src is None and lb.src is None:
            lit = Lit(None, f(la.inv, lb.inv))
        elif la.src is None:
            lit = _unary(lambda v: f(la.inv, v), lb)
        elif lb.src is None:
            lit = _unary(lambda v: f(v, lb.inv), la)
        elif la.src == lb.src:  # b's value is a's, inverted where exactly one of them is
            lit = _unary(lambda v: f(v, v ^ la.inv ^ lb.inv), la)
        else:
            (s1, i1), (s2, i2) = sorted(((la.src, la.inv), (lb.src, lb.inv)))
            swap = (s1, i1) != (la.src, la.inv)
            tt = [f(y ^ i2, x ^ i1) if swap else f(x ^ i1, y ^ i2) for x in (0, 1) for y in (0, 1)]
            dep_a, dep_b = logic.depends(logic.op_of(tt))
            if not dep_a or not dep_b:
                s = s2 if not dep_a else s1
                fix = (lambda v: tt[v]) if not dep_a else (lambda v: tt[2 * v])
                lit = _unary(fix, Lit(s, 0))
            else:
                inv = tt[0]
                key = (tuple(v ^ inv for v in tt), s1, s2)
                if key not in gates:
                    gates[key] = B + len(made)
                    made.append(key)
                lit = Lit(gates[key], inv)
        lits[B + g] = lit
    head = [lits[n] for n in range(B + net.n_gates - len(net.layers[-1][2]), B + net.n_gates)]
    # live sources, from the head back
    live = set()
    stack = [h.src for h in head if h.src is not None]
    while stack:
        s = stack.pop()
        if s in live:
            continue
        live.add(s)
        if s >= B:
            _, s1, s2 = made[s - B]
            stack += [s1, s2]
    bits = sorted(s for s in live if s < B) or [0]  # one bit at least: constant gates read a net
    net_of = {s: k for k, s in enumerate(bits)}
    A, Bn, O = [], [], []

    def emit(opid, x, y) -> int:
        A.append(x)
        Bn.append(y)
        O.append(opid)
        return len(bits) + len(O) - 1

    # a gate read only inverted (by the head: the gates absorb their inputs' inversions) is made
    # complemented (op 15 - op), so no inverter follows it
    read = {s for k, key in enumerate(made, start=B) if k in live for s in key[1:]} | {h.src for h in head if h.src is not None and not h.inv}
    complemented = {h.src for h in head if h.inv and h.src is not None and h.src >= B and h.src not in read}
    for s, key in enumerate(made, start=B):
        if s in live:
            t, s1, s2 = key
            op_id = logic.op_of(t)
            net_of[s] = emit(15 - op_id if s in complemented else op_id, net_of[s1], net_of[s2])
    n_two = len(O)
    extra: dict[Lit, int] = {}
    outputs = []
    for h in head:
        if h.src is not None and (not h.inv or h.src in complemented):
            outputs.append(net_of[h.src])
            continue
        if h not in extra:  # constants read bit 0 (ignored); an inversion is ~a of a = b = the source
            extra[h] = emit(15 if h.inv else 0, 0, 0) if h.src is None else emit(12, net_of[h.src], net_of[h.src])
        outputs.append(extra[h])
    counts = {"file_gates": net.n_gates, "gates": n_two, "inverters": sum(1 for h in extra if h.src is not None),
              "constants": sum(1 for h in extra if h.src is None), "input_bits": len(bits) if live & set(range(B)) else 0}
    return Simplified(bits, A, Bn, O, outputs, counts)


# --------------------------------------------------------------------------- layer IR


def to_irs(net: GateNetwork, name: str | None = None) -> tuple[IR, IR]:
    """(float IR, integer IR with proven ranges) of the simplified network."""
    simple = simplify(net)
    feat, thr = net.bit_sources()
    feat, thr = feat[simple.bits], thr[simple.bits]
    gates = LogicGates(np.array(simple.a, dtype=np.int64), np.array(simple.b, dtype=np.int64),
                       np.array(simple.ops, dtype=np.int64), np.array(simple.outputs, dtype=np.int64))
    irs = []
    for real in (True, False):
        ir = IR(name or net.name)
        x = ir.add("x", Input(size=net.n_features, lo=0, hi=(1 << net.bits) - 1))
        t = net.offset[feat] + net.scale[feat] * (thr - 0.5) if real else thr  # the code boundary, in real units
        th = ir.add("thermometer", Thermometer(feat, t), [x])
        g = ir.add("gates", gates, [th])
        s = ir.add("group_sum", GroupSum(classes=net.classes), [g])
        ir.add("argmax", ArgMax(), [s])
        ir.meta.update({"source": "gates", "gates": simple.counts, "input_bits": net.bits})
        if net.labels is not None:
            ir.meta["labels"] = list(net.labels)
        if net.feature_names is not None:
            ir.meta["feature_names"] = list(net.feature_names)
        if not real:
            ir.out(x).scale, ir.out(x).offset = np.asarray(net.scale, float), np.asarray(net.offset, float)
            for n in ir.order():
                lo, hi = ir.layer(n).infer_range(*[(ir.out(i).lo, ir.out(i).hi) for i in ir.inputs_of(n)])
                ir.out(n).lo, ir.out(n).hi = np.asarray(lo, dtype=np.int64), np.asarray(hi, dtype=np.int64)
        ir.verify()
        irs.append(ir)
    return irs[0], irs[1]
