"""One-line synthesis figures of a compiled design, shared by the BNN benchmark scripts.

Both run targets.report.make_report (the code behind `bespoke report`) and return the figures as a
dict and as the line the scripts print.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from bespoke.targets.report import SYNTH_TIMEOUT_S, format_si, make_report


def fpga_figures(verilog: Path, top: str, layout: dict, target: str = "xilinx7",
                 timeout: float = SYNTH_TIMEOUT_S) -> tuple[dict, str]:
    """LUT/FF/BRAM/DSP/carry counts from Yosys' synth_<family>."""
    t0 = time.perf_counter()
    res = make_report([verilog], top, target, layout=layout, timeout=timeout)["fpga"]["resources"]
    row = {"lut": res["lut"], "ff": res.get("ff", 0), "bram": res.get("bram", 0), "dsp": res.get("dsp", 0),
           "carry": res.get("carry", 0), "synth_s": time.perf_counter() - t0}
    line = (f"{target} (synth_xilinx): {row['lut']} LUT, {row['ff']} FF, {row['bram']} BRAM, {row['dsp']} DSP, "
            f"{row['carry']} CARRY4  ({row['synth_s']:.0f} s)")
    return row, line


def asic_figures(verilog: Path, top: str, layout: dict, target: str, codes: np.ndarray | None,
                 clock_hz: float | None = None, timeout: float = SYNTH_TIMEOUT_S) -> tuple[dict, str]:
    """Standard-cell area, cells, flip-flops, critical path and power (activity from `codes`)."""
    t0 = time.perf_counter()
    rep = make_report([verilog], top, target, clock_hz=clock_hz, vectors=codes, layout=layout, timeout=timeout)
    area, timing, power = rep["area"], rep["timing"], rep["power"]
    row = {"um2": area["um2"], "cells": area["cells"], "flip_flops": area["flip_flops"],
           "critical_path_s": timing["critical_path_s"], "max_clock_hz": timing["max_clock_hz"],
           "clock_hz": power["clock_hz"], "total_w": power["total_w"],
           "energy_per_inference_j": power["energy_per_inference_j"], "report_s": time.perf_counter() - t0}
    line = (f"{target}: {row['um2']:,.0f} um2, {row['cells']:,} cells ({row['flip_flops']:,} flip-flops), "
            f"critical path {format_si(row['critical_path_s'], 's')} (max {format_si(row['max_clock_hz'], 'Hz')}), "
            f"{format_si(row['total_w'], 'W')} at {format_si(row['clock_hz'], 'Hz')}, "
            f"{format_si(row['energy_per_inference_j'], 'J')}/inference  ({row['report_s']:.0f} s)")
    return row, line
