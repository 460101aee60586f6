"""Read the project's Liberty files into a cell model in SI units, and derive an ABC genlib.

The reader understands the Liberty subset that targets/libgen.py writes (groups, simple and
complex attributes, scalar tables). It is the only way the analysis learns cell figures, so the
committed .lib files are the single source of truth for synthesis and for our estimates.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

LIB_DIR = Path(__file__).parent / "libs"

_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9, "ps": 1e-12, "fs": 1e-15,
          "w": 1.0, "mw": 1e-3, "uw": 1e-6, "nw": 1e-9, "pw": 1e-12,
          "f": 1.0, "pf": 1e-12, "ff": 1e-15, "v": 1.0, "mv": 1e-3}


# --------------------------------------------------------------------------- generic parser


@dataclass
class Group:
    kind: str
    args: list[str]
    attrs: dict[str, str] = field(default_factory=dict)
    complex: dict[str, list[str]] = field(default_factory=dict)
    groups: list[Group] = field(default_factory=list)

    def all(self, kind: str) -> list[Group]:
        return [g for g in self.groups if g.kind == kind]

    def first(self, kind: str) -> Group | None:
        found = self.all(kind)
        return found[0] if found else None


_TOKEN = re.compile(r'\s+|/\*.*?\*/|//[^\n]*|\\\n|"((?:[^"\\]|\\.)*)"|([{}();:,])|([^\s{}();:,"]+)', re.DOTALL)


def _tokens(text: str):
    for m in _TOKEN.finditer(text):
        if m.group(1) is not None:
            yield ("str", m.group(1))
        elif m.group(2):
            yield ("sym", m.group(2))
        elif m.group(3):
            yield ("word", m.group(3))


def parse(text: str) -> Group:
    """Parse Liberty text into nested Groups (the top one is the library)."""
    toks = list(_tokens(text))
    pos = 0

    def value() -> str:
        nonlocal pos
        parts = []
        while toks[pos] != ("sym", ";") and toks[pos] != ("sym", "}"):
            parts.append(toks[pos][1])
            pos += 1
        if toks[pos] == ("sym", ";"):
            pos += 1
        return " ".join(parts)

    def body(group: Group) -> None:
        nonlocal pos
        while toks[pos] != ("sym", "}"):
            name = toks[pos][1]
            pos += 1
            if toks[pos] == ("sym", ":"):
                pos += 1
                group.attrs[name] = value()
            elif toks[pos] == ("sym", "("):
                pos += 1
                args = []
                while toks[pos] != ("sym", ")"):
                    if toks[pos] != ("sym", ","):
                        args.append(toks[pos][1])
                    pos += 1
                pos += 1
                if pos < len(toks) and toks[pos] == ("sym", "{"):
                    pos += 1
                    sub = Group(name, args)
                    body(sub)
                    pos += 1  # "}"
                    group.groups.append(sub)
                else:
                    if pos < len(toks) and toks[pos] == ("sym", ";"):
                        pos += 1
                    group.complex[name] = args
            else:
                raise ValueError(f"Liberty syntax: unexpected {toks[pos]!r} after {name!r}")

    root = Group("root", [])
    toks.append(("sym", "}"))
    body(root)
    return root.groups[0]


# --------------------------------------------------------------------------- boolean functions


class _Expr:
    """A Liberty boolean expression parsed to a small AST of tuples.

    Precedence (Liberty): ! and ' (postfix) bind tightest, then ^, then & * or juxtaposition,
    then | +. Nodes: ("var", name), ("const", 0|1), ("not", e), ("and"|"or"|"xor", [e, ...]).
    """

    _TOK = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*|[01]|[!'^&*|+()])")

    def __init__(self, text: str):
        self.toks = self._TOK.findall(text)
        if "".join(self.toks) != re.sub(r"\s+", "", text):
            raise ValueError(f"cannot parse Liberty function {text!r}")
        self.pos = 0
        self.names: list[str] = []
        self.ast = self._binary(("|", "+"), "or")
        if self.pos != len(self.toks):
            raise ValueError(f"trailing tokens in Liberty function {text!r}")

    def _peek(self):
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def _binary(self, ops, kind):
        sub = {"or": lambda: self._binary(("&", "*"), "and"), "and": lambda: self._binary(("^",), "xor"),
               "xor": self._unary}[kind]
        terms = [sub()]
        while True:
            t = self._peek()
            if t in ops:
                self.pos += 1
            elif not (kind == "and" and t is not None and t not in ("|", "+", ")", "^")):
                break  # juxtaposition means AND
            terms.append(sub())
        return terms[0] if len(terms) == 1 else (kind, terms)

    def _unary(self):
        t = self._peek()
        self.pos += 1
        if t == "!":
            e = ("not", self._unary())
        elif t == "(":
            e = self._binary(("|", "+"), "or")
            if self._peek() != ")":
                raise ValueError("unbalanced parentheses in Liberty function")
            self.pos += 1
        elif t in ("0", "1"):
            e = ("const", int(t))
        elif t is not None and re.match(r"[A-Za-z_]", t):
            if t not in self.names:
                self.names.append(t)
            e = ("var", t)
        else:
            raise ValueError(f"unexpected {t!r} in Liberty function")
        while self._peek() == "'":
            self.pos += 1
            e = ("not", e)
        return e

    def numpy(self, e=None) -> str:
        e = self.ast if e is None else e
        k = e[0]
        if k == "var":
            return e[1]
        if k == "const":
            return "np.True_" if e[1] else "np.False_"
        if k == "not":
            return f"(~{self.numpy(e[1])})"
        op = {"and": " & ", "or": " | ", "xor": " ^ "}[k]
        return "(" + op.join(self.numpy(t) for t in e[1]) + ")"

    def genlib(self, e=None) -> str:
        e = self.ast if e is None else e
        k = e[0]
        if k == "var":
            return e[1]
        if k == "const":
            return f"CONST{e[1]}"
        if k == "not":
            return f"!{self.genlib(e[1])}" if e[1][0] in ("var", "const") else f"!({self.genlib(e[1])})"
        if k == "xor":  # genlib has no XOR: a ^ b = a*!b + !a*b, folded left
            acc = e[1][0]
            for t in e[1][1:]:
                acc = ("or", [("and", [acc, ("not", t)]), ("and", [("not", acc), t])])
            return self.genlib(acc)
        op = "*" if k == "and" else "+"
        return "(" + op.join(self.genlib(t) for t in e[1]) + ")"


def compile_function(text: str, pins: list[str]):
    """A callable f(*arrays in `pins` order) evaluating the Liberty function on numpy bools."""
    e = _Expr(text)
    missing = set(e.names) - set(pins)
    if missing:
        raise ValueError(f"function {text!r} uses unknown pins {sorted(missing)}")
    return eval(f"lambda {', '.join(pins)}: {e.numpy()}", {"np": np})


def genlib_function(text: str) -> str:
    """The same function in genlib syntax (! * + only)."""
    return _Expr(text).genlib()


# --------------------------------------------------------------------------- cell model


@dataclass
class Output:
    pin: str
    function: str
    delay: float  # s, the largest of this output's arcs (our scalar libraries give all arcs one value)
    energy: float  # J per output transition (internal)
    inputs: list[str]  # pins the function reads
    evaluate: Callable | None = None  # numpy evaluation of the function, inputs in `inputs` order


@dataclass
class FlipFlop:
    clock: str
    next_state: str  # a pin name (the simplified libraries only have D)
    clear: str | None = None  # active-low pin name for "!PIN", None if absent
    setup: float = 0.0  # s


@dataclass
class Cell:
    name: str
    area: float  # um^2
    leakage: float  # W
    inputs: dict[str, float]  # pin -> capacitance, F
    outputs: dict[str, Output]
    ff: FlipFlop | None = None
    clock_energy: float = 0.0  # J per clock-pin transition
    transistors: int | None = None


@dataclass
class Library:
    name: str
    key: str
    path: Path
    voltage: float
    cells: dict[str, Cell]
    header: str  # the source comment at the top of the file

    def combinational(self) -> list[Cell]:
        return [c for c in self.cells.values() if c.ff is None]

    def smallest(self, function_pins: int, pred) -> Cell | None:
        cands = [c for c in self.combinational() if len(c.outputs) == 1 and len(c.inputs) == function_pins
                 and pred(next(iter(c.outputs.values())))]
        return min(cands, key=lambda c: c.area) if cands else None

    def inverter(self) -> Cell:
        inv = self.smallest(1, lambda o: _truth(o) == [1, 0])
        if inv is None:
            raise ValueError(f"library {self.name} has no inverter")
        return inv

    def buffer(self) -> Cell | None:
        return self.smallest(1, lambda o: _truth(o) == [0, 1])

    def nand2(self) -> Cell | None:
        return self.smallest(2, lambda o: _truth(o) == [1, 1, 1, 0])


def _truth(out: Output) -> list[int]:
    n = len(out.inputs)
    rows = np.array([[(r >> (n - 1 - i)) & 1 for i in range(n)] for r in range(2 ** n)], dtype=bool)
    f = compile_function(out.function, out.inputs)
    res = f(*[rows[:, i] for i in range(n)]) if n else f()
    return [int(v) for v in np.broadcast_to(res, (2 ** n,))]


def _unit(text: str, default: float) -> float:
    m = re.match(r'"?\s*([\d.eE+-]*)\s*([a-zA-Z]+)"?', text or "")
    if not m:
        return default
    return float(m.group(1) or 1) * _UNITS[m.group(2).lower()]


def _scalar(g: Group | None, name: str) -> float | None:
    sub = g.first(name) if g else None
    if sub is None or "values" not in sub.complex:
        return None
    return max(float(v) for v in " ".join(sub.complex["values"]).replace(",", " ").split())


def read(path: Path, key: str = "") -> Library:
    text = Path(path).read_text()
    lib = parse(text)
    t_unit = _unit(lib.attrs.get("time_unit"), 1e-9)
    leak_unit = _unit(lib.attrs.get("leakage_power_unit"), 1e-9)
    cap_args = lib.complex.get("capacitive_load_unit", ["1", "pf"])
    c_unit = float(cap_args[0]) * _UNITS[cap_args[1].lower()]
    v_unit = _unit(lib.attrs.get("voltage_unit"), 1.0)
    e_unit = c_unit * v_unit * v_unit  # Liberty energy = capacitance unit x voltage unit^2
    cells = {}
    for g in lib.all("cell"):
        name = g.args[0]
        ffg = g.first("ff")
        ff = None
        inputs, outputs, clock_energy, setup = {}, {}, 0.0, 0.0
        for p in g.all("pin"):
            pin = p.args[0]
            if p.attrs.get("direction") == "input":
                inputs[pin] = float(p.attrs.get("capacitance", 0)) * c_unit
                for ip in p.all("internal_power"):
                    clock_energy = max(clock_energy, (_scalar(ip, "rise_power") or 0) * e_unit)
                for t in p.all("timing"):
                    if t.attrs.get("timing_type", "").startswith("setup"):
                        setup = max(setup, (_scalar(t, "rise_constraint") or 0) * t_unit)
        for p in g.all("pin"):
            if p.attrs.get("direction") != "output":
                continue
            pin = p.args[0]
            delay = max([max(_scalar(t, "cell_rise") or 0, _scalar(t, "cell_fall") or 0)
                         for t in p.all("timing")] or [0.0]) * t_unit
            # internal energy per output transition: mean of rise and fall, worst over arcs
            energy = max([((_scalar(ip, "rise_power") or 0) + (_scalar(ip, "fall_power") or 0)) / 2
                          for ip in p.all("internal_power")] or [0.0]) * e_unit
            function = p.attrs.get("function", "")
            if ffg is not None:
                if function != ffg.args[0]:
                    raise ValueError(f"{name}.{pin}: only Q = {ffg.args[0]} outputs are supported")
                outputs[pin] = Output(pin, function, delay, energy, [])
            else:
                e = _Expr(function)
                outputs[pin] = Output(pin, function, delay, energy, list(e.names))
                outputs[pin].evaluate = compile_function(function, outputs[pin].inputs)
        if ffg is not None:
            clear = ffg.attrs.get("clear")
            if clear and not re.fullmatch(r"!\s*\w+", clear):
                raise ValueError(f"{name}: only active-low clear pins are supported, got {clear!r}")
            ff = FlipFlop(ffg.attrs["clocked_on"], ffg.attrs["next_state"],
                          clear.lstrip("! ") if clear else None, setup)
        transistors = g.attrs.get("transistors")
        cells[name] = Cell(name, float(g.attrs.get("area", 0)),
                           float(g.attrs.get("cell_leakage_power", 0)) * leak_unit, inputs, outputs, ff,
                           clock_energy, int(transistors) if transistors else None)
    header = text.split("*/", 1)[0].lstrip("/* ").strip() if text.lstrip().startswith("/*") else ""
    return Library(lib.args[0], key, Path(path), float(lib.attrs.get("nom_voltage", 1.0)) * v_unit,
                   cells, header)


@functools.cache
def load(key: str) -> Library:
    """The committed library targets/libs/<key>.lib."""
    return read(LIB_DIR / f"{key}.lib", key)


# --------------------------------------------------------------------------- genlib for ABC

BUFFER_GATE = "BESPOKE_BUF_2INV"
CONST_GATES = ("BESPOKE_ZERO", "BESPOKE_ONE")  # genlib constants ABC may instantiate


def genlib_text(lib: Library) -> str:
    """Single-output combinational cells as an ABC genlib.

    Area, delay and load are given in units of the library's inverter: ABC's mappers assert on
    EGFET's raw delays (~1e6 ns), and the mapping only depends on ratios. ABC's mappers need a
    buffer; libraries without one (EGFET) get BESPOKE_BUF_2INV with the area and delay of two
    inverters, which synthesis replaces by two real inverters after mapping.
    """
    inv = lib.inverter()
    (inv_out,) = inv.outputs.values()
    (inv_pin,) = inv_out.inputs
    a0, d0, c0 = inv.area, inv_out.delay, inv.inputs[inv_pin]
    lines = [f"# genlib for {lib.name}, derived from {lib.path.name}; units: {inv.name} area, delay, "
             "input capacitance"]

    def gate(name, area, pin_out, function, pins, delay, phase="UNKNOWN"):
        lines.append(f"GATE {name} {area / a0:.6g} {pin_out}={function};")
        for pin, cap in pins:
            lines.append(f"  PIN {pin} {phase} {cap / c0:.6g} 999999 {delay / d0:.6g} 0 {delay / d0:.6g} 0")

    for c in sorted(lib.combinational(), key=lambda c: c.name):
        if len(c.outputs) != 1 or not c.inputs:
            continue
        (out,) = c.outputs.values()
        gate(c.name, c.area, out.pin, genlib_function(out.function), [(p, c.inputs[p]) for p in out.inputs],
             out.delay)
    if lib.buffer() is None:
        gate(BUFFER_GATE, 2 * a0, "Y", inv_pin, [(inv_pin, c0)], 2 * d0, "NONINV")
    lines.append(f"GATE {CONST_GATES[0]} 0 Y=CONST0;")
    lines.append(f"GATE {CONST_GATES[1]} 0 Y=CONST1;")
    return "\n".join(lines) + "\n"


def constant_techmap() -> str:
    """Verilog techmap turning ABC's constant gates into constant drivers. ABC instantiates them
    where a constant reaches a flip-flop or an output; they are not cells of any library."""
    return "".join(f"module {name}(Y);\n  output Y;\n  assign Y = 1'b{value};\nendmodule\n"
                   for value, name in enumerate(CONST_GATES))


def buffer_techmap(lib: Library) -> str:
    """Verilog techmap turning BESPOKE_BUF_2INV into two inverters of the library."""
    inv = lib.inverter()
    (out,) = inv.outputs.values()
    (pin,) = out.inputs
    return (f"module {BUFFER_GATE}({pin}, Y);\n  input {pin};\n  output Y;\n  wire n;\n"
            f"  {inv.name} i0 (.{pin}({pin}), .{out.pin}(n));\n"
            f"  {inv.name} i1 (.{pin}(n), .{out.pin}(Y));\nendmodule\n")
