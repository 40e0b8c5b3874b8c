"""Pieces every command shares: one-line user errors, the metrics table, option parsing."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from typer.core import TyperCommand
from rich.table import Table

from aetrack.errors import AetrackError
from aetrack.linker import MODES

F = TypeVar("F", bound=Callable[..., Any])

# --backend of track, demo and benchmark (aetrack.backend); no square brackets: rich would eat them.
BACKEND_HELP = ("Engine of the detector: auto (onnxruntime on the CPU when installed, else torch), torch, "
                "or onnxruntime (CPU; weights are exported to ~/.cache/aetrack on first use). "
                "An .onnx --weights file runs on onnxruntime.")


# --linker of track and benchmark. The defaults it names are checked against the embedded
# weights' stored settings and aetrack.linker.config.DETECTIONS_DEFAULTS (tests/test_cli_help.py).
LINKER_HELP = (f"Linker mode: {', '.join(MODES)} (default: the weights' own, tags_motion for both "
               "embedded models; motion for --dets without --weights).")
# --threads of every command that runs a model: torch's default and onnxruntime's are one thread
# per physical core (aetrack.backend.apply_threads).
THREADS_DEFAULT = "default: one per physical core"


# --dets of benchmark and tune: one meaning with track's (a detections file; where a command
# takes folders of sequences, its path inside each sequence folder).
DETS_FOLDERS_HELP = ("Link the MOT detections in this file inside each sequence folder instead of detecting, e.g. "
                     "det/det.txt (tags from the model only with --weights).")


def note(text: str) -> None:
    """A yellow ``note:`` line on stderr: what an old spelling now means."""
    typer.secho(f"note: {text}", err=True, fg=typer.colors.YELLOW)


class BareDetsCommand(TyperCommand):
    """A command whose ``--dets`` takes a path but, as it once was a flag, may still be given
    bare (last, or before another option): that reads the public detections
    (``det/det.txt``) with a note, so old command lines keep working."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        from aetrack.data.mot import PUBLIC_DETS

        out: list[str] = []
        for i, arg in enumerate(args):
            out.append(arg)
            if arg == "--dets" and (i + 1 == len(args) or args[i + 1].startswith("-")):
                out.append(PUBLIC_DETS)
                note(f"--dets takes the detections file inside each sequence folder now; read as --dets {PUBLIC_DETS}")
        return super().parse_args(ctx, out)


def user_errors(fn: F) -> F:
    """Report :class:`AetrackError` as one red line and exit 2, however the app is invoked.

    (``cli.main.main`` does the same for the console script; this also covers ``CliRunner``
    and ``python -m cli.main``.)
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AetrackError as err:
            typer.secho(error_line(err), err=True, fg=typer.colors.RED)
            raise typer.Exit(err.exit_code) from None

    return wrapper  # type: ignore[return-value]


def error_line(err: AetrackError) -> str:
    """``error: <message>`` on one line, whatever the message quotes (the lines of a message
    that holds a line break, say in a file name, are joined with spaces)."""
    return "error: " + " ".join(line.strip() for line in str(err).splitlines() if line.strip())


def set_threads(threads: int | None, *, backend: str = "torch") -> int | None:
    """Apply a ``--threads`` option (:func:`aetrack.backend.apply_threads`)."""
    from aetrack.backend import apply_threads

    return apply_threads(threads, backend=backend)


def parse_input_size(text: str | None) -> tuple[int, int] | None:
    """An ``--input-size WxH`` option: (width, height), multiples of 32; None when not given."""
    if text is None:
        return None
    parts = text.lower().split("x")
    try:
        if len(parts) != 2:
            raise ValueError
        w, h = int(parts[0]), int(parts[1])
    except ValueError:
        raise AetrackError(f"--input-size {text!r} is not of the form WIDTHxHEIGHT, e.g. 640x352") from None
    if min(w, h) < 32 or w % 32 or h % 32:
        raise AetrackError(f"--input-size {text!r}: width and height must be positive multiples of 32")
    return w, h


def check_half(text: str | None) -> str | None:
    """A ``--half`` option: ``first``, ``second`` or None."""
    from aetrack.data.mot import HALVES

    if text is not None and text not in HALVES:
        raise AetrackError(f"--half {text!r}: choose one of {', '.join(HALVES)}")
    return text


def _cell(name: str, value: float, counts: frozenset[str]) -> str:
    if name in counts:
        return str(int(value))
    return f"{value:.1f}" if math.isfinite(value) else "-"


def print_metrics(report: Any, *, title: str | None = None) -> None:
    """A rich table of an :class:`aetrack.eval.EvalReport`: one row per sequence + COMBINED."""
    from aetrack.eval.report import COUNT_NAMES, METRIC_NAMES

    for line in report.warnings:
        typer.secho(f"warning: {line}", err=True, fg=typer.colors.YELLOW)
    if title is None:
        rules = sorted(set(report.benchmarks.values()))
        title = (f"{', '.join(rules)} rules" + (f", frames {report.frames}" if report.frames else "")
                 + (f", {report.half} half of each sequence" if report.half else ""))
    table = Table(title=title)
    table.add_column("Sequence", style="bold")
    for name in METRIC_NAMES:
        table.add_column(name, justify="right")
    for seq, row in report.sequences.items():
        table.add_row(seq, *(_cell(n, row[n], COUNT_NAMES) for n in METRIC_NAMES))
    table.add_section()
    table.add_row("COMBINED", *(_cell(n, report.combined[n], COUNT_NAMES) for n in METRIC_NAMES), style="bold")
    Console(width=max(160, Console().width)).print(table)
