"""Yosys `synth_xilinx` of a large unrolled design, kept hierarchical, next to published MNIST LUT counts.

    python benchmarks/bnn_unrolled_xilinx.py OUT_DIR [--timeout 5400]

OUT_DIR is a `bespoke compile --arch unrolled` build (e.g. the SFC_1W1A of
`benchmarks/bnn_pynq.py --unrolled SFC_1W1A --work W`: W/SFC_1W1A_unrolled). Flattened, the
unrolled SFC did not finish in 90 minutes (ABC on one 1.5 M-node AIG, then ABC's own
equivalence check of its mapping). Here every layer module is mapped on its own (no -flatten)
and ABC's self-check (`&verify`, the scratchpad's abc9.verify) is off: the mapping is the same,
only ABC's re-proof of it is skipped. Prints LUT / FF / CARRY4 / MUXF / BRAM per module and in total,
the wall time and Yosys' peak memory.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

from bespoke.targets import fpga, synth, yosys

# NeuraLUT (Andronic & Constantinides, FPL'24), table of MNIST results: LUT, FF
ANCHORS = [("FINN SFC-max (Umuroglu et al., FPGA'17)", 91131, None), ("NeuraLUT HDR-5L", 54798, 3757),
           ("PolyLUT HDR", 70673, 4681)]
SHOWN = {"lut": "LUT", "ff": "FF", "carry": "CARRY4", "mux": "MUXF", "bram": "BRAM"}


def counts(stat: dict) -> str:
    """The module's cells by xilinx7 resource category (fpga.resources: INV counts as a LUT)."""
    by = fpga.resources(stat, "xilinx7")["by_category"]
    return ", ".join(f"{label} {by[cat]:,}" for cat, label in SHOWN.items())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out_dir", type=Path)
    p.add_argument("--timeout", type=float, default=5400)
    args = p.parse_args(argv)
    manifest = json.loads((args.out_dir / "manifest.json").read_text())
    top = manifest["layout"]["top"]
    work = args.out_dir / "xilinx_hier"
    work.mkdir(exist_ok=True)
    cmds = synth.read_commands(sorted(args.out_dir.glob("*.v")), top) + [
        "scratchpad -set abc9.verify 0", f"synth_xilinx -top {top} -family xc7", "tee -q -o stat.json stat -json"]
    t0 = time.perf_counter()
    yosys.run(cmds, work, args.timeout)
    seconds = time.perf_counter() - t0
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    stat = json.loads((work / "stat.json").read_text())
    print(f"{top}: synth_xilinx (hierarchical, abc9.verify off) in {seconds / 60:.1f} min, Yosys peak {peak_gb:.1f} GB")
    for name, mod in sorted(stat["modules"].items()):
        print(f"  {name.lstrip(chr(92))}: {counts(mod)}")
    if "design" in stat:  # the hierarchy's total
        print(f"  total: {counts(stat['design'])}")
    for name, lut, ff in ANCHORS:
        print(f"  {name}: LUT {lut:,}" + (f", FF {ff:,}" if ff else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
