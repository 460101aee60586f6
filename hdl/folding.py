"""Folding search: PE and SIMD per matrix layer for a target initiation interval of the dataflow
engine (FINN's `SetFolding` / target_fps_parallelization, on our cycle model).

Every layer gets the cheapest folding whose occupancy fits the bound, PE dividing the rows and
SIMD the columns so nothing is padded; ties go to the faster choice. The cost is an estimate of
the MVU's logic: PE x SIMD multiply (XNOR) lanes, and per PE an accumulator and its threshold
compare, counted as its accumulator width in lanes. The chain's interval
(folded_plan.dataflow_interval) may exceed the slowest layer by the slot turnover of two
neighbours, so the bound is tightened until the whole chain meets the target.
"""

from __future__ import annotations

from bespoke.compiler.errors import BespokeError
from bespoke.compiler.ir import IR
from bespoke.hdl.folded_plan import LayerPlan, dataflow_interval, plan_network


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def occupancy(layer: LayerPlan, pe: int, simd: int) -> int:
    """LayerPlan.occupancy of `layer` refolded at pe x simd (both dividing its matrix)."""
    return layer.occupancy - layer.cycles + layer.n_positions * (layer.rows // pe) * (layer.cols // simd)


def cost(layer: LayerPlan, pe: int, simd: int) -> int:
    return pe * (simd + layer.acc_shape[0])


def cheapest(layer: LayerPlan, bound: int) -> tuple[int, int]:
    """The cheapest (pe, simd) whose occupancy is at most `bound`; fully parallel when none is."""
    options = [(cost(layer, p, s), occupancy(layer, p, s), p, s) for p in divisors(layer.rows) for s in divisors(layer.cols)]
    fitting = [o for o in options if o[1] <= bound] or [max(options)]
    _, _, p, s = min(fitting)
    return p, s


def fold_for_interval(ir: IR, target: int) -> tuple[list[int], list[int]]:
    """(pe per layer, simd per layer) of the cheapest folding found whose dataflow interval is at
    most `target` cycles, or a BespokeError when even full parallelism is slower."""
    if isinstance(target, bool) or not isinstance(target, int) or target < 1:
        raise BespokeError(f"target interval {target!r} must be a positive number of cycles")
    layers = plan_network(ir, 1, 1, dataflow=True).layers  # the shapes; the folding is chosen below
    fastest = dataflow_interval([occupancy(layer, layer.rows, layer.cols) for layer in layers])
    if target < fastest:
        raise BespokeError(f"target interval {target} cycles is below the fastest this network streams at "
                           f"(every layer fully parallel: one input every {fastest} cycles)")
    for bound in range(target, 0, -1):
        folding = [cheapest(layer, bound) for layer in layers]
        if dataflow_interval([occupancy(layer, p, s) for layer, (p, s) in zip(layers, folding)]) <= target:
            return [p for p, _ in folding], [s for _, s in folding]
    raise AssertionError("unreachable: full parallelism meets the target")  # bound 1 folds every layer fully
