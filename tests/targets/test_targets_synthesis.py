"""Real synthesis (Yosys + ABC) to each library: the mapped netlist still computes the design."""

from pathlib import Path

import numpy as np
import pytest

from bespoke.compiler.errors import BespokeError
from bespoke.targets import liberty, netlist, power, synth


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


# a 64x64 multiplier: Yosys' synth runs ABC on it for over a minute
SLOW_DESIGN = "module mul(input [63:0] a, b, output [127:0] y);\n  assign y = a * b;\nendmodule\n"
SLOW_SCRIPT = ["read_verilog mul.v", "synth -top mul"]


def test_a_synthesis_timeout_stops_yosys_and_its_children(tmp_path):
    from bespoke.targets import yosys

    (tmp_path / "mul.v").write_text(SLOW_DESIGN)
    with pytest.raises(BespokeError, match="did not finish within 8 s"):
        yosys.run(SLOW_SCRIPT, tmp_path, timeout=8)
    assert _left_running(tmp_path) == []  # yosys-abc, started by Yosys, runs in the same directory


def test_a_yosys_killed_from_outside_is_a_clear_error_and_leaves_nothing_running(tmp_path):
    import os
    import signal
    import threading
    import time

    from bespoke.targets import yosys

    (tmp_path / "mul.v").write_text(SLOW_DESIGN)
    errors = []
    run = threading.Thread(target=lambda: errors.append(_raised(yosys.run, SLOW_SCRIPT, tmp_path, timeout=60)))
    run.start()
    deadline = time.monotonic() + 30
    while not (abc := [p for p in _in_dir(tmp_path) if b"yosys-abc" in _cmdline(p)]):
        assert time.monotonic() < deadline, "ABC never started"
        time.sleep(0.05)
    yosys_pid = os.getpgid(int(abc[0].name))  # the Yosys child leads the group
    os.kill(yosys_pid, signal.SIGKILL)  # what the kernel's out-of-memory killer does
    run.join(60)
    assert len(errors) == 1 and "synthesis was killed by SIGKILL (out of memory?)" in str(errors[0])
    assert _left_running(tmp_path) == []


def test_ctrl_c_during_synthesis_stops_yosys_too(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    (tmp_path / "mul.v").write_text(SLOW_DESIGN)
    # a timeout no loaded machine reaches: only the Ctrl-C below may end the run
    code = f"from targets import yosys; yosys.run({SLOW_SCRIPT!r}, {str(tmp_path)!r}, timeout=600)"
    caller = subprocess.Popen([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2],
                              stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not [p for p in _in_dir(tmp_path) if b"yosys-abc" in _cmdline(p)]:
        assert time.monotonic() < deadline, "ABC never started"
        time.sleep(0.05)
    caller.send_signal(signal.SIGINT)  # what Ctrl-C sends to the foreground process group
    assert b"KeyboardInterrupt" in caller.communicate(timeout=60)[1]
    assert _left_running(tmp_path) == []


def _raised(fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except BespokeError as e:
        return e
    return None


def _left_running(workdir, wait: float = 5.0):
    """Processes whose working directory is `workdir`, after up to `wait` s for killed ones to go
    (SIGKILL reaches grandchildren asynchronously)."""
    import time

    deadline = time.monotonic() + wait
    while (left := _in_dir(workdir)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def _in_dir(workdir):
    from pathlib import Path

    return [p for p in Path("/proc").iterdir() if p.name.isdigit() and _cwd(p) == Path(workdir).resolve()]


def _cmdline(proc_dir) -> bytes:
    try:
        return (proc_dir / "cmdline").read_bytes()
    except OSError:
        return b""


def _cwd(proc_dir):
    try:
        return (proc_dir / "cwd").resolve(strict=True)
    except OSError:
        return None


def test_a_watcher_follows_the_passes_yosys_runs(tmp_path):
    from bespoke.targets import tool_progress, yosys

    (tmp_path / "mul.v").write_text(SLOW_DESIGN.replace("[63:0]", "[23:0]").replace("[127:0]", "[47:0]"))
    seen = []
    with tool_progress.watching(seen.append):
        yosys.run(SLOW_SCRIPT, tmp_path, timeout=120)
    assert seen and all(text.startswith(("SYNTH", "Verilog")) for text in seen), seen
    assert all(a != b for a, b in zip(seen, seen[1:]))  # each change told once
    assert any(text.startswith("SYNTH / ") for text in seen)  # the outer pass and the one inside it
