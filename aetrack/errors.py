"""User-facing errors.

Anything a user can cause with bad input (a missing file, a malformed row, an unknown config
key, a checkpoint that does not fit) raises :class:`AetrackError` with a one-line message.
The CLI prints that line and exits with code 2; library users catch it like any exception.
"""

from __future__ import annotations


class AetrackError(Exception):
    """Bad input or state a user can fix; ``str(err)`` is a complete one-line explanation."""

    exit_code = 2


class InvalidArgument(AetrackError, ValueError):
    """A bad value passed to the Python API (a frame, boxes, scores), naming the argument.

    It is a ``ValueError`` for library code that catches those, and an :class:`AetrackError`
    so that the CLI, which feeds the same functions, reports it as one line and exit code 2.
    """
