"""``aetrack demo``: the whole pipeline with no arguments.

Generates a held-out synthetic clip (medium preset, a seed never used for training), tracks it
with the embedded weights, writes the annotated video and the results into ``aetrack_demo/``
and prints the official metrics.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

DEMO_SEED = 4242  # held out: training uses seeds < 1000, evaluation 1000-1003


def demo(
    out: Annotated[Path, typer.Option("--out", help="Folder for the clip, results and video.")] = Path("aetrack_demo"),
    frames: Annotated[int, typer.Option(help="Length of the synthetic clip, frames.")] = 300,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic clip.")] = DEMO_SEED,
) -> None:
    """Generate a synthetic clip, track it with the embedded weights, save video + metrics."""
    from aetrack.data.mot import MotSequence, read_mot_file
    from aetrack.data.sources import open_source
    from aetrack.data.synth import SynthConfig, write_sequence
    from aetrack.eval import evaluate_tables
    from aetrack.pipeline import track_source
    from aetrack.tracker import Tracker
    from cli.common import print_metrics

    start = time.perf_counter()
    cfg = SynthConfig.preset("medium", frames=frames)
    seq_dir = write_sequence(out / "data", cfg=cfg, seed=seed, overwrite=True)
    seq = MotSequence.open(seq_dir)
    typer.echo(f"generated {seq.name}: {seq.info.length} frames {seq.info.width}x{seq.info.height} in {seq_dir}")
    tracker = Tracker.from_pretrained(frame_rate=seq.info.frame_rate)
    src = open_source(seq_dir)
    stats = track_source(source=src, tracker=tracker, out_dir=out, save_video=True)
    report = evaluate_tables(gt={seq.name: seq.gt()}, results={seq.name: read_mot_file(out / f"{seq.name}.txt",
                                                                                        kind="results")},
                             num_frames={seq.name: seq.info.length})
    print_metrics(report, title=f"{seq.name}: embedded weights, {stats.fps:.1f} frames/s end to end")
    for p in stats.outputs:
        typer.echo(f"wrote {p}")
    typer.echo(f"demo finished in {time.perf_counter() - start:.1f} s")
