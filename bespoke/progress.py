"""What a user watches while bespoke works: a spinner with the elapsed time per step, a bar over
the generations of an exploration; plain lines when the output is not a terminal (CI logs),
nothing when quiet."""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager


@contextmanager
def step(title: str, quiet: bool = False, tools: bool = False):
    """One step of a flow: a spinner with elapsed time on a terminal, else a line when it starts.
    Yields a function that changes the text shown (e.g. 'simulate: building Verilator'); a
    transient text only shows on the spinner, never as a line of a log. With `tools` the spinner
    follows what Yosys and nextpnr do ('report on egfet (Yosys synthesis): SYNTH / ABC')."""
    if quiet:
        yield lambda text, transient=False: None
        return
    if not sys.stdout.isatty():
        def line(text: str, transient: bool = False) -> None:
            if not transient:
                print(f"{text} ...", flush=True)

        print(f"{title} ...", flush=True)
        yield line
        return
    from rich.console import Console

    from bespoke.targets import tool_progress

    t0 = time.perf_counter()
    with Console().status(title) as status:
        def show(text: str, transient: bool = False) -> None:
            status.update(f"{text} ({time.perf_counter() - t0:.0f} s)")

        if not tools:
            yield show
            return
        with tool_progress.watching(lambda name: show(f"{title}: {name}", transient=True)):
            yield show


class progress_bar:
    """A rich progress bar over the generations (plain lines when not a terminal; nothing when quiet)."""

    def __init__(self, quiet: bool, total: int):
        self.quiet, self.total, self.bar, self.t0 = quiet, total, None, time.perf_counter()

    def __enter__(self):
        if not self.quiet and sys.stdout.isatty():
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn("exploring"), BarColumn(), MofNCompleteColumn(), TextColumn("generations"),
                                TextColumn("{task.fields[evals]} designs"), TimeElapsedColumn(), TextColumn("ETA"),
                                TimeRemainingColumn())
            self.bar.start()
            self.task = self.bar.add_task("explore", total=self.total, evals=0)
        return self.update

    def update(self, gen: int, total: int, evaluations: int) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=gen, evals=evaluations)
        elif not self.quiet and (gen == total or gen % max(1, total // 10) == 0):
            elapsed = time.perf_counter() - self.t0
            eta = elapsed / gen * (total - gen)
            print(f"exploring: generation {gen}/{total}, {evaluations} designs, {elapsed:.0f} s, ETA {eta:.0f} s", flush=True)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()
        return False
