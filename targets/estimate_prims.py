"""Primitive costs of a standard-cell target, from its Liberty file: what the cost model builds on.

A primitive is a logic function the word-level netlist cells decompose into (inverter, 2-input
AND/OR/XOR, 2:1 mux, majority, half and full adder, flip-flop). Each comes from the library's
smallest cell with that truth table or, where the library has none (EGFET: no mux, no adder
cells), from a stated decomposition into cells it has. A primitive's figures: area (um^2),
leakage (W), delay (s, the slowest output), energy per output transition (J: internal energy plus
charging one fanout pin, 1/2 C V^2) and the number of library cells it takes.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import numpy as np

from bespoke.targets import liberty


@dataclass(frozen=True)
class Prim:
    area: float
    leak: float
    delay: float
    energy: float
    cells: float

    def __add__(self, o: "Prim") -> "Prim":  # composition in series: delays add (a stated simplification)
        return Prim(self.area + o.area, self.leak + o.leak, self.delay + o.delay, self.energy + o.energy,
                    self.cells + o.cells)

    def __or__(self, o: "Prim") -> "Prim":  # side by side: the slower delay
        return Prim(self.area + o.area, self.leak + o.leak, max(self.delay, o.delay), self.energy + o.energy,
                    self.cells + o.cells)

    def __mul__(self, k: float) -> "Prim":  # k copies side by side: one delay
        return Prim(self.area * k, self.leak * k, self.delay, self.energy * k, self.cells * k)


def _truths(out: liberty.Output) -> set[tuple[int, ...]]:
    """The output's truth table under every order of its pins (index bit i = pin i)."""
    n = len(out.inputs)
    f = liberty.compile_function(out.function, out.inputs)
    tables = set()
    for perm in itertools.permutations(range(n)):
        rows = [[(r >> perm[i]) & 1 for r in range(2 ** n)] for i in range(n)]
        tables.add(tuple(int(v) for v in np.broadcast_to(f(*[np.array(x, bool) for x in rows]), (2 ** n,))))
    return tables


def _table(n: int, fn) -> tuple[int, ...]:
    return tuple(int(fn(*[(r >> i) & 1 for i in range(n)])) for r in range(2 ** n))


def _cell_prim(lib: liberty.Library, cell: liberty.Cell) -> Prim:
    cap = float(sum(cell.inputs.values()) / max(1, len(cell.inputs)))
    outs = list(cell.outputs.values())
    energy = sum(o.energy for o in outs) / len(outs) + 0.5 * cap * lib.voltage ** 2
    return Prim(cell.area, cell.leakage, max(o.delay for o in outs), energy, 1)


def _find(lib: liberty.Library, n: int, *fns) -> Prim | None:
    """The smallest one-cell primitive whose outputs compute `fns` (n inputs each, any pin order)."""
    want = [_table(n, f) for f in fns]
    best = None
    for c in lib.combinational():
        if len(c.inputs) != n or len(c.outputs) != len(fns):
            continue
        tables = [_truths(o) for o in c.outputs.values()]
        if all(any(w in t for t in tables) for w in want) and (best is None or c.area < best.area):
            best = c
    return None if best is None else _cell_prim(lib, best)


@functools.cache
def primitives(key: str) -> dict[str, Prim]:
    """inv, and2, or2, xor2, nand2, mux2, maj3, ha, fa, dff of library `key`."""
    lib = liberty.load(key)
    p = {"inv": _cell_prim(lib, lib.inverter())}
    for name, fn in (("nand2", lambda a, b: 1 - (a & b)), ("and2", lambda a, b: a & b),
                     ("or2", lambda a, b: a | b), ("xor2", lambda a, b: a ^ b)):
        cell = _find(lib, 2, fn)
        if cell is None:
            raise ValueError(f"library {lib.name} has no {name} cell")
        p[name] = cell
    maj = lambda a, b, c: (a & b) | (a & c) | (b & c)  # noqa: E731
    # decompositions where the library has no such cell: NAND-NAND majority, AND-OR mux
    p["maj3"] = _find(lib, 3, maj) or p["nand2"] * 3 + p["nand2"]
    p["mux2"] = _find(lib, 3, lambda s, a, b: a if s else b) or p["and2"] * 2 + p["or2"] + p["inv"]
    p["ha"] = _find(lib, 2, lambda a, b: a ^ b, lambda a, b: a & b) or (p["xor2"] | p["and2"])
    p["fa"] = (_find(lib, 3, lambda a, b, c: a ^ b ^ c, maj)
               or (p["xor2"] + p["xor2"]) | p["maj3"])
    ffs = [c for c in lib.cells.values() if c.ff is not None and c.ff.clear is None]
    ff = min(ffs, key=lambda c: c.area)
    p["dff"] = Prim(ff.area, ff.leakage, max(o.delay for o in ff.outputs.values()),
                    min(o.energy for o in ff.outputs.values()) + 2 * ff.clock_energy, 1)
    return p
