"""Activation buffers of the folded engine: which IR tensor a register buffer holds, its element
width and signedness from the proven range, and its storage order (HWC or IR order).

Pure Python; the planner (hdl.folded_plan) and the read planning (hdl.folded_read) both use it.
"""

from __future__ import annotations

from dataclasses import dataclass

from bespoke.compiler.ir import IR, bits_for_range


@dataclass
class Buffer:
    """The tensor of IR node `node` in registers: `size` elements of `width` bits (two's
    complement when `signed`), stored HWC when `shape` (C, H, W) is set, else in IR order."""

    node: str
    size: int
    width: int
    signed: bool
    lo: list[int]
    hi: list[int]
    shape: tuple | None = None

    @property
    def bits(self) -> int:
        return self.size * self.width

    def phys(self, i: int) -> int:
        """Storage index of IR element i (CHW-flattened)."""
        if self.shape is None:
            return i
        c, h, w = self.shape
        ch, rest = divmod(i, h * w)
        y, x = divmod(rest, w)
        return (y * w + x) * c + ch

    def addr(self, view: tuple, ch: int, y: int, x: int) -> int:
        """Storage index of element (ch, y, x) when the tensor is read as a CHW image `view`."""
        c, h, w = view
        return (y * w + x) * c + ch if self.shape is not None else (ch * h + y) * w + x


def buffer_of(ir: IR, node: str, shape: tuple | None) -> Buffer:
    info = ir.out(node)
    lo, hi = [int(v) for v in info.lo], [int(v) for v in info.hi]
    width, signed = bits_for_range(min(lo), max(hi))
    return Buffer(node, info.size, width, signed, lo, hi, shape)
