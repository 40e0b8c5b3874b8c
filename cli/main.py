"""``aetrack`` entry point: one typer app, one module per command.

Every :class:`aetrack.errors.AetrackError` (bad input a user can fix) is printed as one line
on stderr with exit code 2, never as a traceback.
"""

from __future__ import annotations

import sys

import typer

from aetrack.errors import AetrackError
from cli import eval_cmd, synth_cmd

app = typer.Typer(
    name="aetrack",
    help="Multi-object tracking with temporal associative embedding.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("synth")(synth_cmd.synth)
app.command("eval")(eval_cmd.evaluate)


def main() -> None:
    """Console-script entry: run the app, turning user errors into one line and exit code 2."""
    try:
        app()
    except AetrackError as err:
        typer.secho(f"error: {err}", err=True, fg=typer.colors.RED)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        typer.secho("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
