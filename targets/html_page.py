"""What the HTML reports share (the exploration report, targets.explore_report, and the synthesis
report, targets.report_html): the page's CSS, matplotlib's style, figures embedded as PNG, small
HTML pieces and atomic file writes. Everything here is deterministic: the same input gives the
same bytes.
"""

from __future__ import annotations

import base64
import html
import io
import os
import secrets
from pathlib import Path

# matplotlib settings of every plot (used with matplotlib.rc_context; no pyplot state)
RC = {"font.size": 10, "axes.titlesize": 11.5, "axes.titleweight": "bold", "axes.labelsize": 10.5,
       "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True, "grid.color": "#e5e7eb",
       "grid.linewidth": 0.8, "axes.axisbelow": True, "axes.edgecolor": "#6b7280", "xtick.color": "#374151",
       "ytick.color": "#374151", "legend.fontsize": 9.5}

CSS = """
*{box-sizing:border-box}
body{margin:0;background:#f4f6f9;color:#1f2937;
 font:15px/1.5 -apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"DejaVu Sans",sans-serif}
main{max-width:1200px;margin:0 auto;padding:28px 28px 48px}
header h1{margin:0 0 4px;font-size:26px;letter-spacing:-.01em}
header .sub{color:#6b7280;margin:0 0 18px}
.facts{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:10px;margin-bottom:22px}
.fact{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:10px 14px}
.fact b{display:block;font-size:19px;font-weight:600}
.fact span{color:#6b7280;font-size:12.5px;text-transform:uppercase;letter-spacing:.04em}
section{background:#fff;border:1px solid #e5e7eb;border-radius:10px;padding:18px 22px;margin-bottom:22px}
section h2{margin:0 0 12px;font-size:19px}
section h3{margin:14px 0 8px;font-size:15px;color:#374151}
img{display:block;width:100%;height:auto}
.note{color:#6b7280;font-size:13.5px;margin:6px 0 0}
.warn{background:#fff7ed;border:1px solid #fdba74;color:#9a3412;border-radius:8px;padding:10px 14px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(200px,1fr));gap:12px;margin-bottom:12px}
.card{border-radius:8px;padding:12px 16px;background:#f9fafb;border:1px solid #e5e7eb}
.card.hl{background:#fff4ef;border-color:#f4a58a}
.card span{display:block;color:#6b7280;font-size:12.5px;text-transform:uppercase;letter-spacing:.04em}
.card b{font-size:22px;font-weight:600}
.card small{display:block;color:#4b5563;font-size:13px}
.two{display:grid;grid-template-columns:minmax(0,1.1fr) minmax(0,1fr);gap:22px;align-items:start}
@media (max-width:900px){.two{grid-template-columns:1fr}}
table{border-collapse:collapse;width:100%;font-size:13.5px}
th{text-align:left;font-weight:600;color:#4b5563;border-bottom:2px solid #e5e7eb;padding:6px 8px;
 white-space:nowrap;vertical-align:bottom}
th.g{text-align:center;border-bottom:1px solid #d1d5db;padding-bottom:2px}
td{border-bottom:1px solid #f0f1f3;padding:5px 8px;vertical-align:top}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.chosen td{background:#fff4ef}
tr.chosen td:first-child{box-shadow:inset 4px 0 0 #e76f51}
tr.exact td{background:#f3f4f6}
.tag{display:inline-block;font-size:11px;font-weight:600;border-radius:4px;padding:0 5px;margin-left:4px;color:#fff}
.tag.c{background:#e76f51}.tag.e{background:#111827}
.mono{font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:12px;color:#374151;word-break:break-word}
.approx{font-size:12.5px;color:#374151;max-width:190px;word-break:break-word}
table.front .mono{white-space:nowrap}
.scroll{overflow-x:auto}
footer{color:#9ca3af;font-size:12px;text-align:center}
"""


def png(fig) -> str:
    """A matplotlib Figure as a data: URL (PNG, 150 dpi, no timestamp: the same figure gives the same bytes)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=150, metadata={"Software": None}, facecolor="white")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def esc(v) -> str:
    return html.escape(str(v))


def fact(value: str, label: str) -> str:
    """One tile of the header's facts row."""
    return f'<div class="fact"><b>{esc(value)}</b><span>{esc(label)}</span></div>'


def card(label: str, value: str, sub: str = "", hl: bool = False) -> str:
    return (f'<div class="card{" hl" if hl else ""}"><span>{esc(label)}</span><b>{esc(value)}</b>'
            f'<small>{esc(sub)}</small></div>')


def write_atomically(out: Path, files: dict[str, tuple[str, str]]) -> dict[str, Path]:
    """Each file to a temporary name in `out` first, then all renamed: no half-written file.
    files: key -> (file name, text); returns key -> path."""
    temps: dict[str, Path] = {}
    try:
        for key, (name, text) in files.items():
            temps[key] = out / f".{name}.{os.getpid()}-{secrets.token_hex(4)}.tmp"  # mode as any new file
            with open(temps[key], "x", encoding="utf-8", newline="") as f:
                f.write(text)
        paths = {}
        for key, (name, _) in files.items():
            os.replace(temps[key], out / name)
            del temps[key]
            paths[key] = out / name
        return paths
    finally:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)
