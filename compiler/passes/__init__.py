"""Pass infrastructure: small named passes composed into pass lists written as strings.

A pass is a frozen dataclass with a `name`, the IR properties it `requires` and `ensures`, and an
`apply(ir, ctx) -> PassResult(ir, modified)`. Calling a pass never edits its argument: a pass
that edits a graph in place (`in_place = True`, the default) is given a cheap copy first
(`IR.copy()` shares the read-only layers and arrays); one that builds a new IR gets the original.
Pass lists are strings such as ``fold-affine,quantize{weight_bits=8,act_bits=8},infer-ranges``;
a `PassManager` runs them, checks each pass's properties, optionally verifies the IR after every
pass (`verify_each`, and always when dumping), and can dump the IR (JSON) after every step.

Properties ("integer", "ranges", "folded") are predicates on an IR (`PROPERTIES`): `requires`
is checked before a pass (a user error naming what to run first), `ensures` after it (a bug).

`ctx` carries data that does not fit in a pass string (calibration samples, declared input
ranges) as a plain dict.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ClassVar, NamedTuple

from bespoke.compiler.errors import BespokeError
from bespoke.compiler.ir import IR, Affine

PASSES: dict[str, type["Pass"]] = {}


def register(cls):
    """Class decorator: make a pass available to pass strings under its `name`."""
    PASSES[cls.name] = cls
    return cls


class PassResult(NamedTuple):
    ir: IR
    modified: bool


def _unfolded(ir: IR) -> str | None:
    n = next((n for n in ir.order() if isinstance(ir.layer(n), Affine)), None)
    return None if n is None else (f"node {n!r} (elementwise affine): cannot be folded into an adjacent dense layer; "
                                   "supported: scaling/offsets directly before or after a Gemm/MatMul")


# property -> why an IR lacks it (None when it has it)
PROPERTIES: dict[str, Callable[[IR], str | None]] = {
    "integer": lambda ir: None if ir.is_integer() else "needs an integer IR; run a quantize pass first",
    "ranges": lambda ir: None if ir.has_ranges() else "needs value ranges; run infer-ranges first",
    "folded": _unfolded,
}


def properties_of(ir: IR) -> tuple[str, ...]:
    """The properties an IR has."""
    return tuple(p for p, lacks in PROPERTIES.items() if lacks(ir) is None)


@dataclass(frozen=True)
class Pass:
    name: ClassVar[str] = "?"
    requires: ClassVar[tuple[str, ...]] = ()  # properties the input IR must have
    ensures: ClassVar[tuple[str, ...]] = ()  # properties the result has
    in_place: ClassVar[bool] = True  # apply edits the IR it is given (so it gets a copy)

    def apply(self, ir: IR, ctx: dict) -> PassResult:
        raise NotImplementedError

    def __call__(self, ir: IR, ctx: dict | None = None) -> PassResult:
        self.check_requirements(ir)
        result = PassResult(*self.apply(ir.copy() if self.in_place else ir, ctx or {}))
        for prop in self.ensures:
            if (reason := PROPERTIES[prop](result.ir)) is not None:
                raise AssertionError(f"pass {self.name} ensures {prop!r}, but its result {reason}")
        return result

    def check_requirements(self, ir: IR) -> None:
        for prop in self.requires:
            if (reason := PROPERTIES[prop](ir)) is not None:
                raise BespokeError(f"pass {self.name}: {reason}")

    def spec(self) -> str:
        """This pass as it is written in a pass string."""
        args = [f"{f.name}={getattr(self, f.name)}" for f in dataclasses.fields(self) if getattr(self, f.name) != f.default]
        return self.name + ("{" + ",".join(args) + "}" if args else "")


_ITEM = re.compile(r"\s*([a-z0-9-]+)\s*(?:\{([^}]*)\})?\s*(?:,|$)")


def parse_passes(text: str) -> list[Pass]:
    """Parse ``name{key=value,...},name,...`` into pass instances."""
    passes, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _ITEM.match(text, pos)
        if not m or m.end() == pos:
            raise BespokeError(f"cannot parse pass list {text!r} at position {pos}")
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
    """Runs a list of passes in order, recording what each did and which properties hold after it.

    verify_each: run `IR.verify()` on the input and after every pass (always on when dumping).
    dump_dir: save the IR as JSON before the first and after every pass.
    """

    def __init__(self, passes: list[Pass], dump_dir: Path | None = None, log: Callable[[str], None] | None = None,
                 verify_each: bool = False):
        self.passes = passes
        self.dump_dir = Path(dump_dir) if dump_dir else None
        self.log = log or (lambda msg: None)
        self.verify_each = verify_each or self.dump_dir is not None
        self.trace: list[tuple[str, bool, tuple[str, ...]]] = []  # (pass spec, modified, properties after)

    @classmethod
    def from_string(cls, text: str, **kwargs) -> "PassManager":
        return cls(parse_passes(text), **kwargs)

    def describe(self) -> str:
        return ",".join(p.spec() for p in self.passes)

    def run(self, ir: IR, ctx: dict | None = None) -> IR:
        ctx = ctx or {}
        self.trace = []
        if self.dump_dir:
            self.dump_dir.mkdir(parents=True, exist_ok=True)
            (self.dump_dir / "00-input.json").write_text(ir.to_json())
        if self.verify_each:
            ir.verify()
        for k, p in enumerate(self.passes, start=1):
            ir, modified = p(ir, ctx)
            self.trace.append((p.spec(), modified, properties_of(ir)))
            self.log(f"pass {p.spec()}: {'changed' if modified else 'no change'}")
            if self.dump_dir:
                (self.dump_dir / f"{k:02d}-{p.name}.json").write_text(ir.to_json())
            if self.verify_each:
                ir.verify()
        return ir


# Import the pass modules so that they register themselves.
from bespoke.compiler.passes import fold, quantize, ranges, restrict, streamline  # noqa: E402,F401
