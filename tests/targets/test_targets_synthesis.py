"""Real synthesis (Yosys + ABC) to each library: the mapped netlist still computes the design."""

import numpy as np
import pytest

from compiler.errors import BespokeError
from targets import liberty, netlist, power, synth


@pytest.mark.parametrize("key", ["egfet", "sky130hd", "nangate45"])
def test_mapped_netlist_computes_the_mlp(key, small_mlp, mlp_files, codes):
    lib = liberty.load(key)
    res = synth.synth_cells([mlp_files["comb"]], "mlp", lib)
    nl = netlist.from_yosys(res.netlist, "mlp", lib)
    types = {inst.type for inst in nl.instances}
    assert types <= set(lib.cells) and liberty.BUFFER_GATE not in types
    assert res.stat["area"] == pytest.approx(sum(lib.cells[i.type].area for i in nl.instances))
    stim = power.layout_stimulus(nl, small_mlp.layout(), codes)
    v = netlist.simulate(nl, stim.bits)
    assert np.array_equal(netlist.port_values(nl, v, "y"), small_mlp.predict(codes))
    assert "amap" in res.abc_script and "&fraig" not in res.abc_script


def test_pipelined_mlp_streams_one_vector_per_cycle(small_mlp, mlp_files, codes):
    lib = liberty.load("egfet")
    res = synth.synth_cells([mlp_files["pipe"]], "mlp", lib)
    nl = netlist.from_yosys(res.netlist, "mlp", lib)
    assert nl.sequential and nl.clock_ports == ["clk"]
    layout = small_mlp.layout(pipelined=True)
    stim = power.layout_stimulus(nl, layout, codes)
    v = netlist.simulate(nl, stim.bits)
    lat, n = layout["latency"], len(codes)
    y = netlist.port_values(nl, v, "y")[1 + lat:1 + lat + n]  # after the reset cycle and the latency
    valid = netlist.port_values(nl, v, "out_valid")
    assert np.array_equal(y, small_mlp.predict(codes))
    assert valid[:1 + lat].sum() == 0 and valid[1 + lat:1 + lat + n].all()


def test_verilog_error_is_a_one_line_user_error(tmp_path):
    bad = tmp_path / "bad.v"
    bad.write_text("module top(input a, output y);\n  assign y = a &;\nendmodule\n")
    with pytest.raises(BespokeError, match="synthesis failed:.*syntax error") as e:
        synth.synth_cells([bad], "top", liberty.load("egfet"))
    assert "\n" not in str(e.value)
    with pytest.raises(BespokeError, match="not found"):
        synth.synth_cells([tmp_path / "missing.v"], "top", liberty.load("egfet"))


def test_a_synthesis_timeout_stops_yosys_and_its_children(tmp_path):
    from pathlib import Path

    from targets import yosys

    # repeated ABC runs on a 32x32 multiplier take seconds: stopped after 1, nothing must keep
    # running in the work directory (yosys-abc, started by Yosys, inherits it)
    (tmp_path / "mul.v").write_text("module mul(input [31:0] a, b, output [63:0] y);\n"
                                    "  assign y = a * b;\nendmodule\n")
    with pytest.raises(BespokeError, match="did not finish within 1 s"):
        yosys.run(["read_verilog mul.v", "synth -top mul", "abc", "abc", "abc"], tmp_path, timeout=1)
    import time

    deadline = time.monotonic() + 5  # SIGKILL is delivered asynchronously to the grandchildren
    while (left := [p for p in Path("/proc").iterdir() if p.name.isdigit() and _cwd(p) == tmp_path.resolve()]) \
            and time.monotonic() < deadline:
        time.sleep(0.1)
    assert left == []


def _cwd(proc_dir):
    try:
        return (proc_dir / "cwd").resolve(strict=True)
    except OSError:
        return None
