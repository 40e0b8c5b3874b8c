"""``aetrack demo``: the whole pipeline with no arguments.

By default it tracks the short real clip shipped with the package (a corridor where people walk
past, from Intel's IoT DevKit sample videos, CC BY 4.0; see NOTICE) with the embedded default
weights, writes the annotated video, MOT text and JSON lines into ``aetrack_demo/`` and prints
the tracks, the speed and where the files are. ``--synthetic`` instead generates a held-out
synthetic clip, tracks it with the embedded synthetic model and prints the official metrics.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from cli.common import BACKEND_HELP, THREADS_DEFAULT

if TYPE_CHECKING:
    from aetrack.data.mot import FrameRange

DEMO_SEED = 4242  # held out: training uses seeds < 1000, evaluation 1000-1003
SYNTHETIC_LENGTH = 300  # frames of the --synthetic clip unless --frames ends earlier


def demo(
    out: Annotated[Path, typer.Option("--out", help="Folder for the results and video.")] = Path("aetrack_demo"),
    synthetic: Annotated[bool, typer.Option("--synthetic", help="Track a generated clip with the synthetic "
                                                                  "model and print its metrics.")] = False,
    frames: Annotated[Optional[str], typer.Option(
        help="Only frames A:B (inclusive, 1-based; default: all) of the real clip, or of the generated one "
             f"(--synthetic: {SYNTHETIC_LENGTH} frames long, or B).", show_default=False)] = None,
    seed: Annotated[int, typer.Option(help="--synthetic: seed of the generated clip.")] = DEMO_SEED,
    threads: Annotated[Optional[int], typer.Option(help=f"CPU threads for the model ({THREADS_DEFAULT}).")] = None,
    backend: Annotated[str, typer.Option(help=BACKEND_HELP)] = "auto",
) -> None:
    """Track a real clip with the embedded default weights (or --synthetic), save video + tracks."""
    from aetrack.backend import resolve_backend
    from aetrack.data.mot import FrameRange, parse_frame_range
    from cli.common import note, set_threads

    if frames is not None and frames.strip().isdigit():  # the old spelling, a count: the first N frames
        note(f"demo --frames N is now --frames 1:N, as in track; read as --frames 1:{frames.strip()}")
        frames = f"1:{frames.strip()}"
    window: FrameRange | None = parse_frame_range(frames)
    backend = resolve_backend(backend)
    threads = set_threads(threads, backend=backend)
    start = time.perf_counter()
    if synthetic:
        _synthetic(out, window=window, seed=seed, backend=backend, threads=threads)
    else:
        _real(out, window=window, backend=backend, threads=threads)
    typer.echo(f"demo finished in {time.perf_counter() - start:.1f} s")


def _real(out: Path, *, window: FrameRange | None, backend: str, threads: int | None) -> None:
    from aetrack.assets import demo_clip_path
    from aetrack.data.sources import open_source
    from aetrack.errors import AetrackError
    from aetrack.pipeline import track_source
    from aetrack.tracker import Tracker

    clip = demo_clip_path()
    if not clip.is_file():
        raise AetrackError(f"demo clip missing: {clip} (reinstall aetrack)")
    src = open_source(str(clip), frames=window)
    typer.echo(f"tracking {clip.name} ({src.selected_length()} frames, real footage, CC BY 4.0 Intel IoT DevKit) "
               f"with the embedded default weights ({backend})")
    tracker = Tracker.from_pretrained(frame_rate=src.fps, backend=backend, threads=threads)
    stats = track_source(source=src, tracker=tracker, out_dir=out, save_video=True)
    med = stats.median_ms(skip=min(5, max(0, stats.frames - 1)))
    typer.echo(f"{stats.tracks_text()} over {stats.frames} frames")
    typer.echo(f"speed: {stats.fps:.1f} frames/s end to end ("
               + ", ".join(f"{k} {v:.1f} ms" for k, v in med.items()) + ")")
    for p in stats.outputs:
        typer.echo(f"wrote {p}")


def _synthetic(out: Path, *, window: FrameRange | None, seed: int, backend: str, threads: int | None) -> None:
    from aetrack.data.mot import MotSequence, read_mot_file
    from aetrack.data.sources import open_source
    from aetrack.data.synth import SynthConfig, write_sequence
    from aetrack.eval import evaluate_tables
    from aetrack.pipeline import track_source
    from aetrack.tracker import Tracker
    from cli.common import print_metrics

    cfg = SynthConfig.preset("medium", frames=window.last if window is not None and window.last else SYNTHETIC_LENGTH)
    seq_dir = write_sequence(out / "data", cfg=cfg, seed=seed, overwrite=True)
    seq = MotSequence.open(seq_dir)
    typer.echo(f"generated {seq.name}: {seq.info.length} frames {seq.info.width}x{seq.info.height} in {seq_dir}")
    tracker = Tracker.from_pretrained("synthetic", frame_rate=seq.info.frame_rate, backend=backend, threads=threads)
    src = open_source(seq_dir, frames=window)
    stats = track_source(source=src, tracker=tracker, out_dir=out, save_video=True)
    report = evaluate_tables(gt={seq.name: seq.gt()}, results={seq.name: read_mot_file(out / f"{seq.name}.txt",
                                                                                        kind="results")},
                             frames=window, num_frames={seq.name: seq.info.length})
    print_metrics(report, title=f"{seq.name}: embedded synthetic weights, {stats.fps:.1f} frames/s end to end")
    for p in stats.outputs:
        typer.echo(f"wrote {p}")
