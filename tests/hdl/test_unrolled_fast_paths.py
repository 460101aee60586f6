"""The planner's fast paths build what the plain ones would: a stamped popcount is the cell-by-cell
one, the vectorised neuron plan is plan_neuron row by row, and a netlist is freed on return
without the garbage collector (planning runs with it paused)."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

from bespoke.hdl.netlist import Netlist
from bespoke.hdl.popcount import plan_popcount
from bespoke.hdl.unrolled import Stage, plan_unrolled
from bespoke.hdl.xnor_plan import plan_neuron, plan_neurons
from test_hdl_bnn import bnn_cnn
from test_hdl_lower import mlp


def cell_by_cell(st: Stage, bits: list[int], ge: bool, addend: int, neuron: int) -> None:
    """The popcount plan as Netlist.add calls, one per cell (what Stage.popcount stamps out)."""
    plan = plan_popcount(len(bits), ge)
    nets = dict(enumerate(bits))
    for k in range(plan.width if ge else 0):
        nets[plan.n + k] = st.const((addend >> k) & 1)
    for c in plan.cells:
        outs = st.nl.add("fa" if len(c.ins) == 3 else "ha", [nets[i] for i in c.ins],
                         [None if o is None else (0, 1) for o in (c.s, c.co)], None, st.group, neuron)
        nets.update((o, net) for o, net in zip((c.s, c.co), outs) if o is not None)
    out = [st.any([nets[i] for i in group], neuron) for group in plan.out]
    if not ge and len(out) > 1:
        st.cell("concat", out, 0, plan.n, neuron=neuron, name="pc_n")


def stage(n_inputs: int) -> Stage:
    nl = Netlist()
    x = [nl.net(0, 1) for _ in range(n_inputs)]
    return Stage(nl, "g", "l0_", x, [0] * n_inputs, [1] * n_inputs)


@pytest.mark.parametrize("ge", [False, True])
def test_stamped_popcount_is_the_cell_by_cell_one(ge):
    fast, slow = stage(60), stage(60)
    for n in range(1, 60):
        addend = (1 << n.bit_length()) - (n + 1) // 2
        fast.popcount(fast.x[:n], ge, addend, neuron=n, name="pc")
        cell_by_cell(slow, slow.x[:n], ge, addend, n)
    assert fast.nl.cells == slow.nl.cells
    assert (fast.nl.lo, fast.nl.hi, fast.nl.names) == (slow.nl.lo, slow.nl.hi, slow.nl.names)


@pytest.mark.parametrize("thresholds", [False, True])
def test_vectorised_neuron_plan_is_plan_neuron(thresholds):
    rng = np.random.default_rng(3)
    n_in, n_out = 40, 25
    lo = rng.integers(0, 2, n_in)
    hi = np.where(rng.random(n_in) < 0.3, lo, 1)  # some inputs constant (0 or 1)
    w = rng.integers(0, 2, (n_out, n_in))
    idx = np.stack([rng.permutation(n_in) for _ in range(n_out)])
    ts = rng.integers(0, n_in + 2, n_out).tolist() if thresholds else None
    want = [plan_neuron(list(zip(i, b)), lo.tolist(), hi.tolist(), t)
            for i, b, t in zip(idx.tolist(), w[np.arange(n_out)[:, None], idx].tolist(), ts or [None] * n_out)]
    assert plan_neurons(idx, w[np.arange(n_out)[:, None], idx], lo.tolist(), hi.tolist(), ts) == want


@pytest.mark.parametrize("ir", [mlp(seed=5, hidden=4), bnn_cnn(1)], ids=["mlp", "bnn_cnn"])
def test_netlist_is_freed_without_the_collector(ir):
    enabled = gc.isenabled()
    gc.disable()
    try:
        nl = plan_unrolled(ir, registers=True)
        ref = weakref.ref(nl)
        del nl
        assert ref() is None, "a reference cycle keeps the netlist alive until a GC pass"
    finally:
        if enabled:
            gc.enable()
