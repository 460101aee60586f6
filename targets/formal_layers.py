"""Formal equivalence by layers, for designs too big for one SAT miter.

The claim proven is the one of targets.formal: for every input in the IR's code range, the
emitted Verilog computes the reference of its integer IR. It is split in two:

A. the emitted Verilog equals its netlist (hdl.unrolled.plan_unrolled of the same IR) rendered
   with the netlist's own semantics (targets.netlist_semantics_verilog): Yosys + ABC, which is
   easy for SAT sweeping because the two share their structure cell for cell;
B. the netlist equals the layer IR, layer by layer (each layer's input nets assumed to hold the
   previous IR tensor, inside its proven range; this is then proven of the layer's outputs):
   - affine layers (Dense, XnorPopcount): every net gets an exact affine form over the layer's
     inputs (add, sub, shifts, inverters; a full adder's sum is a + b + c - 2 carry, the carry
     a fresh atom, so carries cancel in a popcount's weighted output bits); each output's form
     must be the IR's row, and every net's interval must lie in its declared range (so no net
     wraps around in its Verilog width);
   - an output that depends on few inputs (Requant, Relu, Threshold: one each) is enumerated
     over every value of those inputs, every net of its cone checked against its range;
   - a threshold fused into a popcount: the output's cone is enumerated over the bits of the
     last carry-propagate rows, whose weighted sum is shown (by the forms) to be the IR's count
     plus a constant;
   - otherwise (ArgMax): the layer's cells, rendered as in A, against the layer's reference
     (targets.reference_verilog) in a miter with the input ranges assumed, by SAT.
A pipelined design is proven with its registers transparent: each register sits between a
layer's output and the next layer's input (checked), so y(t) = reference(x(t - latency)).
"""

from __future__ import annotations

import itertools
import tempfile
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from bespoke.compiler.errors import BespokeError
from bespoke.compiler.ir import IR, ArgMax, Dense, Input, Relu, Requant, Threshold, XnorPopcount
from bespoke.hdl.netlist import KINDS, Netlist
from bespoke.hdl.stages import fused_accumulator
from bespoke.hdl.unrolled import plan_unrolled
from bespoke.targets.netlist_semantics_verilog import RENDERED, cell_lines, declare, netlist_module, view

ENUMERATE_MAX = 1 << 22  # input combinations enumerated per output
ELEMENTWISE = (Relu, Requant, Threshold)  # output j reads input j only
AFFINE = (Dense, XnorPopcount)
COVERED = (Input, Dense, XnorPopcount, Relu, Requant, Threshold, ArgMax)  # input-bit masks excepted  # the layer is an affine map of its input (no mask: see `_affine_layer`)
SEMANTICS = "bespoke_netlist_semantics"


class Unproven(Exception):
    """The layered proof cannot decide this design (the caller falls back or says UNDECIDED)."""


class Disproven(Exception):
    """A layer of the netlist computes something else than its IR layer."""


@dataclass
class LayerProof:
    node: str
    method: str


def _affine_layer(layer) -> bool:
    return isinstance(layer, AFFINE) and getattr(layer, "mask", None) is None


# ------------------------------------------------------------------ forms


def _add(a: dict, b: dict, k: int = 1) -> dict:
    out = dict(a)
    for key, v in b.items():
        s = out.get(key, 0) + k * v
        if s:
            out[key] = s
        else:
            out.pop(key, None)
    return out


def _scale(a: dict, k: int) -> dict:
    return {key: v * k for key, v in a.items()} if k else {}


def _interval(form: dict, lo: list[int], hi: list[int]) -> tuple[int, int]:
    """Exact bounds of an x-only form (keys: element index, None: the constant) over the box."""
    a = b = form.get(None, 0)
    for j, c in form.items():
        if j is None:
            continue
        a += c * (lo[j] if c > 0 else hi[j])
        b += c * (hi[j] if c > 0 else lo[j])
    return a, b


def _x_only(form: dict) -> bool:
    return all(k is None or k >= 0 for k in form)


class _Layer:
    """One layer's cells with forms: keys >= 0 are input elements, -1 - net a nonlinear net, None 1."""

    def __init__(self, nl: Netlist, cells: list, elements: dict[int, int], lo: list[int], hi: list[int]):
        self.nl, self.cells, self.elements, self.lo, self.hi = nl, cells, elements, lo, hi
        self.driver: dict[int, object] = {}
        self.forms: dict[int, dict] = {}
        self.virtual: dict[int, dict] = {}  # id(adder cell) -> the form of its sum bit, wired or not
        for n, j in elements.items():
            self.forms[n] = {j: 1}
        for c in cells:
            for i in c.ins:
                if i not in self.forms:
                    raise Unproven(f"a cell of {c.group!r} reads net {i}, which is neither its layer's input nor its own")
            for o in c.outs:
                if o is not None:
                    self.driver[o] = c
            self._form(c)

    def _atom(self, net: int) -> None:
        self.forms[net] = {-1 - net: 1}

    def _form(self, c) -> None:
        f, k, p = self.forms, c.kind, c.params
        ins = c.ins
        o = c.outs[0]
        if k == "const":
            f[o] = {None: p["value"]} if p["value"] else {}
        elif k == "reg":
            f[o] = f[ins[0]]
        elif k in ("add", "sub"):
            f[o] = _add(_scale(f[ins[0]], 1 << p["sa"]), _scale(f[ins[1]], 1 << p["sb"]), 1 if k == "add" else -1)
        elif k == "shl":
            f[o] = _scale(f[ins[0]], 1 << p["k"])
        elif k == "unsign":
            f[o] = _add(f[ins[0]], {None: 1 << (p["width"] - 1)})
        elif k == "not":
            f[o] = _add({None: 1}, f[ins[0]], -1)
        elif k == "concat":
            form: dict = {}
            for b, i in enumerate(ins):
                form = _add(form, _scale(f[i], 1 << b))
            f[o] = form
        elif k in ("ha", "fa") and c.outs[1] is not None:
            s, carry = c.outs
            total: dict = {}
            for i in ins:
                total = _add(total, f[i])
            self._atom(carry)
            self.virtual[id(c)] = _add(total, {-1 - carry: 2}, -1)  # the sum bit, wired or not
            if s is not None:
                f[s] = self.virtual[id(c)]
        else:  # a nonlinear cell (and a sum bit whose carry is not wired): its outputs are atoms
            for out in c.outs:
                if out is not None:
                    self._atom(out)

    def cone(self, net: int) -> list:
        """The cells computing `net`, in netlist order."""
        seen, stack = set(), [net]
        while stack:
            n = stack.pop()
            c = self.driver.get(n)
            if c is None or id(c) in seen:
                continue
            seen.add(id(c))
            stack.extend(c.ins)
        return [c for c in self.cells if id(c) in seen]

    def deps(self, net: int) -> set[int]:
        """The input elements `net` depends on."""
        out = set()
        for c in self.cone(net):
            out.update(self.elements[i] for i in c.ins if i in self.elements)
        if net in self.elements:
            out.add(self.elements[net])
        return out

    def evaluate(self, cells: list, values: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
        """Cells evaluated on batched values (unbounded semantics, int64: the ranges here are
        small), every driven value checked against its net's declared range."""
        nl = self.nl
        for c in cells:
            outs = KINDS[c.kind].fn(c.params, *[values[i] for i in c.ins]) if c.kind != "reg" else (values[c.ins[0]],)
            for o, v in zip(c.outs, outs):
                if o is None:
                    continue
                v = np.broadcast_to(np.asarray(v, dtype=np.int64), next(iter(values.values())).shape)
                if v.min() < nl.lo[o] or v.max() > nl.hi[o]:
                    raise Disproven(f"net {o} ({c.kind}, {c.group!r}) leaves its range [{nl.lo[o]}, {nl.hi[o]}]")
                values[o] = v
        return values


def _ir_eval(ir: IR, node: str, x: np.ndarray) -> np.ndarray:
    """The IR's function of node (with its fused accumulator) on a batch of its layer's inputs."""
    acc = fused_accumulator(ir, node)
    if acc is not None:
        x = ir.layer(acc).evaluate(x)
    return ir.layer(node).evaluate(x)


# ------------------------------------------------------------------ methods


def _prove_affine(ly: _Layer, ir: IR, node: str, outs: list[int], m: int) -> tuple[list[int], list[int]]:
    cols = _columns(ir.layer(node), m)
    lo, hi = [], []
    for j, o in enumerate(outs):
        form = ly.forms[o]
        if not _x_only(form):
            raise Unproven(f"output {j} of {node!r} is not an affine function of its inputs")
        want = _row_form(cols, j, m, ly)
        if form != want:
            diff = next(i for i in set(form) | set(want) if form.get(i, 0) != want.get(i, 0))
            raise Disproven(f"output {j} of {node!r}: coefficient of {'the constant' if diff is None else f'input {diff}'} "
                            f"is {form.get(diff, 0)}, the IR's {want.get(diff, 0)}")
        a, z = _interval(form, ly.lo, ly.hi)
        lo.append(a)
        hi.append(z)
    _check_intervals(ly)
    return lo, hi


def _check_intervals(ly: _Layer) -> None:
    """Every net stays in its declared range, so none wraps around in its Verilog width: from
    its form's interval (carries of adders, which are bits, in [0, 1]), or as a bit cell's bit."""
    nl = ly.nl
    carries = {-1 - c.outs[1] for c in ly.cells if c.kind in ("ha", "fa") and c.outs[1] is not None}
    lo = dict(enumerate(ly.lo)) | {k: 0 for k in carries}
    hi = dict(enumerate(ly.hi)) | {k: 1 for k in carries}
    for c in ly.cells:
        for o in c.outs:
            if o is None or o in ly.elements:
                continue
            form = ly.forms.get(o, {})
            if KINDS[c.kind].bit_inputs and c.kind != "concat" or c.kind == "cmp":
                continue  # a bit by the cell's own semantics
            if any(k is not None and k < 0 and k not in carries for k in form):
                raise Unproven(f"net {o} ({c.kind}) of {c.group!r} is not an affine function of its layer's inputs")
            a, z = _interval(form, lo, hi)
            if a < nl.lo[o] or z > nl.hi[o]:
                raise Disproven(f"net {o} ({c.kind}, {c.group!r}) reaches [{a}, {z}] outside its range "
                                f"[{nl.lo[o]}, {nl.hi[o]}]")


def _prove_enumerated(ly: _Layer, ir: IR, node: str, j: int, o: int, m: int, elementwise: bool) -> list[int]:
    """Output j (net o) on every combination of the inputs it and the IR read; its values."""
    deps = sorted(ly.deps(o) | ({j} if elementwise else set(range(m))))
    count = 1
    for i in deps:
        count *= ly.hi[i] - ly.lo[i] + 1
    if count > ENUMERATE_MAX:
        raise Unproven(f"output {j} of {node!r} reads {len(deps)} inputs ({count:,} combinations)")
    grids = np.meshgrid(*[np.arange(ly.lo[i], ly.hi[i] + 1, dtype=np.int64) for i in deps], indexing="ij")
    x = np.tile(np.array(ly.lo, dtype=np.int64), (count, 1))
    for i, g in zip(deps, grids):
        x[:, i] = g.ravel()
    values = {n: x[:, e] for n, e in ly.elements.items()}
    got = ly.evaluate(ly.cone(o), values)[o] if o not in ly.elements else x[:, ly.elements[o]]
    want = _ir_eval(ir, node, x)[:, j]
    bad = np.flatnonzero(got != want)
    if len(bad):
        k = int(bad[0])
        raise Disproven(f"output {j} of {node!r}: inputs {x[k].tolist()} give {int(got[k])}, the IR {int(want[k])}")
    return [int(got.min()), int(got.max())]


def _final_bits(ly: _Layer, o: int) -> list[dict]:
    """The forms of `o` and of the sum bits of o's cone that no cell reads (the columns a
    popcount leaves below its result; a sum output left unconnected is still the bit
    a + b + c - 2 carry, so it counts too)."""
    cone = ly.cone(o)
    read = {i for c in cone for i in c.ins}
    forms = [ly.forms[o]]
    for c in cone:
        if c.kind in ("ha", "fa"):
            s = c.outs[0]
            if s is None:
                forms.append(ly.virtual[id(c)])
            elif s not in read and s != o:
                forms.append(ly.forms[s])
        elif c.kind not in ("not", "const"):
            raise Unproven(f"a fused popcount with a {c.kind} cell")
    return forms


def _combination(forms: list[dict]) -> list[Fraction] | None:
    """Weights w with sum w_k forms_k free of nonlinear atoms, if that is the only such
    combination (up to scale): a one-dimensional null space, by exact elimination."""
    atoms = sorted({a for f in forms for a in f if a is not None and a < 0})
    rows = [[Fraction(f.get(a, 0)) for f in forms] for a in atoms]
    cols, pivots, r = len(forms), [], 0
    for col in range(cols):
        piv = next((i for i in range(r, len(rows)) if rows[i][col]), None)
        if piv is None:
            continue
        rows[r], rows[piv] = rows[piv], rows[r]
        rows[r] = [v / rows[r][col] for v in rows[r]]
        for i in range(len(rows)):
            if i != r and rows[i][col]:
                rows[i] = [a - rows[i][col] * b for a, b in zip(rows[i], rows[r])]
        pivots.append(col)
        r += 1
    free = [c for c in range(cols) if c not in pivots]
    if len(free) != 1:
        return None
    w = [Fraction(0)] * cols
    w[free[0]] = Fraction(1)
    for i, col in enumerate(pivots):
        w[col] = -rows[i][free[0]]
    return w


def _columns(layer, m: int) -> np.ndarray:
    """An affine IR layer on 0 and on each unit vector: row 0 its constant, row 1 + i input i's column + it."""
    return layer.evaluate(np.vstack([np.zeros((1, m), dtype=np.int64), np.eye(m, dtype=np.int64)]))


def _row_form(cols: np.ndarray, j: int, m: int, ly: _Layer) -> dict:
    """Output j of an affine IR layer (its `_columns`) as a form over its m inputs; an element of
    one value (a constant in the netlist, which has no net for it) is folded into the constant."""
    form = {None: int(cols[0, j])}
    for i in range(m):
        w = int(cols[1 + i, j] - cols[0, j])
        if ly.lo[i] == ly.hi[i]:
            form[None] += w * ly.lo[i]
        elif w:
            form[i] = w
    return {k: v for k, v in form.items() if v}


def _prove_fused(ly: _Layer, ir: IR, node: str, j: int, o: int, m: int, acc_cols: np.ndarray) -> list[int]:
    """A threshold fused into a popcount: the result bit and the popcount's last sum bits have a
    weighted sum equal (by their forms) to the IR's count plus a constant; every assignment of
    those bits that keeps the identity gives the result bit the IR's threshold gives the count
    (`acc_cols`: the fused accumulator's `_columns`)."""
    form = _row_form(acc_cols, j, m, ly)
    if not ly.deps(o):  # a constant result (a threshold the count's range decides): every count gives it
        const = next(iter(ly.evaluate(ly.cone(o), {-1: np.zeros(1, dtype=np.int64)})[o].tolist()), None) \
            if o not in ly.elements else None
        lo, hi = _interval(form, ly.lo, ly.hi)
        x = np.zeros((hi - lo + 1, ir.out(node).size), dtype=np.int64)
        x[:, j] = np.arange(lo, hi + 1)
        if const is None or np.any(ir.layer(node).evaluate(x)[:, j] != const):
            raise Disproven(f"output {j} of {node!r} is the constant {const}; the IR's is not, over counts [{lo}, {hi}]")
        return [const, const]
    forms = _final_bits(ly, o)
    if len(forms) > 22:
        raise Unproven(f"output {j} of {node!r}: {len(forms)} final bits")
    w = _combination(forms)
    if w is None:
        raise Unproven(f"output {j} of {node!r}: no single weighted sum of its final bits is affine")
    total: dict = {}
    for f, k in zip(forms, w):
        total = _add(total, f, k)
    b, row = form.get(None, 0), [form.get(i, 0) for i in range(m)]
    scale = next((total.get(i, 0) / row[i] for i in range(m) if row[i]), None)
    if not scale or any(total.get(i, 0) != scale * row[i] for i in range(m)):
        raise Disproven(f"output {j} of {node!r}: its frontier bits do not sum to the IR's count")
    offset = total.get(None, 0) - scale * b  # sum w_k bit_k = scale * count + offset
    bits = np.array(list(itertools.product((0, 1), repeat=len(forms))), dtype=np.int64)
    count = (bits @ np.array([float(v) for v in w]) - float(offset)) / float(scale)
    ok = np.isclose(count, np.round(count))  # other bit patterns never occur
    count = np.round(count).astype(np.int64)
    lo, hi = _interval(form, ly.lo, ly.hi)
    ok &= (count >= lo) & (count <= hi)
    got = bits[ok, 0]
    x = np.zeros((int(ok.sum()), ir.out(node).size), dtype=np.int64)
    x[:, j] = count[ok]
    want = ir.layer(node).evaluate(x)[:, j]
    bad = np.flatnonzero(got != want)
    if len(bad):
        raise Disproven(f"output {j} of {node!r}: at count {int(count[ok][bad[0]])} it gives {int(got[bad[0]])}, the IR "
                        f"{int(want[bad[0]])}")
    return [int(got.min()), int(got.max())]


def _prove_by_sat(ly: _Layer, ir: IR, node: str, outs: list[int], timeout: float) -> str:
    """The layer's cells against its reference, its inputs in their ranges, by Yosys + ABC."""
    from bespoke.targets import yosys
    from bespoke.targets.aig import RANDOM_WORDS, Aig, _iprove
    from bespoke.targets.reference_verilog import const, layer_reference

    nl = ly.nl
    if not all(c.kind in RENDERED for c in ly.cells):
        raise Unproven(f"layer {node!r} has cells the semantic rendering does not cover")
    ins = [n for n in ly.elements if any(n in c.ins for c in ly.cells)]
    lines = ["module bespoke_layer_miter(" + ", ".join(f"n{n}" for n in ins) + ", trigger);", "  output trigger;"]
    lines += [declare(nl, n, "input") for n in ins]
    lines += [declare(nl, o, "wire") for c in ly.cells for o in c.outs if o is not None]
    for c in ly.cells:
        lines += cell_lines(nl, c)
    by_element = {ly.elements[n]: n for n in ins}
    if sorted(by_element) != list(range(len(ly.lo))):
        raise Unproven(f"layer {node!r} does not read every element of its input as a net")
    src = [by_element[e] for e in range(len(ly.lo))]
    ref_lines, ref_out = layer_reference(ir.layer(node), [view(nl, n) for n in src], [nl.type_of(n)[0] + 1 for n in src],
                                         max(max(abs(a), abs(b)) for a, b in zip(ly.lo, ly.hi)))
    lines += ref_lines
    ok = " && ".join(f"({view(nl, n)} >= {const(ly.lo[e], 64)}) && ({view(nl, n)} <= {const(ly.hi[e], 64)})"
                     for e, n in by_element.items())
    differ = " || ".join(f"({view(nl, o)} != {r})" for o, r in zip(outs, ref_out))
    lines += [f"  assign trigger = ({ok or '1'}) && ({differ});", "endmodule", ""]
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bespoke-layer-") as tmp:
        work = Path(tmp)
        (work / "layer.v").write_text("\n".join(lines))
        yosys.run([f"read_verilog -sv {yosys.quote(work / 'layer.v')}", "hierarchy -top bespoke_layer_miter", "proc",
                   "flatten", "opt_clean", "techmap", "opt -fast", "aigmap", "write_aiger -ascii -map miter.map miter.aag"],
                  work, timeout=timeout)
        aig = Aig.read(work / "miter.aag")
        if aig.constant_output() == 0:
            return "SAT: the miter is the constant 0"
        if aig.find(np.random.default_rng(0).integers(0, 2**63, size=(aig.n_inputs, RANDOM_WORDS), dtype=np.uint64)):
            raise Disproven(f"layer {node!r} differs from its reference (random simulation)")
        verdict, last, _ = _iprove(work, aig, max(1.0, timeout - (time.perf_counter() - t0)))
    if verdict != "proven":
        raise (Disproven if verdict == "counterexample" else Unproven)(f"layer {node!r} by SAT: {last}")
    return f"SAT sweeping of a {aig.n_inputs}-input miter"


# ------------------------------------------------------------------ the proof


def prove_netlist(nl: Netlist, ir: IR, timeout: float = 120) -> list[LayerProof]:
    """B: the netlist equals the IR layer by layer (raises Unproven or Disproven)."""
    layers = nl.meta["layers"]
    inp = ir.input_node()
    info = ir.out(inp)
    tensors = {inp: (list(nl.inputs["x"]), info.lo.tolist(), info.hi.tolist())}
    regs = {c.ins[0]: c.outs[0] for c in nl.cells if c.kind == "reg" and c.group}
    const_cells = {c.outs[0]: c for c in nl.cells if c.kind == "const"}
    by_group: dict[str, list] = {}
    for c in nl.cells:
        if c.group:
            by_group.setdefault(c.group, []).append(c)
    proofs = []
    for node, meta in layers.items():
        src_nets, lo, hi = tensors[meta["src"]]
        (want_src,) = ir.inputs_of(fused_accumulator(ir, node) or node)
        if want_src != meta["src"]:
            raise Unproven(f"layer {node!r} reads {meta['src']!r}, the IR says {want_src!r}")
        elements = {}
        for e, n in enumerate(src_nets):
            for net in (n, regs.get(n)):
                if net is not None:
                    elements[net] = e
        cells = [c for c in by_group.get(node, []) if c.kind != "reg"]
        # constant inputs (an element of one value): their const cells join the layer
        read = {i for c in cells for i in c.ins} - {o for c in cells for o in c.outs}
        consts = {n: const_cells[n] for n in read if n in const_cells and n not in elements}
        cells = list(consts.values()) + cells
        ly = _Layer(nl, cells, elements, lo, hi)
        layer, m = ir.layer(node), len(src_nets)
        outs = meta["out"]
        out_lo, out_hi = [], []
        fused = fused_accumulator(ir, node) is not None
        acc_cols = None
        if _affine_layer(layer):
            out_lo, out_hi = _prove_affine(ly, ir, node, outs, m)
            method = "affine forms"
        else:
            try:
                methods = set()
                for j, o in enumerate(outs):
                    try:
                        r = _prove_enumerated(ly, ir, node, j, o, m, isinstance(layer, ELEMENTWISE) and not fused)
                        methods.add("enumeration")
                    except Unproven:
                        if not fused:
                            raise
                        if acc_cols is None:
                            acc_cols = _columns(ir.layer(fused_accumulator(ir, node)), m)
                        r = _prove_fused(ly, ir, node, j, o, m, acc_cols)
                        methods.add("popcount carry forms + enumeration of the last rows")
                    out_lo.append(r[0])
                    out_hi.append(r[1])
                method = ", ".join(sorted(methods))
                if fused:
                    _check_fused_cells(ly, outs)
            except Unproven:
                if fused or isinstance(layer, ELEMENTWISE):
                    raise
                method = _prove_by_sat(ly, ir, node, outs, timeout)
                out_lo, out_hi = ir.out(node).lo.tolist(), ir.out(node).hi.tolist()
        ir_lo, ir_hi = ir.out(node).lo.tolist(), ir.out(node).hi.tolist()
        if any(a < b or z > y for a, z, b, y in zip(out_lo, out_hi, ir_lo, ir_hi)):
            raise Disproven(f"layer {node!r}: its outputs leave the IR's proven range")
        tensors[node] = ([regs.get(o, o) if meta["registered"] else o for o in outs], ir_lo, ir_hi)
        proofs.append(LayerProof(node, method))
    y = nl.outputs["y"]
    out_nets = tensors[ir.output_node()][0]
    if list(y) != list(out_nets):
        raise Unproven("the netlist's y port is not the output layer's tensor")
    return proofs


def _check_fused_cells(ly: _Layer, outs: list[int]) -> None:
    """Every net of a fused popcount-threshold is a bit (its cells are bit cells)."""
    for c in ly.cells:
        if not (KINDS[c.kind].bit_inputs or c.kind in ("const", "cmp")):
            raise Unproven(f"fused layer {c.group!r} has a {c.kind} cell")


def prove_verilog(verilog: str, nl: Netlist, layout: dict, timeout: float):
    """A: the emitted Verilog equals the netlist's semantic rendering (targets.equiv)."""
    from bespoke.targets.equiv import prove_equivalent

    if not all(c.kind in RENDERED for c in nl.cells):
        raise Unproven("the netlist has cells the semantic rendering does not cover")
    with tempfile.TemporaryDirectory(prefix="bespoke-semantics-") as tmp:
        work = Path(tmp)
        (work / "design.v").write_text(verilog)
        (work / "semantics.v").write_text(netlist_module(nl, layout, SEMANTICS))
        return prove_equivalent([work / "semantics.v"], SEMANTICS, [work / "design.v"], layout["top"], timeout=timeout)


def plan_of(ir: IR, layout: dict) -> Netlist:
    """The netlist of the build, re-planned from its IR; Unproven for layers B does not cover."""
    for n in ir.order():
        layer = ir.layer(n)
        if not isinstance(layer, COVERED) or getattr(layer, "mask", None) is not None:
            raise Unproven(f"layer {n!r} ({layer.describe()}) is not covered by the layered proof")
    return plan_unrolled(ir, registers=bool(layout.get("pipelined")))


def prove_by_layers(verilog: str, ir: IR, layout: dict, timeout: float) -> tuple[str, str] | str:
    """(method, what is proven) when A and B both hold, else the reason they could not be shown."""
    try:
        nl = plan_of(ir, layout)
        latency = sum(bool(m["registered"]) for m in nl.meta["layers"].values())
        if layout.get("pipelined") and latency != int(layout.get("latency") or 0):
            return f"the netlist has {latency} register stages, the design claims latency {layout.get('latency')}"
        t0 = time.perf_counter()
        proofs = prove_netlist(nl, ir, timeout)  # B first: mostly Python, and it needs no Yosys run on the whole design
        a = prove_verilog(verilog, nl, layout, max(1.0, timeout - (time.perf_counter() - t0)))
        if not a.proven:
            return f"the Verilog is not shown equal to its netlist ({a.verdict}: {a.detail})"
    except (Unproven, Disproven, BespokeError) as e:
        return str(e)
    timing = "for every input"
    if layout.get("pipelined"):
        timing = (f"for every input sequence, at every cycle t >= {latency}: y(t) equals the reference of x(t - {latency}) "
                  f"(each of the {latency} registers sits between two layers, checked; out_valid is not part of the proof)")
    steps = "; ".join(f"{p.node}: {p.method}" for p in proofs)
    return ("layers (the Verilog = its netlist by SAT sweeping; the netlist = the IR layer by layer)",
            f"equal {timing} (layers: {steps})")
