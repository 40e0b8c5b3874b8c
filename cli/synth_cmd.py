"""``aetrack synth``: write procedural sequences in MOTChallenge layout with exact ground truth.

    aetrack synth data/synth-eval --sequences 4 --seed 1000    # synth-medium-1000 ... -1003
    aetrack synth data/short --length 100                       # 100 frames per sequence

Sequence k (0-based) uses seed S+k, so each sequence depends only on its own seed and options.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from aetrack.data.synth_config import PRESETS, SynthConfig, sequence_name
from aetrack.errors import AetrackError


_PRESET_OBJECTS = ", ".join(f"{name} {SynthConfig.preset(name).objects}" for name in PRESETS)


class _RateColumn(ProgressColumn):
    """Frames per second of the running task."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("-- frames/s" if speed is None else f"{speed:.0f} frames/s")


def synth(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write the sequence folders into.")],
    sequences: Annotated[int, typer.Option(help="Number of sequences (seeds SEED, SEED+1, ...).")] = 1,
    length: Annotated[int, typer.Option(help="Frames per sequence.")] = 300,
    frames: Annotated[Optional[int], typer.Option("--frames", hidden=True)] = None,  # the old spelling of --length
    seed: Annotated[int, typer.Option(help="Seed of the first sequence.")] = 0,
    width: Annotated[int, typer.Option(help="Frame width, pixels.")] = 640,
    height: Annotated[int, typer.Option(help="Frame height, pixels.")] = 360,
    objects: Annotated[int | None, typer.Option(
        help=f"Objects in view at once (default: the preset's; {_PRESET_OBJECTS}).")] = None,
    difficulty: Annotated[str, typer.Option(help=f"Preset: {', '.join(PRESETS)}.")] = "medium",
    fps: Annotated[float, typer.Option(help="Frame rate, frames/s.")] = 30.0,
    video: Annotated[bool, typer.Option(
        "--video", help="Write one <name>.mp4 per sequence instead of img1/.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace sequence folders that exist.")] = False,
) -> None:
    """Generate synthetic sequences (images or video, gt/gt.txt, det/det.txt, seqinfo.ini)."""
    from aetrack.data.synth import write_sequence  # the renderer and OpenCV: not for --help
    from cli.common import note

    if frames is not None:  # --frames selects frames A:B in every other command
        note(f"synth --frames is now --length (--frames selects frames A:B elsewhere); read as --length {frames}")
        length = frames

    if sequences < 1:
        raise AetrackError(f"--sequences must be >= 1, got {sequences}")
    if seed < 0:
        raise AetrackError(f"--seed must be >= 0, got {seed}")
    overrides: dict[str, Any] = dict(frames=length, width=width, height=height, fps=fps)
    if objects is not None:
        overrides["objects"] = objects
    cfg = SynthConfig.preset(difficulty, **overrides)
    seeds = [seed + k for k in range(sequences)]
    if not overwrite:
        for s in seeds:  # fail before spending minutes on the first sequences
            existing = out_dir / sequence_name(cfg, s)
            if existing.exists():
                raise AetrackError(f"{existing} already exists (pass --overwrite to replace it)")

    total = sequences * cfg.frames
    start = time.perf_counter()
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), _RateColumn(),
                        TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                        console=Console(stderr=True))
    with progress:
        task = progress.add_task("synth", total=total)
        for s in seeds:
            progress.update(task, description=sequence_name(cfg, s))
            write_sequence(out_dir, cfg=cfg, seed=s, video=video, overwrite=overwrite,
                           on_frame=lambda _t: progress.advance(task))
    elapsed = time.perf_counter() - start
    typer.echo(f"wrote {sequences} sequence(s), {total} frames of {cfg.width}x{cfg.height} ({cfg.difficulty}) "
               f"to {out_dir} in {elapsed:.1f} s: {total / max(elapsed, 1e-9):.0f} frames/s")
