"""The one exception type for errors a user can cause (bad model, unsupported operator, bad option).

The CLI prints its message on one line and exits with code 2; everything else is a bug and may
raise whatever it raises.
"""


class BespokeError(Exception):
    """A user-facing error: the message names the node / file / option and what is supported."""
