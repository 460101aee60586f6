"""How reports print numbers: SI prefixes, fixed-point figures with thousands separators (never
scientific notation), each target's natural area unit, FPGA utilisation in words. Shared by the
terminal table and report.md (targets.report) and the HTML page (targets.report_html).
"""

from __future__ import annotations

import math

_PREFIX = [(1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"), (1e-12, "p"),
           (1e-15, "f")]


def format_si(value: float | None, unit: str, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if value == 0:
        return f"0 {unit}"
    for scale, p in _PREFIX:
        if abs(value) >= scale * 0.9995:
            return f"{value / scale:.{digits}g} {p}{unit}"
    return f"{value:.{digits}g} {unit}"


def fixed(value: float, digits: int = 3) -> str:
    """`value` in fixed-point notation with thousands separators and at least `digits` significant
    digits: 31,330 / 8.48 / 0.0421; never scientific notation."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    return f"{value:,.{decimals}f}"


def area_unit(printed: bool, total_um2: float) -> tuple[float, str]:
    """(µm² per unit, unit) of a design's areas: printed cm² (mm² below 1 cm²), silicon µm² (mm² from
    1 mm²). One unit for every area of a report, the total's."""
    if printed:
        return (1e8, "cm²") if total_um2 >= 1e8 else (1e6, "mm²")
    return (1.0, "µm²") if total_um2 < 1e6 else (1e6, "mm²")


def format_area(area: dict, printed: bool) -> str:
    scale, unit = area_unit(printed, area["um2"])
    text = f"{fixed(area['um2'] / scale)} {unit}"
    if printed and unit == "cm²":
        text += f" ({fixed(area['mm2'])} mm²)"
    elif not printed and unit == "µm²":
        text += f" ({fixed(area['mm2'])} mm²)"
    return text


def utilisation_text(section: dict) -> str | None:
    """'LUT 312 / 5,280 (5.9 %), FF 0 / 5,280 (0.0 %), ...' of an FPGA section with a device capacity."""
    cap = section.get("capacity")
    if not cap:
        return None
    used = section["resources"]
    return ", ".join(f"{k.upper()} {used.get(k, 0):,} / {v:,} ({100 * used.get(k, 0) / v:.1f} %)" for k, v in cap.items())
