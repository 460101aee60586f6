"""`bespoke report`: area, power and timing of a compiled design or of any Verilog file.

    bespoke report OUT_DIR --target egfet [--clock 5Hz] [--data test.csv] [--verbose]
    bespoke report design.v [more.v ...] [--top TOP] --target sky130hd [--clock 50MHz] [--data ports.csv] [--out DIR]

Writes report.<target>.json, report.<target>.md and report.<target>.html: into --out, else into
the compiled directory, else (Verilog files) into the current directory, never next to the input.

A compiled output directory holds manifest.json (top, Verilog file, port layout); its --data is the
model's CSV (x0..xN-1[,label]), encoded to integer codes by the model: the driver (`bespoke
report`) passes `run` the encoder, as this package knows Verilog and vectors, not models. For a Verilog file,
--data is a CSV with one column per data input port (header = port names), one integer per cycle.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from pathlib import Path

import numpy as np

from bespoke.compiler.errors import BespokeError
from bespoke.targets.report import SYNTH_TIMEOUT_S, TARGETS, format_si, format_table, make_report, write_report  # noqa: F401 (TARGETS, format_table: for the driver)

_FREQ = {"": 1.0, "hz": 1.0, "khz": 1e3, "mhz": 1e6, "ghz": 1e9}


def parse_clock(text: str) -> float:
    """'5Hz', '50MHz', '1.5 kHz', '12e6' -> Hz (units are case-insensitive; no millihertz)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([a-zA-Z]*)\s*", text or "")
    if not m or m.group(2).lower() not in _FREQ:
        raise BespokeError(f"cannot read clock {text!r}: give a frequency like 5Hz, 100kHz, 50MHz")
    hz = float(m.group(1)) * _FREQ[m.group(2).lower()]
    if hz <= 0:
        raise BespokeError(f"clock must be positive, got {text!r}")
    return hz


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("design", type=Path, nargs="+",
                        help="output directory of `bespoke compile`, or one or more Verilog files")
    parser.add_argument("--top", help="top module (default: the manifest's, or the files' only module)")
    parser.add_argument("--target", required=True, choices=sorted(TARGETS), help="technology target")
    parser.add_argument("--clock", help="clock / inference rate, e.g. 5Hz or 50MHz (default: per target)")
    parser.add_argument("--data", type=Path, help="CSV of input data for switching activity (see below)")
    parser.add_argument("--out", type=Path, help="where to write report.<target>.json/.md/.html "
                        "(default: the compiled directory; for Verilog files the current directory)")
    parser.add_argument("--timeout", type=_seconds, default=SYNTH_TIMEOUT_S, metavar="SECONDS",
                        help=f"time each synthesis or place-and-route run may take (default {SYNTH_TIMEOUT_S})")
    parser.add_argument("--no-layers", dest="layers", action="store_false",
                        help="skip the per-layer breakdown (a second synthesis that keeps the layers apart)")
    parser.add_argument("--verbose", action="store_true", help="show progress and the synthesis scripts")
    parser.epilog = __doc__.split("\n\n", 1)[1].rstrip() + "\n\n"
    parser.formatter_class = argparse.RawDescriptionHelpFormatter


def _modules(path: Path) -> list[str]:
    text = re.sub(r"//[^\n]*|/\*.*?\*/", "", path.read_text(errors="replace"), flags=re.DOTALL)
    return re.findall(r"^\s*module\s+([A-Za-z_][A-Za-z0-9_$]*)", text, flags=re.MULTILINE)


def _port_csv(path: Path) -> dict[str, np.ndarray]:
    try:
        with open(path, newline="") as fh:
            rows = list(csv.reader(fh))
    except OSError as e:
        raise BespokeError(f"cannot read {path}: {e.strerror}") from None
    if len(rows) < 3:
        raise BespokeError(f"{path}: need a header of port names and at least two rows of integers")
    header = [h.strip() for h in rows[0]]
    try:
        ints = [[int(v, 0) for v in r] for r in rows[1:] if r]
    except ValueError as e:
        raise BespokeError(f"{path}: values must be integers ({e})") from None
    if len({len(r) for r in ints}) != 1:
        raise BespokeError(f"{path}: rows have different numbers of values")
    wide = any(not -(1 << 63) <= v < (1 << 63) for r in ints for v in r)
    data = np.array(ints, dtype=object if wide else np.int64)  # values of ports wider than 63 bits stay Python ints
    if data.shape[1] != len(header):
        raise BespokeError(f"{path}: rows have {data.shape[1]} values but the header names {len(header)} ports")
    return {h: data[:, k] for k, h in enumerate(header)}


def load_design(paths: list[Path] | Path, top: str | None, data: Path | None, encode=None):
    """(verilog files, top, layout, vectors, default output directory) for a compiled directory or
    for Verilog files; `encode(directory, csv)` gives the input codes of a compiled directory's data.
    Reports of Verilog files go to the current directory: never next to someone else's sources."""
    paths = [Path(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
    if any(p.is_dir() for p in paths):
        if len(paths) > 1:
            raise BespokeError("give one compiled output directory, or Verilog files, not both or several directories")
        return _load_build(paths[0], top, data, encode)
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise BespokeError(f"no such file or directory: {', '.join(missing)}")
    onnx_files = [p for p in paths if p.suffix.lower() == ".onnx"]
    if onnx_files:
        raise BespokeError(f"{onnx_files[0]} is an ONNX model; compile it first (bespoke compile {onnx_files[0]} -o out/) and "
                           "report the output directory, or use bespoke flow")
    if top is None:
        mods = [m for p in paths for m in _modules(p)]
        if len(mods) != 1:
            where = paths[0].name if len(paths) == 1 else ", ".join(p.name for p in paths)
            raise BespokeError(f"{where} define{'s' if len(paths) == 1 else ''} {len(mods)} modules "
                               f"({', '.join(mods) or 'none'}); choose one with --top")
        top = mods[0]
    vectors = _port_csv(data) if data is not None else None
    return paths, top, None, vectors, Path.cwd()


def _load_build(path: Path, top: str | None, data: Path | None, encode):
    manifest_path = path / "manifest.json"
    if not manifest_path.is_file():
        raise BespokeError(f"{path} is not a compiled output directory (no manifest.json)")
    try:
        manifest = json.loads(manifest_path.read_text())
        verilog, layout = path / manifest["verilog"], manifest.get("layout")
        top = top or manifest["top"]
    except (ValueError, KeyError) as e:
        raise BespokeError(f"{manifest_path}: unreadable manifest ({e})") from None
    vectors = None
    if data is not None:
        if not data.is_file():
            raise BespokeError(f"data file not found: {data}")
        if encode is None:
            raise BespokeError("--data of a compiled directory is encoded by its model; run `bespoke report`")
        vectors = np.asarray(encode(path, data))
    return [verilog], top, layout, vectors, path


def run(args, encode=None, netlist=None, accuracy=None) -> int:
    """Report the design of parsed `args` (see add_arguments); `encode` as in load_design;
    `netlist(directory)` gives a compiled directory's (netlist, tlg library), which target tlg prices;
    `accuracy(directory, csv)` the report's `accuracy` section (hardware vs float) of labelled data."""
    files, top, layout, vectors, out = load_design(args.design, args.top, args.data, encode)
    build = Path(args.design[0]) if Path(args.design[0]).is_dir() else None  # a compiled directory
    clock = parse_clock(args.clock) if args.clock else None
    nl, library = netlist(build) if netlist is not None and args.target == "tlg" and build else (None, None)
    report = make_report(files, top, args.target, clock_hz=clock, vectors=vectors, layout=layout,
                         verbose=args.verbose, timeout=args.timeout, netlist=nl, tlg_library=library, layers=args.layers)
    if accuracy is not None and build is not None and args.data is not None:
        report["accuracy"] = accuracy(build, args.data)
    paths = write_report(args.out or out, report)  # with --verbose, make_report showed the scripts
    print(format_table(report))
    rt = report["runtime_s"]
    print(f"wrote {paths['json']}, {paths['md'].name} and {paths['html'].name} in {format_si(rt['total'], 's')}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point (python -m bespoke.targets.cli): `bespoke report` without the model
    behind a compiled directory (its --data needs `bespoke report`)."""
    parser = argparse.ArgumentParser(prog="bespoke report", description="area, power and timing from synthesis")
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except BespokeError as e:
        print(f"bespoke: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
