"""Fault campaigns on a build: how the design's accuracy degrades under hardware faults.

`run_campaign(build, data)` re-plans the build's netlist (api.load_netlist), runs the data set
through bespoke.hdl.faults.FaultSim and measures, against the data's labels (or, without labels,
against the fault-free outputs):
  - single faults: stuck-at-0 and stuck-at-1 on every fault site (or a uniform sample of them),
    summarised per layer, with the faults that cost most accuracy;
  - accuracy against the number of faults present together (random sites and polarities,
    `trials` sets per count): the curve a range-restricted design is compared on;
  - for designs with registers (pipelines), transient bit flips: the share that change the output
    of the vector they hit.
The fault-free simulation is checked against the golden model first, vector for vector.
`write_campaign` saves faults.json and faults.png.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from bespoke.api import load_compiled, load_netlist
from bespoke.compiler.data import read_csv
from bespoke.compiler.errors import BespokeError
from bespoke.hdl.faults import FLIP, KIND_NAMES, FaultSim

BATCH = 128  # trials evaluated together: [BATCH, vectors] arrays per live net
COUNTS = (1, 2, 4, 8, 16, 32, 64)


@dataclass
class Campaign:
    design: str
    data: str
    vectors: int
    metric: str  # "accuracy" (labels) or "agreement" (share of vectors whose output equals the fault-free one)
    fault_free: float
    sites: int
    restricted: str | None  # built with restrict-ranges: per "layer" or "neuron"
    single: dict = field(default_factory=dict)
    curve: list[dict] = field(default_factory=list)
    flips: dict | None = None
    seconds: float = 0.0


class _Scorer:
    """The metric of a batch of trial outputs [T, vectors, outputs] -> [T]."""

    def __init__(self, model, fault_free: np.ndarray, labels: np.ndarray | None):
        self.fault_free, self.labels = fault_free, labels
        n_classes = model.ir.out(model.ir.inputs_of(model.ir.output_node())[0]).size
        self.classes = np.asarray(model.ir.meta.get("labels", np.arange(n_classes)))  # class index -> label

    def __call__(self, outs: np.ndarray) -> np.ndarray:
        if self.labels is None:
            return (outs == self.fault_free[None]).all(axis=2).mean(axis=1)
        index = outs[..., 0]  # a fault can drive the index past the last class (or lose it: LOST): never right
        valid = (index >= 0) & (index < len(self.classes))
        return (valid & (self.classes[np.clip(index, 0, len(self.classes) - 1)] == self.labels[None])).mean(axis=1)

    def changed(self, outs: np.ndarray) -> np.ndarray:
        """Per trial: the share of vectors whose output differs from the fault-free one."""
        return (outs != self.fault_free[None]).any(axis=2).mean(axis=1)


def run_campaign(build: str | Path, data: str | Path, *, max_single: int = 20_000, counts=COUNTS, trials: int = 200,
                 flips: int = 5_000, seed: int = 0, progress: Callable[[str], None] | None = None) -> Campaign:
    """A fault campaign of a build directory on a data CSV (module doc)."""
    t0 = time.perf_counter()
    tell = progress or (lambda text: None)
    model = load_compiled(build)
    if model.options.get("arch", "unrolled") != "unrolled":
        raise BespokeError(f"{build}: fault injection simulates unrolled designs (pipelined or not); this build is "
                           f"{model.options['arch']} (its engine has feedback)")
    nl, _ = load_netlist(build)
    x, labels = read_csv(data, model.n_features)
    if labels is not None and model.ir.layer(model.ir.output_node()).op != "argmax":
        labels = None  # raw outputs: agreement with the fault-free design is the measure
    codes = model.encode(x)
    try:
        sim = FaultSim(nl, {"x": codes})
    except ValueError as e:
        raise BespokeError(f"{build}: {e}") from None
    golden, fault_free = model.predict_codes(codes), sim.fault_free()
    if not np.array_equal(fault_free, golden):
        bad = int(np.argmax((fault_free != golden).any(axis=1)))
        raise AssertionError(f"the fault-free netlist differs from the golden model on vector {bad}")
    score = _Scorer(model, fault_free, labels)
    rng = np.random.default_rng(seed)
    sites = np.array(sim.sites(), dtype=np.int64).reshape(-1, 2)
    camp = Campaign(model.name, Path(data).name, len(codes), "accuracy" if labels is not None else "agreement",
                    float(score(fault_free[None])[0]), len(sites),
                    _restriction(model.options))
    camp.single = _single_faults(sim, score, sites, max_single, rng, tell)
    camp.curve = _curve(sim, score, sites, counts, trials, rng, tell)
    regs = np.array(sim.sites(registers_only=True), dtype=np.int64).reshape(-1, 2)
    if len(regs) and flips:
        camp.flips = _flips(sim, regs, flips, rng, tell)
    camp.seconds = time.perf_counter() - t0
    return camp


def _restriction(options: dict) -> str | None:
    """How a build's ranges were restricted: compile --restrict-ranges, or the pass in --passes."""
    if options.get("restrict_ranges"):
        return options["restrict_ranges"]
    m = re.search(r"restrict-ranges(?:\{per=(\w+)\})?", options.get("passes", ""))
    return None if m is None else m.group(1) or "layer"


def _batched(sim: FaultSim, nets, bits, kinds, vectors=None, tell=None, what=""):
    """sim.outputs over trial batches of BATCH, yielding (start, outputs)."""
    for i in range(0, len(nets), BATCH):
        if tell:
            tell(f"{what} {i:,}/{len(nets):,}")
        v = None if vectors is None else vectors[i:i + BATCH]
        yield i, sim.outputs(nets[i:i + BATCH], bits[i:i + BATCH], kinds[i:i + BATCH], v)


def _single_faults(sim: FaultSim, score: _Scorer, sites: np.ndarray, limit: int, rng, tell) -> dict:
    faults = np.concatenate([np.c_[sites, np.zeros(len(sites), np.int64)], np.c_[sites, np.ones(len(sites), np.int64)]])
    total = len(faults)
    if total > limit:
        faults = faults[np.sort(rng.choice(total, limit, replace=False))]
    metric, changed = np.empty(len(faults)), np.empty(len(faults))
    for i, outs in _batched(sim, faults[:, :1], faults[:, 1:2], faults[:, 2:3], tell=tell, what="single faults"):
        metric[i:i + len(outs)], changed[i:i + len(outs)] = score(outs), score.changed(outs)
    where = [_place(sim, int(n)) for n in faults[:, 0]]
    layers = {}
    for (layer, _), m, ch in zip(where, metric, changed):
        layers.setdefault(layer, []).append((m, ch))
    per_layer = [{"layer": layer, "faults": len(v), "critical": float(np.mean([ch > 0 for _, ch in v])),
                  "mean": float(np.mean([m for m, _ in v])), "worst": float(min(m for m, _ in v))}
                 for layer, v in layers.items()]
    worst = np.argsort(metric, kind="stable")[:10]
    return {"faults": len(faults), "of": total, "critical": float(np.mean(changed > 0)), "mean": float(metric.mean()),
            "per_layer": per_layer,
            "worst": [{"net": int(faults[k, 0]), "name": where[k][1], "layer": where[k][0], "bit": int(faults[k, 1]),
                       "kind": KIND_NAMES[faults[k, 2]], "metric": float(metric[k]), "changed": float(changed[k])}
                      for k in worst]}


def _curve(sim: FaultSim, score: _Scorer, sites: np.ndarray, counts, trials: int, rng, tell) -> list[dict]:
    curve = []
    for k in counts:
        if k > len(sites):
            break
        pick = np.stack([rng.choice(len(sites), k, replace=False) for _ in range(trials)])  # [trials, k]
        nets, bits, kinds = sites[pick, 0], sites[pick, 1], rng.integers(0, 2, (trials, k))
        metric = np.concatenate([score(outs) for _, outs in _batched(sim, nets, bits, kinds, tell=tell,
                                                                       what=f"{k} faults per trial:")])
        curve.append({"faults": int(k), "trials": trials, "mean": float(metric.mean()),
                      "se": float(metric.std(ddof=1) / np.sqrt(trials)) if trials > 1 else 0.0,
                      "p5": float(np.percentile(metric, 5)), "min": float(metric.min())})
    return curve


def _flips(sim: FaultSim, regs: np.ndarray, count: int, rng, tell) -> dict:
    """Single transient flips of register bits, each in one random vector: the share that change
    that vector's output (silent data corruptions)."""
    pick = rng.integers(0, len(regs), count)
    vectors = rng.integers(0, sim.batch, (count, 1))
    hits, fault_free = np.empty(count, dtype=bool), sim.fault_free()
    for i, outs in _batched(sim, regs[pick, :1], regs[pick, 1:2], np.full((count, 1), FLIP), vectors, tell, "register flips"):
        v = vectors[i:i + len(outs), 0]
        hits[i:i + len(outs)] = (outs[np.arange(len(outs)), v] != fault_free[v]).any(axis=1)
    return {"register_bits": len(regs), "flips": count, "corrupting": float(hits.mean())}


def _place(sim: FaultSim, net: int) -> tuple[str, str]:
    """(layer, readable name) of a net."""
    nl = sim.nl
    k = sim.driver.get(net)
    if k is None:
        port = next(p for p, nets in nl.inputs.items() if net in nets)
        return "input", f"{port}[{nl.inputs[port].index(net)}]"
    c = sim.cells[k]
    neuron = "" if c.neuron is None else f" neuron {c.neuron}"
    return c.group or "top", (nl.names[net] or f"{c.kind} n{net}") + neuron


# --------------------------------------------------------------------------- output


def _label(c: Campaign) -> str:
    return f" (ranges restricted per {c.restricted})" if c.restricted else ""


def format_campaign(c: Campaign) -> str:
    pct = lambda v: f"{100 * v:.2f} %"
    s = c.single
    lines = [f"fault campaign of {c.design}{_label(c)} on {c.data}: {c.vectors} vectors, "
             f"{c.sites:,} fault sites (net bits), {c.metric} without faults {pct(c.fault_free)}",
             f"single stuck-at faults: {s['faults']:,}" + (f" sampled of {s['of']:,}" if s["faults"] < s["of"] else " (every site, both polarities)")
             + f"; {pct(s['critical'])} change some output; mean {c.metric} {pct(s['mean'])}",
             f"  {'layer':24s} {'faults':>7s} {'critical':>9s} {'mean':>9s} {'worst':>9s}"]
    lines += [f"  {r['layer']:24s} {r['faults']:7,d} {pct(r['critical']):>9s} {pct(r['mean']):>9s} {pct(r['worst']):>9s}"
              for r in s["per_layer"]]
    lines.append("  most critical faults:")
    lines += [f"    {w['layer']} {w['name']} bit {w['bit']} {w['kind']}: {c.metric} {pct(w['metric'])}, "
              f"{pct(w['changed'])} of outputs changed" for w in s["worst"][:5]]
    lines.append(f"{c.metric} with k stuck-at faults together (random sites and polarities):")
    lines.append(f"  {'k':>4s} {'trials':>7s} {'mean':>9s} {'± s.e.':>7s} {'5th pct':>9s} {'worst':>9s}")
    lines += [f"  {p['faults']:4d} {p['trials']:7d} {pct(p['mean']):>9s} {100 * p['se']:7.2f} {pct(p['p5']):>9s} {pct(p['min']):>9s}"
              for p in c.curve]
    if c.flips:
        f = c.flips
        lines.append(f"transient register flips: {f['flips']:,} over {f['register_bits']:,} register bits, "
                     f"{pct(f['corrupting'])} corrupt the output")
    else:
        lines.append("transient register flips: the design has no registers")
    lines.append(f"({c.seconds:.1f} s)")
    return "\n".join(lines)


def write_campaign(c: Campaign, out_dir: str | Path) -> list[Path]:
    """faults.json and faults.png in out_dir; each written whole or not at all."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = [out / "faults.json", out / "faults.png"]
    _atomic(files[0], lambda p: p.write_text(json.dumps(asdict(c), indent=1) + "\n"))
    _atomic(files[1], lambda p: plot_curves([c], p))
    return files


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def plot_curves(campaigns: list[Campaign], path: Path, title: str | None = None) -> None:
    """Metric against the number of faults present together, one line per campaign (mean, with
    the 5th percentile as a band), and single-fault criticality per layer."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [3, 2]})
    for c in campaigns:
        k = [p["faults"] for p in c.curve]
        label = c.design + _label(c)
        line, = ax.plot(k, [100 * p["mean"] for p in c.curve], marker="o", label=label)
        ax.fill_between(k, [100 * p["p5"] for p in c.curve], [100 * p["mean"] for p in c.curve], color=line.get_color(), alpha=0.15)
        ax.axhline(100 * c.fault_free, color=line.get_color(), linestyle=":", linewidth=1)
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel("stuck-at faults present together (random net bits)")
    ax.set_ylabel(f"{campaigns[0].metric} on {campaigns[0].data} (%)")
    ax.set_title(title or f"{campaigns[0].metric} under faults (mean; band: 5th percentile)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    by_size = sorted(campaigns, key=lambda c: -len(c.single["per_layer"]))  # the design with most layers sets the order
    layers = list(dict.fromkeys(r["layer"] for c in by_size for r in c.single["per_layer"]))
    width = 0.8 / len(campaigns)
    for j, c in enumerate(campaigns):
        loss = {r["layer"]: 100 * (c.fault_free - r["mean"]) for r in c.single["per_layer"]}
        at = [k for k, layer in enumerate(layers) if layer in loss]
        bx.bar(np.array(at) + j * width, [loss[layers[k]] for k in at], width,
               label=c.design + _label(c))
    bx.set_xticks(np.arange(len(layers)) + 0.4 - width / 2, layers, rotation=30, ha="right", fontsize=8)
    bx.set_ylabel(f"mean {campaigns[0].metric} loss per single fault (points)")
    bx.set_title("degradation per layer (single stuck-at faults)")
    bx.grid(alpha=0.3, axis="y")
    if len(campaigns) > 1:
        bx.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
