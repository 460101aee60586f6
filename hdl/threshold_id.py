"""Threshold identification: is a Boolean function a threshold function, and with which gate?

A threshold function of n bits is f(x) = [sum_i w_i x_i >= T] for integer weights w_i and an
integer threshold T. `identify(table, n, max_weight)` decides it for a truth table (bit k of the
Python int `table` is f at the input vector whose bit i is x_i) and returns the realisation with
the smallest sum of |w_i| among those with every |w_i| <= max_weight, or None.

How. A threshold function is unate in every input (f only rises with x_i, or only falls), so a
function that is not unate is rejected at once (most functions: of the 65536 of four inputs,
only 1882 are threshold). For a unate one the sign of each weight is known (0 for an input f
does not read), which makes sum |w_i| linear, and the rest is one small integer program solved
by HiGHS (scipy.optimize.milp): f(x) = 1 rows ask w.x - T >= 0, f(x) = 0 rows w.x - T <= -1.
Integer weights make the margin of 1 exact, so the answer is a proof, not a tolerance.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp


class Gate(NamedTuple):
    """y = [sum w_i x_i >= threshold]."""

    weights: tuple[int, ...]
    threshold: int

    def table(self) -> int:
        """The gate's truth table (bit k: the output at the input vector k)."""
        return truth_table(lambda x: sum(w * b for w, b in zip(self.weights, x)) >= self.threshold, len(self.weights))


def truth_table(fn, n: int) -> int:
    """The truth table of fn(bits) over n inputs (bits[i] = bit i of the row index)."""
    return sum(1 << k for k in range(1 << n) if fn([(k >> i) & 1 for i in range(n)]))


def _rows(n: int) -> np.ndarray:
    """[2^n, n] array: row k holds the bits of k, LSB first."""
    k = np.arange(1 << n)
    return (k[:, None] >> np.arange(n)) & 1


def _values(table: int, n: int) -> np.ndarray:
    return np.array([(table >> k) & 1 for k in range(1 << n)], dtype=np.int64)


def polarities(table: int, n: int) -> tuple[int, ...] | None:
    """Per input +1 (f rises with it), -1 (falls), 0 (f ignores it); None if f is not unate.
    On the table's bits: f at x_i = 0 and at x_i = 1 are the table masked and shifted by 2^i."""
    signs = []
    for i in range(n):
        f0 = table & _low_mask(n, i)
        f1 = (table >> (1 << i)) & _low_mask(n, i)
        up, down = bool(f1 & ~f0), bool(f0 & ~f1)
        if up and down:
            return None
        signs.append(1 if up else -1 if down else 0)
    return tuple(signs)


@lru_cache(maxsize=None)
def _low_mask(n: int, i: int) -> int:
    """The rows of an n-input table whose bit i is 0."""
    return sum(1 << k for k in range(1 << n) if not (k >> i) & 1)


def flip(table: int, n: int, i: int) -> int:
    """The table of f with input i complemented: f(.., 1 - x_i, ..)."""
    mask, shift = _low_mask(n, i), 1 << i
    return ((table & mask) << shift) | ((table >> shift) & mask)


def identify(table: int, n: int, max_weight: int | None = None) -> Gate | None:
    """The threshold gate with the least sum |w_i| realising `table` over n inputs, all
    |w_i| <= max_weight (None: no bound beyond 2^n, more than any n <= 8 needs), or None when
    there is none (f is not a threshold function, or needs larger weights).

    A falling input is complemented first (x_i -> 1 - x_i turns weight w_i into -w_i and T into
    T - w_i, sum |w| unchanged), so only rising (monotone) functions reach the solver, once each."""
    if not 0 <= table < 1 << (1 << n):
        raise ValueError(f"truth table {table:#x} does not fit {n} inputs")
    signs = polarities(table, n)
    if signs is None:
        return None
    rising = table
    for i, s in enumerate(signs):
        if s < 0:
            rising = flip(rising, n, i)
    gate = _monotone(rising, n, (1 << n) if max_weight is None else int(max_weight))
    if gate is None:
        return None
    weights, threshold = list(gate.weights), gate.threshold
    for i, s in enumerate(signs):
        if s < 0:
            threshold -= weights[i]
            weights[i] = -weights[i]
    return Gate(tuple(weights), threshold)


@lru_cache(maxsize=None)
def _monotone(table: int, n: int, bound: int) -> Gate | None:
    """identify for a function that only rises with its inputs: weights >= 0 (>= 1 on the
    inputs it reads), one integer program minimising their sum."""
    if table == 0:
        return Gate((0,) * n, 1)
    if table == (1 << (1 << n)) - 1:
        return Gate((0,) * n, 0)
    if bound < 1:
        return None
    signs = polarities(table, n)
    x, f = _rows(n), _values(table, n)
    a = np.hstack([x, -np.ones((1 << n, 1))])  # variables: w_0..w_{n-1}, T
    lo = np.where(f == 1, 0, -np.inf)
    hi = np.where(f == 1, np.inf, -1)
    w_lo = [1 if s else 0 for s in signs]
    w_hi = [bound if s else 0 for s in signs]
    bounds = Bounds(w_lo + [0], w_hi + [n * bound + 1])
    cost = np.array([1.0] * n + [0.0])
    res = milp(cost, constraints=LinearConstraint(a, lo, hi), integrality=np.ones(n + 1), bounds=bounds)
    if res.status != 0:  # infeasible within the bound (status 2), or a solver failure
        return None
    sol = np.round(res.x).astype(int).tolist()
    gate = Gate(tuple(sol[:n]), sol[n])
    assert gate.table() == table, (table, gate)  # the solver's answer is checked, never trusted
    return gate
