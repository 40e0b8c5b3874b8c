"""``aetrack`` entry point: one typer app, one module per command.

Every :class:`aetrack.errors.AetrackError` (bad input a user can fix) is printed as one line
on stderr with exit code 2, never as a traceback.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from aetrack.errors import AetrackError
from cli import (ap_cmd, benchmark_cmd, demo_cmd, eval_cmd, export_cmd, pseudolabel_cmd, synth_cmd, thin_cmd, track_cmd,
                 train_cmd, tune_cmd)
from cli.common import BareDetsCommand, error_line, user_errors

app = typer.Typer(
    name="aetrack",
    help="Multi-object tracking with temporal associative embedding.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        from aetrack import __version__  # cheap: the package's names load lazily

        typer.echo(f"aetrack {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.", is_eager=True,
                                          callback=_print_version)] = False,
) -> None:
    """Multi-object tracking with temporal associative embedding."""


app.command("synth")(user_errors(synth_cmd.synth))
app.command("train")(user_errors(train_cmd.train))
app.command("track")(user_errors(track_cmd.track))
app.command("eval")(user_errors(eval_cmd.evaluate))
app.command("demo")(user_errors(demo_cmd.demo))
app.command("benchmark", cls=BareDetsCommand)(user_errors(benchmark_cmd.benchmark))
app.command("export")(user_errors(export_cmd.export))
app.command("pseudolabel")(user_errors(pseudolabel_cmd.pseudolabel))
app.command("tune", cls=BareDetsCommand)(user_errors(tune_cmd.tune))
app.command("thin")(user_errors(thin_cmd.thin))
app.command("ap")(user_errors(ap_cmd.ap))


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
