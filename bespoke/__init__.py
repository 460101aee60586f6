"""bespoke: compile trained neural networks (ONNX) to bespoke, verified hardware.

    from bespoke import compile_model, load_compiled
    model = compile_model("examples/cardio/cardio.onnx", calibration="examples/cardio/train.csv")
    model.save("out/")
    report = model.simulate("examples/cardio/test.csv")

or step by step, each result in memory (bespoke.flow):

    from bespoke import frontend, run_passes, hardware, report
    hw = hardware(run_passes(frontend(onnx_model), calibration=x_train), "cardio")

This package is the driver: the public API (`bespoke.api`), the named flow steps (`bespoke.flow`)
and the CLI (`bespoke.cli`). It is the only layer that imports all the others: `bespoke.compiler` (layer IR,
frontend, passes), `bespoke.hdl` (architectures, netlist, Verilog writers), `bespoke.sim`
(golden model, RTL simulation) and `bespoke.targets` (synthesis, area, power, timing).
"""

from bespoke.compiler.errors import BespokeError

_LAZY = {"compile_model": "api", "load_compiled": "api", "CompiledModel": "api", "run_flow": "api", "FlowResult": "api",
         "frontend": "flow", "run_passes": "flow", "hardware": "flow", "report": "flow", "Hardware": "flow"}
__all__ = ["BespokeError", *_LAZY]


def __getattr__(name):
    # The API pulls in ONNX, Amaranth and cocotb; import it only when asked for, so `import bespoke` is cheap.
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f"bespoke.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'bespoke' has no attribute {name!r}")
