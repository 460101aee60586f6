"""The `bespoke` command line: compile, simulate, verify --formal, flow (compile, simulate, report at once),
explore, report, train-gates.

User errors (bad model, unsupported operator, bad data, bad option) print one line and exit 2.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from bespoke.compiler.errors import BespokeError
from bespoke.targets import cli as targets_cli
from bespoke.progress import step


def _input_range(text: str) -> tuple[float, float]:
    lo, sep, hi = text.partition(":")
    try:
        if not sep:
            raise ValueError
        lo, hi = float(lo), float(hi)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LO:HI, got {text!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and np.isfinite(hi - lo)) or hi <= lo:
        raise argparse.ArgumentTypeError(f"expected finite numbers LO < HI, got {text!r}")
    return lo, hi


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _folding(text: str):
    """'16' -> 16 (every layer), '16,8,8,10' -> [16, 8, 8, 10] (one per matrix layer)."""
    values = _positive_list(text, "integers like 16 or 16,8,8,10 (one per matrix layer)")
    return values[0] if len(values) == 1 and "," not in text else list(values)


def _positive_list(text: str, what: str) -> tuple[int, ...]:
    """'96,48,24' -> (96, 48, 24); `what` says what was expected, e.g. 'layer sizes like 96,48,24'."""
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        values = ()
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive {what}, got {text!r}")
    return values


def _sizes(text: str) -> tuple[int, ...]:
    return _positive_list(text, "layer sizes like 96,48,24")


def _counts(text: str) -> tuple[int, ...]:
    return _positive_list(text, "fault counts like 1,4,16")


def _bits(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a bit width (an integer from 1 to 32), got {text!r}") from None
    if not 1 <= value <= 32:
        raise argparse.ArgumentTypeError(f"bit width {value} is not between 1 and 32")
    return value


def _fraction(text: str) -> float:
    """'1%' or '0.01' -> 0.01."""
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction like 1% or 0.01, got {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"accuracy loss {text!r} must be between 0 and 100 %")
    return value


def add_compile_arguments(c: argparse.ArgumentParser) -> None:
    """The options of `bespoke compile` that `bespoke flow` takes too."""
    c.add_argument("model", type=Path, help="ONNX file, or a learned gate network (gates.json, see train-gates)")
    c.add_argument("--input-bits", type=_bits, default=4, help="unsigned bits per input feature (default 4)")
    c.add_argument("--weight-bits", type=_bits, default=8, help="signed bits per weight (default 8)")
    c.add_argument("--act-bits", type=_bits, default=8, help="unsigned bits of hidden activations (default 8)")
    c.add_argument("--per-channel", action="store_true", help="one weight scale per hidden neuron instead of per layer")
    c.add_argument("--calibration", type=Path, help="CSV of training inputs: input and activation ranges")
    c.add_argument("--input-range", type=_input_range, help="declared range LO:HI of every input feature")
    c.add_argument("--pipeline", action="store_true", help="registers between layers, with in_valid/out_valid")
    c.add_argument("--no-sharing", dest="sharing", action="store_false",
                   help="plan every neuron of a dense layer alone (default: share sub-expressions across neurons where "
                        "that takes fewer adder bits)")
    c.add_argument("--restrict-ranges", nargs="?", const="layer", choices=("layer", "neuron"),
                   help="fault hardening: clamp every activation to the range its layer (default, as Ranger) or each "
                        "neuron reaches on the --calibration data; see bespoke faults")
    c.add_argument("--approx", help="approximation knobs of a printed MLP, e.g. 'weights=pow2,input-bits=4,3,0,2,...,relu=4b,"
                                     "argmax=msb3,masks=out/chosen/masks.json' (see bespoke explore)")
    c.add_argument("--arch", choices=("unrolled", "folded", "dataflow"), default="unrolled",
                   help="unrolled: one inference per cycle, weights hard-wired (default); folded: time-multiplexed engine; "
                        "dataflow: the folded engine with its layers working on consecutive inputs at once")
    c.add_argument("--map", choices=("popcount", "tlg"), default="popcount",
                   help="binarized neurons as compressor-tree popcounts (default) or as threshold gates (tlg): binarized "
                        "layers, integer layers feeding a threshold (by bit planes) and max-pools over bits are mapped; "
                        "an argmax head stays logic")
    c.add_argument("--tlg-fanin", type=int, help="tlg: inputs per threshold gate, 3 or more (default 5)")
    c.add_argument("--tlg-max-weight", type=int, help="tlg: largest |weight| of a gate input, 2 or more (default 2)")
    c.add_argument("--tlg-library", type=Path, help="tlg: threshold-gate cell description (JSON; default targets/libs/tlg_ftl40.json)")
    c.add_argument("--tlg-integer", choices=("bitplane", "arith"),
                   help="tlg: an integer layer feeding a threshold (e.g. the first layer) as threshold gates over its "
                        "inputs' bit planes (bitplane, default) or kept as adder trees and a comparator (arith)")
    c.add_argument("--pe", type=_folding, help="folded, dataflow: processing elements (output neurons computed in parallel), "
                                               "one value or one per matrix layer (16,8,8,10)")
    c.add_argument("--simd", type=_folding, help="folded, dataflow: inputs consumed per processing element and cycle, "
                                                 "one value or one per matrix layer")
    c.add_argument("--target-interval", type=_positive, metavar="CYCLES",
                   help="dataflow: choose PE and SIMD per layer for one input every CYCLES cycles (instead of --pe/--simd)")
    c.add_argument("--name", help="Verilog module name (default: the model file's name)")
    c.add_argument("--passes", help="pass list replacing the default (see --print-passes)")
    c.add_argument("--dump-ir", type=Path, help="directory to save the IR (JSON) after every pass")
    c.add_argument("-v", "--verbose", action="store_true", help="log each pass")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("bespoke")
    except PackageNotFoundError:
        return "(not installed)"


class _Parser(argparse.ArgumentParser):
    """argparse with its usage errors on one line (exit code 2), like every other user error;
    the subcommand parsers are made of the same class."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="bespoke", description="Compile trained networks (ONNX) to verified bespoke hardware.")
    parser.add_argument("--version", action="version", version=f"bespoke {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    c = sub.add_parser("compile", help="ONNX model -> integer IR -> Verilog",
                       description="Example: bespoke compile examples/cardio/cardio.onnx --calibration "
                                   "examples/cardio/train.csv -o out/")
    c.add_argument("-o", "--out", type=Path, required=True, help="output directory (replaced atomically)")
    add_compile_arguments(c)
    c.add_argument("--print-passes", action="store_true", help="print the pass list and exit")

    s = sub.add_parser("simulate", help="cycle-accurate RTL simulation against the golden model")
    s.add_argument("build", type=Path, help="output directory of `bespoke compile`")
    s.add_argument("--data", type=Path, required=True, help="CSV: x0..xN-1 feature columns [, label]")
    s.add_argument("--simulator", choices=("verilator", "icarus"), default="verilator")
    s.add_argument("--max-vectors", type=_positive, help="simulate only the first N rows")
    s.add_argument("--wave", type=Path, metavar="FILE", help="also record a waveform of the first vectors to FILE "
                   "(.vcd or .fst: every signal, each layer under its instance u_<layer>; open it with GTKWave or Surfer)")
    s.add_argument("--wave-vectors", type=_positive, metavar="N", help="vectors the waveform records (default 16)")

    x = sub.add_parser("export", help="a TinyTapeout project or an iCE40 bitstream of a build, its wrapper simulated "
                       "against the golden model",
                       description="Examples: bespoke export out/ --tinytapeout --data examples/seeds/test.csv (info.yaml, "
                                   "src/project.v: the tt_um_ wrapper, input bytes shifted in on ui_in with uio_in[0], "
                                   "the result byte chosen by uio_in[7:1] on uo_out; combinational builds). "
                                   "bespoke export out/ --ice40 --data examples/cardio/test.csv (an iCEBreaker project: "
                                   "a UART top at 115200 baud, pins, build.sh, host.py; the bitstream build/top.bin placed "
                                   "and routed by nextpnr at 12 MHz; any build). Both simulate host, wrapper and design "
                                   "against the golden model first.")
    x.add_argument("build", type=Path, help="output directory of `bespoke compile`")
    kind = x.add_mutually_exclusive_group(required=True)
    kind.add_argument("--tinytapeout", action="store_true", help="write a TinyTapeout project")
    kind.add_argument("--ice40", action="store_true", help="write an iCEBreaker (iCE40 UP5K) project and its bitstream")
    x.add_argument("-o", "--out", type=Path, help="project directory (default BUILD/tinytapeout or BUILD/ice40)")
    x.add_argument("--data", type=Path, help="CSV whose rows the wrapper is simulated on (default: 200 random input codes)")
    x.add_argument("--tiles", default="1x1", help="TinyTapeout tiles for info.yaml (default 1x1; check the sky130hd report)")
    x.add_argument("--no-bitstream", dest="bitstream", action="store_false",
                   help="--ice40: write and simulate the project, skip synthesis, place and route")
    x.add_argument("--clock-div", type=int, metavar="D", help="--ice40: run the board at 12 MHz / 2^D, D = 0..3 "
                   "(default: 12 MHz, else the fastest divided clock nextpnr's Fmax allows)")
    x.add_argument("--simulator", choices=("verilator", "icarus"), default="verilator")

    v = sub.add_parser("verify", help="formal equivalence of the Verilog to a reference of its integer IR, all inputs",
                       description="Proves the build's combinational Verilog equal to a behavioural reference written "
                                   "from ir.json, for every input: exit 0 PROVEN, 1 COUNTEREXAMPLE (written to "
                                   "OUT/counterexample.csv and confirmed by simulation), 3 UNDECIDED, 2 bad input.")
    v.add_argument("build", type=Path, help="output directory of `bespoke compile`")
    v.add_argument("--formal", action="store_true", help="run the formal check (the one check verify has)")
    v.add_argument("--timeout", type=float, default=300, help="seconds for the whole check (default 300)")
    v.add_argument("--no-simulate", dest="simulate", action="store_false",
                   help="do not confirm a counterexample by RTL simulation")
    v.add_argument("--simulator", choices=("verilator", "icarus"), default="verilator")

    fa = sub.add_parser("faults", help="fault injection: accuracy under stuck-at faults and register bit flips",
                        description="Simulates the build's netlist under faults on a data set: every single stuck-at "
                                    "fault (or a sample), accuracy against the number of faults present together, "
                                    "transient flips of register bits; writes faults.json and faults.png. Compare a "
                                    "build compiled with --restrict-ranges. Example: bespoke faults out/ --data test.csv")
    fa.add_argument("build", type=Path, help="output directory of `bespoke compile` (unrolled)")
    fa.add_argument("--data", type=Path, required=True, help="CSV of inputs (with labels: accuracy; without: agreement "
                                                             "with the fault-free outputs)")
    fa.add_argument("-o", "--out", type=Path, help="directory for faults.json and faults.png (default: the build directory)")
    fa.add_argument("--max-single", type=_positive, default=20_000,
                    help="single stuck-at faults simulated; more sites than this are sampled (default 20000)")
    fa.add_argument("--counts", type=_counts, default=(1, 2, 4, 8, 16, 32, 64),
                    help="numbers of faults present together, e.g. 1,4,16 (default 1,2,4,...,64)")
    fa.add_argument("--trials", type=_positive, default=200, help="random fault sets per count (default 200)")
    fa.add_argument("--flips", type=_positive, default=5_000, help="transient register flips (pipelined designs; default 5000)")
    fa.add_argument("--seed", type=int, default=0)
    fa.add_argument("-q", "--quiet", action="store_true", help="no progress")

    e = sub.add_parser("explore", help="search approximations for the smallest design within an accuracy budget",
                       description="NSGA-II over weight sets, per-connection input bits and argmax bits of a printed MLP; "
                                   "writes the Pareto front (report.html, pareto.csv/json) and the chosen design, "
                                   "simulated and synthesised. Example: bespoke explore cardio.onnx --train train.csv "
                                   "--test test.csv --target egfet --max-loss 1%% -o out/")
    e.add_argument("model", type=Path, help="ONNX file (a printed MLP)")
    e.add_argument("--train", type=Path, required=True, help="CSV with labels: quantisation, retraining and selection")
    e.add_argument("--test", type=Path, help="held-out CSV with labels: measured for the front and simulated, never used to choose")
    e.add_argument("--target", default="egfet", help="technology of the cost model and synthesis (default egfet)")
    e.add_argument("--max-loss", type=_fraction, default=0.01, help="accuracy loss allowed against the float model, e.g. 1%% or 0.01")
    e.add_argument("-o", "--out", type=Path, required=True, help="output directory")
    e.add_argument("--population", type=_positive, default=64)
    e.add_argument("--generations", type=_positive, default=60)
    e.add_argument("--rounds", type=_positive, default=3, help="search rounds, each ending in retraining its front (default 3)")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--workers", type=_positive, help="local worker processes (default: one per core)")
    e.add_argument("--scheduler", help="address of a Dask scheduler (tcp://host:8786): evaluate candidates on that cluster")
    e.add_argument("--no-retrain", dest="retrain", action="store_false", help="approximate without retraining")
    e.add_argument("--synth", type=int, default=4, help="front designs to synthesise besides the chosen and exact ones (default 4)")
    e.add_argument("--simulator", choices=("verilator", "icarus"), default="verilator")
    e.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    f = sub.add_parser("flow", help="compile, simulate against the golden model and report, in one command",
                       description="compile -> simulate every row of --data against the golden model -> report area, "
                                   "power and timing on --target (activity from the same rows); ends with a summary. "
                                   "Example: bespoke flow examples/cardio/cardio.onnx --calibration examples/cardio/train.csv "
                                   "--data examples/cardio/test.csv --target egfet -o out/")
    f.add_argument("-o", "--out", type=Path, required=True, help="output directory (replaced atomically)")
    f.add_argument("--data", type=Path, required=True, help="CSV: x0..xN-1 feature columns [, label]")
    f.add_argument("--target", required=True, choices=sorted(targets_cli.TARGETS), help="technology target of the report")
    add_compile_arguments(f)
    f.add_argument("--simulator", choices=("verilator", "icarus"), default="verilator")
    f.add_argument("--max-vectors", type=_positive, help="simulate and report only the first N rows")
    f.add_argument("--clock", help="clock / inference rate of the report, e.g. 5Hz or 50MHz (default: per target)")
    f.add_argument("--no-layers", dest="layers", action="store_false",
                   help="report without the per-layer breakdown (a second synthesis that keeps the layers apart)")
    f.add_argument("-q", "--quiet", action="store_true", help="no progress, only the summary")

    g = sub.add_parser("train-gates", help="learn a logic-gate network (difflogic) for a tabular data set -> gates.json",
                       description="Trains a differentiable logic-gate network in numpy (relaxed 16-function gates, "
                                   "fixed random connections, thermometer-coded inputs, group-sum head) and writes its "
                                   "discrete form; compile it with `bespoke compile gates.json -o out/`.")
    g.add_argument("--train", type=Path, required=True, help="CSV with labels")
    g.add_argument("--test", type=Path, help="CSV with labels: accuracy printed while training, never used to choose")
    g.add_argument("-o", "--out", type=Path, required=True, help="the gates.json to write")
    g.add_argument("--gates", type=_positive, default=300, help="gates in all layers before simplification (default 300)")
    g.add_argument("--layers", type=_positive, default=2, help="gate layers (default 2)")
    g.add_argument("--group", type=_positive, help="gates per class in the last layer, the group-sum head's inputs "
                   "(default: layers of equal size)")
    g.add_argument("--sizes", type=_sizes, help="gates per layer, e.g. 96,48,24 (overrides --gates, --layers, --group)")
    g.add_argument("--thresholds", type=_positive, default=3, help="thermometer bits per feature, at most (default 3)")
    g.add_argument("--threshold-step", type=_positive, default=1,
                   help="thresholds on multiples of this code step only: cheaper comparators (default 1)")
    g.add_argument("--input-bits", type=_bits, default=4, help="ADC bits per feature (default 4)")
    g.add_argument("--epochs", type=_positive, default=200)
    g.add_argument("--min-steps", type=int, default=2000, help="at least this many mini-batch steps: more epochs on a "
                   "small data set (default 2000)")
    g.add_argument("--batch", type=_positive, default=128)
    g.add_argument("--lr", type=float, default=0.01)
    g.add_argument("--tau", type=float, help="group-sum temperature (default: sqrt of the gates per class)")
    g.add_argument("--seed", type=int, default=0)

    r = sub.add_parser("report", help="area, power and timing from synthesis")
    targets_cli.add_arguments(r)
    return parser


def cmd_compile(args) -> int:
    from bespoke.api import MANIFEST, compile_model, format_summary
    from bespoke.builddir import check_output_dir
    from bespoke.flow import model_passes

    if args.print_passes:
        print(args.passes or model_passes(args.model, input_bits=args.input_bits, weight_bits=args.weight_bits,
                                          act_bits=args.act_bits, per_channel=args.per_channel))
        return 0
    t0 = time.perf_counter()
    check_output_dir(args.out, MANIFEST)  # before the work, not only when saving it
    model = compile_model(args.model, **compile_options(args))
    model.save(args.out)
    print(format_summary(model))
    if args.calibration is not None:
        warn_quantisation_loss(model, args.calibration)
    print(f"wrote {args.out}/{model.name}.v, ir.json, manifest.json in {time.perf_counter() - t0:.2f} s")
    return 0


def compile_options(args) -> dict:
    """compile_model's keyword arguments from the options add_compile_arguments declares."""
    return dict(input_bits=args.input_bits, weight_bits=args.weight_bits, act_bits=args.act_bits,
                per_channel=args.per_channel, calibration=args.calibration, input_range=args.input_range,
                pipeline=args.pipeline, name=args.name, passes=args.passes, dump_ir=args.dump_ir,
                log=print if args.verbose else None, arch=args.arch, pe=args.pe, simd=args.simd, sharing=args.sharing,
                approx=args.approx, map=args.map, tlg_fanin=args.tlg_fanin, tlg_max_weight=args.tlg_max_weight,
                tlg_library=args.tlg_library, tlg_integer=args.tlg_integer, restrict_ranges=args.restrict_ranges,
                target_interval=args.target_interval)


def warn_quantisation_loss(model, calibration: Path, limit: float = 0.01) -> None:
    """A warning when the integer design classifies the labelled calibration data more than
    `limit` worse than the float model (fewer input bits than the model needs, say)."""
    from bespoke.compiler.data import read_csv

    x, y = read_csv(calibration, model.n_features)
    if y is None or model.ir.layer(model.ir.output_node()).op != "argmax":
        return
    hw, fl = float(np.mean(model.predict(x) == y)), float(np.mean(model.predict_float(x) == y))
    if fl - hw > limit:
        print(f"warning: the quantised design is {100 * (fl - hw):.1f} points less accurate than the float model on "
              f"{calibration} ({100 * hw:.1f} % vs {100 * fl:.1f} %); try more --input-bits, or `bespoke explore`")


def warn_clamped(model, x, data: Path) -> None:
    """A warning when data rows lie outside the input range the design was quantised for: the
    ADC codes clamp there, so the hardware sees other values than the float model."""
    rows, features = model.ir.clamped_inputs(x)
    if rows:
        print(f"warning: {rows} of {len(x)} rows of {data} have values outside the calibrated input range "
              f"({features} of {model.n_features} features); they are clamped to the nearest input code")


def cmd_export(args) -> int:
    from bespoke import api

    if args.ice40:
        r = api.export_ice40(args.build, args.out, data=args.data, simulator=args.simulator, bitstream=args.bitstream,
                             clock_div=args.clock_div, quiet=False)
        interface = (f"UART top: {r.bytes_in} input bytes in, {r.bytes_out} result bytes back per vector "
                     f"(simulated at {_ice40().SIM_CLKS_PER_BIT} clocks per bit; the bitstream runs 115200 baud)")
    else:
        r = api.export_tinytapeout(args.build, args.out, data=args.data, tiles=args.tiles, simulator=args.simulator)
        interface = (f"tt_um_ wrapper: {r.bytes_in} input bytes shifted in, {r.bytes_out} result bytes read back; "
                     f"{r.sim.latency_cycles} cycles per vector with the test host")
    sim = r.sim
    print(f"wrote {r.directory}: " + ", ".join(str(p.relative_to(r.directory)) for p in r.files))
    print(interface)
    print(f"simulated {sim.vectors} vectors through host, wrapper and design ({sim.simulator}): "
          f"{sim.mismatches} mismatches against the golden model")
    for problem in sim.problems:
        print(f"problem: {problem}")
    ok = sim.ok
    if args.ice40 and sim.ok and args.bitstream:
        ok = _print_ice40_build(r, bool(api.load_compiled(args.build).layout.get("handshake")))
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def _ice40():
    from bespoke.targets import ice40

    return ice40


def _print_ice40_build(r, folded: bool) -> bool:
    ice40 = _ice40()
    for b in r.attempts:
        used = ", ".join(f"{k} {v['used']}/{v['available']}" for k, v in b.utilisation.items())
        steps = ", ".join(f"{k} {v:.1f} s" for k, v in b.seconds.items())
        mhz = f"{ice40.clock_hz(b.div_log2) / 1e6:g} MHz"
        if b.fmax_hz is not None:
            print(f"iCE40 UP5K at {mhz}: placed and routed ({steps}); Fmax {b.fmax_hz / 1e6:.1f} MHz "
                  f"({'meets' if b.meets_timing else 'misses'} {mhz}); {used}")
    b = r.build
    if b.bitstream is None:
        hint = ""
        if b.fmax_hz is not None and b.fmax_hz < ice40.clock_hz(ice40.MAX_DIV_LOG2):
            hint = "; compile with --pipeline for registers between layers"
        elif b.problem.startswith("does not fit") and folded:
            hint = "; compile with a smaller --pe/--simd to fold it further"
        print(f"no bitstream: {b.problem}{hint}")
        return False
    print(f"bitstream: {b.bitstream.relative_to(r.directory)} at {ice40.clock_hz(b.div_log2) / 1e6:g} MHz "
          f"(program it with iceprog; host.py runs a CSV on the board)")
    return True


def cmd_simulate(args) -> int:
    from bespoke.api import WAVE_VECTORS, load_compiled

    if args.wave_vectors is not None and args.wave is None:
        raise BespokeError("--wave-vectors sets how many vectors --wave records; add --wave FILE")
    model = load_compiled(args.build)
    warn_clamped(model, model._data(args.data)[0][:args.max_vectors], args.data)
    print(f"simulating {args.data} on {args.simulator} (the simulator is built once per design) ...", flush=True)
    rep = model.simulate(args.data, simulator=args.simulator, max_vectors=args.max_vectors, wave=args.wave,
                         wave_vectors=args.wave_vectors or WAVE_VECTORS)
    print(f"simulated {rep.vectors} vectors with {rep.simulator} (build {rep.seconds_build:.1f} s, run {rep.seconds_run:.1f} s)")
    print(f"mismatches against the golden model: {rep.mismatches}")
    for m in rep.first_mismatches:
        print(f"  vector {m['index']}: expected {m['expected']}, got {m['got']}")
    print(f"latency: {_latency_text(rep)}" + (" (combinational)" if not model.layout.get("pipelined") else ""))
    if model.layout.get("dataflow") and rep.interval_min is not None:
        low, high = rep.interval_min, rep.interval_max
        print(f"throughput: one input every {low if low == high else f'{low}..{high}'} cycles (design claims {rep.interval_claimed})")
    for problem in rep.problems:
        print(f"problem: {problem}")
    for line in format_reference(rep.reference):
        print(line)
    if rep.hardware_accuracy is not None:
        print(f"accuracy: hardware {100 * rep.hardware_accuracy:.2f} %, float model {100 * rep.float_accuracy:.2f} %")
    if rep.wave is not None:
        print(f"waveform of the first {rep.wave_vectors} vectors: {rep.wave} (open it with `gtkwave {rep.wave}` or "
              f"`surfer {rep.wave}`)")
    print("PASS" if rep.passed else "FAIL")
    return 0 if rep.passed else 1


def format_reference(ref: dict | None) -> list[str]:
    """The golden model against the ONNX model's own execution, in words: the check that a PASS
    means the circuit computes what the user's model computes."""
    if ref is None:
        return ["golden model vs the ONNX model: not checked (the build has no model.onnx: recompile it)"]
    if ref["error"]:
        return [f"golden model vs the ONNX model: not checked ({ref['engine']} could not run it: {ref['error']})"]
    head = f"golden model vs the ONNX model ({ref['engine']}): {ref['agree']}/{ref['vectors']} outputs agree"
    if ref["ties"]:
        head += f", {ref['ties']} ties (equal scores, or a value on a rounding boundary) broken differently by the reference's float rounding"
    if ref["exact"]:
        lines = [head + (" (exact model: every output must agree)" if not ref["failed"] else " -- DISAGREES with the model")]
    else:
        why = ref["why_inexact"]
        lines = [head + f" (not an exactness check: {why[0]}" + (f", and {len(why) - 1} more of bespoke's choices" if len(why) > 1 else "") + ")"]
    if ref["failed"]:
        lines += [f"  row {d['row']}: golden {d['golden']}, ONNX model {d['reference']}" for d in ref["first_disagreements"]]
    return lines


def _latency_text(rep) -> str:
    """'40 cycles', or the measured range ('38..40 cycles') when inferences differ; the claim when
    the measurement is off it."""
    low, high = rep.latency_min, rep.latency_cycles
    measured = f"{high}" if low is None or low == high else f"{low}..{high}"
    return f"{measured} cycles" + ("" if rep.latency_claimed in (None, high) else f" (design claims {rep.latency_claimed})")


VERIFY_EXIT = {"proven": 0, "counterexample": 1, "undecided": 3}


def cmd_verify(args) -> int:
    from bespoke.api import verify_formal

    if not args.formal:
        raise BespokeError("bespoke verify runs the formal check: add --formal")
    print(f"proving {args.build} equal to the reference of its ir.json, for every input ...", flush=True)
    rep = verify_formal(args.build, timeout=args.timeout, simulate=args.simulate, simulator=args.simulator)
    r = rep.result
    print(f"miter: {r.input_bits} input bits, {r.and_gates} AND gates" if r.and_gates else f"input: {r.input_bits} bits")
    print(f"{r.verdict.upper()} in {r.seconds:.1f} s by {r.method}: {r.detail}")
    if rep.codes is not None:
        print(f"  input codes: {rep.codes}")
        print(f"  golden model (ir.json): {rep.expected}")
        if rep.circuit is not None:
            same = "the same: NOT confirmed" if rep.circuit == rep.expected else "a mismatch: confirmed"
            print(f"  circuit ({args.simulator} simulation of this vector): {rep.circuit} -- {same}")
        if rep.csv is not None:
            print(f"  wrote {rep.csv} (replay: bespoke simulate {args.build} --data {rep.csv})")
    return VERIFY_EXIT[r.verdict]


def cmd_faults(args) -> int:
    from bespoke.faults import format_campaign, run_campaign, write_campaign
    from bespoke.progress import step

    with step(f"fault campaign of {args.build} on {args.data.name}", args.quiet) as show:
        camp = run_campaign(args.build, args.data, max_single=args.max_single, counts=args.counts, trials=args.trials,
                            flips=args.flips, seed=args.seed, progress=lambda text: show(text, transient=True))
    print(format_campaign(camp))
    files = write_campaign(camp, args.out or args.build)
    print(f"wrote {', '.join(str(f) for f in files)}")
    return 0


def cmd_explore(args) -> int:
    from bespoke.explore import run_explore

    return run_explore(args.model, args.train, args.test, args.out, target=args.target, max_loss=args.max_loss,
                       population=args.population, generations=args.generations, rounds=args.rounds, seed=args.seed, workers=args.workers,
                       scheduler=args.scheduler, retrain=args.retrain, synth=args.synth, simulator=args.simulator,
                       quiet=args.quiet)


def cmd_train_gates(args) -> int:
    from bespoke.compiler.data import read_csv
    from bespoke.compiler.gates_train import TrainOptions, train

    x, y = read_csv(args.train)
    if y is None:
        raise BespokeError(f"{args.train}: no label column")
    xt, yt = read_csv(args.test, x.shape[1]) if args.test else (None, None)
    options = TrainOptions(gates=args.gates, layers=args.layers, group=args.group, sizes=args.sizes,
                           thresholds=args.thresholds, threshold_step=args.threshold_step, input_bits=args.input_bits,
                           epochs=args.epochs, min_steps=args.min_steps, batch=args.batch, lr=args.lr, tau=args.tau, seed=args.seed)
    net = train(x, y, options, xt, yt, log=lambda line: print(line, flush=True), name=args.out.stem)
    net.save(args.out)
    print(f"wrote {args.out}: {net.n_gates} gates, {net.n_bits} input bits, train accuracy {100 * net.meta['train_accuracy']:.1f} %")
    return 0


def cmd_flow(args) -> int:
    from bespoke.api import run_flow

    clock = targets_cli.parse_clock(args.clock) if args.clock else None
    result = run_flow(args.model, args.data, args.target, args.out, simulator=args.simulator, max_vectors=args.max_vectors,
                      clock_hz=clock, quiet=args.quiet, layers=args.layers, **compile_options(args))
    print(format_flow(result))
    warn_clamped(result.model, result.model._data(args.data)[0][:args.max_vectors], args.data)
    return 0 if result.passed else 1


def format_flow(result) -> str:
    """The final summary of `bespoke flow`: one line per step, the report's table, the files."""
    model, sim, sec = result.model, result.sim, result.seconds
    total = model.summary.get("total", {})
    hw = f"{len(model.summary.get('layers', []))} layers" + (f", {total['adders']} adders" if total.get("adders") else "")
    verdict = f"{sim.vectors} vectors, {sim.mismatches} mismatches against the golden model ({sim.simulator}"
    verdict += f", build {sim.seconds_build:.1f} s)" if sim.seconds_build else ", build reused)"
    lines = [f"flow {model.name}: {'PASS' if result.passed else 'FAIL'}",
             f"  compile   {sec['compile']:6.1f} s  {model.n_features} inputs, {hw}",
             f"  simulate  {sec['simulate']:6.1f} s  {verdict}"]
    lines += [f"  problem: {p}" for p in sim.problems]
    lines += ["  " + line for line in format_reference(sim.reference)]
    if sim.hardware_accuracy is not None:
        lines.append(f"  accuracy            hardware {100 * sim.hardware_accuracy:.2f} %, float model {100 * sim.float_accuracy:.2f} %")
    lines.append(f"  report    {sec['report']:6.1f} s  {result.report['target']['name']}:")
    lines.append(targets_cli.format_table(result.report))
    lines.append(f"wrote {', '.join(str(p) for p in result.files)} ({sum(sec.values()):.1f} s in all)")
    return "\n".join(lines)


def cmd_report(args) -> int:
    from bespoke.api import load_accuracy, load_compiled, load_netlist
    from bespoke.compiler.data import read_csv

    def encode(build, data):  # a compiled directory's --data as input codes, saying what is clamped
        model = load_compiled(build)
        x = read_csv(data, model.n_features)[0]
        warn_clamped(model, x, data)
        return model.encode(x)

    # the model encodes a compiled directory's --data and measures its accuracy; the tlg target prices
    # its re-planned netlist
    with step(f"report on {args.target} (Yosys synthesis)", quiet=args.verbose, tools=True):
        return targets_cli.run(args, encode=encode, netlist=load_netlist, accuracy=load_accuracy)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = {"compile": cmd_compile, "simulate": cmd_simulate, "export": cmd_export, "verify": cmd_verify, "faults": cmd_faults, "explore": cmd_explore, "flow": cmd_flow,
                "report": cmd_report, "train-gates": cmd_train_gates}[args.command](args)
        sys.stdout.flush()  # a reader that went away is found here, not at exit
        return code
    except BrokenPipeError:  # `bespoke ... | head`: the reader has what it wanted; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the exit's flush goes nowhere
        return 141  # as a shell reports a process ended by SIGPIPE
    except BespokeError as e:
        print(f"bespoke: error: {_one_line(str(e))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bespoke: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug, not a user error: one line and a hint instead of a traceback
        print(f"bespoke: internal error: {type(e).__name__}: {_one_line(str(e))} (please report it with the command "
              "line; BESPOKE_TRACEBACK=1 shows the traceback)", file=sys.stderr)
        if os.environ.get("BESPOKE_TRACEBACK"):
            raise
        return 70


def _one_line(text: str) -> str:
    return " ".join(text.split()) or "(no message)"


if __name__ == "__main__":
    sys.exit(main())
