"""The exploration report: `write_explore_report(out_dir, result)` turns the designs an
exploration (`bespoke explore`) ends with into the user's artefacts.

    write_explore_report(out_dir, result) -> {"html": out_dir/"report.html", "csv": out_dir/"pareto.csv",
                                              "json": out_dir/"pareto.json"}

- `report.html`: one self-contained page (plots are embedded PNGs, no external references): the
  front as accuracy vs area and accuracy vs power, the exact and the chosen design marked, the loss
  budget; the chosen design's per-layer area, approximation per layer and input bits per feature;
  the table of the front.
- `pareto.csv`: one row per point, flat columns (for spreadsheets and tools).
- `pareto.json`: `result` as given.

Everything is built in memory first, then each file is written to a temporary name in `out_dir`
and renamed: an invalid result (BespokeError, one line) writes nothing, and a file that exists is
complete. The same result gives the same bytes.

`result` is plain data (JSON-serialisable); schema `explore-result` (also targets/REPORT_SCHEMA.md):

    model          str              model name                                   (required)
    target         str              technology target, e.g. "egfet"              (required)
    points         list[point]      >= 1 designs: the final front plus the exact design (required)
    area_unit      str              unit of every area figure, e.g. "cm2"        (default "")
    power_unit     str              unit of every power figure, e.g. "mW"        (default "")
    objective      str              what the search minimised, e.g. "train error"
    float_accuracy float            the float model's accuracy, on the split the loss budget is judged on
    max_loss       float            loss budget as a fraction (0.01 = 1 point); the budget line is
                                    float_accuracy - max_loss
    evaluations    int              designs evaluated by the search
    seconds        float            wall-clock time of the search
    seed           int              the search's seed
    features       list[str]        input feature names (default x0, x1, ...)

    point:
    id             int | str        unique                                       (required)
    train_accuracy float            accuracy on the split the search optimised   (required)
    area, power    float            in-memory cost model estimate                (required)
    test_accuracy  float | null     on the held-out split (null: not re-measured)
    synth_area, synth_power  float | null   real synthesis (null: not synthesised)
    exact, chosen, pareto    bool   the exact design (at most one); the chosen design (at most one);
                                    on the search's final front (default false; the report's table
                                    lists these plus exact and chosen, or every point if none is set)
    approx         dict[str, str]   the approximation per layer (key: layer name, or "input"), in words;
                                    the front table leaves "input" out when every row has input_bits
    input_bits     list[int] | null bits read per feature, 0 = feature not read (len = len(features))
    layer_area     dict[str, float] estimated area per layer, in layer order

All unknown keys are ignored (and kept in pareto.json). Accuracies are fractions in [0, 1].
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

from bespoke.compiler.errors import BespokeError
from bespoke.targets.html_page import CSS as _CSS, RC as _RC, card as _card, esc as _e, fact as _fact, png as _png, \
    write_atomically as _write_atomically

FILES = {"html": "report.html", "csv": "pareto.csv", "json": "pareto.json"}

_UNITS = {"cm2": "cm²", "mm2": "mm²", "um2": "µm²", "uW": "µW", "nW": "nW"}

# colours (also in the page's CSS)
_FRONT = "#1d4e89"
_FAINT = "#9aa5b1"
_TEST = "#2a9d8f"
_CHOSEN = "#e76f51"
_EXACT = "#111827"
_SYNTH = "#7c3aed"
_BUDGET = "#c0392b"




# -- entry point

def write_explore_report(out_dir: str | Path, result: dict) -> dict[str, Path]:
    """Write report.html, pareto.csv and pareto.json for `result` (schema above) into `out_dir`;
    returns {"html": path, "csv": path, "json": path}."""
    res = _checked(result)
    try:
        as_json = json.dumps(result, indent=1, allow_nan=False) + "\n"
    except (TypeError, ValueError) as e:
        raise BespokeError(f"explore report: the result is not plain JSON data ({e})") from None
    texts = {"json": as_json, "csv": pareto_csv(res), "html": report_html(res)}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return _write_atomically(out, {key: (FILES[key], texts[key]) for key in FILES})


# -- validation: the result, normalised (every documented key present)

def _fail(msg: str):
    raise BespokeError(f"explore report: {msg}")


def _number(value, what: str, optional: bool = False) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        _fail(f"{what} must be a finite number, got {value!r}")
    return float(value)


def _checked(result) -> dict:
    if not isinstance(result, dict):
        _fail(f"the result must be a dict, got {type(result).__name__}")
    for key in ("model", "target"):
        if not isinstance(result.get(key), str) or not result[key]:
            _fail(f"'{key}' must be a non-empty string")
    points = result.get("points")
    if not isinstance(points, list) or not points:
        _fail("the result has no points (nothing to report)")
    res = {"model": result["model"], "target": result["target"],
           "area_unit": str(result.get("area_unit") or ""), "power_unit": str(result.get("power_unit") or ""),
           "objective": result.get("objective"), "seed": result.get("seed"),
           "float_accuracy": _number(result.get("float_accuracy"), "float_accuracy", optional=True),
           "max_loss": _number(result.get("max_loss"), "max_loss", optional=True),
           "evaluations": _number(result.get("evaluations"), "evaluations", optional=True),
           "seconds": _number(result.get("seconds"), "seconds", optional=True)}
    pts = [_checked_point(p, i) for i, p in enumerate(points)]
    ids = [p["id"] for p in pts]
    if len(set(map(str, ids))) != len(ids):
        _fail("point ids are not unique")
    for flag in ("exact", "chosen"):
        if sum(p[flag] for p in pts) > 1:
            _fail(f"more than one point is marked '{flag}'")
    widths = {len(p["input_bits"]) for p in pts if p["input_bits"] is not None}
    features = result.get("features")
    if features is None:
        features = [f"x{i}" for i in range(max(widths, default=0))]
    if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
        _fail("'features' must be a list of names")
    if widths - {len(features)}:
        _fail(f"input_bits has {sorted(widths - {len(features)})[0]} entries but there are {len(features)} features")
    res["features"] = features
    res["points"] = pts
    res["chosen"] = next((p for p in pts if p["chosen"]), None)
    res["exact"] = next((p for p in pts if p["exact"]), None)
    return res


def _checked_point(p, i: int) -> dict:
    if not isinstance(p, dict):
        _fail(f"point {i} must be a dict")
    if not isinstance(p.get("id"), (int, str)) or isinstance(p.get("id"), bool):
        _fail(f"point {i} has no 'id' (an int or a string)")
    name = f"point {p['id']}"
    q = {"id": p["id"], **{k: bool(p.get(k, False)) for k in ("exact", "chosen", "pareto")},
         "train_accuracy": _number(p.get("train_accuracy"), f"{name}: train_accuracy"),
         "test_accuracy": _number(p.get("test_accuracy"), f"{name}: test_accuracy", optional=True),
         "area": _number(p.get("area"), f"{name}: area"), "power": _number(p.get("power"), f"{name}: power"),
         "synth_area": _number(p.get("synth_area"), f"{name}: synth_area", optional=True),
         "synth_power": _number(p.get("synth_power"), f"{name}: synth_power", optional=True)}
    approx = p.get("approx") or {}
    layer_area = p.get("layer_area") or {}
    if not isinstance(approx, dict) or not isinstance(layer_area, dict):
        _fail(f"{name}: 'approx' and 'layer_area' must be dicts")
    q["approx"] = {str(k): str(v) for k, v in approx.items()}
    q["layer_area"] = {str(k): _number(v, f"{name}: layer_area[{k}]") for k, v in layer_area.items()}
    bits = p.get("input_bits")
    if bits is not None and (not isinstance(bits, list)
                             or not all(isinstance(b, int) and not isinstance(b, bool) and b >= 0 for b in bits)):
        _fail(f"{name}: input_bits must be a list of bit counts (0 = feature not read)")
    q["input_bits"] = bits
    return q


# -- pareto.csv

def _by_area(points: list[dict]) -> list[dict]:
    return sorted(points, key=lambda p: (p["area"], -p["train_accuracy"], str(p["id"])))


def _union(dicts) -> list[str]:
    keys: dict[str, None] = {}
    for d in dicts:
        keys.update(dict.fromkeys(d))
    return list(keys)


def pareto_csv(res: dict) -> str:
    """pareto.csv of a checked result: one row per point, sorted by area; approximation and
    per-layer area as `approx.<layer>` / `layer_area.<layer>` columns; empty cell = null."""
    a, w = res["area_unit"], res["power_unit"]
    suffix = lambda unit: f"_{unit}" if unit else ""  # noqa: E731
    pts = _by_area(res["points"])
    approx_keys = _union(p["approx"] for p in pts)
    layer_keys = _union(p["layer_area"] for p in pts)
    header = (["id", "exact", "chosen", "pareto", "train_accuracy", "test_accuracy", f"area{suffix(a)}",
               f"power{suffix(w)}", f"synth_area{suffix(a)}", f"synth_power{suffix(w)}", "input_bits"]
              + [f"approx.{k}" for k in approx_keys] + [f"layer_area{suffix(a)}.{k}" for k in layer_keys])
    cell = lambda v: "" if v is None else ("true" if v is True else "false" if v is False else v)  # noqa: E731
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(header)
    for p in pts:
        bits = "" if p["input_bits"] is None else " ".join(map(str, p["input_bits"]))
        out.writerow([cell(p[k]) for k in ("id", "exact", "chosen", "pareto", "train_accuracy", "test_accuracy",
                                           "area", "power", "synth_area", "synth_power")]
                     + [bits] + [p["approx"].get(k, "") for k in approx_keys]
                     + [cell(p["layer_area"].get(k)) for k in layer_keys])
    return buf.getvalue()


# -- plots (matplotlib's Agg canvas, no pyplot state), embedded as PNG

def _unit(u: str) -> str:
    return _UNITS.get(u, u)


def _front_2d(points: list[dict], cost: str) -> list[dict]:
    """Non-dominated points for (min cost, max train accuracy), by cost."""
    front, best = [], -math.inf
    for p in sorted(points, key=lambda p: (p[cost], -p["train_accuracy"])):
        if p["train_accuracy"] > best:
            front.append(p)
            best = p["train_accuracy"]
    return front


def _y_range(res: dict) -> tuple[float, float]:
    pts = res["points"]
    ys = [p["train_accuracy"] for p in pts] + [p["test_accuracy"] for p in pts if p["test_accuracy"] is not None]
    refs = [v for v in (res["float_accuracy"], _budget(res)) if v is not None]
    keep = [p["train_accuracy"] for p in (res["exact"], res["chosen"]) if p is not None]
    top = max(ys + refs)
    # keep the interesting band readable: designs far below it are marked on the bottom edge
    floor = min([top - max(0.15, 4 * (res["max_loss"] or 0))] + refs + keep)
    lo = max(min(ys + refs), floor)
    span = max(top - lo, 0.02)
    return lo - 0.06 * span, top + 0.06 * span


def _budget(res: dict) -> float | None:
    if res["float_accuracy"] is None or res["max_loss"] is None:
        return None
    return res["float_accuracy"] - res["max_loss"]


def _cost_axes(ax, res: dict, cost: str, y0: float, y1: float) -> None:
    """One panel: accuracy against `cost` ("area" or "power")."""
    from matplotlib.ticker import FuncFormatter

    pts, synth = res["points"], f"synth_{cost}"
    edge = y0 + 0.012 * (y1 - y0)  # where designs below the axis are marked
    shown = lambda y: y >= y0  # noqa: E731
    vis = [p for p in pts if shown(p["train_accuracy"])]
    ax.scatter([p[cost] for p in vis], [p["train_accuracy"] for p in vis], s=22, color=_FAINT, alpha=0.55,
               linewidths=0, zorder=2)
    front = [p for p in _front_2d(pts, cost) if shown(p["train_accuracy"])]
    fx, fy = [p[cost] for p in front], [p["train_accuracy"] for p in front]
    ax.step(fx, fy, where="post", color=_FRONT, linewidth=1.8, zorder=3)
    ax.scatter(fx, fy, s=26, color=_FRONT, zorder=4)
    for p in vis:
        y = p["train_accuracy"]
        if p[synth] is not None:  # synthesised: hollow marker at the synthesised figure, joined to the estimate
            ax.plot([p[cost], p[synth]], [y, y], color=_SYNTH, linewidth=0.9, alpha=0.7, zorder=3)
            ax.scatter([p[synth]], [y], s=32, facecolors="white", edgecolors=_SYNTH, linewidths=1.2, zorder=5)
        if p["test_accuracy"] is not None:  # held out: diamond, joined to the training accuracy
            t = max(p["test_accuracy"], edge)
            ax.plot([p[cost]] * 2, [y, t], color=_TEST, linewidth=0.8, linestyle=":", zorder=3)
            ax.scatter([p[cost]], [t], s=30, marker="D" if shown(p["test_accuracy"]) else "v", color=_TEST,
                       zorder=8 if p["chosen"] or p["exact"] else 5, edgecolors="white", linewidths=0.6)
    hidden = [p for p in pts if not shown(p["train_accuracy"])]
    if hidden:
        ax.scatter([p[cost] for p in hidden], [edge] * len(hidden), s=30, marker="v", color=_FAINT, zorder=4,
                   clip_on=False)
        ax.text(0.015, 0.975, f"▼ {len(hidden)} design{'s' if len(hidden) > 1 else ''} below {y0:.0%}",
                transform=ax.transAxes, ha="left", va="top", fontsize=8.5, color="#6b7280")
    marked = []
    if res["exact"] is not None and not res["exact"]["chosen"]:
        marked.append((res["exact"], "*", _EXACT, "exact", "normal"))
    if res["chosen"] is not None:
        c = res["chosen"]
        marked.append((c, "o", _CHOSEN, f"chosen #{c['id']}" + (" (exact)" if c["exact"] else ""), "bold"))
    for p, marker, colour, text, weight in marked:
        xy = (p[cost], p["train_accuracy"])
        ax.scatter(*xy, s=150, marker=marker, color=colour, zorder=7, edgecolors="white", linewidths=1.2)
        ax.annotate(text, xy, xytext=(-9, 9), textcoords="offset points", ha="right", fontsize=9, color=colour,
                    fontweight=weight, zorder=9,
                    bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.8})
    if res["float_accuracy"] is not None:
        ax.axhline(res["float_accuracy"], color="#6b7280", linestyle=":", linewidth=1.1, zorder=1)
    if _budget(res) is not None:
        ax.axhline(_budget(res), color=_BUDGET, linestyle="--", linewidth=1.3, zorder=1)
    xs = [p[cost] for p in pts] + [p[synth] for p in pts if p[synth] is not None]
    if min(xs) > 0 and max(xs) / min(xs) > 50:
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    else:
        ax.set_xlim(0, max(xs) * 1.06 or 1)
    unit = _unit(res[f"{cost}_unit"])
    ax.set_xlabel(f"{cost} ({unit})" if unit else cost)
    ax.set_title(f"accuracy vs {cost}", loc="left")


def _pareto_figure(res: dict) -> str:
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import PercentFormatter

    pts = res["points"]
    y0, y1 = _y_range(res)
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(11.5, 4.9), layout="constrained")
        axes = fig.subplots(1, 2, sharey=True)
        for ax, cost in zip(axes, ("area", "power")):
            _cost_axes(ax, res, cost, y0, y1)
        axes[0].set_ylim(y0, y1)
        axes[0].set_ylabel("accuracy")
        # ticks at whole percents only on a range of 8 points or more (matplotlib puts them every 0.5 below that)
        axes[0].yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0 if y1 - y0 >= 0.08 else 1))
        handles = [Line2D([], [], color=_FAINT, marker="o", linestyle="", markersize=5, label="evaluated design"),
                   Line2D([], [], color=_FRONT, marker="o", markersize=5, label="Pareto front (training accuracy)")]
        if any(p["test_accuracy"] is not None for p in pts):
            handles.append(Line2D([], [], color=_TEST, marker="D", linestyle=":", markersize=5,
                                  label="held-out test accuracy"))
        if any(p["synth_area"] is not None or p["synth_power"] is not None for p in pts):
            handles.append(Line2D([], [], color=_SYNTH, marker="o", markerfacecolor="white", linewidth=0.9,
                                  markersize=6, label="synthesised (joined to the estimate)"))
        if res["exact"] is not None:
            handles.append(Line2D([], [], color=_EXACT, marker="*", linestyle="", markersize=11,
                                  label="exact design"))
        if res["chosen"] is not None:
            handles.append(Line2D([], [], color=_CHOSEN, marker="o", linestyle="", markersize=9,
                                  label="chosen design"))
        if res["float_accuracy"] is not None:
            handles.append(Line2D([], [], color="#6b7280", linestyle=":", label="float model"))
        if _budget(res) is not None:
            handles.append(Line2D([], [], color=_BUDGET, linestyle="--",
                                  label=f"loss budget (float − {_pct_points(res['max_loss'])})"))
        fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 4), frameon=False)
        return _png(fig)


def _layer_figure(res: dict, p: dict) -> str:
    import matplotlib
    from matplotlib.figure import Figure

    layers = list(p["layer_area"])
    values = [p["layer_area"][k] for k in layers]
    total = sum(values) or 1.0
    unit = _unit(res["area_unit"])
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(5.6, 0.55 * len(layers) + 1.1), layout="constrained")
        ax = fig.subplots()
        ax.barh(range(len(layers)), values, color=_FRONT, height=0.62)
        ax.set_yticks(range(len(layers)), layers)
        ax.invert_yaxis()
        ax.grid(axis="y", visible=False)
        for i, v in enumerate(values):
            ax.text(v, i, f"  {_num(v, res['area_unit'])}  ({v / total:.0%})", va="center", fontsize=9,
                    color="#374151")
        ax.set_xlim(0, max(values + [1e-9]) * 1.45)
        ax.set_xlabel(f"estimated area ({unit})" if unit else "estimated area")
        return _png(fig)


def _bits_figure(res: dict, p: dict) -> str:
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    names, bits = res["features"], p["input_bits"]
    exact = res["exact"]["input_bits"] if res["exact"] is not None and not p["exact"] else None
    n = len(names)
    rotate = n > 12 or max(map(len, names), default=0) > 6
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(11.5, 3.2 if rotate else 2.7), layout="constrained")
        ax = fig.subplots()
        xs = range(n)
        if exact is not None:
            ax.bar(xs, exact, width=0.78, facecolor="none", edgecolor=_FAINT, linewidth=1.1, label="exact design")
        ax.bar(xs, bits, width=0.56, color=[_CHOSEN if b else _FAINT for b in bits], label=f"design #{p['id']}")
        for x, b in zip(xs, bits):
            ax.text(x, b, str(b) if b else "off", ha="center", va="bottom", fontsize=8.5,
                    color="#374151" if b else _BUDGET)
        ax.set_xticks(list(xs), names, rotation=45 if rotate else 0, ha="right" if rotate else "center",
                      fontsize=8.5 if n > 20 else 9.5)
        for tick, b in zip(ax.get_xticklabels(), bits):
            if not b:
                tick.set_color(_FAINT)
        ax.set_xlim(-0.6, n - 0.4)
        top = max(list(bits) + list(exact or []) + [1])
        ax.set_ylim(0, top * 1.22 + 0.3)
        ax.yaxis.get_major_locator().set_params(integer=True)
        ax.grid(axis="x", visible=False)
        ax.set_ylabel("input bits")
        if exact is not None:
            ax.legend(handles=[Patch(facecolor=_CHOSEN, label=f"design #{p['id']}"),
                               Patch(facecolor="none", edgecolor=_FAINT, label="exact design")],
                      loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
        return _png(fig)


# -- report.html

def _pct(v: float | None, digits: int = 1) -> str:
    return "–" if v is None else f"{100 * v:.{digits}f} %"


def _pct_points(v: float) -> str:
    return f"{100 * v:.3g} pt"


def _num(v: float | None, unit: str = "") -> str:
    if v is None:
        return "–"
    return f"{_column_format([v])(v)} {_unit(unit)}".strip()


def _column_format(values: list[float | None]):
    """One number format for a table column: 3 significant digits of its smallest value."""
    nonzero = [abs(v) for v in values if v]
    digits = 0 if not nonzero else min(3, max(0, 2 - math.floor(math.log10(min(nonzero)))))
    return lambda v: "–" if v is None else f"{v:,.{digits}f}"


def _bits_text(bits: list[int] | None) -> str:
    """Input bits for a table cell: digits in groups of five (space-separated if any is >= 10)."""
    if bits is None:
        return "–"
    if max(bits, default=0) >= 10:
        return " ".join(map(str, bits))
    digits = "".join(map(str, bits))
    return " ".join(digits[i:i + 5] for i in range(0, len(digits), 5))


def _duration(s: float | None) -> str:
    if s is None:
        return "–"
    if s < 60:
        return f"{s:.1f} s"
    m, s = divmod(round(s), 60)
    if m < 60:
        return f"{m} min {s} s"
    h, m = divmod(m, 60)
    return f"{h} h {m} min"


def _tags(p: dict) -> str:
    return (' <span class="tag c">chosen</span>' if p["chosen"] else "") + \
           (' <span class="tag e">exact</span>' if p["exact"] else "")


def _header(res: dict) -> str:
    n_front = sum(p["pareto"] for p in res["points"])
    facts = [_fact(res["target"], "target"),
             _fact(_pct(res["float_accuracy"]), "float accuracy"),
             _fact("–" if res["max_loss"] is None else _pct_points(res["max_loss"]), "loss budget"),
             _fact("–" if res["evaluations"] is None else f"{res['evaluations']:,.0f}", "evaluations"),
             _fact(_duration(res["seconds"]), "run time"),
             _fact(f"{n_front} / {len(res['points'])}", "on front / points")]
    sub = " · ".join(s for s in (f"objective: {res['objective']}" if res["objective"] else "",
                                 f"seed {res['seed']}" if res["seed"] is not None else "") if s)
    return (f'<header><h1>Exploration report: {_e(res["model"])}</h1><p class="sub">{_e(sub) or "&nbsp;"}</p>'
            f'<div class="facts">{"".join(facts)}</div></header>')


def _accuracy(p: dict) -> tuple[float, str]:
    """The design's accuracy on held-out data if it was re-measured, else on the training split."""
    return (p["test_accuracy"], "test") if p["test_accuracy"] is not None else (p["train_accuracy"], "training")


def _chosen_section(res: dict) -> str:
    c, e = res["chosen"], res["exact"]
    if c is None:
        budget = _budget(res)
        why = f"; the loss budget is accuracy ≥ {_pct(budget)}" if budget is not None else ""
        return (f'<section><h2>Chosen design</h2><p class="warn">No design was chosen (the result marks none'
                f'{_e(why)}). The front below lists every candidate.</p></section>')
    au, pu = res["area_unit"], res["power_unit"]
    versus = e is not None and e is not c and c["area"] > 0

    def synthesised(key: str, unit: str) -> str:
        return "not synthesised" if c[key] is None else f"synthesised {_num(c[key], unit)}"

    area_note = synthesised("synth_area", au)
    if versus:
        area_note += f"; {e['area'] / c['area']:.1f}× smaller than exact"
    acc, split = _accuracy(c)
    delta = "" if res["float_accuracy"] is None else f"{100 * (acc - res['float_accuracy']):+.1f} pt vs float; "
    cards = [_card("area (estimate)", _num(c["area"], au), area_note, hl=True),
             _card("power (estimate)", _num(c["power"], pu), synthesised("synth_power", pu), hl=True),
             _card(f"{split} accuracy", _pct(acc), f"{delta}training {_pct(c['train_accuracy'])}", hl=True)]
    if e is not None and e is not c:
        e_acc, e_split = _accuracy(e)
        cards.append(_card("exact design", _num(e["area"], au), f"{_num(e['power'], pu)}, {_pct(e_acc)} {e_split}"))
    body = [f'<section><h2>Chosen design #{_e(c["id"])}</h2><div class="cards">{"".join(cards)}</div>']
    layers = _union([c["layer_area"], c["approx"]])
    left = (f'<h3>Estimated area per layer</h3><img alt="area per layer" src="{_layer_figure(res, c)}">'
            if c["layer_area"] else '<p class="note">No per-layer area breakdown in the result.</p>')
    rows = "".join(f'<tr><td>{_e(k)}</td><td>{_e(c["approx"].get(k, "exact"))}</td>'
                   f'<td class="n">{_num(c["layer_area"].get(k), au)}</td></tr>' for k in layers)
    right = (f'<h3>Approximation per layer</h3><table><tr><th>layer</th><th>approximation</th>'
             f'<th class="n">area</th></tr>{rows}</table>' if layers else "")
    body.append(f'<div class="two"><div>{left}</div><div>{right}</div></div>')
    if c["input_bits"] is not None:
        bits = c["input_bits"]
        read = sum(b > 0 for b in bits)
        text = f"Reads {read} of {len(bits)} features, {sum(bits)} input bits in all"
        if e is not None and e["input_bits"] is not None and e is not c:
            text += f" (exact design: {sum(e['input_bits'])})"
        body.append(f'<h3>Input bits per feature</h3><img alt="input bits per feature" '
                    f'src="{_bits_figure(res, c)}"><p class="note">{_e(text)}. Features marked “off” are not '
                    f'read (no ADC needed).</p>')
    body.append("</section>")
    return "".join(body)


def _front_section(res: dict) -> str:
    au, pu = res["area_unit"], res["power_unit"]
    flagged = any(p["pareto"] for p in res["points"])
    rows_pts = _by_area([p for p in res["points"] if p["pareto"] or p["exact"] or p["chosen"] or not flagged])
    layers = _union(p["approx"] for p in rows_pts)
    if all(p["input_bits"] is not None for p in rows_pts):
        layers = [k for k in layers if k != "input"]  # the input bits column says it
    columns = {k: _column_format([p[k] for p in rows_pts] + [p[k.replace("synth_", "")] for p in rows_pts])
               for k in ("area", "synth_area", "power", "synth_power")}
    cells = []
    for p in rows_pts:
        cls = "chosen" if p["chosen"] else "exact" if p["exact"] else ""
        approx = "".join(f'<td class="approx">{_e(p["approx"].get(k, "exact" if p["exact"] else "–"))}</td>'
                         for k in layers)
        figures = "".join(f'<td class="n">{fmt(p[k])}</td>' for k, fmt in columns.items())
        cells.append(f'<tr class="{cls}"><td class="n">{_e(p["id"])}{_tags(p)}</td>'
                     f'<td class="n">{_pct(p["train_accuracy"])}</td><td class="n">{_pct(p["test_accuracy"])}</td>'
                     f'{figures}{approx}<td class="mono">{_e(_bits_text(p["input_bits"]))}</td></tr>')
    a, w = _unit(au), _unit(pu)
    unit = lambda u: f" ({u})" if u else ""  # noqa: E731
    group = lambda label: f'<th class="g" colspan="2">{_e(label)}</th>'  # noqa: E731
    head = (f'<tr><th rowspan="2" class="n">design</th>{group("accuracy")}{group(f"area{unit(a)}")}'
            f'{group(f"power{unit(w)}")}'
            + (f'<th class="g" colspan="{len(layers)}">approximation</th>' if layers else "")
            + '<th rowspan="2">input bits</th></tr><tr>'
            + '<th class="n">train</th><th class="n">test</th>' + '<th class="n">est.</th><th class="n">synth.</th>' * 2
            + "".join(f"<th>{_e(k)}</th>" for k in layers) + "</tr>")
    note = ("Sorted by estimated area; one column per approximated layer. “–”: not measured (test accuracy only "
            "for re-measured candidates, synthesis only for synthesised ones).")
    title = f'The front ({len(rows_pts)} design{"" if len(rows_pts) == 1 else "s"})'
    return (f'<section><h2>{title}</h2><div class="scroll"><table class="front">{head}{"".join(cells)}</table>'
            f'</div><p class="note">{note}</p></section>')


def report_html(res: dict) -> str:
    """report.html of a checked result: one self-contained page."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        generator = f"bespoke {version('bespoke')}"
    except PackageNotFoundError:
        generator = "bespoke"
    pts = res["points"]
    note = ["Costs are the in-memory cost model's estimates; the front is the one the search optimised, on "
            "training accuracy."]
    if any(p["synth_area"] is not None or p["synth_power"] is not None for p in pts):
        note.append("Hollow markers: real synthesis of the same design.")
    if any(p["test_accuracy"] is not None for p in pts):
        note.append("Diamonds: held-out test accuracy of the re-measured candidates.")
    plots = (f'<section><h2>Accuracy against cost</h2><img alt="accuracy vs area and power" '
             f'src="{_pareto_figure(res)}"><p class="note">{_e(" ".join(note))}</p></section>')
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
            f"<title>{_e(res['model'])} on {_e(res['target'])}: exploration report</title><style>{_CSS}</style>"
            f"</head><body><main>{_header(res)}{plots}{_chosen_section(res)}{_front_section(res)}"
            f"<footer>{_e(generator)} · pareto.csv and pareto.json hold the same designs</footer>"
            "</main></body></html>\n")
