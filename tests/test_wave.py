"""`bespoke simulate --wave`: a waveform of the first vectors, every layer's signals under its
instance, read back with a VCD reader (pyvcd) and checked against the vectors and the golden model."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from bespoke.api import compile_model
from bespoke.cli import main
from bespoke.compiler.data import read_csv
from bespoke.sim import runner

EX = Path(__file__).resolve().parents[1] / "examples" / "seeds"


def read_vcd(path: Path) -> tuple[dict[str, dict[str, str]], dict[str, list[tuple[int, int]]]]:
    """(scope path -> {signal name: id code}, id code -> [(time, value)]) of a VCD file (IEEE 1364
    section 18: $scope/$var/$upscope declarations, then #time and value changes). A reader of our
    own: pyvcd < 0.5, the one amaranth allows, rejects Verilator's `$rootio` scope name."""
    words = path.read_text().split()
    scopes, stack, changes, now, k = {}, [], {}, 0, 0
    while k < len(words):
        w = words[k]
        if w == "$scope":
            stack.append(words[k + 2])
            scopes.setdefault(".".join(stack), {})
            k += 4
        elif w == "$upscope":
            stack.pop()
            k += 2
        elif w == "$var":  # $var type size id reference [range] $end
            end = words.index("$end", k)
            scopes[".".join(stack)][words[k + 4]] = words[k + 3]
            k = end + 1
        elif w.startswith("$"):  # other sections ($timescale, $dumpvars, $end, ...): skip their keyword
            k += 1
        elif w.startswith("#"):
            now = int(w[1:])
            k += 1
        elif w[0] in "bB":  # vector change: b<bits> <id>
            if set(w[1:]) <= set("01"):
                changes.setdefault(words[k + 1], []).append((now, int(w[1:], 2)))
            k += 2
        else:  # scalar change: <0|1|x|z><id>
            if w[0] in "01":
                changes.setdefault(w[1:], []).append((now, int(w[0])))
            k += 1
    return scopes, changes


def settled(series: list[tuple[int, int]]) -> list[int]:
    """The last value at each time a signal changed."""
    last = {}
    for t, v in series:
        last[t] = v
    return [last[t] for t in sorted(last)]


@pytest.fixture(scope="module")
def seeds_build(tmp_path_factory):
    out = tmp_path_factory.mktemp("wave") / "out"
    compile_model(EX / "seeds.onnx", out, calibration=EX / "train.csv")
    return out


def test_simulate_wave_names_every_layer_and_records_the_first_vectors(seeds_build, capsys):
    wave = seeds_build / "wave.vcd"
    assert main(["simulate", str(seeds_build), "--data", str(EX / "test.csv"), "--wave", str(wave),
                 "--wave-vectors", "6"]) == 0
    out = capsys.readouterr().out
    assert "mismatches against the golden model: 0" in out and "PASS" in out
    assert f"waveform of the first 6 vectors: {wave}" in out and "gtkwave" in out and "surfer" in out
    scopes, changes = read_vcd(wave)
    # one scope per layer instance under the top, holding that layer's named nets
    layers = {name.rsplit(".", 1)[1]: sigs for name, sigs in scopes.items() if name.startswith("seeds.u_")}
    assert set(layers) == {"u_MatMul", "u_Relu_q", "u_MatMul1", "u_ArgMax"}
    assert any(s.startswith("l0_n0_") for s in layers["u_MatMul"]) and any(s.startswith("l1_y") for s in layers["u_Relu_q"])
    assert any(s.startswith("l2_n") for s in layers["u_MatMul1"]) and "l3_idx" in layers["u_ArgMax"]
    # the recorded inputs are the first six rows' codes, the outputs the golden model's classes
    from bespoke.api import load_compiled

    model = load_compiled(seeds_build)
    codes = model.encode(read_csv(EX / "test.csv", model.n_features)[0][:6])
    packed = [sum(int(c) << (4 * i) for i, c in enumerate(row)) for row in codes]
    assert settled(changes[scopes["seeds"]["x"]]) == [v for k, v in enumerate(packed) if k == 0 or v != packed[k - 1]]
    golden = np.asarray(model.predict_codes(codes)).reshape(-1).tolist()
    assert settled(changes[scopes["seeds"]["y"]]) == [v for k, v in enumerate(golden) if k == 0 or v != golden[k - 1]]
    # a layer's own nets change too: the first dense layer's outputs are recorded inside u_MatMul
    assert any(len(changes.get(code, [])) > 1 for name, code in layers["u_MatMul"].items() if name.startswith("l0_n"))


def test_wave_options_errors_are_one_line(seeds_build, capsys, monkeypatch):
    data = str(EX / "test.csv")
    assert main(["simulate", str(seeds_build), "--data", data, "--wave", str(seeds_build / "w.txt")]) == 2
    assert "name it .vcd or .fst" in capsys.readouterr().err
    assert main(["simulate", str(seeds_build), "--data", data, "--wave-vectors", "3"]) == 2
    assert "add --wave FILE" in capsys.readouterr().err
    monkeypatch.setattr(runner, "LZ4_HEADERS", (seeds_build / "no-lz4.h",))
    assert main(["simulate", str(seeds_build), "--data", data, "--wave", str(seeds_build / "w.fst")]) == 2
    err = capsys.readouterr().err.strip()
    assert "liblz4-dev" in err and "\n" not in err


@pytest.mark.skipif(shutil.which("iverilog") is None, reason="Icarus Verilog is not installed (apt-get install iverilog)")
def test_icarus_wave_has_the_same_layer_scopes(seeds_build, capsys):
    wave = seeds_build / "icarus.vcd"
    assert main(["simulate", str(seeds_build), "--data", str(EX / "test.csv"), "--simulator", "icarus",
                 "--wave", str(wave), "--wave-vectors", "3"]) == 0
    scopes, changes = read_vcd(wave)
    assert {s for s in scopes if s.startswith("seeds.u_")} == {"seeds.u_MatMul", "seeds.u_Relu_q", "seeds.u_MatMul1",
                                                             "seeds.u_ArgMax"}
    assert 1 <= len(settled(changes[scopes["seeds"]["x"]])) <= 3  # the first three vectors, no more
