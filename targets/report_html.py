"""report.<target>.html: the synthesis report (targets.report) as one self-contained page for people.

    report_html(report) -> str

Plots are PNGs embedded as data: URLs (matplotlib, no network, no external file): area and power per
layer and the critical path drawn over the layers (both from the report's `layers` section, when the
report has one), the cell mix, the switching-activity histogram, hardware against float accuracy
(when the report ran with labelled data) and, on FPGA targets, the utilisation of the device. Every
section shows only what the report holds and says so otherwise. The same report gives the same bytes.
"""

from __future__ import annotations

from bespoke.targets.html_page import CSS, RC, card, esc, fact, png
from bespoke.targets.report_format import area_unit, fixed, format_area, format_si, utilisation_text

# one colour per layer, in layer order (the per-layer bars and the critical path share them)
_LAYER_COLOURS = ["#1d4e89", "#2a9d8f", "#e9c46a", "#e76f51", "#7c3aed", "#0ea5e9", "#84cc16", "#db2777",
                  "#f97316", "#64748b"]
_HW, _FLOAT, _IDLE = "#e76f51", "#1d4e89", "#c0392b"

_EXTRA_CSS = """
pre{background:#f9fafb;border:1px solid #e5e7eb;border-radius:6px;padding:10px;font-size:12px;overflow-x:auto}
details summary{cursor:pointer;color:#374151;font-weight:600;margin:6px 0}
ul.notes{margin:0;padding-left:20px;color:#4b5563;font-size:14px}
"""


def _colour(k: int) -> str:
    return _LAYER_COLOURS[k % len(_LAYER_COLOURS)]


def _scale(value: float, unit: str) -> tuple[float, str]:
    """(divisor, prefixed unit) that puts `value` between 1 and 1000: a plot axis' unit."""
    for div, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"),
                        (1e-12, "p"), (1e-15, "f")):
        if abs(value) >= div * 0.9995:
            return div, prefix + unit
    return 1e-15, "f" + unit


def _plain(text) -> str:
    """Text for a matplotlib label: `$` would start mathtext (Yosys names are full of it)."""
    return str(text).replace("$", r"\$")


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _printed(rep: dict) -> bool:
    """Printed targets state areas in cm² / mm² (the report's target.printed, set by make_report)."""
    return bool(rep["target"].get("printed"))


# -- plots


def _layers_figure(rep: dict) -> str:
    """Area and power per layer, side by side, one bar per layer (power: leakage + dynamic)."""
    import matplotlib

    parts = rep["layers"]["parts"]
    names = [p["name"] for p in parts]
    div, unit = area_unit(_printed(rep), rep["layers"]["area_um2"])
    areas = [p["area_um2"] / div for p in parts]
    total_w = [p["leakage_w"] + p["dynamic_w"] for p in parts]
    pdiv, punit = _scale(max(total_w + [1e-30]), "W")
    with matplotlib.rc_context(RC):
        fig = _figure(11.5, 0.5 * len(parts) + 1.5)
        ax_a, ax_p = fig.subplots(1, 2, sharey=True)
        ys = range(len(parts))
        ax_a.barh(ys, areas, color=[_colour(k) for k in ys], height=0.62)
        total = sum(areas) or 1.0
        for y, v in zip(ys, areas):
            ax_a.text(v, y, f"  {fixed(v)} {unit} ({v / total:.0%})", va="center", fontsize=8.5, color="#374151")
        ax_a.set_xlim(0, max(areas + [1e-30]) * 1.55)
        ax_a.set_yticks(list(ys), [_plain(n) for n in names])
        ax_a.invert_yaxis()
        ax_a.set_xlabel(f"area ({unit})")
        ax_a.set_title("area per layer", loc="left")
        leak = [p["leakage_w"] / pdiv for p in parts]
        dyn = [p["dynamic_w"] / pdiv for p in parts]
        colours = [_colour(k) for k in ys]  # the layer's colour: leakage pale, dynamic full
        ax_p.barh(ys, leak, color=colours, alpha=0.4, height=0.62)
        ax_p.barh(ys, dyn, left=leak, color=colours, height=0.62)
        for y, lv, dv in zip(ys, leak, dyn):
            ax_p.text(lv + dv, y, f"  {fixed(lv + dv)} {punit}", va="center", fontsize=8.5, color="#374151")
        ax_p.set_xlim(0, max([lv + dv for lv, dv in zip(leak, dyn)] + [1e-30]) * 1.4)
        ax_p.set_xlabel(f"power ({punit})")
        ax_p.set_title("power per layer", loc="left")
        from matplotlib.patches import Patch

        ax_p.legend(handles=[Patch(facecolor="#6b7280", alpha=0.4, label="leakage"),
                             Patch(facecolor="#6b7280", label="dynamic")], loc="lower right", frameon=False)
        for ax in (ax_a, ax_p):
            ax.grid(axis="y", visible=False)
        return png(fig)


def _path_figure(rep: dict) -> str:
    """The critical path as a staircase over the layers: one row per layer, a bar for the time the
    path spends in it, arrows where it crosses into the next layer, labelled with the neuron."""
    import matplotlib

    lay = rep["layers"]
    rows = [p["name"] for p in lay["parts"]]
    for seg in lay["critical_path"]:
        if seg["layer"] not in rows:
            rows.append(seg["layer"])
    colour = {name: _colour(k) for k, name in enumerate(rows)}
    div, unit = _scale(lay["critical_path_s"] or 1e-30, "s")
    with matplotlib.rc_context(RC):
        fig = _figure(11.5, 0.55 * len(rows) + 1.6)
        ax = fig.subplots()
        end = (lay["critical_path_s"] or 0) / div
        prev = None
        for seg in lay["critical_path"]:
            y, x0, x1 = rows.index(seg["layer"]), seg["start_s"] / div, seg["end_s"] / div
            ax.barh(y, max(x1 - x0, end * 0.004), left=x0, height=0.5, color=colour[seg["layer"]], zorder=3)
            if prev is not None:
                ax.annotate("", xy=(x0, y - 0.25), xytext=(x0, prev + 0.25),
                            arrowprops={"arrowstyle": "->", "color": "#374151", "lw": 1.1}, zorder=4)
            label = f"{seg['cells']} cell{'s' if seg['cells'] != 1 else ''}" + (f", out of {seg['neuron']}" if seg["neuron"] else "")
            ax.text(x1, y, _plain(f"  {label}"), va="center", ha="left", fontsize=8.5, color="#374151", zorder=5)
            prev = y
        ax.set_yticks(range(len(rows)), [_plain(r) for r in rows])
        ax.invert_yaxis()
        ax.set_xlim(0, end * 1.3 if end else 1)
        ax.set_xlabel(f"arrival time ({unit})")
        ax.grid(axis="y", visible=False)
        ax.set_title(_plain(f"critical path: {format_si(lay['critical_path_s'], 's')} from {lay['startpoint']} "
                            f"to {lay['endpoint']}"), loc="left")
        return png(fig)


def _cells_figure(rep: dict, top: int = 14) -> str:
    """The cell mix: area (standard cells) or count (FPGA) per cell type, the largest first."""
    import matplotlib

    if rep["area"]:
        div, unit = area_unit(_printed(rep), rep["area"]["um2"])
        items = [(k, v["area_um2"] / div, v["count"]) for k, v in rep["area"]["histogram"].items()]
        xlabel = f"area ({unit})"
    else:
        unit = ""
        items = [(k, float(n), n) for k, n in rep["fpga"]["cells_by_type"].items()]
        xlabel = "cells"
    items.sort(key=lambda t: (-t[1], t[0]))
    if len(items) > top:  # the long tail in one bar
        rest = items[top - 1:]
        items = items[:top - 1] + [(f"{len(rest)} other types", sum(t[1] for t in rest), sum(t[2] for t in rest))]
    total = sum(t[1] for t in items) or 1.0
    with matplotlib.rc_context(RC):
        fig = _figure(5.6, 0.34 * len(items) + 1.2)
        ax = fig.subplots()
        ys = range(len(items))
        ax.barh(ys, [t[1] for t in items], color="#1d4e89", height=0.62)
        for y, (_, v, n) in zip(ys, items):
            text = f"  {n:,} cells, {v / total:.0%} of the area" if unit else f"  {n:,}"
            ax.text(v, y, text, va="center", fontsize=8.5, color="#374151")
        ax.set_yticks(list(ys), [_plain(t[0]) for t in items], fontsize=8.5)
        ax.invert_yaxis()
        ax.set_xlim(0, max(t[1] for t in items) * 1.7)
        ax.set_xlabel(xlabel)
        ax.grid(axis="y", visible=False)
        return png(fig)


def _activity_figure(hist: dict, mean: float) -> str:
    """Logic nets per toggle rate, the nets that never switched as their own bar."""
    import matplotlib

    edges, counts = hist["edges"], hist["counts"]
    width = edges[1] - edges[0]
    with matplotlib.rc_context(RC):
        fig = _figure(5.6, 3.1)
        ax = fig.subplots()
        ax.bar([-width], [hist["idle"]], width=width * 0.9, color=_IDLE, align="edge", label="never toggled")
        ax.bar(edges[:-1], counts, width=width * 0.9, align="edge", color="#2a9d8f", label="toggled")
        ax.axvline(mean, color="#374151", linestyle="--", linewidth=1.1, label=f"mean {mean:.3f}")
        ax.set_xlim(-width * 1.2, 1.0 + width * 0.2)
        ax.set_xlabel("transitions per cycle")
        ax.set_ylabel("logic nets")
        ax.grid(axis="x", visible=False)
        ax.legend(frameon=False, loc="upper right")
        return png(fig)


def _accuracy_figure(acc: dict) -> str:
    """Hardware against float accuracy: overall, then per class."""
    import matplotlib
    from matplotlib.ticker import PercentFormatter

    groups = [("all", acc["hardware"], acc["float"], acc["vectors"])]
    groups += [(str(c["label"]), c["hardware"], c["float"], c["count"]) for c in acc.get("per_class") or []]
    with matplotlib.rc_context(RC):
        fig = _figure(5.6, 3.2)
        ax = fig.subplots()
        xs = range(len(groups))
        ax.bar([x - 0.19 for x in xs], [g[1] for g in groups], width=0.36, color=_HW, label="hardware")
        ax.bar([x + 0.19 for x in xs], [g[2] for g in groups], width=0.36, color=_FLOAT, label="float model")
        for x, g in zip(xs, groups) if len(groups) <= 6 else ():  # values only where they fit
            ax.text(x - 0.19, g[1], f"{100 * g[1]:.0f}", ha="center", va="bottom", fontsize=7.5, color="#374151")
            ax.text(x + 0.19, g[2], f"{100 * g[2]:.0f}", ha="center", va="bottom", fontsize=7.5, color="#374151")
        ax.set_xticks(list(xs), [_plain(f"{g[0]}\n({g[3]:,})") for g in groups], fontsize=8.5 if len(groups) < 8 else 7)
        ax.set_xlabel("all rows, then per class (rows)")
        ax.set_ylim(0, 1.08)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax.set_ylabel("accuracy")
        ax.grid(axis="x", visible=False)
        ax.legend(frameon=False, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2)
        return png(fig)


def _utilisation_figure(fpga: dict) -> str:
    """Resources used against the device's capacity, in percent."""
    import matplotlib
    from matplotlib.ticker import PercentFormatter

    cap, used = fpga["capacity"], fpga["resources"]
    names = list(cap)
    share = [used.get(k, 0) / cap[k] for k in names]
    with matplotlib.rc_context(RC):
        fig = _figure(5.6, 0.45 * len(names) + 1.2)
        ax = fig.subplots()
        ys = range(len(names))
        ax.barh(ys, [1.0] * len(names), color="#e5e7eb", height=0.62)
        ax.barh(ys, [min(s, 1.0) for s in share], color=[_HW if s > 1 else "#1d4e89" for s in share], height=0.62)
        for y, k, s in zip(ys, names, share):
            ax.text(1.0, y, f"  {used.get(k, 0):,} / {cap[k]:,} ({100 * s:.1f} %)", va="center", fontsize=8.5,
                    color="#374151")
        ax.set_yticks(list(ys), [k.upper() for k in names])
        ax.invert_yaxis()
        ax.set_xlim(0, 1.6)
        ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0])
        ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax.set_xlabel(f"share of the {fpga['device']}")
        ax.grid(axis="y", visible=False)
        return png(fig)


# -- sections


def _img(alt: str, src: str) -> str:
    return f'<img alt="{esc(alt)}" src="{src}">'


def _header(rep: dict) -> str:
    t, d = rep["target"], rep["design"]
    facts = []
    if rep["area"]:
        a = rep["area"]
        facts += [fact(format_area(a, _printed(rep)).split(" (")[0], "area"), fact(f"{a['cells']:,}", "cells")]
    if rep["power"]:
        p = rep["power"]
        facts += [fact(format_si(p["total_w"], "W"), f"power at {format_si(p['clock_hz'], 'Hz')}"),
                  fact(format_si(p["energy_per_inference_j"], "J"), "energy / inference")]
    if rep["fpga"]:
        r = rep["fpga"]["resources"]
        facts += [fact(f"{r.get('lut', 0):,}", "LUTs"), fact(f"{r.get('ff', 0):,}", "flip-flops")]
        if rep["fpga"].get("fits") is not None:
            facts.append(fact("yes" if rep["fpga"]["fits"] else "no", "fits the device"))
    facts.append(fact(format_si(rep["timing"]["max_clock_hz"], "Hz"), "max clock"))
    if rep.get("accuracy"):
        facts.append(fact(f"{100 * rep['accuracy']['hardware']:.1f} %", "hardware accuracy"))
    kind = "sequential" if d["sequential"] else "combinational"
    return (f'<header><h1>{esc(d["top"])} on {esc(t["name"])}</h1><p class="sub">{esc(t["description"])} · '
            f'{kind} · {esc(", ".join(d["sources"]))}</p><div class="facts">{"".join(facts)}</div></header>')


def _notes_section(rep: dict) -> str:
    items = [f'<p class="warn">{esc(w)}</p>' for w in rep["warnings"]]
    if rep["notes"]:
        items.append('<ul class="notes">' + "".join(f"<li>{esc(n)}</li>" for n in rep["notes"]) + "</ul>")
    return f'<section><h2>Warnings and notes</h2>{"".join(items)}</section>' if items else ""


def _layers_section(rep: dict) -> str:
    lay = rep.get("layers")
    if not lay:
        why = ("this report has none (targets.layers breaks down synthesised designs whose top module has layer "
               "instances)")
        return f'<section><h2>Per layer</h2><p class="note">No per-layer breakdown: {why}.</p></section>'
    div, unit = area_unit(_printed(rep), lay["area_um2"])
    note = (f"From {lay['method']}. Its total is {fixed(lay['area_um2'] / div)} {unit} and its critical path "
            f"{format_si(lay['critical_path_s'], 's')}; the flat synthesis the rest of the report uses has "
            f"{fixed(lay['flat_area_um2'] / div)} {unit} and {format_si(lay['flat_critical_path_s'], 's')}.")
    body = [f'<section><h2>Area and power per layer</h2>{_img("area and power per layer", _layers_figure(rep))}'
            f'<p class="note">{esc(note)}</p></section>']
    if lay["critical_path"]:
        rows = "".join(f'<tr><td>{esc(g["layer"])}</td><td class="n">{g["cells"]}</td>'
                       f'<td class="n">{esc(format_si(g["start_s"], "s"))}</td><td class="n">{esc(format_si(g["end_s"], "s"))}</td>'
                       f'<td class="mono">{esc(g["exit_net"] or "")}</td><td>{esc(g["neuron"] or "")}</td></tr>'
                       for g in lay["critical_path"])
        body.append(f'<section><h2>Critical path over the layers</h2>{_img("critical path over the layers", _path_figure(rep))}'
                    '<table><tr><th>layer</th><th class="n">cells</th><th class="n">enters</th><th class="n">leaves</th>'
                    f'<th>leaves on net</th><th>owner</th></tr>{rows}</table><p class="note">Net names are the '
                    'backends\' (l&lt;layer&gt;_n&lt;neuron&gt;_…: a neuron\'s nets; l&lt;layer&gt;_y&lt;k&gt;: '
                    'a layer\'s output k), kept between layer modules by the hierarchical synthesis.</p></section>')
    return "".join(body)


def _cells_section(rep: dict) -> str:
    title = "Cell mix" if rep["area"] else "FPGA cells"
    figs = [f'<div>{_img("cell mix", _cells_figure(rep))}</div>']
    hist = (rep.get("power") or {}).get("activity", {}).get("histogram")
    if hist:
        act = rep["power"]["activity"]
        figs.append(f'<div><h3>Switching activity</h3>{_img("activity histogram", _activity_figure(hist, act["mean_toggle_rate"]))}'
                    f'<p class="note">{esc(act["note"])}; {act["vectors"]:,} vectors, {act["cycles"]:,} cycles.</p></div>')
    elif rep["fpga"] and rep["fpga"].get("capacity"):
        figs.append(f'<div><h3>Utilisation of the device</h3>{_img("device utilisation", _utilisation_figure(rep["fpga"]))}'
                    f'<p class="note">{esc(utilisation_text(rep["fpga"]))}.</p></div>')
    elif rep["fpga"]:
        figs.append('<div><h3>Utilisation of the device</h3><p class="note">No device capacity for this family: '
                    'resource counts only.</p></div>')
    return f'<section><h2>{title}</h2><div class="two">{"".join(figs)}</div></section>'


def _accuracy_section(rep: dict) -> str:
    acc = rep.get("accuracy")
    if not acc:
        return ('<section><h2>Accuracy</h2><p class="note">Not measured: report a compiled directory with labelled '
                'data (bespoke report DIR --data test.csv, or bespoke flow) to compare the hardware with the float '
                'model.</p></section>')
    delta = 100 * (acc["hardware"] - acc["float"])
    cards = [card("hardware", f"{100 * acc['hardware']:.2f} %", acc["source"], hl=True),
             card("float model", f"{100 * acc['float']:.2f} %", f"{delta:+.2f} pt hardware vs float"),
             card("labelled vectors", f"{acc['vectors']:,}")]
    return (f'<section><h2>Accuracy: hardware vs float</h2><div class="two"><div class="cards">{"".join(cards)}</div>'
            f'<div>{_img("hardware vs float accuracy", _accuracy_figure(acc))}</div></div></section>')


def _details_section(rep: dict) -> str:
    t = rep["timing"]
    parts = [f'<p class="note">Timing: {esc(t["method"])}.</p>']
    if rep["power"]:
        parts.append(f'<p class="note">Power: {esc(rep["power"]["method"])}.</p>')
    if t["path"]:
        rows = "".join(f'<tr><td class="n">{k}</td><td class="mono">{esc(p["instance"])}</td><td>{esc(p["cell"])}</td>'
                       f'<td class="mono">{esc(p.get("net") or "")}</td><td class="n">{esc(format_si(p["arrival_s"], "s"))}</td></tr>'
                       for k, p in enumerate(t["path"]))
        parts.append(f'<details><summary>Critical path of the flat synthesis ({len(t["path"])} cells, '
                     f'{esc(format_si(t["critical_path_s"], "s"))})</summary><table><tr><th class="n">#</th><th>instance</th>'
                     f'<th>cell</th><th>net</th><th class="n">arrival</th></tr>{rows}</table></details>')
    parts.append(f'<details><summary>Synthesis script ({esc(rep["synthesis"]["tool"])})</summary>'
                 f'<pre>{esc(rep["synthesis"]["script"])}</pre></details>')
    if rep["target"].get("library_source"):
        parts.append(f'<details><summary>Cell library</summary><pre>{esc(rep["target"]["library_source"])}</pre></details>')
    return f'<section><h2>How these figures were made</h2>{"".join(parts)}</section>'


def report_html(rep: dict) -> str:
    """The page of a report (the dict make_report returns, or report.json read back)."""
    title = f"{rep['design']['top']} on {rep['target']['name']}: bespoke report"
    body = [_header(rep), _notes_section(rep)]
    if rep["area"] or rep.get("layers"):
        body.append(_layers_section(rep))
    body += [_cells_section(rep), _accuracy_section(rep), _details_section(rep)]
    gen = rep["generator"]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
            f"<title>{esc(title)}</title><style>{CSS}{_EXTRA_CSS}</style></head><body><main>{''.join(body)}"
            f"<footer>bespoke {esc(gen['bespoke'])} · {esc(gen['yosys'])} · schema {esc(rep['schema'])} "
            f"v{rep['schema_version']}</footer></main></body></html>\n")

