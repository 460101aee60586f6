"""Large folded engines build with optimised model code (make OPT_FAST), unlike large unrolled ones."""

from __future__ import annotations

from pathlib import Path

from bespoke.sim.runner import (FOLDED_MAKE_ARGS, LARGE_DESIGN_BYTES, UNOPTIMISED, _build_key, make_args,
                                verilator_args)

HERE = Path(__file__).resolve().parent
LAYOUT = dict(top="comb_ops", n_in=6, in_width=12, in_signed=True, n_out=4, out_width=14, out_signed=True,
              pipelined=False, latency=0)


def test_large_folded_designs_get_optimised_model_code(tmp_path):
    small = HERE / "comb_ops.v"
    large = tmp_path / "large.v"
    large.write_text(small.read_text() + "// padding\n" * (LARGE_DESIGN_BYTES // 10))
    folded = dict(LAYOUT, arch="folded")
    assert verilator_args([large], folded)[-2:] != UNOPTIMISED and make_args([large], folded) == FOLDED_MAKE_ARGS
    assert verilator_args([large], LAYOUT)[-2:] == UNOPTIMISED and make_args([large], LAYOUT) == []
    assert make_args([small], folded) == [] and "-fno-split" in verilator_args([small])
    assert _build_key([large], folded, "verilator", False) != _build_key([large], LAYOUT, "verilator", False)
