"""Verilator's runtime objects (verilated.o, verilated_vpi.o, verilated_dpi.o, verilated_threads.o)
and cocotb's main (verilator.o), compiled once per machine and reused by every design build.

Every Verilator build compiles the same runtime library next to the design: for a 21-3-3 MLP that
is ~35 of its ~40 s, the design itself ~2 s. An object is reused only when `make -n` shows it
would be compiled by the very same command line (compiler, flags, defines, include paths) with
the same compiler, and every file of the build directory it includes (its .d file says which:
cocotb's main includes the design's Vtop.h, which declares the ports) has the same bytes; so a
change of optimisation level, tracing, ports or Verilator version builds (and caches) a new one.

The build runs `restore` between `verilator` and `make` (the objects depend on the freshly written
Vtop.mk, so they are copied in and touched after it) and `save` after a successful `make`; both
are commands of the build (sim.runner), so they run as `python -m bespoke.sim.verilator_cache`.
The cache lives in $BESPOKE_CACHE_DIR, else $XDG_CACHE_HOME/bespoke, else ~/.cache/bespoke;
entries are written to a temporary directory and renamed, so concurrent builds never see half
an entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

RUNTIME_OBJECT = re.compile(r"\s-o\s+(verilat\w*\.o)\s")  # verilated*.o and verilator.o, not the design
LOCAL_DEPS = "local_deps.json"  # per command key: the build-directory files its object includes
KEYS_FILE = "bespoke_runtime_objects.json"  # object -> cache key, written by restore for save


def cache_root() -> Path:
    base = os.environ.get("BESPOKE_CACHE_DIR")
    if base:
        return Path(base) / "verilator-runtime"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "bespoke" / "verilator-runtime"


def compiler_identity(command: str) -> str:
    """What the compiler at the head of a command line says it is (a new gcc makes new objects)."""
    exe = shutil.which(command.split()[0]) or command.split()[0]
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    return f"{os.path.realpath(exe)}\n{out}"


def runtime_keys(build_dir: Path, make_cmd: list[str]) -> dict[str, str]:
    """Per runtime object of this build, the key of the exact command that would compile it."""
    dry = subprocess.run([*make_cmd, "-n"], cwd=build_dir, capture_output=True, text=True)
    if dry.returncode:
        return {}
    lines = {m.group(1): line.strip() for line in dry.stdout.splitlines() if (m := RUNTIME_OBJECT.search(line + " "))}
    identities: dict[str, str] = {}
    keys = {}
    for obj, line in lines.items():
        cxx = line.split()[0]
        ident = identities.setdefault(cxx, compiler_identity(line))
        keys[obj] = hashlib.sha256(f"{ident}\n{line}".encode()).hexdigest()[:24]
    return keys


def _entry(key: str, build_dir: Path) -> Path:
    """The cache entry of a command key for this build: keyed further by the bytes of the
    build-directory files the object includes (as recorded when it was saved)."""
    base = cache_root() / key
    try:
        deps = json.loads((base / LOCAL_DEPS).read_text())
    except (OSError, ValueError):
        deps = []
    h = hashlib.sha256()
    for name in deps:
        path = build_dir / name
        h.update(name.encode() + b"\0" + (path.read_bytes() if path.is_file() else b"(missing)") + b"\0")
    return base / h.hexdigest()[:24]


def _local_deps(build_dir: Path, obj: str) -> list[str]:
    """The build-directory files an object was compiled from, by its make dependency file."""
    try:
        text = (build_dir / (obj[:-2] + ".d")).read_text()
    except OSError:
        return []
    names = text.replace("\\\n", " ").split()
    return sorted({n for n in names[1:] if not n.startswith("/") and not n.endswith(":") and (build_dir / n).is_file()})


def restore(build_dir: Path, make_cmd: list[str]) -> list[str]:
    """Copy the cached objects of this build into it, newer than its makefile; returns the
    objects restored. Records every cacheable object's key for `save`."""
    keys = runtime_keys(build_dir, make_cmd)
    (build_dir / KEYS_FILE).write_text(json.dumps(keys))
    restored = []
    for obj, key in keys.items():
        entry = _entry(key, build_dir)
        if not (entry / obj).is_file():
            continue
        for name in (obj, obj[:-2] + ".d"):
            if (entry / name).is_file():
                shutil.copyfile(entry / name, build_dir / name)
                os.utime(build_dir / name)  # newer than Vtop.mk, so make keeps it
        restored.append(obj)
    return restored


def save(build_dir: Path) -> list[str]:
    """Put this build's objects that the cache lacks into it; returns those saved."""
    try:
        keys = json.loads((build_dir / KEYS_FILE).read_text())
    except (OSError, ValueError):
        return []
    saved = []
    for obj, key in keys.items():
        if not (build_dir / obj).is_file():
            continue
        tmp = None
        try:
            base = cache_root() / key
            base.mkdir(parents=True, exist_ok=True)
            if not (base / LOCAL_DEPS).is_file():
                _write_atomic(base / LOCAL_DEPS, json.dumps(_local_deps(build_dir, obj)))
            entry = _entry(key, build_dir)
            if (entry / obj).is_file():
                continue
            tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}-", dir=base))
            for name in (obj, obj[:-2] + ".d"):
                if (build_dir / name).is_file():
                    shutil.copyfile(build_dir / name, tmp / name)
            os.rename(tmp, entry)
            saved.append(obj)
        except OSError:  # another build saved it first, or the cache is not writable: no reuse, no harm
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
    return saved


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def build_steps(build_dir: Path, make_cmd: list[str]) -> tuple[list[str], list[str]]:
    """The restore command (run before make) and the save command (after it) of a build."""
    me = [sys.executable, "-m", "bespoke.sim.verilator_cache"]
    return [*me, "restore", str(build_dir), "--", *make_cmd], [*me, "save", str(build_dir)]


def main(argv: list[str]) -> int:
    if len(argv) >= 3 and argv[0] == "restore" and argv[2] == "--":
        restored = restore(Path(argv[1]), argv[3:])
        print(f"bespoke: reused Verilator objects: {', '.join(restored) or 'none cached yet'}")
        return 0
    if len(argv) == 2 and argv[0] == "save":
        saved = save(Path(argv[1]))
        if saved:
            print(f"bespoke: cached Verilator objects: {', '.join(saved)} in {cache_root()}")
        return 0
    print("usage: python -m bespoke.sim.verilator_cache restore BUILD_DIR -- MAKE_CMD... | save BUILD_DIR", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
