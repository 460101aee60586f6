"""gates.json: the 16 functions, round trip, simplification == the file's network, user errors."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from bespoke.cli import main
from bespoke.compiler import logic
from bespoke.compiler.errors import BespokeError
from bespoke.compiler.gates_format import read_gates, simplify, to_irs
from bespoke.sim.golden import run, run_all

from gates_builders import all_codes, random_network

# the 16 functions written out, in difflogic's order (independent of logic.apply's bit trick)
EXPRESSIONS = [lambda a, b: 0, lambda a, b: a & b, lambda a, b: a & ~b & 1, lambda a, b: a, lambda a, b: ~a & b & 1,
               lambda a, b: b, lambda a, b: a ^ b, lambda a, b: a | b, lambda a, b: 1 - (a | b), lambda a, b: 1 - (a ^ b),
               lambda a, b: 1 - b, lambda a, b: a | (1 - b), lambda a, b: 1 - a, lambda a, b: (1 - a) | b,
               lambda a, b: 1 - (a & b), lambda a, b: 1]


def test_ops_are_difflogic_order():
    for op, f in enumerate(EXPRESSIONS):
        for a in (0, 1):
            for b in (0, 1):
                assert logic.apply(op, a, b) == f(a, b), (op, a, b)
                c = logic.COEFFS[op]
                assert c[0] + c[1] * a + c[2] * b + c[3] * a * b == f(a, b)
        assert logic.op_of(logic.table(op)) == op


def test_round_trip(tmp_path):
    net = random_network(1)
    path = net.save(tmp_path / "n.json")
    again = read_gates(path)
    assert again.to_dict() == net.to_dict()


@pytest.mark.parametrize("seed", range(6))
def test_simplified_ir_computes_the_file(seed):
    """Constant folding, merging and dead-gate removal keep every group sum, on random networks
    with every op id, constant input bits, skip connections and gates reading one net twice."""
    net = random_network(seed, skips=seed % 2 == 0)
    float_ir, ir = to_irs(net)
    codes = all_codes(net.n_features, net.bits, 3000, seed)
    values = run_all(ir, codes)  # checks every value against its proven range
    assert np.array_equal(values["group_sum"], net.scores(codes))
    assert np.array_equal(run(ir, codes)[:, 0], net.predict_codes(codes))
    s = simplify(net)
    assert s.counts["gates"] + s.counts["inverters"] + s.counts["constants"] == len(s.ops) <= net.n_gates + len(s.outputs)
    # the float IR is the same network on real features; codes' own values sit inside code boundaries
    assert np.array_equal(run(float_ir, codes * net.scale)[:, 0], run(ir, codes)[:, 0])


def test_constant_and_duplicate_gates_fold():
    net = random_network(0, features=2, sizes=(6,), classes=2)
    net.thresholds = [[4], [9]]
    # gate 0 = x0 & x1, gate 1 = the same again, gate 2 = x0 & ~x0 (0), gate 3 = a | ~a (1), gate 4 = ~x1, gate 5 = x0
    net.layers = [(np.array([0, 0, 0, 0, 1, 0]), np.array([1, 1, 0, 0, 1, 1]), np.array([1, 1, 2, 11, 12, 3]))]
    s = simplify(net)
    assert s.counts["gates"] == 1 and s.counts["constants"] == 2 and s.counts["inverters"] == 1
    _, ir = to_irs(net)
    codes = all_codes(2, 4, 500)
    assert np.array_equal(run_all(ir, codes)["group_sum"], net.scores(codes))


def _bad(tmp_path, edit) -> tuple[int, str]:
    d = random_network(3, skips=False).to_dict()
    edit(d)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(d))
    return path


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["layers"][1]["op"].__setitem__(2, 16), "layer 1 gate 2: op id 16 is not one of the 16"),
    (lambda d: d["layers"][0]["a"].__setitem__(0, 10_000), "layer 0 gate 0: input a = 10000 is out of range"),
    (lambda d: d["layers"][2]["b"].__setitem__(1, -1), "layer 2 gate 1: input b = -1 is out of range"),
    (lambda d: (d["layers"][1]["a"].__setitem__(0, _net(d, 1, 1)), d["layers"][1]["b"].__setitem__(1, _net(d, 1, 0))),
     "the gates form a cycle (each feeds the next): layer 1 gate 0 -> layer 1 gate 1 -> layer 1 gate 0"),
    (lambda d: d["layers"][0]["a"].__setitem__(3, _net(d, 0, 3)), "the gates form a cycle (each feeds the next): layer 0 gate 3 -> layer 0 gate 3"),
    (lambda d: (d["head"].__setitem__("classes", 5), d.pop("labels")), "do not split into 5 equal groups"),
    (lambda d: d["layers"][0].__setitem__("op", [1.5]), "layer 0: op must be a list of integers"),
])
def test_bad_model_file_is_a_one_line_error(tmp_path, capsys, edit, message):
    path = _bad(tmp_path, edit)
    with pytest.raises(BespokeError, match=re.escape(message)):
        read_gates(path)
    assert main(["compile", str(path), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and err.startswith("bespoke: error: ")
    assert not (tmp_path / "out").exists()


def _net(d: dict, layer: int, gate: int) -> int:
    """The global net number of a gate in a gates.json dict."""
    bits = sum(len(t) for t in d["inputs"]["thresholds"])
    return bits + sum(len(lay["op"]) for lay in d["layers"][:layer]) + gate


def test_not_json_is_a_user_error(tmp_path, capsys):
    path = tmp_path / "x.json"
    path.write_text("{")
    assert main(["compile", str(path), "-o", str(tmp_path / "out")]) == 2
    assert "not JSON" in capsys.readouterr().err
