"""hdl.threshold_id against brute force on every Boolean function of up to four inputs."""

from itertools import product

import numpy as np
import pytest

from bespoke.hdl.threshold_id import Gate, flip, identify, polarities

# threshold functions of n inputs, constants included (OEIS A000609)
KNOWN_COUNTS = {0: 2, 1: 4, 2: 14, 3: 104, 4: 1882}


def brute_force(n: int, w_max: int = 4) -> dict[int, int]:
    """Every truth table some gate with |w_i| <= w_max realises, with the least sum |w| doing so."""
    if n == 0:
        return {0: 0, 1: 0}
    x = (np.arange(1 << n)[:, None] >> np.arange(n)) & 1  # [rows, n]
    weights = np.array(list(product(range(-w_max, w_max + 1), repeat=n)), dtype=np.int64)
    sums = x @ weights.T  # [rows, weight vectors]
    cost = np.abs(weights).sum(axis=1)
    best: dict[int, int] = {}
    place = 1 << np.arange(1 << n, dtype=object)
    for t in range(-n * w_max, n * w_max + 2):
        tables = ((sums >= t).astype(object) * place[:, None]).sum(axis=0)
        for table, c in zip(tables.tolist(), cost.tolist()):
            if c < best.get(table, 1 << 30):
                best[table] = c
    return best


@pytest.mark.parametrize("n", range(5))
def test_every_function_classified(n):
    best = brute_force(n)
    assert len(best) == KNOWN_COUNTS[n]
    for table in range(1 << (1 << n)):
        gate = identify(table, n)
        if table not in best:
            assert gate is None, (n, hex(table), gate)
            continue
        assert gate is not None, (n, hex(table))
        assert gate.table() == table
        assert sum(map(abs, gate.weights)) == best[table], (n, hex(table), gate)


def test_weight_bound():
    g = Gate((1, 1, 2, 3), 5)  # needs weight 3: no realisation within 2
    assert identify(g.table(), 4) is not None
    assert max(map(abs, identify(g.table(), 4).weights)) == 3
    assert identify(g.table(), 4, max_weight=2) is None
    assert identify(g.table(), 4, max_weight=3).table() == g.table()


def test_known_gates():
    maj = Gate((1, 1, 1), 2).table()
    assert identify(maj, 3) == Gate((1, 1, 1), 2)
    xor = 0b0110
    assert polarities(xor, 2) is None and identify(xor, 2) is None
    nand = 0b0111
    assert identify(nand, 2) == Gate((-1, -1), -1)
    assert flip(flip(maj, 3, 1), 3, 1) == maj
