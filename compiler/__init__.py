"""bespoke compiler: ONNX frontend, integer IR, passes, and the user-facing API and CLI."""

from compiler.errors import BespokeError

__all__ = ["BespokeError", "compile_model", "load_compiled"]


def __getattr__(name):
    # The API pulls in the HDL backend (Amaranth); import it only when asked for.
    if name in ("compile_model", "load_compiled"):
        from compiler import api

        return getattr(api, name)
    raise AttributeError(name)
