"""``aetrack eval GT_ROOT RESULTS_DIR``: the official MOTChallenge metrics for a results folder.

Thin wrapper over :func:`aetrack.eval.evaluate`: parses options, prints warnings and a table
(one row per sequence and a COMBINED row, ratios in percent), optionally writes JSON.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from aetrack.data.mot import parse_frame_range
from aetrack.errors import AetrackError


def _cell(name: str, value: float, counts: frozenset[str]) -> str:
    if name in counts:
        return str(int(value))
    return f"{value:.1f}" if math.isfinite(value) else "-"


def evaluate(
    gt_root: Annotated[Path, typer.Argument(help="Folder of MOT sequence folders (each with gt/gt.txt), or one.")],
    results_dir: Annotated[Path, typer.Argument(help="Folder with one <SEQUENCE>.txt MOT results file per sequence.")],
    benchmark: Annotated[
        Optional[str],
        typer.Option(help="Evaluation rules: MOT15, MOT16, MOT17 or MOT20 (default: from the gt columns)."),
    ] = None,
    frames: Annotated[
        Optional[str], typer.Option(help="Evaluate only frames A:B (inclusive, 1-based) of every sequence.")
    ] = None,
    json_path: Annotated[
        Optional[Path], typer.Option("--json", help="Also write the numbers to this JSON file (atomically).")
    ] = None,
) -> None:
    """HOTA, DetA, AssA (trackeval) and MOTA, MOTP, IDF1, IDP, IDR, IDSW, FP, FN, MT, ML, Frag (motmetrics)."""
    from aetrack.eval.report import COUNT_NAMES, METRIC_NAMES
    from aetrack.eval.report import evaluate as run_evaluation

    try:
        report = run_evaluation(gt_root, results_dir, benchmark=benchmark, frames=parse_frame_range(frames))
        if json_path is not None:
            report.write_json(json_path)
    except AetrackError as err:
        # Handled here too (not only in cli.main.main) so the exit code is 2 however the app is invoked.
        typer.secho(f"error: {err}", err=True, fg=typer.colors.RED)
        raise typer.Exit(err.exit_code) from None
    for line in report.warnings:
        typer.secho(f"warning: {line}", err=True, fg=typer.colors.YELLOW)

    rules = sorted(set(report.benchmarks.values()))
    title = f"{', '.join(rules)} rules" + (f", frames {report.frames}" if report.frames else "")
    table = Table(title=title)
    table.add_column("Sequence", style="bold")
    for name in METRIC_NAMES:
        table.add_column(name, justify="right")
    for seq, row in report.sequences.items():
        table.add_row(seq, *(_cell(n, row[n], COUNT_NAMES) for n in METRIC_NAMES))
    table.add_section()
    table.add_row("COMBINED", *(_cell(n, report.combined[n], COUNT_NAMES) for n in METRIC_NAMES), style="bold")
    Console(width=max(160, Console().width)).print(table)
    if json_path is not None:
        typer.echo(f"wrote {json_path}")
