"""Run a Yosys script with pyosys (native Yosys + yosys-abc) in a child process.

A child process keeps Yosys' global state and its log out of the caller, lets us stop a run that
takes too long, and turns a Yosys error into one line for the user.
"""

from __future__ import annotations

import functools
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Callable

from bespoke.compiler.errors import BespokeError
from bespoke.targets import tool_progress

_RUNNER = (
    "import sys\n"
    "from pyosys import libyosys as ys\n"
    "d = ys.Design()\n"
    "try:\n"
    "    ys.run_pass('script ' + sys.argv[1], d)\n"
    "except Exception as e:\n"
    "    print('ERROR:', e, flush=True)\n"
    "    sys.exit(1)\n"
)


_PASS = re.compile(rb"^[\d.]+ Executing ([^\n]+?)(?: pass)?(?: \([^\n]*\))?\.?$", re.M)


def _passes() -> Callable[[bytes], str | None]:
    """A describe function for tool_progress.wait: the pass Yosys executes and the one inside it
    ('SYNTH_ICE40 / ABC'), from the numbered 'N.M. Executing X pass' lines of its log."""
    outer: dict[int, str] = {}

    def describe(lines: bytes) -> str | None:
        for m in _PASS.finditer(lines):
            depth = m.group(0).split(b" ", 1)[0].count(b".")
            outer[depth] = m.group(1).decode(errors="replace")
            for deeper in [d for d in outer if d > depth]:
                del outer[deeper]
        return " / ".join(outer[d] for d in sorted(outer)[:2]) or None

    return describe


def quote(path: Path | str) -> str:
    """A path as one Yosys script argument."""
    s = str(path)
    if '"' in s:
        raise BespokeError(f"file name with a double quote is not supported: {s}")
    return f'"{s}"'


def run(commands: list[str], workdir: Path, timeout: float = 1800) -> str:
    """Run `commands` as a Yosys script in `workdir`; return the log text."""
    workdir = Path(workdir)
    script = workdir / "run.ys"
    script.write_text("\n".join(commands) + "\n")
    log = workdir / "yosys.log"
    with open(log, "w") as fh:
        # its own session, so stopping it also stops the yosys-abc processes Yosys has started
        proc = subprocess.Popen([sys.executable, "-c", _RUNNER, str(script)], cwd=workdir, stdout=fh,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            tool_progress.wait(proc, log, timeout, _passes())
        except subprocess.TimeoutExpired:
            raise BespokeError(f"synthesis did not finish within {timeout:g} s"
                               f"{_last_line(log.read_text(errors='replace'))}") from None
        finally:
            # on every way out: a timeout, Ctrl-C (which reaches only our process group, not the
            # child's session) and a Yosys killed from outside (out of memory) leave yosys-abc running
            _stop_group(proc)
    text = log.read_text(errors="replace")
    if proc.returncode < 0:
        name = signal.Signals(-proc.returncode).name
        raise BespokeError(f"synthesis was killed by {name}" + (" (out of memory?)" if name == "SIGKILL" else "")
                           + _last_line(text))
    if proc.returncode != 0:
        raise BespokeError(f"synthesis failed: {_first_error(text)}")
    return text


def _stop_group(proc: subprocess.Popen) -> None:
    """Kill whatever is left of the child's process group, then reap the child."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # the group is empty: everything has exited
    proc.wait()


def _last_line(log: str) -> str:
    last = [ln for ln in log.splitlines() if ln.strip()][-1:]
    return f"; last log line: {last[0].strip()}" if last else ""


def _first_error(log: str) -> str:
    for line in log.splitlines():
        if line.startswith("ERROR:"):
            msg = line[len("ERROR:"):].strip()
            if msg:
                return msg
    tail = [ln for ln in log.splitlines() if ln.strip()][-1:]
    return tail[0] if tail else "Yosys exited with an error and no message"


@functools.lru_cache(maxsize=1)
def version() -> str:
    out = subprocess.run([sys.executable, "-c", "from pyosys import libyosys as ys; "
                          "print(ys.yosys_maybe_version())"], capture_output=True, text=True, timeout=60).stdout
    m = re.search(r"Yosys \S+", out)
    return m.group(0) if m else "Yosys (unknown version)"
