"""``aetrack ap DATA``: detection AP50 of a model on labelled frames (:mod:`aetrack.bench.detection`).

    aetrack ap ../shared/data/MOT17-train --classes person,car
    aetrack ap ../shared/data/PETS09-S2L1 --frames 398:795 --every 4
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Optional

import typer

from cli.common import BACKEND_HELP, parse_input_size


def ap(
    data: Annotated[Path, typer.Argument(help="A MOT sequence folder or a folder of them (with gt/gt.txt).")],
    weights: Annotated[Optional[str], typer.Option(
        help="Checkpoint path or embedded name (default: the embedded default model).")] = None,
    classes: Annotated[str, typer.Option(help="Classes to score, comma-separated COCO names.")] = "person,car",
    frames: Annotated[Optional[str], typer.Option(help="Only frames A:B (inclusive, 1-based).")] = None,
    every: Annotated[int, typer.Option(help="Score every k-th frame (from the first of --frames).")] = 1,
    min_visibility: Annotated[float, typer.Option(
        help="MOT16/17 targets need at least this visibility; less visible ones are ignore regions.")] = 0.3,
    score_threshold: Annotated[float, typer.Option(help="Decode score floor (AP needs the whole ranking).")] = 0.01,
    top_k: Annotated[int, typer.Option(help="Detections kept per frame.")] = 300,
    input_size: Annotated[Optional[str], typer.Option(
        help="Network input WxH (multiples of 32; default: the model's rule).", show_default=False)] = None,
    backend: Annotated[str, typer.Option(help=BACKEND_HELP)] = "auto",
    threads: Annotated[Optional[int], typer.Option(help="CPU threads for the model.")] = None,
    json_path: Annotated[Optional[Path], typer.Option("--json", help="Also write the numbers as JSON.")] = None,
) -> None:
    """Detection AP50 per sequence and class (VOC all-point, IoU 0.5) on frames with ground truth."""
    import dataclasses

    from rich.console import Console
    from rich.table import Table

    from aetrack.backend import apply_threads, resolve_backend
    from aetrack.bench.detection import detection_ap
    from aetrack.data.mot import find_sequences, parse_frame_range
    from aetrack.errors import AetrackError
    from aetrack.io.atomic import atomic_write
    from aetrack.model.weights import resolve_weights
    from aetrack.tracker import Tracker

    names = [c.strip() for c in classes.split(",") if c.strip()]
    engine = resolve_backend(backend, weights=weights)
    model_threads = apply_threads(threads, backend=engine)
    tracker = Tracker.from_checkpoint(resolve_weights(weights), backend=engine, threads=model_threads,
                                      input_size=parse_input_size(input_size), classes="all")
    try:
        tracker.decode_cfg = dataclasses.replace(tracker.decode_cfg, score_threshold=score_threshold, top_k=top_k)
    except ValueError as err:
        raise AetrackError(f"--score-threshold / --top-k: {err}") from None
    seqs = find_sequences(data)
    report = detection_ap(tracker, seqs, class_names=names, frames=parse_frame_range(frames), every=every,
                          min_visibility=min_visibility)
    table = Table(title=f"AP50, {report.frames} frames")
    table.add_column("Sequence", style="bold")
    for c in names:
        table.add_column(c, justify="right")
    fmt = lambda v: "-" if math.isnan(v) else f"{v:.3f}"  # noqa: E731
    for seq, row in report.sequences.items():
        table.add_row(seq, *(fmt(row[c]) for c in names))
    table.add_section()
    table.add_row("COMBINED", *(fmt(report.combined[c]) for c in names), style="bold")
    Console().print(table)
    typer.echo("targets: " + ", ".join(f"{c} {report.targets.get(c, 0)}" for c in names))
    if json_path is not None:
        with atomic_write(json_path) as f:
            json.dump(dataclasses.asdict(report), f, indent=1)
