"""``aetrack eval GT_ROOT RESULTS_DIR``: the official MOTChallenge metrics for a results folder.

Thin wrapper over :func:`aetrack.eval.evaluate`: parses options, prints warnings and a table
(one row per sequence and a COMBINED row, ratios in percent), optionally writes JSON.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from aetrack.data.mot import parse_frame_range
from cli.common import print_metrics


def evaluate(
    gt_root: Annotated[Path, typer.Argument(help="Folder of MOT sequence folders (each with gt/gt.txt), or one.")],
    results_dir: Annotated[Path, typer.Argument(help="Folder with one <SEQUENCE>.txt MOT results file per sequence.")],
    benchmark: Annotated[
        Optional[str],
        typer.Option(help="Evaluation rules: MOT15, MOT16, MOT17 or MOT20 (default: from the gt columns)."),
    ] = None,
    frames: Annotated[
        Optional[str], typer.Option(help="Evaluate only frames A:B (inclusive, 1-based) of every sequence "
                                         "(default: all).")
    ] = None,
    half: Annotated[
        Optional[str], typer.Option(help="Evaluate only the first or second half of every sequence (default: "
                                         "all frames); not with --frames.")
    ] = None,
    json_path: Annotated[
        Optional[Path], typer.Option("--json", help="Also write the numbers to this JSON file (atomically).")
    ] = None,
) -> None:
    """HOTA, DetA, AssA (trackeval) and MOTA, MOTP, IDF1, IDP, IDR, IDSW, FP, FN, MT, ML, Frag (motmetrics)."""
    from aetrack.eval.report import evaluate as run_evaluation
    from cli.common import check_half

    report = run_evaluation(gt_root, results_dir, benchmark=benchmark, frames=parse_frame_range(frames), half=check_half(half))
    if json_path is not None:
        report.write_json(json_path)
    print_metrics(report)
    if json_path is not None:
        typer.echo(f"wrote {json_path}")
