"""``aetrack`` entry point: one typer app, one module per command.

Every :class:`aetrack.errors.AetrackError` (bad input a user can fix) is printed as one line
on stderr with exit code 2, never as a traceback.
"""

from __future__ import annotations

import sys

import typer

from aetrack.errors import AetrackError
from cli import (benchmark_cmd, demo_cmd, eval_cmd, export_cmd, pseudolabel_cmd, synth_cmd, thin_cmd, track_cmd,
                 train_cmd, tune_cmd)
from cli.common import error_line, user_errors

app = typer.Typer(
    name="aetrack",
    help="Multi-object tracking with temporal associative embedding.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("synth")(user_errors(synth_cmd.synth))
app.command("train")(user_errors(train_cmd.train))
app.command("track")(user_errors(track_cmd.track))
app.command("eval")(user_errors(eval_cmd.evaluate))
app.command("demo")(user_errors(demo_cmd.demo))
app.command("benchmark")(user_errors(benchmark_cmd.benchmark))
app.command("export")(user_errors(export_cmd.export))
app.command("pseudolabel")(user_errors(pseudolabel_cmd.pseudolabel))
app.command("tune")(user_errors(tune_cmd.tune))
app.command("thin")(user_errors(thin_cmd.thin))


def main() -> None:
    """Console-script entry: run the app, turning user errors into one line and exit code 2."""
    try:
        app()
    except AetrackError as err:
        typer.secho(error_line(err), err=True, fg=typer.colors.RED)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        typer.secho("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
