import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # mlp_designs

from mlp_designs import Mlp


@pytest.fixture(scope="session")
def small_mlp() -> Mlp:
    """A 6-3-3 MLP: big enough to exercise adders, ReLU, requantisation and argmax, small to synthesise."""
    return Mlp.random((6, 3, 3), seed=5)


@pytest.fixture(scope="session")
def mlp_files(small_mlp, tmp_path_factory):
    """{"comb": path, "pipe": path} of the small MLP's Verilog."""
    d = tmp_path_factory.mktemp("mlp")
    files = {}
    for kind, pipelined in (("comb", False), ("pipe", True)):
        files[kind] = d / f"mlp_{kind}.v"
        files[kind].write_text(small_mlp.verilog(pipelined))
    return files


@pytest.fixture(scope="session")
def codes(small_mlp) -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.integers(0, 16, size=(300, small_mlp.sizes[0]))
