"""The one exception type for errors a user can cause (bad model, unsupported operator, bad option).

The CLI prints its message on one line and exits with code 2; everything else is a bug and may
raise whatever it raises.
"""


class BespokeError(Exception):
    """A user-facing error: the message names the node / file / option and what is supported."""


def first_line(e: Exception) -> str:
    """The first line of an exception's message (a library's multi-line text), or its type's name."""
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__
