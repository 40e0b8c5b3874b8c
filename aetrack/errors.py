"""User-facing errors.

Anything a user can cause with bad input (a missing file, a malformed row, an unknown config
key, a checkpoint that does not fit) raises :class:`AetrackError` with a one-line message.
The CLI prints that line and exits with code 2; library users catch it like any exception.
"""

from __future__ import annotations


class AetrackError(Exception):
    """Bad input or state a user can fix; ``str(err)`` is a complete one-line explanation."""

    exit_code = 2
