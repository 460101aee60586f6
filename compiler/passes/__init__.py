"""Pass infrastructure: small named passes composed into pipelines written as strings.

A pass is a frozen dataclass with a `name`, the preconditions it `requires`, and an
`apply(ir, ctx) -> (ir, changed)` that returns a new IR and never edits its argument. Pipelines
are strings such as ``fold-affine,quantize{weight_bits=8,act_bits=8},infer-ranges``; a
`PassManager` runs them, and can dump the IR (JSON) after every step.

`ctx` carries data that does not fit in a pipeline string (calibration samples, declared input
ranges) as a plain dict.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ClassVar

from bespoke.compiler.errors import BespokeError
from bespoke.compiler.ir import IR

PASSES: dict[str, type["Pass"]] = {}


def register(cls):
    """Class decorator: make a pass available to pipeline strings under its `name`."""
    PASSES[cls.name] = cls
    return cls


@dataclass(frozen=True)
class Pass:
    name: ClassVar[str] = "?"
    # Preconditions checked before apply: "integer" (no float layers), "ranges" (ranges known).
    requires: ClassVar[tuple[str, ...]] = ()

    def apply(self, ir: IR, ctx: dict) -> tuple[IR, bool]:
        raise NotImplementedError

    def __call__(self, ir: IR, ctx: dict | None = None) -> tuple[IR, bool]:
        self.check_requirements(ir)
        return self.apply(ir.copy(), ctx or {})

    def check_requirements(self, ir: IR) -> None:
        if "integer" in self.requires and not ir.is_integer():
            raise BespokeError(f"pass {self.name} needs an integer IR; run a quantize pass first")
        if "ranges" in self.requires and not ir.has_ranges():
            raise BespokeError(f"pass {self.name} needs value ranges; run infer-ranges first")

    def spec(self) -> str:
        """This pass as it is written in a pipeline string."""
        args = [f"{f.name}={getattr(self, f.name)}" for f in dataclasses.fields(self) if getattr(self, f.name) != f.default]
        return self.name + ("{" + ",".join(args) + "}" if args else "")


_ITEM = re.compile(r"\s*([a-z0-9-]+)\s*(?:\{([^}]*)\})?\s*(?:,|$)")


def parse_pipeline(text: str) -> list[Pass]:
    """Parse ``name{key=value,...},name,...`` into pass instances."""
    passes, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _ITEM.match(text, pos)
        if not m or m.end() == pos:
            raise BespokeError(f"cannot parse pipeline {text!r} at position {pos}")
        name, args = m.group(1), m.group(2)
        if name not in PASSES:
            raise BespokeError(f"unknown pass {name!r}; known passes: {', '.join(sorted(PASSES))}")
        passes.append(_instantiate(PASSES[name], args or ""))
        pos = m.end()
    return passes


def _instantiate(cls: type[Pass], args: str) -> Pass:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for item in filter(None, (a.strip() for a in args.split(","))):
        key, _, value = item.partition("=")
        key = key.strip()
        if key not in fields:
            raise BespokeError(f"pass {cls.name} has no option {key!r}; options: {', '.join(fields) or 'none'}")
        kwargs[key] = _convert(value.strip(), fields[key].type, cls.name, key)
    return cls(**kwargs)


def _convert(value: str, typ, pass_name: str, key: str):
    typ = typ if isinstance(typ, str) else getattr(typ, "__name__", str(typ))
    try:
        if typ == "bool":
            if value.lower() not in ("true", "false", "1", "0"):
                raise ValueError(value)
            return value.lower() in ("true", "1")
        if typ == "int":
            return int(value)
        if typ == "float":
            return float(value)
    except ValueError:
        raise BespokeError(f"pass {pass_name}: option {key}={value!r} is not a {typ}") from None
    return value


class PassManager:
    """Runs a list of passes in order; optionally saves the IR after each as JSON."""

    def __init__(self, passes: list[Pass], dump_dir: Path | None = None, log: Callable[[str], None] | None = None):
        self.passes = passes
        self.dump_dir = Path(dump_dir) if dump_dir else None
        self.log = log or (lambda msg: None)

    @classmethod
    def from_string(cls, text: str, **kwargs) -> "PassManager":
        return cls(parse_pipeline(text), **kwargs)

    def describe(self) -> str:
        return ",".join(p.spec() for p in self.passes)

    def run(self, ir: IR, ctx: dict | None = None) -> IR:
        ctx = ctx or {}
        if self.dump_dir:
            self.dump_dir.mkdir(parents=True, exist_ok=True)
            (self.dump_dir / "00-input.json").write_text(ir.to_json())
        for k, p in enumerate(self.passes, start=1):
            ir, changed = p(ir, ctx)
            self.log(f"pass {p.spec()}: {'changed' if changed else 'no change'}")
            if self.dump_dir:
                (self.dump_dir / f"{k:02d}-{p.name}.json").write_text(ir.to_json())
        return ir


# Import the pass modules so that they register themselves.
from bespoke.compiler.passes import fold, quantize, ranges, streamline  # noqa: E402,F401
