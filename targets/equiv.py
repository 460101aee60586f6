"""Formal equivalence of two Verilog designs: Yosys builds a miter, ABC proves it.

Yosys (pyosys) reads both designs, flattens them, builds a miter whose one output `trigger` is 1
exactly when the two designs' outputs differ for the same inputs (and, for clocked designs, the
same reset state), and bit-blasts it to an AIG. yosys-abc then proves `trigger` constant 0:
`iprove` (SAT sweeping, which finds the internal equivalences of two similar circuits, so adder
trees that defeat plain SAT are proven in well under a second) for combinational miters, and
`dprove` (sequential equivalence: induction after retiming and sweeping) for clocked ones.

Verdicts: "proven" (equivalent for every input), "counterexample" (they differ), "undecided"
(the solver stopped; the log says why).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bespoke.compiler.errors import BespokeError
from bespoke.targets import yosys


@dataclass(frozen=True)
class Equivalence:
    verdict: str  # "proven" | "counterexample" | "undecided"
    detail: str  # the solver's last line
    seconds: float

    @property
    def proven(self) -> bool:
        return self.verdict == "proven"


def _abc() -> str:
    import pyosys

    return os.path.join(os.path.dirname(pyosys.__file__), "yosys-abc")


def miter_commands(gold: list[Path], gold_top: str, gate: list[Path], gate_top: str) -> list[str]:
    """Yosys script: the miter of gold and gate as miter.aig (both tops renamed, so module names
    of the two designs may coincide only in their tops)."""
    cmds = [f"read_verilog -sv {yosys.quote(p)}" for p in gold] + [f"rename {gold_top} bespoke_gold"]
    cmds += [f"read_verilog -sv {yosys.quote(p)}" for p in gate] + [f"rename {gate_top} bespoke_gate"]
    # ROMs become logic (`memory`); a read past a ROM's depth, or a case past its choices, is
    # undefined: `setundef -zero` makes it 0 in both designs (the designs never go there)
    return cmds + ["hierarchy -check", "proc", "memory", "setundef -zero", "flatten", "opt_clean",
                   "miter -equiv -flatten bespoke_gold bespoke_gate miter", "hierarchy -top miter", "flatten",
                   "techmap", "opt -fast", "dffunmap", "zinit -all", "aigmap", "write_aiger -zinit miter.aig"]


def prove_equivalent(gold: list[Path], gold_top: str, gate: list[Path], gate_top: str, timeout: float = 600) -> Equivalence:
    """Prove the designs (Verilog files and top module names) equivalent; see the module docstring."""
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bespoke-equiv-") as tmp:
        work = Path(tmp)
        gold = [Path(p).resolve() for p in gold]
        gate = [Path(p).resolve() for p in gate]
        log = yosys.run(miter_commands(gold, gold_top, gate, gate_top), work, timeout=timeout)
        sequential = _latches(work / "miter.aig") > 0
        script = f"read {work / 'miter.aig'}; strash; " + ("dprove" if sequential else "iprove")
        try:
            out = subprocess.run([_abc(), "-c", script], capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return Equivalence("undecided", f"ABC timed out after {timeout:.0f} s", time.perf_counter() - t0)
    verdict, last = _verdict(out.stdout)
    if out.returncode != 0 and verdict == "undecided":
        raise BespokeError(f"equivalence check failed to run: {last or out.stderr.strip()[-200:]}")
    return Equivalence(verdict, last, time.perf_counter() - t0)


def _latches(aig: Path) -> int:
    """Latch count from an AIGER header ("aig M I L O A")."""
    with open(aig, "rb") as fh:
        return int(fh.readline().split()[3])


# the final lines of ABC's iprove (combinational) and dprove (sequential)
_VERDICTS = (("UNSATISFIABLE", "proven"), ("SATISFIABLE", "counterexample"), ("Networks are equivalent", "proven"),
             ("Networks are not equivalent", "counterexample"), ("UNDECIDED", "undecided"))


def _verdict(stdout: str) -> tuple[str, str]:
    """(verdict, the line that says it) from the last line naming one."""
    for line in reversed(stdout.splitlines()):
        for key, verdict in _VERDICTS:
            if line.strip().startswith(key) or key in line:
                return verdict, line.strip()
    return "undecided", stdout.strip().splitlines()[-1] if stdout.strip() else ""
