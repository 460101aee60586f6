"""Running the CLI in tests: its exit code and what it printed, and the shape of a user error."""

from __future__ import annotations

from bespoke.cli import main


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_user_error(code, err, needle):
    """Exit code 2 and one line on stderr that names the problem."""
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bespoke: error:") and needle in lines[0], err
