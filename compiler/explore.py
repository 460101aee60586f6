"""Accuracy-aware design-space exploration of a printed MLP's approximations (issue 9).

A candidate is a genome of integers (`SearchSpace`): per dense layer its weight set
(compiler.approx: exact, csd2, pow2, ...), per connection the top bits of its input it reads (0
prunes it; on later layers these are the truncated low bits of the ReLU activation), per input
feature a cap on those bits (its ADC; 0 drops the feature, which a search over connections alone
seldom finds), per hidden requant the bits its ReLU saturates at, and the low bits of the logits
the argmax ignores. `decode` gives the
compiler.approx.Approximation.

`nsga2` searches it with pymoo's NSGA-II (an established multi-objective optimiser: the
non-dominated sort with crowding distance keeps a spread front, integer genes via rounding
repair) for two objectives, error on the training split and area from the in-memory cost model,
under the constraint error <= the budget; power rides along as a third figure. The objective
function is given, not fixed here (the driver, bespoke.explore, composes the golden model and
the cost model, which this layer may not import). Candidates are evaluated through an
`Executor`: local processes by default, a Dask cluster for users whose search outgrows one
machine; the search is seeded and its evaluations memoised by genome, so a run with the same
seed gives the same front wherever it is evaluated, and a run given the previous run's
evaluations (`cache`) resumes by replaying them.
"""

from __future__ import annotations

import concurrent.futures
import os
from dataclasses import dataclass
from typing import Callable, Iterable, Protocol

import numpy as np

from bespoke.compiler.approx import Approximation, dense_layers, input_widths, logit_width
from bespoke.compiler.errors import BespokeError
from bespoke.compiler.ir import IR, ArgMax, Requant

WEIGHT_SETS = ("exact", "csd2", "pow2")
Objectives = tuple[float, float, float]  # (training error, area, power)


@dataclass(frozen=True)
class Gene:
    kind: str  # "weights" | "bits" | "feature" | "relu" | "argmax"
    layer: str
    index: tuple[int, int] | int | None  # (neuron, input) of a "bits" gene, the input of a "feature" gene
    low: int
    high: int


class SearchSpace:
    """The genome of an integer MLP's approximations; gene 0 values are listed in `genes`."""

    def __init__(self, ir: IR, weight_sets: Iterable[str] = WEIGHT_SETS, argmax: bool = True):
        self.weight_sets = tuple(weight_sets)
        self.layers = dense_layers(ir)
        genes = [Gene("weights", n, None, 0, len(self.weight_sets) - 1) for n in self.layers]
        self.shapes = {}
        for n in self.layers:
            widths = input_widths(ir, n)
            out, inp = ir.layer(n).weight.shape
            self.shapes[n] = (out, inp)
            genes += [Gene("bits", n, (j, i), 0, int(widths[i])) for j in range(out) for i in range(inp)]
            if ir.inputs_of(n) == [ir.input_node()]:
                genes += [Gene("feature", n, i, 0, int(widths[i])) for i in range(inp)]
            else:
                (src,) = ir.inputs_of(n)
                if isinstance(ir.layer(src), Requant) and ir.layer(src).qmin == 0:
                    genes.append(Gene("relu", src, None, 1, int(ir.layer(src).qmax).bit_length()))
        if argmax and isinstance(ir.layer(ir.output_node()), ArgMax):
            genes.append(Gene("argmax", ir.output_node(), None, 0, max(0, logit_width(ir) - 4)))  # compare at least 4 bits
        self.genes = genes
        self.lower = np.array([g.low for g in genes])
        self.upper = np.array([g.high for g in genes])

    def __len__(self) -> int:
        return len(self.genes)

    def exact(self) -> np.ndarray:
        """The genome of the exact design: exact weights, every bit, the full argmax."""
        return np.array([g.low if g.kind in ("weights", "argmax") else g.high for g in self.genes])

    def decode(self, genome) -> Approximation:
        genome = np.asarray(genome, dtype=np.int64)
        weights, bits, relu, argmax_shift = {}, {n: np.zeros(s, np.int64) for n, s in self.shapes.items()}, {}, 0
        caps = []
        for g, v in zip(self.genes, genome.tolist()):
            if g.kind == "weights":
                weights[g.layer] = self.weight_sets[v]
            elif g.kind == "bits":
                bits[g.layer][g.index] = v
            elif g.kind == "feature":
                caps.append((g.layer, g.index, v))
            elif g.kind == "relu":
                if v < g.high:
                    relu[g.layer] = v
            else:
                argmax_shift = v
        for layer, i, cap in caps:
            bits[layer][:, i] = np.minimum(bits[layer][:, i], cap)
        cut = {n: b for n, b in bits.items() if np.any(b < self.upper_bits(n))}
        return Approximation(weights=weights, bits=cut, relu_bits=relu, argmax_shift=argmax_shift)

    def upper_bits(self, layer: str) -> np.ndarray:
        return np.array([g.high for g in self.genes if g.kind == "bits" and g.layer == layer]).reshape(self.shapes[layer])

    def weight_choice(self, genome) -> tuple[str, ...]:
        """The weight sets a genome chooses, per dense layer (what selects its retrained base)."""
        return tuple(self.weight_sets[int(v)] for g, v in zip(self.genes, genome) if g.kind == "weights")


# --------------------------------------------------------------------------- executors


class Executor(Protocol):
    """Evaluates fn(context, item) for many items, results in order. The context is sent once."""

    def map(self, fn: Callable, context, items: list) -> list: ...

    def close(self) -> None: ...


_CONTEXT = None  # the context of a local worker process (set by its initializer)


def _set_context(context) -> None:
    global _CONTEXT
    _CONTEXT = context


def _call(fn, item):
    return fn(_CONTEXT, item)


class SerialExecutor:
    """In this process (tests, one core)."""

    def map(self, fn, context, items):
        return [fn(context, item) for item in items]

    def close(self):
        pass


class LocalExecutor:
    """Worker processes on this machine (default: one per core); each receives the context once."""

    def __init__(self, workers: int | None = None):
        self.workers = workers or os.cpu_count() or 1
        self._pool, self._context_id = None, None

    def map(self, fn, context, items):
        if self._context_id != id(context):
            self.close()
            self._pool = concurrent.futures.ProcessPoolExecutor(self.workers, initializer=_set_context, initargs=(context,))
            self._context_id = id(context)
        chunk = max(1, len(items) // (4 * self.workers))
        return list(self._pool.map(_call, [fn] * len(items), items, chunksize=chunk))

    def close(self):
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool, self._context_id = None, None


class DaskExecutor:
    """A Dask distributed cluster (`scheduler`: its address, e.g. tcp://host:8786, or a Client)."""

    def __init__(self, scheduler):
        try:
            from distributed import Client
        except ImportError:
            raise BespokeError("--scheduler needs Dask distributed: pip install 'dask[distributed]'") from None
        try:
            self.client = scheduler if isinstance(scheduler, Client) else Client(scheduler, timeout=10)
        except OSError as e:
            raise BespokeError(f"cannot reach the Dask scheduler {scheduler!r}: {e}") from None
        self._owned = not isinstance(scheduler, Client)
        self._context, self._context_id = None, None

    def map(self, fn, context, items):
        if self._context_id != id(context):
            self._context = self.client.scatter(context, broadcast=True)
            self._context_id = id(context)
        futures = self.client.map(fn, [self._context] * len(items), items, pure=False)
        return self.client.gather(futures)

    def close(self):
        if self._owned:
            self.client.close()


# --------------------------------------------------------------------------- the search


@dataclass
class Evaluated:
    genome: tuple[int, ...]
    error: float
    area: float
    power: float


def genome_key(genome) -> tuple[int, ...]:
    return tuple(int(v) for v in genome)


def nsga2(space: SearchSpace, evaluate: Callable, context, *, budget: float, population: int = 64,
          generations: int = 40, seed: int = 0, executor: Executor | None = None, cache: dict | None = None,
          seeds: list[np.ndarray] = (), progress: Callable[[int, int, int], None] | None = None) -> list[Evaluated]:
    """NSGA-II over `space`; evaluate(context, genome) -> (error, area, power). Minimises (error,
    area) subject to error <= budget. Returns every distinct candidate evaluated, in evaluation
    order. `seeds`: genomes put in the first population (the exact design, say); `cache`: genome
    key -> objectives, read and extended (resume); progress(generation, generations, evaluations)."""
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.core.problem import Problem
    from pymoo.core.population import Population
    from pymoo.operators.crossover.sbx import SBX
    from pymoo.operators.mutation.pm import PM
    from pymoo.operators.repair.rounding import RoundingRepair

    executor = executor or SerialExecutor()
    cache = {} if cache is None else cache
    seen: dict[tuple[int, ...], Evaluated] = {}
    problem = Problem(n_var=len(space), n_obj=2, n_ieq_constr=1, xl=space.lower, xu=space.upper, vtype=int)
    rng = np.random.default_rng(seed)
    start = _initial_population(space, population, rng, seeds)
    algorithm = NSGA2(pop_size=population, sampling=Population.new("X", start),
                      crossover=SBX(prob=0.9, eta=15, vtype=float, repair=RoundingRepair()),
                      mutation=PM(eta=20, vtype=float, repair=RoundingRepair()), eliminate_duplicates=True)
    algorithm.setup(problem, termination=("n_gen", generations), seed=seed, verbose=False)
    gen = 0
    while algorithm.has_next():
        pop = algorithm.ask()
        genomes = [genome_key(x) for x in np.clip(np.rint(pop.get("X")), space.lower, space.upper).astype(np.int64)]
        todo = [g for g in dict.fromkeys(genomes) if g not in cache]
        for g, objectives in zip(todo, executor.map(evaluate, context, [np.array(g) for g in todo])):
            cache[g] = tuple(float(v) for v in objectives)
        for g in genomes:
            if g not in seen:
                seen[g] = Evaluated(g, *cache[g])
        f = np.array([[cache[g][0], cache[g][1]] for g in genomes])
        pop.set("X", np.array(genomes), "F", f, "G", (f[:, 0] - budget)[:, None])
        algorithm.tell(infills=pop)
        gen += 1
        if progress:
            progress(gen, generations, len(seen))
    return list(seen.values())


def _initial_population(space: SearchSpace, n: int, rng: np.random.Generator, seeds) -> np.ndarray:
    """The seeds, then genomes around the exact design with a random share of genes lowered: a
    uniform random genome prunes half of all connections and is almost never within the budget."""
    exact = space.exact()
    rows = [np.asarray(s) for s in seeds]
    while len(rows) < n:
        share = rng.uniform(0.0, 0.6)
        lowered = rng.integers(space.lower, space.upper + 1)
        rows.append(np.where(rng.random(len(space)) < share, lowered, exact))
    return np.array(rows[:n], dtype=np.int64)


def pareto(points: list[Evaluated], budget: float | None = None) -> list[Evaluated]:
    """The non-dominated points in (error, area), feasible ones only when a budget is given,
    sorted by area."""
    pts = sorted((p for p in points if budget is None or p.error <= budget), key=lambda p: (p.area, p.error))
    front, best = [], float("inf")
    for p in pts:
        if p.error < best:
            front.append(p)
            best = p.error
    return front
