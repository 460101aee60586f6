"""`bespoke explore`: the smallest printed MLP within an accuracy budget (issue 9).

The flow step that composes the layers: the exact integer IR (bespoke.flow), the search space
and NSGA-II (bespoke.compiler.explore) whose objective function is defined here — the golden
model on the training split (error) and the in-memory cost model of the unrolled netlist (area,
power) — retraining (bespoke.compiler.retrain), and at the end the chosen design compiled,
simulated against its golden model, synthesised, and the report written.

    result = explore("cardio.onnx", "train.csv", "test.csv", target="egfet", max_loss=0.01)
    result.chosen.compile().save("out/chosen")      # every point re-compilable

Selection uses the training split only; the test split is measured for the front, never used to
choose (reported next to it).
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from bespoke import flow
from bespoke.progress import progress_bar
from bespoke.compiler.approx import Approximation, apply, check_mlp, describe, input_bits, logit_width
from bespoke.compiler.data import read_csv
from bespoke.compiler.errors import BespokeError
from bespoke.compiler.explore import (DaskExecutor, Evaluated, Executor, LocalExecutor, SearchSpace, SerialExecutor,
                                      genome_key, nsga2, pareto)
from bespoke.compiler.ir import IR
from bespoke.compiler.passes import PassManager

AREA_UNITS = {"egfet": ("cm2", 1e8)}  # per target: (unit, um2 per unit); silicon targets in mm2
MAX_BASES = 27  # weight-set combinations retrained; beyond, every layer takes the same set


@dataclass
class Context:
    """What an evaluation needs, sent once to every worker."""

    space: SearchSpace
    bases: dict[tuple[str, ...], IR]  # weight sets per dense layer -> the IR with those weights
    codes: np.ndarray  # training split, input codes
    labels: np.ndarray  # class indices
    target: str


def area_unit(target: str) -> tuple[str, float]:
    return AREA_UNITS.get(target, ("mm2", 1e6))


def evaluate(ctx: Context, genome) -> tuple[float, float, float]:
    """(training error, area in the target's unit, power mW) of one genome."""
    ir = design(ctx, genome)
    return (error(ir, ctx.codes, ctx.labels), *cost(ir, ctx.target))


def design(ctx: Context, genome) -> IR:
    return apply(*based(ctx, genome))


def based(ctx: Context, genome) -> tuple[IR, Approximation]:
    """The genome's base IR (weights already in their sets) and the approximation to apply to it."""
    approx = ctx.space.decode(genome)
    base = ctx.bases[ctx.space.weight_choice(genome)]
    shift = min(approx.argmax_shift, logit_width(base) - 1)  # the base's logits may be narrower than the exact ones
    return base, dataclasses.replace(approx, argmax_shift=shift)


def error(ir: IR, codes: np.ndarray, labels: np.ndarray) -> float:
    """Share of samples the design's golden model classifies wrongly."""
    from bespoke.sim.golden import run

    return float(np.mean(run(ir, codes, check_ranges=False)[:, 0] != labels))


def cost(ir: IR, target: str) -> tuple[float, float]:
    from bespoke.hdl.unrolled import plan_unrolled
    from bespoke.targets.estimate import estimate

    est = estimate(plan_unrolled(ir), target)
    return est.area_um2 / area_unit(target)[1], 1e3 * (est.total.leakage_w + est.total.dynamic_w)


def class_indices(ir: IR, labels: np.ndarray) -> np.ndarray:
    """Data labels -> the class indices the argmax outputs (ir.meta["labels"] maps them)."""
    names = ir.meta.get("labels")
    if names is None:
        return labels.astype(np.int64)
    index = {v: k for k, v in enumerate(np.asarray(names).tolist())}
    try:
        return np.array([index[v] for v in labels.tolist()], dtype=np.int64)
    except KeyError as e:
        raise BespokeError(f"label {e.args[0]!r} in the data is not a class of the model ({sorted(index)})") from None


# --------------------------------------------------------------------------- results


@dataclass(eq=False)  # a design is itself: identity, hashable
class Point:
    """One design of the front: its approximation, IR and figures."""

    id: int
    genome: tuple[int, ...]
    approx: Approximation
    ir: IR  # the approximated design
    base: IR  # the IR it approximates (weights in their sets): what `approx` is read against
    train_accuracy: float
    area: float
    power: float
    test_accuracy: float | None = None
    exact: bool = False
    retrained: bool = False
    synth: dict | None = None  # {"area": .., "power": ..} from real synthesis
    target: str = "egfet"
    float_ir: IR | None = field(default=None, repr=False)  # the model as trained (what simulate compares accuracy with)

    def compile(self, name: str | None = None):
        """This design as a CompiledModel (bespoke.api), ready to save, simulate and report."""
        from bespoke.api import CompiledModel

        name = name or self.ir.name
        hw = flow.hardware(self.ir, name)
        options = {"approx": self.describe(), "genome": list(self.genome), "model": self.ir.name}
        return CompiledModel(name, self.ir, self.float_ir, hw.verilog, hw.layout, hw.summary, options, netlist=hw.netlist)

    def describe(self) -> dict[str, str]:
        """The approximation per layer in words (compiler.approx.describe)."""
        return {"all": "exact"} if self.approx.is_exact() else describe(self.base, self.approx)

    def layer_area(self) -> dict[str, float]:
        """Cost-model area per layer, in the target's unit."""
        from bespoke.hdl.unrolled import plan_unrolled
        from bespoke.targets.estimate import estimate

        per = area_unit(self.target)[1]
        return {g: part.area_um2 / per for g, part in estimate(plan_unrolled(self.ir), self.target).groups.items()}


@dataclass
class ExploreResult:
    model: str
    target: str
    area_unit: str
    float_train_accuracy: float
    float_test_accuracy: float | None
    max_loss: float
    evaluations: int
    seconds: float
    seed: int
    features: list[str]
    exact: Point
    front: list[Point]
    chosen: Point | None

    def to_report(self) -> dict:
        """The plain data of targets.explore_report (its schema)."""
        pts = [self.exact] + [p for p in self.front if p is not self.exact]
        return {
            "model": self.model, "target": self.target, "area_unit": self.area_unit, "power_unit": "mW",
            "objective": "training error", "float_accuracy": self.float_train_accuracy,
            "float_test_accuracy": self.float_test_accuracy, "max_loss": self.max_loss,
            "evaluations": self.evaluations, "seconds": self.seconds, "seed": self.seed, "features": self.features,
            "points": [_point_dict(p, p is self.chosen, p in self.front) for p in pts],
        }


def _point_dict(p: Point, chosen: bool, on_front: bool) -> dict:
    return {"id": p.id, "exact": p.exact, "chosen": chosen, "pareto": on_front, "retrained": p.retrained,
            "train_accuracy": p.train_accuracy, "test_accuracy": p.test_accuracy, "area": p.area, "power": p.power,
            "synth_area": (p.synth or {}).get("area"), "synth_power": (p.synth or {}).get("power"),
            "approx": p.describe(), "input_bits": input_bits(p.base, p.approx),
            "layer_area": p.layer_area()}


# --------------------------------------------------------------------------- the flow step


def executor_for(scheduler=None, workers: int | None = None) -> Executor:
    if scheduler is not None:
        return DaskExecutor(scheduler)
    if workers == 1:
        return SerialExecutor()
    return LocalExecutor(workers)


def weight_bases(ir: IR, space: SearchSpace, codes, labels, retrain_fn: Callable | None, seed: int) -> dict:
    """Per combination of weight sets over the dense layers, the IR with those weights:
    projected and, with `retrain_fn`, retrained so the projection loses little."""
    combos = list(itertools.product(space.weight_sets, repeat=len(space.layers)))
    if len(combos) > MAX_BASES:
        combos = [(s,) * len(space.layers) for s in space.weight_sets]
    bases = {}
    for combo in combos:
        approx = Approximation(weights=dict(zip(space.layers, combo)))
        base = apply(ir, approx)
        if retrain_fn is not None and any(s != "exact" for s in combo):
            base = retrain_fn(base, codes, labels, dict(zip(space.layers, combo)), seed)
        bases[combo] = base
    return bases


def explore(model, train, test=None, *, target: str = "egfet", max_loss: float = 0.01, population: int = 64,
            generations: int = 60, rounds: int = 3, seed: int = 0, scheduler=None, workers: int | None = None,
            retrain: bool = True, calibration=None, input_bits: int = 4, progress: Callable | None = None,
            cache: dict | None = None, finetune: int = 12, slack: float = 0.02) -> ExploreResult:
    """Search the approximations of `model` (ONNX) for the smallest design within `max_loss` of
    the float model's training accuracy. train/test: CSV paths (features, label).

    The search runs in `rounds`, generations split between them. Each round's NSGA-II searches
    with the current base weights and without retraining (milliseconds per design), under a
    budget `slack` looser than the user's, as retraining wins some accuracy back; then up to
    `finetune` designs spread over its front are retrained with their own masks and weight sets
    (compiler.retrain), and the retrained weights of the smallest feasible design per weight-set
    choice become the bases of the next round, whose population starts from the front."""
    t0 = time.perf_counter()
    float_ir = flow.frontend(model)
    n = float_ir.out(float_ir.input_node()).size
    x_train, y_train = read_csv(train, n)
    if y_train is None:
        raise BespokeError(f"{train}: no label column; exploration needs labelled training data")
    ir = flow.run_passes(float_ir, calibration=calibration if calibration is not None else train, input_bits=input_bits)
    check_mlp(ir)
    labels = class_indices(ir, y_train)
    codes = ir.encode_inputs(x_train)
    float_train = 1 - error(float_ir, x_train, labels)
    budget = (1.0 - float_train) + max_loss
    space = SearchSpace(ir)
    retrain_fn = _retrainer() if retrain else None
    bases = weight_bases(ir, space, codes, labels, retrain_fn, seed)
    cache = {} if cache is None else cache
    exact_genome = genome_key(space.exact())
    designs: list[Point] = []
    evaluations, seeds = 0, [space.exact()]
    rounds = max(1, min(rounds, generations))
    executor = executor_for(scheduler, workers)
    try:
        for r in range(rounds):
            ctx = Context(space, bases, codes, labels, target)
            gens = generations // rounds + (1 if r < generations % rounds else 0)
            done = sum(generations // rounds + (1 if k < generations % rounds else 0) for k in range(r))
            tick = None if progress is None else (lambda g, _, e, done=done, ev=evaluations: progress(done + g, generations, ev + e))
            points = nsga2(space, evaluate, ctx, budget=budget + slack, population=population, generations=gens,
                           seed=seed + r, executor=executor, cache=cache.setdefault(f"round{r}", {}), seeds=seeds,
                           progress=tick)
            evaluations += len(points)
            if r == 0:
                exact = _point(ctx, 0, next(p for p in points if p.genome == exact_genome), float_ir)
                exact.exact = True
            found = [_point(ctx, len(designs) + k, p, float_ir) for k, p in enumerate(spread(pareto(points, budget + slack), finetune))]
            if retrain_fn is not None:
                found = [_finetuned(ctx, p, retrain_fn, seed) for p in found]
            designs += found
            bases = rebased(bases, [p for p in found if 1 - p.train_accuracy <= budget], space)
            seeds = [space.exact()] + [np.array(p.genome) for p in found]
    finally:
        executor.close()
    feasible = [p for p in designs if 1 - p.train_accuracy <= budget and not p.approx.is_exact()]
    chosen = min(feasible, key=lambda p: (p.area, -p.train_accuracy)) if feasible else None
    final = _front(feasible + [exact])
    for k, p in enumerate([exact] + [p for p in final if p is not exact]):
        p.id = k  # the exact design is 0, the front in area order from 1
    float_test = None
    if test is not None:
        x_test, y_test = read_csv(test, n)
        t_codes, t_labels = ir.encode_inputs(x_test), class_indices(ir, y_test)
        float_test = 1 - error(float_ir, x_test, t_labels)
        for p in {id(p): p for p in final + [exact]}.values():
            p.test_accuracy = 1 - error(p.ir, t_codes, t_labels)
    features = ir.meta.get("features") or [f"x{i}" for i in range(n)]
    return ExploreResult(ir.name, target, area_unit(target)[0], float_train, float_test, max_loss, evaluations,
                         time.perf_counter() - t0, seed, list(features), exact, final, chosen)


def spread(front: list[Evaluated], k: int) -> list[Evaluated]:
    """Up to k points of a front sorted by area, evenly spaced along it, its smallest first."""
    if len(front) <= k:
        return front
    idx = sorted({round(i * (len(front) - 1) / (k - 1)) for i in range(k)}) if k > 1 else [0]
    return [front[i] for i in idx]


def rebased(bases: dict, designs: list[Point], space: SearchSpace) -> dict:
    """The next round's bases: per weight-set choice, the weights and biases of its smallest
    retrained feasible design (its other approximations stripped: the genome sets those)."""
    new = dict(bases)
    for combo in bases:
        mine = [p for p in designs if p.retrained and space.weight_choice(p.genome) == combo]
        if not mine:
            continue
        best = min(mine, key=lambda p: p.area)
        base = bases[combo].copy()
        for n in space.layers:
            layer = best.ir.layer(n)
            base.replace_layer(n, dataclasses.replace(base.layer(n), weight=layer.weight, bias=layer.bias))
        base.clear_ranges()
        new[combo] = PassManager.from_string("infer-ranges").run(base)
    return new


def _point(ctx: Context, k: int, p: Evaluated, float_ir: IR) -> Point:
    base, approx = based(ctx, p.genome)
    return Point(k, p.genome, approx, apply(base, approx), base, 1 - p.error, p.area, p.power, target=ctx.target,
                 float_ir=float_ir)


def _finetuned(ctx: Context, p: Point, retrain_fn: Callable, seed: int) -> Point:
    """The point retrained with its masks and weight sets; kept when it is at least as accurate."""
    sets = dict(zip(ctx.space.layers, ctx.space.weight_choice(p.genome)))
    ir = retrain_fn(p.ir, ctx.codes, ctx.labels, sets, seed)
    err = error(ir, ctx.codes, ctx.labels)
    if 1 - err < p.train_accuracy:
        return p
    area, power = cost(ir, ctx.target)
    return dataclasses.replace(p, ir=ir, train_accuracy=1 - err, area=area, power=power, retrained=True)


def _front(points: list[Point]) -> list[Point]:
    pts = sorted(points, key=lambda p: (p.area, -p.train_accuracy))
    out, best = [], -1.0
    for p in pts:
        if p.train_accuracy > best:
            out.append(p)
            best = p.train_accuracy
    return out


def _retrainer() -> Callable:
    """retrain(ir, codes, labels, weight sets per layer, seed) -> IR (compiler.retrain, projecting
    each layer onto its set)."""
    from bespoke.compiler.approx import project
    from bespoke.compiler.retrain import retrain

    def run(ir, codes, labels, sets, seed):
        proj = {n: (lambda w, s=s: project(w, s)) for n, s in sets.items()}
        return retrain(ir, codes, labels, proj, seed=seed)

    return run


# --------------------------------------------------------------------------- the command: search, then build what was found


CACHE = "evaluations.json"  # genome -> objectives of a run, kept in the output directory: a rerun resumes from it


def load_cache(out: Path, key: dict) -> dict:
    """The evaluations of an earlier run with the same model and options (else none): per round,
    genome -> objectives."""
    import json

    try:
        saved = json.loads((out / CACHE).read_text())
    except (OSError, ValueError):
        return {}
    if saved.get("key") != key:
        return {}
    return {r: {tuple(g): tuple(v) for g, v in rows} for r, rows in saved["evaluations"].items()}


def save_cache(out: Path, key: dict, cache: dict) -> None:
    import json
    import os

    out.mkdir(parents=True, exist_ok=True)
    rows = {r: [[list(g), list(v)] for g, v in evals.items()] for r, evals in cache.items()}
    tmp = out / (CACHE + ".tmp")
    tmp.write_text(json.dumps({"key": key, "evaluations": rows}))
    os.replace(tmp, out / CACHE)


def synthesise(points: list[Point], target: str, codes: np.ndarray | None, log=print) -> None:
    """Real synthesis figures (area in the target's unit, power mW) onto each point."""
    per = area_unit(target)[1]
    for p in points:
        hw = flow.hardware(p.ir, p.ir.name)
        rep = flow.report(hw, target, vectors=codes)
        area = rep["area"]["um2"] / per if rep.get("area") else None
        power = 1e3 * rep["power"]["total_w"] if rep.get("power") else None
        p.synth = {"area": area, "power": power}
        if log:
            log(f"  synthesised design {p.id}: {area:.3f} {area_unit(target)[0]}, {power:.2f} mW")


def file_digest(path) -> str | None:
    import hashlib

    return None if path is None else hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def run_explore(model, train, test, out, *, target="egfet", max_loss=0.01, population=64, generations=60, rounds=3,
                seed=0, workers=None, scheduler=None, retrain=True, synth=4, simulator="verilator", quiet=False, log=print) -> int:
    """`bespoke explore`: search, then build, simulate, synthesise and report what was found in
    `out` (chosen/, exact/: build directories; report.html, pareto.csv, pareto.json; evaluations.json
    lets a rerun with the same options resume). Returns the exit code (1 when simulation fails)."""
    from bespoke.targets.explore_report import write_explore_report

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise BespokeError(f"{out}: exists and is not a directory")
    for path in (model, train, test):
        if path is not None and not Path(path).is_file():
            raise BespokeError(f"{path}: no such file")
    key = {"model": file_digest(model), "train": file_digest(train), "target": target, "max_loss": max_loss, "seed": seed,
           "population": population, "generations": generations, "rounds": rounds, "retrain": retrain}
    cache = load_cache(out, key)
    if cache and log:
        log(f"resuming: {sum(map(len, cache.values()))} evaluations of an earlier run in {out / CACHE}")
    with progress_bar(quiet or not log, generations) as update:
        result = explore(model, train, test, target=target, max_loss=max_loss, population=population,
                         generations=generations, rounds=rounds, seed=seed, workers=workers, scheduler=scheduler, retrain=retrain,
                         progress=update, cache=cache)
    save_cache(out, key, cache)
    if log:
        log(f"{result.evaluations} designs evaluated in {result.seconds:.0f} s; float model {100 * result.float_train_accuracy:.2f} % "
            f"(train), budget {100 * (result.float_train_accuracy - max_loss):.2f} %")
    failed = False
    result.exact.compile().save(out / "exact")
    picked = [result.exact]
    if result.chosen is not None:
        result.chosen.compile().save(out / "chosen")
        write_masks(out / "chosen" / "masks.json", result.chosen)
        picked.append(result.chosen)
        if test is not None:
            from bespoke.api import load_compiled

            sim = load_compiled(out / "chosen").simulate(test, simulator=simulator)
            failed = not sim.passed
            if log:
                log(f"chosen design simulated ({simulator}): {sim.vectors} vectors, {sim.mismatches} mismatches against its golden model"
                    + ("" if sim.passed else " — FAIL"))
    others = [p for p in result.front if p not in picked]
    step = max(1, len(others) // max(synth, 1))
    picked += others[::step][:synth] if synth > 0 else []
    if log:
        log(f"synthesising {len(picked)} designs on {target} ...")
    codes = None
    if test is not None:
        x_test, _ = read_csv(test, result.exact.ir.out(result.exact.ir.input_node()).size)
        codes = result.exact.ir.encode_inputs(x_test)
    synthesise(picked, target, codes, log if log and not quiet else None)
    files = write_explore_report(out, result.to_report())
    if log:
        log(format_front(result))
        log(f"wrote {files['html']}, {files['csv'].name}, {files['json'].name}, exact/" + (", chosen/" if result.chosen else ""))
        if result.chosen is None:
            log(f"no design within {100 * max_loss:.1f} % of the float model's accuracy; the exact design is in exact/")
    return 1 if failed else 0


def write_masks(path: Path, p: Point) -> None:
    """The design's input bits per connection, as `bespoke compile --approx masks=FILE` reads them."""
    import json

    path.write_text(json.dumps({n: np.asarray(b).tolist() for n, b in p.approx.bits.items()}, indent=1) + "\n")


def format_front(result: ExploreResult) -> str:
    unit = result.area_unit
    rows = [f"{'design':>8s} {'train %':>8s} {'test %':>8s} {'area ' + unit:>10s} {'mW':>7s} {'synth ' + unit:>11s} {'synth mW':>9s}"]
    for p in [result.exact] + [p for p in result.front if p is not result.exact]:
        tag = "exact" if p.exact else ("chosen" if p is result.chosen else str(p.id))
        test = "" if p.test_accuracy is None else f"{100 * p.test_accuracy:.2f}"
        s = p.synth or {}
        sa = "" if s.get("area") is None else f"{s['area']:.3f}"
        sp = "" if s.get("power") is None else f"{s['power']:.2f}"
        rows.append(f"{tag:>8s} {100 * p.train_accuracy:8.2f} {test:>8s} {p.area:10.3f} {p.power:7.2f} {sa:>11s} {sp:>9s}")
    return "\n".join(rows)
