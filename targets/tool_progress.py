"""Telling a watcher what a long-running tool (Yosys, nextpnr) is doing, read from its log as it
grows. `watching(show)` sets the watcher for a block; `wait` waits for the tool's process and calls
show(text) whenever the text a `describe(new_lines)` function makes of the log changes."""

from __future__ import annotations

import subprocess
import time
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Callable

POLL_S = 0.25
_watcher: ContextVar = ContextVar("tool_watcher", default=None)  # None: nobody is told


@contextmanager
def watching(show: Callable[[str], None]):
    token = _watcher.set(show)
    try:
        yield
    finally:
        _watcher.reset(token)


def wait(proc: subprocess.Popen, log: Path, timeout: float, describe: Callable[[bytes], str | None]) -> None:
    """proc.wait(timeout) (raising subprocess.TimeoutExpired); with a watcher, `describe` gets each
    new run of complete log lines and returns what to show (None: nothing new)."""
    show = _watcher.get()
    if show is None:
        proc.wait(timeout=timeout)
        return
    deadline, shown, pending, done = time.monotonic() + timeout, None, b"", False
    with open(log, "rb") as fh:
        while not done:  # the log is read once more after the tool has exited: its last state is told too
            try:
                proc.wait(timeout=POLL_S)
                done = True
            except subprocess.TimeoutExpired:
                if time.monotonic() > deadline:
                    raise
            pending += fh.read()
            lines, _, pending = pending.rpartition(b"\n")
            text = describe(lines + b"\n") if lines else None
            if text and text != shown:
                show(text)
                shown = text
