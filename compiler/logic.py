"""The 16 two-input logic functions, in difflogic's order, declared once.

Gate op id k (0..15) computes f_k(a, b) = bit (3 - (2a + b)) of k: reading the truth table in
the order (a, b) = 00, 01, 10, 11 as a 4-bit number, most significant first, gives its id.
So ids and functions are (the table of Petersen et al., NeurIPS'22, and of difflogic's code):

     0 false       4 ~a & b     8 ~(a | b)   12 ~a
     1 a & b       5 b          9 ~(a ^ b)   13 ~a | b
     2 a & ~b      6 a ^ b     10 ~b        14 ~(a & b)
     3 a           7 a | b     11 a | ~b    15 true

The golden model (layers.LogicGates), the range rule, the netlist planner (hdl.gates_stage),
the model file's simplifier (compiler.gates_format) and the trainer's relaxation
(compiler.gates_train: the multilinear extension of each table, as the paper) all read these
functions from here.
"""

from __future__ import annotations

import numpy as np

N_OPS = 16
NAMES = ("false", "a&b", "a&~b", "a", "~a&b", "b", "a^b", "a|b", "~(a|b)", "~(a^b)", "~b", "a|~b", "~a", "~a|b",
         "~(a&b)", "true")


def table(op: int) -> tuple[int, int, int, int]:
    """f_op at (a, b) = (0, 0), (0, 1), (1, 0), (1, 1)."""
    return tuple((op >> (3 - k)) & 1 for k in range(4))


def op_of(table_bits) -> int:
    """The op id of a truth table given as f(0,0), f(0,1), f(1,0), f(1,1)."""
    return sum(int(v) << (3 - k) for k, v in enumerate(table_bits))


def apply(op, a, b):
    """f_op(a, b) on bits (ints or integer arrays; op may be an array broadcast against them)."""
    return (op >> (3 - 2 * a - b)) & 1


def out_range(op: int, a_lo: int, a_hi: int, b_lo: int, b_hi: int, same: bool = False) -> tuple[int, int]:
    """[lo, hi] of f_op over the bits a in [a_lo, a_hi], b in [b_lo, b_hi] (b = a when `same`: a
    gate reading one net twice): exact, a constant where the function or its inputs make it one."""
    if same:
        values = [apply(op, a, a) for a in range(a_lo, a_hi + 1)]
    else:
        values = [apply(op, a, b) for a in range(a_lo, a_hi + 1) for b in range(b_lo, b_hi + 1)]
    return min(values), max(values)


def depends(op: int) -> tuple[bool, bool]:
    """Whether f_op depends on a, and on b."""
    t = table(op)
    return (t[0], t[1]) != (t[2], t[3]), (t[0], t[2]) != (t[1], t[3])


# relaxation: f(a, b) = c0 + c1 a + c2 b + c3 a b on probabilities a, b (the multilinear extension
# of the table, what the paper's real-valued operators are); COEFFS[k] = (c0, c1, c2, c3) of op k
COEFFS = np.array([[t[0], t[2] - t[0], t[1] - t[0], t[0] - t[1] - t[2] + t[3]] for t in map(table, range(N_OPS))],
                  dtype=np.float64)
