"""Drive a ready/valid design (ports x, in_valid, in_ready, y, out_valid, out_ready) in Amaranth's
simulator: quick checks of folded engines without a Verilator build."""

from __future__ import annotations

import numpy as np
from amaranth.sim import Simulator

from rtl_testing import pack, unpack


def flat(port):
    """A port as one flat value (array-of-elements ports are views)."""
    return port.as_value() if hasattr(port, "as_value") else port


def simulate_handshake(dut, batch, in_width: int, n_out: int, out_width: int, out_signed: bool,
                       backpressure: float = 0.0, seed: int = 0, max_cycles: int = 1_000_000):
    """Outputs for every row of `batch` and each inference's latency: rising edges from the one
    accepting the input (counted) to the one raising out_valid. out_ready is low with probability
    `backpressure` in each cycle."""
    rng = np.random.default_rng(seed)
    outputs, accepted, latencies = [], [], []
    x_port, y_port = flat(dut.x), flat(dut.y)

    async def testbench(ctx):
        ctx.set(dut.in_valid, 0)
        await ctx.tick()
        cycle, nxt, seen = 0, 0, False  # seen: out_valid already counted for the current output
        while len(outputs) < len(batch) and cycle < max_cycles:
            offer = nxt < len(batch)
            ctx.set(dut.in_valid, offer)
            if offer:
                ctx.set(x_port, pack(batch[nxt], in_width))
            ready = bool(rng.random() >= backpressure)
            ctx.set(dut.out_ready, ready)
            if ctx.get(dut.out_valid):
                if not seen:
                    latencies.append(cycle - accepted[len(outputs)])
                    seen = True
                if ready:
                    outputs.append(unpack(ctx.get(y_port), n_out, out_width, out_signed))
                    seen = False
            if offer and ctx.get(dut.in_ready):
                accepted.append(cycle)
                nxt += 1
            await ctx.tick()
            cycle += 1

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    return np.array(outputs, dtype=np.int64).reshape(len(outputs), n_out), latencies
