"""Choosing a Verilog writer for a netlist: the one place both architectures name them.

"direct" (hdl.write_verilog: structural Verilog written as text, fast for any size) is the
default; "amaranth" (hdl.write_amaranth: through Amaranth's back end) writes the same netlist,
and tests/hdl/test_writers.py proves the two equivalent.
"""

from __future__ import annotations

import re

from bespoke.compiler.errors import BespokeError
from bespoke.hdl.netlist import Netlist

WRITERS = ("direct", "amaranth")


def default_name(ir) -> str:
    """A Verilog identifier for the top module of `ir` (an hdl IR) when the user names none."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", ir.name) or "model"
    return name if re.match(r"[A-Za-z_]", name) else f"m_{name}"


def write(nl: Netlist, name: str, writer: str = "direct") -> str:
    """The netlist as Verilog with top module `name`, or a BespokeError naming a bad name or writer."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise BespokeError(f"module name {name!r} is not a Verilog identifier (letters, digits, _)")
    if writer not in WRITERS:
        raise BespokeError(f"unknown Verilog writer {writer!r}; supported: {', '.join(WRITERS)}")
    if writer == "amaranth":
        from bespoke.hdl.write_amaranth import write_amaranth_verilog

        return write_amaranth_verilog(nl, name)
    from bespoke.hdl.write_verilog import write_verilog

    return write_verilog(nl, name)
