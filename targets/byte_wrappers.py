"""What the exports' wrappers share: a design's ports moved as whole bytes, and the port list of
the simulation-only host that drives a wrapper (ready/valid vectors in and out, for the common
testbench)."""

from __future__ import annotations


def port_bits(layout: dict) -> tuple[int, int]:
    """(bits of the input port x, bits of the output port y)."""
    return layout["n_in"] * layout["in_width"], layout["n_out"] * layout["out_width"]


def byte_counts(layout: dict) -> tuple[int, int]:
    """(bytes moved in, bytes moved out) per vector."""
    x_bits, y_bits = port_bits(layout)
    return (x_bits + 7) // 8, (y_bits + 7) // 8


def host_layout(layout: dict, module: str, latency: int | None, **more) -> dict:
    """The layout of a host `module` driving `layout`'s design, for the common testbench: the same
    vectors, ready/valid, and the host's own timing claims (`latency`; no input interval, not a
    dataflow engine): the wrapped design's claims are not the host's."""
    return {**layout, "top": module, "pipelined": True, "handshake": True, "latency": latency, "interval": None,
            "dataflow": False, **more}


def host_ports(module: str, layout: dict) -> str:
    """`module NAME (...);` of a host with the ready/valid ports of the common testbench."""
    x_bits, y_bits = port_bits(layout)
    return f"""module {module} (
    input  wire clk,
    input  wire rst,
    input  wire in_valid,
    output wire in_ready,
    input  wire [{x_bits - 1}:0] x,
    output wire out_valid,
    input  wire out_ready,
    output wire [{y_bits - 1}:0] y
);"""
