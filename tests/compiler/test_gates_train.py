"""train-gates: deterministic, learns a tiny data set; the difflogic-style torch importer."""

from __future__ import annotations

import numpy as np
import pytest

from bespoke.cli import main
from bespoke.compiler.gates_format import read_gates, to_irs
from bespoke.compiler.gates_train import TrainOptions, connections, train
from bespoke.sim.golden import run


def tiny_data(n: int = 240, seed: int = 0):
    """Two features, three classes cut by thresholds: learnable by a few gates."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, 2))
    y = np.where(x[:, 0] > 0.6, 2, np.where(x[:, 1] > 0.5, 1, 0)) + 1
    return x, y


OPTIONS = TrainOptions(sizes=(24, 12), thresholds=4, epochs=40, min_steps=0, batch=64, tau=1.0, seed=3)


def test_training_is_deterministic_and_learns():
    x, y = tiny_data()
    lines = []
    a = train(x, y, OPTIONS, log=lines.append)
    b = train(x, y, OPTIONS)
    assert a.to_dict() == b.to_dict()
    assert lines[0].startswith("training 36 gates in layers [24, 12]") and any("epoch 40/40" in s for s in lines)
    assert a.labels == [1, 2, 3]
    xt, yt = tiny_data(400, seed=1)
    _, ir = to_irs(a)
    pred = np.asarray(a.labels)[run(ir, ir.encode_inputs(xt))[:, 0]]
    assert np.mean(pred == yt) > 0.8 and a.meta["train_accuracy"] > 0.8
    assert train(x, y, TrainOptions(**{**OPTIONS.__dict__, "seed": 4})).to_dict() != a.to_dict()


def test_connections_use_every_input():
    a, b = connections(np.random.default_rng(0), 30, 20)
    assert set(a.tolist()) | set(b.tolist()) == set(range(30)) and not np.any(a == b)


def test_cli_train_then_compile(tmp_path, capsys):
    x, y = tiny_data()
    csv = tmp_path / "train.csv"
    np.savetxt(csv, np.column_stack([x, y]), delimiter=",", header="x0,x1,label", comments="", fmt="%.6g")
    out = tmp_path / "g.json"
    assert main(["train-gates", "--train", str(csv), "--test", str(csv), "--gates", "36", "--group", "4", "--epochs", "5", "--min-steps", "0",
                 "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "epoch 5/5" in text and f"wrote {out}" in text
    assert read_gates(out).layers[-1][2].shape == (12,)


def test_import_difflogic_style_torch_module():
    torch = pytest.importorskip("torch")

    class Logic(torch.nn.Module):  # difflogic's LogicLayer's parameters: indices (a, b) and weights [n, 16]
        def __init__(self, n_in, n, gen):
            super().__init__()
            self.weights = torch.nn.Parameter(torch.randn(n, 16, generator=gen))
            a, b = connections(np.random.default_rng(n), n_in, n)
            self.indices = torch.tensor(a), torch.tensor(b)

        def forward(self, x):  # eval mode: each gate its argmax function, the real-valued forms
            a, b = x[:, self.indices[0]], x[:, self.indices[1]]
            ops = self.weights.argmax(-1)
            forms = torch.stack([torch.zeros_like(a), a * b, a - a * b, a, b - a * b, b, a + b - 2 * a * b, a + b - a * b,
                                 1 - (a + b - a * b), 1 - (a + b - 2 * a * b), 1 - b, 1 - b + a * b, 1 - a, 1 - a + a * b,
                                 1 - a * b, torch.ones_like(a)], dim=-1)
            return forms.gather(-1, ops.expand(len(x), -1)[..., None])[..., 0]

    class GroupSum(torch.nn.Module):
        def __init__(self, k, tau):
            super().__init__()
            self.k, self.tau = k, tau

        def forward(self, x):
            return x.reshape(len(x), self.k, -1).sum(-1) / self.tau

    gen = torch.Generator().manual_seed(0)
    model = torch.nn.Sequential(Logic(12, 40, gen), Logic(40, 30, gen), Logic(30, 15, gen), GroupSum(3, 2.0))
    bits = torch.randint(0, 2, (500, 12), generator=gen).float()
    with torch.no_grad():
        expected = (model(bits) * 2.0).round().long().numpy()
    from bespoke.compiler.gates_torch import from_torch

    net = from_torch(model, thresholds=[[1]] * 12, bits=1)  # code = bit, input bit = [code >= 1]
    codes = bits.long().numpy()
    assert np.array_equal(net.scores(codes), expected)
    _, ir = to_irs(net)
    assert np.array_equal(run(ir, codes)[:, 0], expected.argmax(axis=1))
    assert net.n_gates == 85 and net.tau == 2.0
