"""Drive components in Amaranth's simulator with batches of integer vectors.

`pack`/`unpack` (from sim.vectors) implement the port contract (element i at bits
[i*W, (i+1)*W), two's complement when signed), so the same helpers check single components and
whole lowered networks.
"""

from __future__ import annotations

import numpy as np
from amaranth.sim import Simulator

from bespoke.sim import vectors
from bespoke.sim.vectors import unpack


def pack(values, width: int) -> int:
    """One flat word from the integers of a single vector (sim.vectors.pack does whole batches)."""
    return vectors.pack(np.asarray([values]), width)[0]


def _port(view):
    """(flat signal, element count, element width, signed) of an array-of-elements port."""
    layout = view.shape()
    return view.as_value(), layout.length, layout.elem_shape.width, layout.elem_shape.signed


def simulate_comb(dut, batch) -> np.ndarray:
    """Outputs of a combinational component with ports `x`, `y` for every row of `batch`."""
    x, _, in_w, _ = _port(dut.x)
    y, n_out, out_w, out_signed = _port(dut.y)
    results = []

    async def testbench(ctx):
        for row in batch:
            ctx.set(x, pack(row, in_w))
            results.append(unpack(ctx.get(y), n_out, out_w, out_signed))

    sim = Simulator(dut)
    sim.add_testbench(testbench)
    sim.run()
    return np.array(results, dtype=np.int64).reshape(len(batch), n_out)


def simulate_pipeline(dut, batch, latency: int, gap_every: int = 3) -> np.ndarray:
    """Stream `batch` through a pipelined top (ports x, y, in_valid, out_valid; clock `sync`).

    One row is offered per cycle, with an idle cycle (in_valid=0) after every `gap_every` rows so
    bubbles are exercised too. Checks that out_valid rises exactly `latency` clock edges after
    the edge that sampled a valid row (counting that edge), and returns the rows of y then.
    """
    x, _, in_w, _ = _port(dut.x)
    y, n_out, out_w, out_signed = _port(dut.y)
    schedule = []  # per cycle: row index presented, or None for a bubble
    for k in range(len(batch)):
        schedule.append(k)
        if gap_every and (k + 1) % gap_every == 0:
            schedule.append(None)
    schedule += [None] * (latency + 1)
    results: dict[int, list[int]] = {}

    async def testbench(ctx):
        ctx.set(dut.in_valid, 0)
        await ctx.tick()  # leave reset
        for cycle, k in enumerate(schedule):
            ctx.set(dut.in_valid, k is not None)
            if k is not None:
                ctx.set(x, pack(batch[k], in_w))
            if latency == 0:  # combinational: y follows x, out_valid follows in_valid
                assert ctx.get(dut.out_valid) == (k is not None)
                if k is not None:
                    results[k] = unpack(ctx.get(y), n_out, out_w, out_signed)
                continue
            await ctx.tick()  # edge `cycle` samples the row offered in this cycle
            # after edge `cycle`, out_valid must show the row sampled at edge cycle - latency + 1
            src = cycle - latency + 1
            expect = schedule[src] if src >= 0 else None
            valid = ctx.get(dut.out_valid)
            assert valid == (expect is not None), f"out_valid={valid} after edge {cycle}, expected row {expect}"
            if expect is not None:
                results[expect] = unpack(ctx.get(y), n_out, out_w, out_signed)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    return np.array([results[k] for k in range(len(batch))], dtype=np.int64).reshape(len(batch), n_out)


def simulate_iverilog(verilog_text: str, layout: dict, batch, workdir) -> np.ndarray:
    """Run Verilog (e.g. with directly written Dense modules) in Icarus Verilog on `batch`.

    `layout` is `hdl.lower.port_layout`'s dict. Combinational designs get one vector per time
    step; pipelined ones one per clock, collected whenever out_valid is high (so a wrong
    latency claim does not matter here; the Amaranth tests check it). Needs `iverilog`/`vvp`.
    """
    import subprocess
    from pathlib import Path

    work = Path(workdir)
    n_in, w_in = layout["n_in"], layout["in_width"]
    n_out, w_out = layout["n_out"], layout["out_width"]
    nx, ny, n = n_in * w_in, n_out * w_out, len(batch)
    (work / "in.hex").write_text("".join(f"{pack(row, w_in):x}\n" for row in batch))
    if layout["pipelined"]:
        body = f"""
  reg clk = 0, rst = 1, in_valid = 0;
  wire out_valid;
  {layout['top']} dut(.clk(clk), .rst(rst), .in_valid(in_valid), .out_valid(out_valid), .x(x), .y(y));
  always #5 clk = ~clk;
  always @(negedge clk) if (out_valid) $display("%h", y);
  initial begin
    $readmemh("{work / 'in.hex'}", mem);
    @(negedge clk) rst = 0;
    for (i = 0; i < {n}; i = i + 1) begin x = mem[i]; in_valid = 1; @(negedge clk); end
    in_valid = 0;
    repeat ({layout['latency'] + 2}) @(negedge clk);
    $finish;
  end"""
    else:
        body = f"""
  {layout['top']} dut(.x(x), .y(y));
  initial begin
    $readmemh("{work / 'in.hex'}", mem);
    for (i = 0; i < {n}; i = i + 1) begin x = mem[i]; #1 $display("%h", y); end
    $finish;
  end"""
    tb = f"""`timescale 1ns/1ps
module tb;
  reg [{nx - 1}:0] x;
  wire [{ny - 1}:0] y;
  reg [{nx - 1}:0] mem [0:{n - 1}];
  integer i;{body}
endmodule
"""
    (work / "design.v").write_text(verilog_text)
    (work / "tb.v").write_text(tb)
    subprocess.run(["iverilog", "-g2012", "-o", str(work / "sim.vvp"), str(work / "tb.v"), str(work / "design.v")], check=True, capture_output=True)
    run = subprocess.run(["vvp", "-n", str(work / "sim.vvp")], check=True, capture_output=True, text=True)
    words = [line.strip() for line in run.stdout.splitlines() if line.strip() and "$finish" not in line and not line.startswith("VCD")]
    rows = [unpack(int(w, 16), n_out, w_out, layout["out_signed"]) for w in words]
    return np.array(rows, dtype=np.int64).reshape(len(rows), n_out)
