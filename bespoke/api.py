"""The Python API: compile an ONNX model, predict with the golden model, simulate the RTL,
report area/power/timing, save and reopen a build directory.

    model = compile_model("cardio.onnx", calibration="train.csv")   # or an onnx.ModelProto
    labels = model.predict(x_real)             # bit-exact golden model
    sim = model.simulate("test.csv")           # cocotb + Verilator, every vector checked
    rep = model.report("egfet", data="test.csv")
    model.save("out/")                         # the one step that writes files

`compile_model` composes the steps of bespoke.flow (frontend, run_passes, hardware), which a
user can also call one by one.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

import onnx

from bespoke import flow
from bespoke.builddir import check_output_dir, staging
from bespoke.compiler.data import read_csv
from bespoke.compiler.errors import BespokeError
from bespoke.compiler.gates_format import is_gates_file
from bespoke.compiler.ir import IR, ArgMax
from bespoke.hdl.netlist import Netlist

BUILD_FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SOURCE_MODEL = "model.onnx"  # the user's model, for simulate's check against its reference execution
WAVE_VECTORS = 16  # vectors a waveform records by default: every signal of every layer, so keep it short


@dataclass
class SimReport:
    """What `simulate` found: the RTL against the golden model, and the accuracies."""

    vectors: int
    mismatches: int
    first_mismatches: list
    latency_cycles: int | None  # the largest measured over all inferences
    simulator: str
    hardware_accuracy: float | None
    float_accuracy: float | None
    seconds_build: float
    seconds_run: float
    latency_min: int | None = None  # the smallest measured; equal to latency_cycles when fixed
    latency_claimed: int | None = None  # what the design's layout promises
    problems: list[str] = field(default_factory=list)  # e.g. a latency off its claim, a failed test
    wave: Path | None = None  # the waveform written (simulate(wave=...)), of the first wave_vectors vectors
    wave_vectors: int = 0
    reference: dict | None = None  # the golden model against the ONNX model's own execution (ReferenceCheck)
    interval_claimed: int | None = None  # cycles between inputs a dataflow design promises
    interval_min: int | None = None  # measured cycles between inputs taken (ready/valid designs)
    interval_max: int | None = None

    @property
    def passed(self) -> bool:
        return self.mismatches == 0 and not self.problems and not (self.reference or {}).get("failed")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class CompiledModel:
    name: str
    ir: IR  # integer IR with proven ranges: what the hardware computes
    float_ir: IR  # the frontend's float IR: the model as trained
    verilog: str
    layout: dict  # port contract of the Verilog top (see hdl.lower.port_layout)
    summary: dict
    options: dict = field(default_factory=dict)
    out_dir: Path | None = None
    netlist: Netlist | None = None  # the circuit the Verilog was written from (not saved: re-planned on demand)
    source: onnx.ModelProto | None = None  # the user's model (saved as model.onnx): simulate's reference

    @property
    def hardware(self) -> flow.Hardware:
        return flow.Hardware(self.name, self.verilog, self.layout, self.summary, self.netlist)

    # -- inference with the golden model
    @property
    def n_features(self) -> int:
        return self.ir.out(self.ir.input_node()).size

    def encode(self, x_real: np.ndarray) -> np.ndarray:
        """Real features -> integer input codes (what the sensor's ADC delivers to the circuit)."""
        x = np.asarray(x_real, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise BespokeError(f"input has shape {list(x.shape)}, the model takes [samples, {self.n_features}]")
        return self.ir.encode_inputs(x)

    def predict_codes(self, codes: np.ndarray) -> np.ndarray:
        from bespoke.sim.golden import run

        return run(self.ir, codes)

    def predict(self, x_real: np.ndarray) -> np.ndarray:
        """Class labels (or raw outputs for models without an ArgMax) from the bit-exact golden model."""
        return self._to_labels(self.predict_codes(self.encode(x_real)))

    def predict_float(self, x_real: np.ndarray) -> np.ndarray:
        from bespoke.sim.golden import run

        return self._to_labels(run(self.float_ir, np.asarray(x_real, dtype=np.float64)))

    def _to_labels(self, out: np.ndarray) -> np.ndarray:
        if not isinstance(self.ir.layer(self.ir.output_node()), ArgMax):
            return out
        idx = out[:, 0]
        labels = self.ir.meta.get("labels")
        return np.asarray(labels)[idx] if labels is not None else idx

    # -- RTL simulation
    def simulate(self, data, labels=None, simulator: str = "verilator", build_dir: str | Path | None = None,
                 max_vectors: int | None = None, wave: str | Path | None = None,
                 wave_vectors: int = WAVE_VECTORS) -> SimReport:
        """Drive every vector through the RTL and compare each output with the golden model.
        wave: also record the first `wave_vectors` vectors' waveform to this .vcd or .fst file (a
        second, traced run: every signal, each layer under its instance u_<layer>)."""
        from bespoke.sim.runner import record_wave, wave_format
        from bespoke.sim.runner import simulate as run_rtl

        if wave is not None:
            wave_format(wave, simulator)  # a bad name fails before the simulation, not after
            if not isinstance(wave_vectors, int) or wave_vectors < 1:
                raise BespokeError(f"wave_vectors must be a positive number of vectors, got {wave_vectors!r}")
        x, y = self._data(data, labels)
        if max_vectors is not None:
            x, y = x[:max_vectors], (None if y is None else y[:max_vectors])
        from bespoke.sim.golden import run_all

        codes = self.encode(x)
        values = run_all(self.ir, codes)  # every node: the output is expected, the scores break reference ties
        expected = values[self.ir.output_node()]
        work = Path(build_dir) if build_dir else (self.out_dir / "sim_build" if self.out_dir else Path(tempfile.mkdtemp(prefix="bespoke-sim-")))
        work.mkdir(parents=True, exist_ok=True)
        vfile = work / f"{self.name}.v"
        if not vfile.exists() or vfile.read_text() != self.verilog:
            vfile.write_text(self.verilog)
        reference = self.check_reference(x, codes, values)
        result = run_rtl([vfile], self.layout, codes, expected, work / simulator, simulator=simulator)
        waved = None
        if wave is not None:
            n = min(wave_vectors, len(codes))
            waved = record_wave([vfile], self.layout, codes[:n], expected[:n], work / simulator, wave, simulator).vcd
        hw_acc = fl_acc = None
        if y is not None and isinstance(self.ir.layer(self.ir.output_node()), ArgMax):
            hw_acc = float(np.mean(self._to_labels(expected) == y))
            fl_acc = float(np.mean(self.predict_float(x) == y))
        return SimReport(result.vectors, result.mismatches, result.first_mismatches, result.latency_cycles,
                         simulator, hw_acc, fl_acc, result.seconds_build, result.seconds_run,
                         result.latency_min, result.latency_claimed, list(result.problems), waved,
                         0 if waved is None else min(wave_vectors, len(codes)), None if reference is None else reference.to_dict(),
                         result.interval_claimed, result.interval_min, result.interval_max)

    def check_reference(self, x: np.ndarray, codes: np.ndarray | None = None, values: dict | None = None):
        """The golden model against the user's ONNX model run by its reference engine on the real
        features `x` (sim.onnx_reference.ReferenceCheck), or None for a build without its model;
        `codes` (x encoded) and `values` (the golden model's node values) when already computed."""
        from bespoke.sim.onnx_reference import check_against_model

        if self.source is None:
            return None
        return check_against_model(self.ir, self.source, x, self.encode(x) if codes is None else codes, values)

    def _data(self, data, labels=None):
        """(features, labels or None) of a CSV path or an array."""
        return read_csv(data, self.n_features) if isinstance(data, (str, Path)) else (np.asarray(data, float), labels)

    # -- area, power, timing
    def report(self, target: str, data=None, clock_hz: float | None = None, verbose: bool = False,
               timeout: float | None = None, layers: bool = False) -> dict:
        """Synthesis report on `target` (see bespoke.targets), switching activity from `data` (a CSV
        path or real features) when given, and per layer with `layers`; nothing is written to the
        build directory."""
        vectors = None if data is None else self.encode(self._data(data)[0])
        return flow.report(self.hardware, target, vectors=vectors, clock_hz=clock_hz, verbose=verbose, timeout=timeout,
                           layers=layers)

    def accuracy(self, x_real: np.ndarray, labels: np.ndarray, source: str) -> dict | None:
        """The report's `accuracy` section: hardware (golden model, bit-exact with the RTL) against the
        float model on labelled data, overall and per class; None for models without an ArgMax."""
        if not isinstance(self.ir.layer(self.ir.output_node()), ArgMax):
            return None
        y = np.asarray(labels)
        hw, fl = self.predict(x_real) == y, self.predict_float(x_real) == y
        per_class = [{"label": str(c), "count": int(np.sum(y == c)), "hardware": float(np.mean(hw[y == c])),
                      "float": float(np.mean(fl[y == c]))} for c in np.unique(y)]
        return {"hardware": float(np.mean(hw)), "float": float(np.mean(fl)), "vectors": int(len(y)), "source": source,
                "per_class": per_class}

    # -- persistence
    def save(self, out_dir: str | Path) -> Path:
        """Write the build to `out_dir` atomically (bespoke.builddir): at every instant the directory
        is the previous complete build or this one."""
        out = Path(out_dir)
        check_output_dir(out, MANIFEST)
        with staging(out) as tmp:
            (tmp / f"{self.name}.v").write_text(self.verilog)
            (tmp / "ir.json").write_text(self.ir.to_json())
            (tmp / "float_ir.json").write_text(self.float_ir.to_json())
            if self.source is not None:
                (tmp / SOURCE_MODEL).write_bytes(self.source.SerializeToString())
            (tmp / "summary.txt").write_text(format_summary(self) + "\n")
            manifest = {"format": "bespoke-build", "version": BUILD_FORMAT_VERSION, "name": self.name, "top": self.name,
                        "verilog": f"{self.name}.v", "layout": self.layout, "summary": self.summary, "options": self.options}
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        self.out_dir = out
        return out


def compile_model(model: onnx.ModelProto | str | Path, out_dir: str | Path | None = None, *, input_bits: int = 4,
                  weight_bits: int = 8, act_bits: int = 8, per_channel: bool = False, calibration=None,
                  input_range=None, pipeline: bool = False, name: str | None = None, passes: str | None = None,
                  dump_ir: str | Path | None = None, log=None, arch: str = "unrolled", pe=None,
                  simd=None, sharing: bool = True, approx: str | None = None, map: str = "popcount",
                  tlg_fanin: int | None = None, tlg_max_weight: int | None = None,
                  tlg_library: str | Path | None = None, tlg_integer: str | None = None,
                  restrict_ranges: str | None = None, target_interval: int | None = None) -> CompiledModel:
    """ONNX model (ModelProto or file) -> verified-ready build: integer IR, Verilog, port layout, summary.
    A gates.json file (a learned logic-gate network, compiler.gates_format) is compiled as it is.

    The steps of bespoke.flow in order: frontend, run_passes (calibration, input_range, passes and
    the bit widths are its options), hardware (arch, pe, simd: one value or one per matrix layer;
    target_interval, with arch="dataflow": pe and simd per layer chosen by hdl.folding for one
    input every target_interval cycles; pipeline: registers between layers; sharing=False: plan every neuron of a dense layer alone, no sub-expressions shared;
    approx: approximation knobs, compiler.approx.parse, e.g. "weights=pow2,input-bits=3,argmax=msb4";
    map="tlg": binarized neurons as threshold gates of fan-in <= tlg_fanin (default 5) and
    |weight| <= tlg_max_weight (default 2), integer layers by bit planes or, tlg_integer="arith",
    kept as adder trees; hdl.tlg_map). restrict_ranges="layer" or "neuron": clamp every activation to the
    range its layer or itself reaches on the calibration data (compiler.passes.restrict, fault hardening). name: the Verilog
    top (default: the file's stem, the graph's name, or "model").
    out_dir: also save the build there.
    """
    arch_options = flow.check_arch(arch, pe, simd, target_interval)
    tlg = flow.check_map(map, arch, tlg_fanin, tlg_max_weight, tlg_library, tlg_integer)
    name = _verilog_name(name or flow.model_name(model))
    if is_gates_file(model):
        if restrict_ranges:
            raise BespokeError("--restrict-ranges clamps the activations of an ONNX model; a gate network has none")
        return _compile_gates(Path(model), name, out_dir, pipeline=pipeline, arch=arch, approx=approx, passes=passes)
    source = flow.read_model(model)
    float_ir = flow.frontend(source, name)
    quant_options = dict(input_bits=input_bits, weight_bits=weight_bits, act_bits=act_bits, per_channel=per_channel)
    passes = flow.resolve_passes(float_ir, passes, **quant_options)
    ir = flow.run_passes(float_ir, passes, calibration=calibration, input_range=input_range, dump_ir=dump_ir, log=log,
                         **quant_options)
    if approx:
        from bespoke.compiler import approx as approximation

        ir = approximation.apply(ir, approximation.parse(approx, ir))
    if restrict_ranges:  # last: the clamps are profiled on the design as it will be built
        if arch != "unrolled":
            raise BespokeError("--restrict-ranges hardens unrolled designs (the ones `bespoke faults` simulates)")
        ir = flow.run_passes(ir, f"restrict-ranges{{per={restrict_ranges}}},infer-ranges", calibration=calibration, log=log)
    arch_options = flow.fold_for(ir, arch_options, target_interval)
    hw = flow.hardware(ir, name, pipeline=pipeline, sharing=sharing, tlg=tlg, **arch_options)
    model_file = model.graph.name if isinstance(model, onnx.ModelProto) else Path(model).name
    options = {**quant_options, "pipeline": pipeline, "passes": passes, "model": model_file, **arch_options,
               **({"target_interval": target_interval} if target_interval is not None else {}),
               **({} if sharing else {"sharing": False}), **({"approx": approx} if approx else {}),
               **({"restrict_ranges": restrict_ranges} if restrict_ranges else {}),
               **({} if tlg is None else {"map": "tlg", "tlg_fanin": tlg.fanin, "tlg_max_weight": tlg.max_weight,
                                          "tlg_integer": tlg.integer,
                                          **({"tlg_library": str(tlg_library)} if tlg_library else {})})}
    compiled = CompiledModel(name, ir, float_ir, hw.verilog, hw.layout, hw.summary, options, netlist=hw.netlist, source=source)
    if out_dir is not None:
        compiled.save(out_dir)
    return compiled


def _compile_gates(path: Path, name: str, out_dir, *, pipeline: bool, arch: str, approx, passes) -> CompiledModel:
    """A learned gate network (gates.json): its IRs straight from the file, unrolled hardware."""
    for option, value, default in (("arch", arch, "unrolled"), ("approx", approx, None), ("passes", passes, None)):
        if value != default:
            raise BespokeError(f"{path}: a gate network is compiled as it is; {option}={value!r} applies to ONNX models only")
    float_ir, ir = flow.gates_frontend(path, name)
    hw = flow.hardware(ir, name, pipeline=pipeline)
    options = {"pipeline": pipeline, "model": path.name, "frontend": "gates", "arch": "unrolled", "gates": ir.meta["gates"],
               "input_bits": ir.meta["input_bits"]}
    compiled = CompiledModel(name, ir, float_ir, hw.verilog, hw.layout, hw.summary, options, netlist=hw.netlist)
    if out_dir is not None:
        compiled.save(out_dir)
    return compiled


def load_compiled(out_dir: str | Path) -> CompiledModel:
    """Reopen a build directory written by `CompiledModel.save`."""
    out = Path(out_dir)
    try:
        manifest = json.loads((out / MANIFEST).read_text())
    except (OSError, ValueError):
        raise BespokeError(f"{out}: not a bespoke build directory (no readable {MANIFEST}); run `bespoke compile` first") from None
    if manifest.get("format") != "bespoke-build" or manifest.get("version") != BUILD_FORMAT_VERSION:
        raise BespokeError(f"{out}: build format {manifest.get('version')} is not {BUILD_FORMAT_VERSION}; recompile the model")
    for f in (manifest["verilog"], "ir.json", "float_ir.json"):
        if not (out / f).is_file():
            raise BespokeError(f"{out}: the build has no {f}; run `bespoke compile` again")
    source = onnx.load(str(out / SOURCE_MODEL)) if (out / SOURCE_MODEL).is_file() else None
    return CompiledModel(manifest["name"], IR.from_json((out / "ir.json").read_text()), IR.from_json((out / "float_ir.json").read_text()),
                         (out / manifest["verilog"]).read_text(), manifest["layout"], manifest["summary"], manifest["options"], out,
                         source=source)


def load_codes(out_dir: str | Path, csv_path: str | Path) -> np.ndarray:
    """The integer input codes of a data CSV for a build directory (used by reports)."""
    model = load_compiled(out_dir)
    return model.encode(read_csv(csv_path, model.n_features)[0])


def load_accuracy(out_dir: str | Path, csv_path: str | Path) -> dict | None:
    """The report's accuracy section of a build directory on a labelled CSV (None without labels)."""
    model = load_compiled(out_dir)
    x, y = read_csv(csv_path, model.n_features)
    return None if y is None else model.accuracy(x, y, f"golden model on {Path(csv_path).name}")


def load_netlist(out_dir: str | Path) -> tuple[Netlist, str | None]:
    """A build directory's netlist, planned again from its IR and options (the netlist is not
    saved), and the threshold-gate library it was mapped with (None: the default)."""
    from bespoke.hdl.unrolled import plan_unrolled

    model = load_compiled(out_dir)
    o = model.options
    if o.get("arch", "unrolled") != "unrolled":
        raise BespokeError(f"{out_dir}: the tlg target prices unrolled designs; this one is {o.get('arch')}")
    tlg = flow.check_map(o.get("map", "popcount"), "unrolled", o.get("tlg_fanin"), o.get("tlg_max_weight"),
                         o.get("tlg_library"), o.get("tlg_integer"))
    nl = plan_unrolled(model.ir, registers=bool(o.get("pipeline")), sharing=o.get("sharing", True), tlg=tlg)
    return nl, o.get("tlg_library")


@dataclass
class FormalReport:
    """What `verify_formal` found: the proof's result and, for a counterexample, its input codes,
    the golden model's output and the circuit's (from an RTL simulation of that one vector)."""

    result: object  # bespoke.targets.formal.FormalResult
    codes: list[int] | None = None
    expected: list[int] | None = None
    circuit: list[int] | None = None  # None: not simulated
    csv: Path | None = None  # the counterexample as a data file `bespoke simulate` replays

    @property
    def verdict(self) -> str:
        return self.result.verdict


def verify_formal(out_dir: str | Path, timeout: float = 300, simulate: bool = True,
                  simulator: str = "verilator") -> FormalReport:
    """Prove a build's Verilog equal, for every input, to a reference written from its ir.json
    (bespoke.targets.formal). A counterexample is decoded to input codes, run through the golden
    model and (simulate=True) the RTL simulator, and written to OUT/counterexample.csv."""
    from bespoke.sim.golden import run
    from bespoke.sim.vectors import unpack
    from bespoke.targets.formal import prove_reference

    model = load_compiled(out_dir)
    result = prove_reference(model.verilog, model.ir, model.layout, timeout=timeout)
    report = FormalReport(result)
    if result.counterexample is None:
        return report
    lay = model.layout
    codes = np.array([unpack(result.counterexample, lay["n_in"], lay["in_width"], lay["in_signed"])], dtype=np.int64)
    expected = run(model.ir, codes)
    report.codes, report.expected = codes[0].tolist(), expected[0].tolist()
    if simulate:
        from bespoke.sim.runner import simulate as run_rtl

        work = model.out_dir / "sim_build"
        work.mkdir(parents=True, exist_ok=True)
        vfile = work / f"{model.name}.v"
        vfile.write_text(model.verilog)
        sim = run_rtl([vfile], lay, codes, expected, work / simulator, simulator=simulator)
        report.circuit = sim.first_mismatches[0]["got"] if sim.first_mismatches else report.expected
    report.csv = _write_codes_csv(model, codes, model.out_dir / "counterexample.csv")
    return report


def _write_codes_csv(model: CompiledModel, codes: np.ndarray, path: Path) -> Path | None:
    """Input codes as real features (scale * code + offset) that encode back to the same codes,
    so `bespoke simulate OUT --data path` drives exactly these vectors; None when they do not."""
    info = model.ir.out(model.ir.input_node())
    if info.scale is None:
        return None
    x = codes * info.scale + info.offset
    if not np.array_equal(model.encode(x), codes):
        return None
    header = ",".join(f"x{i}" for i in range(codes.shape[1]))
    path.write_text(header + "\n" + "\n".join(",".join(repr(float(v)) for v in row) for row in x) + "\n")
    return path


def format_summary(model: CompiledModel) -> str:
    """The terminal summary: the IR with its widths, then the hardware per layer."""
    if model.summary.get("arch") == "folded":
        return _format_folded(model)
    head = (f"design {model.name}: {model.n_features} inputs, "
            + ("pipelined, latency " + str(model.layout.get("latency")) + " cycles" if model.layout.get("pipelined") else "combinational"))
    tlg = "tlg" in model.summary  # threshold-logic mapping: a column of threshold gates
    rows = [("layer", "op", "out bits", "adders", "weights != 0", "CSD digits") + (("threshold gates",) if tlg else ())]
    for layer in model.summary.get("layers", []):
        rows.append((layer["name"], layer["op"], str(layer.get("out_width", "")), str(layer.get("adders", "")),
                     str(layer.get("nonzero_weights", "")), str(layer.get("csd_digits", "")))
                    + ((str(layer.get("threshold_gates", "")),) if tlg else ()))
    total = model.summary.get("total", {})
    rows.append(("total", "", "", str(total.get("adders", "")), str(total.get("nonzero_weights", "")), str(total.get("csd_digits", "")))
                + ((str(total.get("threshold_gates", "")),) if tlg else ()))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    table = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    gates = model.ir.meta.get("gates")
    if gates:  # a learned gate network: what simplification left of the file's gates
        table.append(f"gate network: {gates['gates']} two-input gates, {gates['inverters']} inverters, {gates['constants']} "
                     f"constants, {gates['input_bits']} input bits (the file has {gates['file_gates']} gates)")
    return "\n".join([head, model.ir.dump(), "", *table])


def _format_folded(model: CompiledModel) -> str:
    """The folded engine's summary: per matrix layer its folding and cycles, then the cycle count."""
    s = model.summary
    rows = [("layer", "op", "rows x cols", "PE", "SIMD", "cycles", "weight ROM bits")]
    for layer in s["layers"]:
        rows.append((layer["name"], layer["op"], f"{layer['rows']} x {layer['cols']}", str(layer["pe"]), str(layer["simd"]),
                     f"{layer['formula']} = {layer['cycles']}", str(layer["weight_rom_bits"])))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    table = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    kind = f"dataflow (ready/valid), one input every {s['interval']} cycles" if s.get("dataflow") else "folded (ready/valid)"
    head = f"design {model.name}: {model.n_features} inputs, {kind}, latency {s['latency']} cycles"
    return "\n".join([head, model.ir.dump(), "", *table, "", s["cycles_text"]])


def _verilog_name(text: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", text)
    return name if re.match(r"[A-Za-z_]", name) else f"m_{name}"


# --------------------------------------------------------------------------- the whole flow


@dataclass
class FlowResult:
    """What `run_flow` did: the build, its simulation against the golden model, its report, and
    the seconds each step took."""

    model: CompiledModel
    sim: SimReport
    report: dict
    seconds: dict[str, float]
    files: list[Path]

    @property
    def passed(self) -> bool:
        return self.sim.passed


def run_flow(model: onnx.ModelProto | str | Path, data: str | Path, target: str, out_dir: str | Path, *,
             simulator: str = "verilator", max_vectors: int | None = None, clock_hz: float | None = None,
             timeout: float | None = None, quiet: bool = True, layers: bool = True, **compile_options) -> FlowResult:
    """compile (saved to out_dir) -> simulate every row of `data` against the golden model ->
    report on `target`, switching activity from the same rows; report.<target>.json/.md/.html
    written to out_dir, per layer unless layers=False (a second synthesis). `compile_options` are
    compile_model's; quiet=False shows each step's progress."""
    from bespoke.progress import step
    from bespoke.targets.report import SYNTH_TIMEOUT_S, write_report

    seconds, t0 = {}, time.perf_counter()
    with step("compile", quiet):
        compiled = compile_model(model, out_dir, **compile_options)
    seconds["compile"], t0 = time.perf_counter() - t0, time.perf_counter()
    with step(f"simulate {Path(data).name} on {simulator} (the simulator is built once per design)", quiet):
        sim = compiled.simulate(data, simulator=simulator, max_vectors=max_vectors)
    seconds["simulate"], t0 = time.perf_counter() - t0, time.perf_counter()
    with step(f"report on {target} (Yosys synthesis)", quiet, tools=True):
        x, y = compiled._data(data)
        x, y = (x[:max_vectors], None if y is None else y[:max_vectors]) if max_vectors else (x, y)
        rep = compiled.report(target, data=x, clock_hz=clock_hz, timeout=timeout or SYNTH_TIMEOUT_S, layers=layers)
        if y is not None:
            rep["accuracy"] = compiled.accuracy(x, y, f"golden model on the {len(y):,} rows simulated, "
                                                      f"{'the RTL equal on every one' if sim.passed else 'the RTL did NOT match it'}")
        paths = write_report(out_dir, rep)
    seconds["report"] = time.perf_counter() - t0
    out = Path(out_dir)
    files = [out / f"{compiled.name}.v", out / "ir.json", out / MANIFEST, paths["json"], paths["md"], paths["html"]]
    return FlowResult(compiled, sim, rep, seconds, files)


@dataclass
class TinyTapeoutExport:
    """What `export_tinytapeout` wrote and how the wrapper's simulation went."""

    directory: Path
    files: list[Path]
    sim: object  # sim.runner.SimResult of the host + wrapper + design against the golden model
    bytes_in: int
    bytes_out: int


def export_tinytapeout(out_dir: str | Path, dest: str | Path | None = None, data=None, vectors: int = 200,
                       tiles: str = "1x1", clock_hz: int = 10_000_000, simulator: str = "verilator") -> TinyTapeoutExport:
    """A TinyTapeout project (info.yaml, src/project.v with the tt_um_ wrapper, src/<design>.v,
    test/tt_host.v) for a combinational build, and the wrapper simulated against the golden model:
    the vectors of `data` (CSV or real features), else `vectors` random input codes."""
    from bespoke.targets import tinytapeout as tt

    model = load_compiled(out_dir)
    lay = model.layout
    tt.check_exportable(lay)
    if not re.fullmatch(r"\d+x\d+", tiles):
        raise BespokeError(f"--tiles {tiles!r}: expected ROWSxCOLUMNS, e.g. 1x2")
    dest = _export_dest(model, dest, "tinytapeout", "info.yaml", "a TinyTapeout project")
    files = {dest / "info.yaml": tt.info_yaml(lay, model.name, tiles, clock_hz), dest / "src" / "project.v": tt.project_verilog(lay),
             dest / "src" / f"{lay['top']}.v": model.verilog, dest / "test" / "tt_host.v": tt.host_verilog(lay)}
    _write_files(files)
    sources = [dest / "test" / "tt_host.v", dest / "src" / "project.v", dest / "src" / f"{lay['top']}.v"]
    sim = _simulate_host(model, sources, tt.host_layout(lay), data, vectors, f"tinytapeout-{simulator}", simulator)
    return TinyTapeoutExport(dest, list(files), sim, *tt.byte_counts(lay))


def _export_dest(model: CompiledModel, dest, default: str, marker: str, what: str) -> Path:
    """The project directory: `dest`, else BUILD/<default>; an existing directory only when it is
    such a project already (it holds `marker`), so a user's own files are never overwritten."""
    dest = Path(dest) if dest else model.out_dir / default
    if dest.exists() and not (dest / marker).is_file():
        raise BespokeError(f"{dest}: exists and is not {what} written by bespoke; refusing to overwrite it")
    return dest


def _write_files(files: dict[Path, str]) -> None:
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _simulate_host(model: CompiledModel, sources: list[Path], layout: dict, data, vectors: int, run: str,
                   simulator: str):
    """An export's host + wrapper + design simulated against the golden model: on the rows of
    `data` (CSV or real features), else on `vectors` random input codes."""
    from bespoke.sim.runner import simulate as run_rtl

    if data is not None:
        codes = model.encode(model._data(data)[0])
    else:
        inp = model.ir.layer(model.ir.input_node())
        codes = np.random.default_rng(0).integers(int(inp.lo), int(inp.hi) + 1, (vectors, model.layout["n_in"]))
    return run_rtl(sources, layout, codes, model.predict_codes(codes), model.out_dir / "sim_build" / run,
                   simulator=simulator)


@dataclass
class Ice40Export:
    """What `export_ice40` wrote, how the UART path's simulation went and the bitstream build."""

    directory: Path
    files: list[Path]
    sim: object  # sim.runner.SimResult of host UART + board top + design against the golden model
    bytes_in: int
    bytes_out: int
    build: object | None  # targets.ice40.Ice40Build of the files written, None with bitstream=False
    attempts: list = field(default_factory=list)  # every Ice40Build tried, at falling clocks


def export_ice40(out_dir: str | Path, dest: str | Path | None = None, data=None, vectors: int = 200,
                 simulator: str = "verilator", bitstream: bool = True, clock_div: int | None = None,
                 timeout: float = 1800, quiet: bool = True) -> Ice40Export:
    """An iCEBreaker (iCE40 UP5K) project for any build: the UART top (src/bespoke_ice40_top.v),
    the design, pin constraints, synth.ys + build.sh, test/ice40_host.v and host.py; the UART path
    simulated against the golden model; then (bitstream=True) synthesis, nextpnr place and route and
    icepack: build/top.bin. The board's clock is 12 MHz / 2^clock_div; clock_div=None tries 12 MHz
    first and, when nextpnr's Fmax is short, the fastest divided clock it allows (files rewritten and
    simulated again, so what is written is what was simulated and built)."""
    from bespoke.progress import step
    from bespoke.targets import ice40

    model = load_compiled(out_dir)
    lay = model.layout
    dest = _export_dest(model, dest, "ice40", "icebreaker.pcf", "an iCE40 project")
    if clock_div is not None and not 0 <= clock_div <= ice40.MAX_DIV_LOG2:
        raise BespokeError(f"--clock-div {clock_div}: expected 0 to {ice40.MAX_DIV_LOG2} (12 MHz / 2^d)")
    design_v, top_v = f"src/{lay['top']}.v", f"src/{ice40.TOP}.v"
    shutil.rmtree(dest / "build", ignore_errors=True)  # an earlier export's bitstream is not this one's
    div, attempts = clock_div or 0, []
    while True:
        mhz = f"{ice40.clock_hz(div) / 1e6:g} MHz"
        files = {dest / design_v: model.verilog, dest / top_v: ice40.top_verilog(lay, div),
                 dest / "icebreaker.pcf": ice40.pcf(), dest / "synth.ys": ice40.synth_script(design_v, top_v),
                 dest / "build.sh": ice40.build_script(div), dest / "test" / f"{ice40.HOST}.v": ice40.host_verilog(lay, div),
                 dest / "host.py": ice40.host_script(model.out_dir.resolve())}
        _write_files(files)
        (dest / "build.sh").chmod(0o755)
        sources = [dest / "test" / f"{ice40.HOST}.v", dest / top_v, dest / design_v]
        with step(f"simulate the UART path at {mhz} ({simulator})", quiet):
            sim = _simulate_host(model, sources, ice40.host_layout(lay, div), data, vectors, f"ice40-{simulator}", simulator)
        if not (bitstream and sim.ok):
            return Ice40Export(dest, list(files), sim, *ice40.byte_counts(lay), None, attempts)
        with step(f"synthesise, place and route at {mhz} (Yosys, nextpnr-ice40)", quiet, tools=True):
            built = ice40.build(dest, design_v, top_v, div, timeout)
        attempts.append(built)
        slower = None if built.fmax_hz is None else ice40.div_for(built.fmax_hz)
        if built.meets_timing or clock_div is not None or slower is None or div >= ice40.MAX_DIV_LOG2:
            return Ice40Export(dest, list(files), sim, *ice40.byte_counts(lay), built, attempts)
        div = max(div + 1, slower)
