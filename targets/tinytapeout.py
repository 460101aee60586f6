"""A TinyTapeout project around a combinational bespoke design.

TinyTapeout gives a design 8 input pins (ui_in), 8 output pins (uo_out), 8 bidirectional pins
(uio, used here as inputs), a clock and an active-low reset, through the `tt_um_` top-module
interface. A design with more input bits takes them serially:

- uio_in[0] high at a rising clock edge shifts the byte on ui_in into the input register; bytes
  go in most significant first, so the last byte sent holds x[7:0];
- uio_in[7:1] chooses which byte of the result uo_out shows (0: y[7:0]); the result is
  combinational in the input register, so it is valid from the edge that loaded the last byte.

`project_verilog` writes that wrapper; `host_verilog` writes the other side of the pins, a
host that takes one vector with ready/valid, sends its bytes, reads the result back byte by byte
and offers it with ready/valid, so the wrapper is simulated against the golden model with the
same testbench as every folded design (simulation only, not part of the project).
"""

from __future__ import annotations

from bespoke.compiler.errors import BespokeError
from bespoke.targets import byte_wrappers
from bespoke.targets.byte_wrappers import byte_counts, host_ports, port_bits


def check_exportable(layout: dict) -> None:
    if layout.get("pipelined") or layout.get("handshake"):
        raise BespokeError("export --tinytapeout takes combinational designs (compiled unrolled, without --pipeline); "
                           "this one is clocked")
    if byte_counts(layout)[1] > 128:
        raise BespokeError(f"the result has {layout['n_out'] * layout['out_width']} bits; uio_in[7:1] selects at most 128 bytes")


def top_name(name: str) -> str:
    return f"tt_um_bespoke_{name}"


def project_verilog(layout: dict) -> str:
    """The tt_um_ wrapper of the design `layout['top']` (the design's own module is a separate file)."""
    x_bits, y_bits = port_bits(layout)
    b_in, b_out = byte_counts(layout)
    shift = "xs <= ui_in;" if b_in == 1 else f"xs <= {{xs[{8 * b_in - 9}:0], ui_in}};"
    return f"""// TinyTapeout wrapper of {layout['top']}, written by bespoke (targets.tinytapeout).
// Input: {x_bits} bits as {b_in} bytes on ui_in, shifted in (most significant byte first) at each
// rising clk edge with uio_in[0] high. Output: {y_bits} bits as {b_out} bytes; uio_in[7:1] selects
// the byte on uo_out (0: y[7:0]), valid from the edge that loaded the last input byte.
`default_nettype none

module {top_name(layout['top'])} (
    input  wire [7:0] ui_in,
    output wire [7:0] uo_out,
    input  wire [7:0] uio_in,
    output wire [7:0] uio_out,
    output wire [7:0] uio_oe,
    input  wire       ena,
    input  wire       clk,
    input  wire       rst_n
);
  reg  [{8 * b_in - 1}:0] xs;
  wire [{y_bits - 1}:0] y;
  wire [{8 * b_out - 1}:0] y_bytes = {{{{{8 * b_out - y_bits}{{1'b0}}}}, y}};

  always @(posedge clk) begin
    if (!rst_n) xs <= 0;
    else if (uio_in[0]) {shift}
  end

  {layout['top']} core (.x(xs[{x_bits - 1}:0]), .y(y));

  assign uo_out  = y_bytes >> {{uio_in[7:1], 3'b000}};
  assign uio_out = 8'b0;
  assign uio_oe  = 8'b0;  // all bidirectional pins are inputs
  wire _unused = &{{1'b0, ena, uio_in[0]}};
endmodule
"""


def host_verilog(layout: dict) -> str:
    """A simulation-only host: ready/valid vectors in, the wrapper's pins driven, results out."""
    x_bits, y_bits = port_bits(layout)
    b_in, b_out = byte_counts(layout)
    return f"""// Simulation-only host of {top_name(layout['top'])}: sends each vector's bytes, reads the result back.
`default_nettype none

{host_ports("tt_host", layout)}
  localparam IDLE = 2'd0, SEND = 2'd1, READ = 2'd2, DONE = 2'd3;
  reg [1:0] state;
  reg [7:0] k;  // byte counter
  reg [{8 * b_in - 1}:0] xbuf;
  reg [{8 * b_out - 1}:0] ybuf;
  wire [7:0] uo;
  wire [7:0] ui = xbuf[{8 * b_in - 1}:{8 * b_in - 8}];  // most significant byte first
  wire [6:0] sel = k[6:0];

  {top_name(layout['top'])} dut (.ui_in(ui), .uo_out(uo), .uio_in({{sel, state == SEND}}), .uio_out(), .uio_oe(),
      .ena(1'b1), .clk(clk), .rst_n(!rst));

  assign in_ready = state == IDLE;
  assign out_valid = state == DONE;
  assign y = ybuf[{y_bits - 1}:0];

  always @(posedge clk) begin
    if (rst) begin
      state <= IDLE; k <= 0;
    end else case (state)
      IDLE: if (in_valid) begin xbuf <= {{{{{8 * b_in - x_bits}{{1'b0}}}}, x}}; k <= 0; state <= SEND; end
      SEND: begin
        xbuf <= xbuf << 8;
        if (k == {b_in - 1}) begin k <= 0; state <= READ; end else k <= k + 1;
      end
      READ: begin
        ybuf <= {"{uo, ybuf[" + str(8 * b_out - 1) + ":8]}" if b_out > 1 else "uo"};  // byte k lands at the top, then moves down
        if (k == {b_out - 1}) state <= DONE; else k <= k + 1;
      end
      DONE: if (out_ready) state <= IDLE;
    endcase
  end
endmodule
"""


def host_layout(layout: dict) -> dict:
    """The host's port layout for the simulation runner: ready/valid, one vector per
    1 + bytes in + bytes out cycles; the wrapped design's input interval is not the host's."""
    b_in, b_out = byte_counts(layout)
    return byte_wrappers.host_layout(layout, "tt_host", 1 + b_in + b_out)


def info_yaml(layout: dict, name: str, tiles: str, clock_hz: int) -> str:
    x_bits, y_bits = port_bits(layout)
    ui = "\n".join(f'  ui[{i}]: "input byte bit {i}"' for i in range(8))
    uo = "\n".join(f'  uo[{i}]: "result byte bit {i}"' for i in range(8))
    uio = '  uio[0]: "load: shift ui_in into the input register"\n' + "\n".join(
        f'  uio[{i}]: "result byte select bit {i - 1}"' for i in range(1, 8))
    return f"""# TinyTapeout project of the bespoke design {name}, written by bespoke (targets.tinytapeout).
# tiles: check the area with `bespoke report BUILD --target sky130hd` against the tile size first.
project:
  title: "bespoke {name}"
  author: "bespoke"
  discord: ""
  description: "Hard-wired neural network {name} ({x_bits} input bits, {y_bits} result bits), compiled by bespoke"
  language: "Verilog"
  clock_hz: {clock_hz}
  tiles: "{tiles}"
  top_module: "{top_name(layout['top'])}"
  source_files:
    - "project.v"
    - "{layout['top']}.v"

pinout:
{ui}
{uo}
{uio}

yaml_version: 6
"""
