"""bespoke: compile trained neural networks (ONNX) to bespoke, verified hardware.

    from bespoke import compile_model, load_compiled
    model = compile_model("examples/cardio/cardio.onnx", calibration="examples/cardio/train.csv")
    model.save("out/")
    report = model.simulate("examples/cardio/test.csv")

This package is the driver: the public API (`bespoke.api`), the named flow steps and the CLI
(`bespoke.cli`). It is the only layer that imports all the others: `bespoke.compiler` (layer IR,
frontend, passes), `bespoke.hdl` (architectures, netlist, Verilog writers), `bespoke.sim`
(golden model, RTL simulation) and `bespoke.targets` (synthesis, area, power, timing).
"""

from bespoke.compiler.errors import BespokeError

__all__ = ["BespokeError", "compile_model", "load_compiled"]


def __getattr__(name):
    # The API pulls in Amaranth and cocotb; import it only when asked for, so `import bespoke` is cheap.
    if name in ("compile_model", "load_compiled"):
        from bespoke import api

        return getattr(api, name)
    raise AttributeError(f"module 'bespoke' has no attribute {name!r}")
