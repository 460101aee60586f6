"""The compile flow as named steps, each taking and returning objects in memory (no files):

    float_ir = frontend(model)                       # ONNX (ModelProto or path) -> float layer IR
    float_ir, ir = gates_frontend("gates.json")      # or a learned gate network -> both IRs
    ir = run_passes(float_ir, calibration=x_train)   # -> integer layer IR with proven ranges
    hw = hardware(ir, "cardio", arch="unrolled")     # -> Verilog text, port layout, summary
    rep = report(hw, "egfet", vectors=codes)         # -> area / power / timing report (a dict)

`bespoke.api.compile_model` is their composition and `CompiledModel.save` the one step that
writes an output directory. "passes" is the pass list; "pipeline" is register pipelining only.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from bespoke.compiler.data import read_csv
from bespoke.compiler.errors import BespokeError, first_line
from bespoke.compiler.ir import IR
from bespoke.compiler.onnx_frontend import load_onnx, lower_onnx, repair_opsets
from bespoke.compiler.passes import PassManager
from bespoke.hdl.netlist import Netlist

ARCHS = ("unrolled", "folded", "dataflow")
MAPS = ("popcount", "tlg")  # how binarized neurons are built: compressor trees, or threshold gates (hdl.tlg_map)
# Binarized / QONNX models: the quantisation is in the model; streamlining turns batch-norm, bias
# and sign into exact integer thresholds. fold-affine must not run first: folding a batch-norm
# into +-1 weights would blur the exact per-neuron threshold the streamliner derives.
BNN_PASSES = "streamline,infer-ranges"


# --------------------------------------------------------------------------- frontend


def model_name(model: onnx.ModelProto | str | Path) -> str:
    """The default design name: the file's stem, else the graph's name, else "model"."""
    if isinstance(model, onnx.ModelProto):
        return model.graph.name or "model"
    return Path(model).stem


def read_model(model: onnx.ModelProto | str | Path) -> onnx.ModelProto:
    """A checked, shape-inferred ModelProto from a path or from one already in memory."""
    if not isinstance(model, onnx.ModelProto):
        return load_onnx(model)
    model = repair_opsets(model)
    try:
        onnx.checker.check_model(model)
        return onnx.shape_inference.infer_shapes(model)
    except Exception as e:  # the checker and shape inference raise several types
        raise BespokeError(f"model {model_name(model)!r}: invalid ONNX model: {first_line(e)}") from None


def frontend(model: onnx.ModelProto | str | Path, name: str | None = None) -> IR:
    """ONNX -> the float layer IR (the model as trained)."""
    return lower_onnx(read_model(model), name or model_name(model))


def gates_frontend(path: str | Path, name: str | None = None) -> tuple[IR, IR]:
    """A learned gate network (gates.json, compiler.gates_format) -> (float IR, integer IR with
    proven ranges), simplified: no passes to run, the network is already integer."""
    from bespoke.compiler.gates_format import read_gates, to_irs

    return to_irs(read_gates(path), name)


# --------------------------------------------------------------------------- passes


def default_passes(input_bits=4, weight_bits=8, act_bits=8, per_channel=False) -> str:
    """The pass list of float models: fold affine maps, quantise, fuse, prove ranges."""
    quant = f"quantize{{input_bits={input_bits},weight_bits={weight_bits},act_bits={act_bits},per_channel={per_channel}}}"
    return f"fold-affine,merge-dense,{quant},fuse-relu,infer-ranges"


def passes_for(float_ir: IR, **quant_options) -> str:
    """The default pass list of a lowered model: the BNN one when it has QONNX activations."""
    from bespoke.compiler.passes.streamline import is_binarized

    return BNN_PASSES if is_binarized(float_ir) else default_passes(**quant_options)


def model_passes(model: onnx.ModelProto | str | Path, **quant_options) -> str:
    """The default pass list of an ONNX model (what `--print-passes` shows)."""
    return passes_for(frontend(model), **quant_options)


def resolve_passes(float_ir: IR, passes: str | None = None, **quant_options) -> str:
    """The pass list that run_passes runs, spelled out with every option (what a build records)."""
    return PassManager.from_string(passes or passes_for(float_ir, **quant_options)).describe()


def run_passes(float_ir: IR, passes: str | None = None, *, calibration=None, input_range=None, input_bits: int = 4,
               weight_bits: int = 8, act_bits: int = 8, per_channel: bool = False, dump_ir: str | Path | None = None,
               log=None) -> IR:
    """The float IR through `passes` (default: passes_for) -> the integer IR with proven ranges.

    calibration: CSV path or array of model inputs (real features) for input and activation
    ranges; input_range: (lo, hi) declared feature ranges instead.
    """
    ctx = {}
    if calibration is not None and input_range is not None:
        raise BespokeError("give either calibration data (--calibration) or a declared input range (--input-range), not both: "
                           "both set the input quantiser")
    if calibration is not None:
        n = float_ir.out(float_ir.input_node()).size
        ctx["calibration"] = read_csv(calibration, n)[0] if isinstance(calibration, (str, Path)) else np.asarray(calibration, float)
    if input_range is not None:
        ctx["input_range"] = input_range
    quant = dict(input_bits=input_bits, weight_bits=weight_bits, act_bits=act_bits, per_channel=per_channel)
    pm = PassManager.from_string(resolve_passes(float_ir, passes, **quant), dump_dir=dump_ir, log=log)
    ir = pm.run(float_ir, ctx)
    if not ir.is_integer() or not ir.has_ranges():
        raise BespokeError(f"passes {pm.describe()!r} do not end in an integer IR with ranges; end them with quantize,...,infer-ranges")
    return ir


# --------------------------------------------------------------------------- hardware


def check_arch(arch: str, pe, simd, target_interval: int | None = None) -> dict:
    """The architecture options for the HDL lowering, or a user error. pe / simd: one positive
    integer, or a list of them (one per matrix layer, checked against the layers when planned)."""
    if arch not in ARCHS:
        raise BespokeError(f"unknown architecture {arch!r}; supported: {', '.join(ARCHS)}")
    for opt, value in (("pe", pe), ("simd", simd)):
        values = value if isinstance(value, (list, tuple)) else [value]
        if value is not None and (not values or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values)):
            raise BespokeError(f"{opt}={value!r} must be a positive integer, or a list of them (one per matrix layer)")
    if arch == "unrolled" and (pe is not None or simd is not None):
        raise BespokeError("pe and simd set the parallelism of the folded architecture; use arch='folded' (--arch folded)")
    if target_interval is not None:
        if arch != "dataflow":
            raise BespokeError("a target interval chooses the folding of the dataflow engine; use arch='dataflow' (--arch dataflow)")
        if pe is not None or simd is not None:
            raise BespokeError("give a target interval or pe/simd, not both: the target chooses pe and simd per layer")
    return {"arch": arch, "pe": pe, "simd": simd}


def fold_for(ir: IR, arch_options: dict, target_interval: int | None) -> dict:
    """arch_options with pe and simd per layer chosen for `target_interval` (hdl.folding), when given."""
    if target_interval is None:
        return arch_options
    from bespoke.hdl.folding import fold_for_interval

    pe, simd = fold_for_interval(ir, target_interval)
    return {**arch_options, "pe": pe, "simd": simd}


def check_map(mapping: str = "popcount", arch: str = "unrolled", fanin: int | None = None, max_weight: int | None = None,
              library: str | Path | None = None, integer: str | None = None):
    """The threshold-logic mapping options (hdl.tlg_map.TlgOptions) of `mapping`="tlg", None for
    the popcount mapping, or a user error. The gate costs that choose each neuron's plan are the
    cell areas of the tlg target's library (targets.tlg_cells; `library` replaces the default)."""
    from bespoke.hdl.tlg_map import TlgOptions
    from bespoke.hdl.tlg_plan import check_options

    if mapping not in MAPS:
        raise BespokeError(f"unknown mapping {mapping!r}; supported: {', '.join(MAPS)}")
    if mapping != "tlg":
        if fanin is not None or max_weight is not None or library is not None or integer is not None:
            raise BespokeError("--tlg-fanin, --tlg-max-weight, --tlg-library and --tlg-integer set the threshold-logic "
                               "mapping; add --map tlg")
        return None
    if arch != "unrolled":
        raise BespokeError(f"--map tlg builds the unrolled architecture; the {arch} one has no threshold-logic mapping yet")
    opts = TlgOptions(5 if fanin is None else fanin, 2 if max_weight is None else max_weight, integer=integer or "bitplane")
    check_options(opts.fanin, opts.max_weight)
    from bespoke.targets.tlg_cells import load_cells

    return opts._replace(gate_cost=load_cells(library).area_by_fanin(opts.fanin))


@dataclass
class Hardware:
    """The design of an integer IR: Verilog text with top module `name`, its port layout (see
    hdl.lower.port_layout), the per-layer summary, and the netlist they were made from (planned
    once)."""

    name: str
    verilog: str
    layout: dict
    summary: dict
    netlist: Netlist | None = None


def hardware(ir: IR, name: str, *, arch: str = "unrolled", pipeline: bool = False, pe: int | None = None,
             simd: int | None = None, sharing: bool = True, tlg=None) -> Hardware:
    """The integer IR as hardware: arch "unrolled" (one inference per cycle, weights hard-wired,
    registers between layers with `pipeline`; `sharing`: dense layers may share sub-expressions
    across neurons, hdl.mcm; `tlg`: threshold-gate mapping options, check_map) or "folded"
    (time-multiplexed, `pe` x `simd`; "dataflow": its layers overlapping consecutive inputs)."""
    from bespoke.hdl import folded
    from bespoke.hdl.lower import port_layout, summary, write_netlist
    from bespoke.hdl.unrolled import plan_unrolled
    from bespoke.hdl.unrolled_summary import netlist_summary

    options = dict(pipeline=pipeline, **check_arch(arch, pe, simd))
    layout = port_layout(ir, name=name, **options)
    if arch in folded.ARCHS:
        nl = folded.netlist(ir, pe, simd, arch)
        return Hardware(name, folded.to_verilog(ir, name, arch=arch, pe=pe, simd=simd, nl=nl), layout, summary(ir, **options), nl)
    nl = plan_unrolled(ir, registers=pipeline, sharing=sharing, tlg=tlg)
    summ = netlist_summary(nl, ir)
    if tlg is not None:  # threshold gates per layer, and the mapping's bounds
        gates = {}
        for c in nl.cells:
            if c.kind == "tlg":
                gates[c.group] = gates.get(c.group, 0) + 1
        for layer in summ.get("layers", []):
            layer["threshold_gates"] = gates.get(layer["name"], 0)
        summ.setdefault("total", {})["threshold_gates"] = sum(gates.values())
        summ["tlg"] = dict(nl.meta["tlg"])
    return Hardware(name, write_netlist(nl, ir, name, pipeline), layout, summ, nl)


# --------------------------------------------------------------------------- report


def report(hw: Hardware, target: str, *, vectors: np.ndarray | None = None, clock_hz: float | None = None,
           verbose: bool = False, timeout: float | None = None, layers: bool = False) -> dict:
    """Area, power and timing of `hw` on `target` (see targets.report), power from the input codes
    `vectors` when given; `layers`: also per layer (a second synthesis, targets.layers). Synthesis
    reads files: the Verilog goes to a temporary directory."""
    from bespoke.targets.report import SYNTH_TIMEOUT_S, make_report

    with tempfile.TemporaryDirectory(prefix="bespoke-report-") as tmp:
        vfile = Path(tmp) / f"{hw.name}.v"
        vfile.write_text(hw.verilog)
        return make_report([vfile], hw.name, target, clock_hz=clock_hz, vectors=vectors, layout=hw.layout,
                           verbose=verbose, timeout=timeout or SYNTH_TIMEOUT_S, layers=layers)
