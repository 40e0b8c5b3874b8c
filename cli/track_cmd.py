"""``aetrack track SOURCE... --out DIR``: track a video, image folder, MOT sequence or camera,
or many of them.

    aetrack track video.mp4 --out tracks --save-video
    aetrack track ../shared/data/PETS09-S2L1 --out pets --frames 398:795 --weights runs/pets_finetune/last.pt
    aetrack track MOT17-04-FRCNN --out mot17 --dets MOT17-04-FRCNN/det/det.txt --linker motion
    aetrack track street.mp4 --out tracks --classes person,bicycle
    aetrack track recordings/ --out tracks --workers 2           # every video / sequence in the folder
    aetrack track ../shared/data/MOT17-train --out b17 --dets det/det.txt --linker motion
    aetrack track 'cams/*.mp4' --out /shared/tracks --ray --ray-address auto

Writes ``DIR/<name>.txt`` (MOT), ``DIR/<name>.jsonl`` and, with ``--save-video``,
``DIR/<name>.mp4``. A MOT sequence folder with ground truth is evaluated afterwards.

Several inputs (arguments, a glob, or a folder of videos / sequence folders) each write those
files into DIR, the same bytes as one-at-a-time runs, skipping inputs whose files all exist
(a re-run after a crash resumes); see :mod:`aetrack.batch`. They are not evaluated: run
``aetrack eval DATA_ROOT DIR``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from aetrack.data.mot import MotSequence, is_mot_sequence, parse_frame_range, read_mot_file
from aetrack.errors import AetrackError

if TYPE_CHECKING:
    from aetrack.batch import InputOutcome
    from aetrack.track_job import TrackSettings
from cli.common import BACKEND_HELP, LINKER_HELP, THREADS_DEFAULT, parse_input_size


def track(
    source: Annotated[list[str], typer.Argument(
        help="Video file, image folder, MOT sequence folder or camera index; or several: more arguments, a "
             "quoted glob, or a folder of videos and sequence folders (each written to OUT, finished ones skipped).",
        show_default=False)],
    out: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("track_out"),
    weights: Annotated[Optional[Path], typer.Option(
        help="Checkpoint from `aetrack train`, an .onnx file from `aetrack export`, or embedded weights by "
             "name: default (real people and vehicles; what no --weights means) or synthetic.",
        show_default=False)] = None,
    dets: Annotated[
        Optional[Path],
        typer.Option(help="Link these MOT detections instead of detecting (tags from the model only with --weights); "
                          "with several inputs a path inside each sequence folder, e.g. det/det.txt."),
    ] = None,
    frames: Annotated[Optional[str], typer.Option(help="Only frames A:B (inclusive, 1-based; default: all).")] = None,
    save_video: Annotated[bool, typer.Option("--save-video", help="Also write an annotated mp4.")] = False,
    linker: Annotated[Optional[str], typer.Option(help=LINKER_HELP)] = None,
    set_: Annotated[
        Optional[list[str]], typer.Option("--set", help="Override a setting, e.g. linker.high_score=0.6.")
    ] = None,
    linker_config: Annotated[
        Optional[Path], typer.Option("--linker-config", help="YAML of linker settings, e.g. from aetrack tune "
                                                             "(applied before --linker and --set).")
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.")] = "cpu",
    threads: Annotated[Optional[int], typer.Option(
        help=f"CPU threads for the model ({THREADS_DEFAULT}; with several inputs: per input, default the CPUs "
             "shared among the workers, 1 per Ray task).")] = None,
    backend: Annotated[str, typer.Option(help=BACKEND_HELP)] = "auto",
    fps: Annotated[Optional[float], typer.Option(
        help="Frame rate of the source, frames/s (default: what the source says, else 30).")] = None,
    evaluate: Annotated[bool, typer.Option(
        help="Evaluate against gt/gt.txt of a MOT sequence folder (one input; several: aetrack eval DATA OUT).")] = True,
    classes: Annotated[
        Optional[str],
        typer.Option(help="Track only these classes, comma-separated COCO names, e.g. person,car or "
                          "traffic_light; 'all' for every class (default: the model's set: person, bicycle, "
                          "car, motorcycle, bus, truck for the default model). --dets detections are all person."),
    ] = None,
    input_size: Annotated[Optional[str], typer.Option(
        help="Network input WxH, multiples of 32, e.g. 960x544 (default: the model's rule; the default model's "
             "input follows the frame size, longer side 640-1280).", show_default=False)] = None,
    allow_truncated: Annotated[bool, typer.Option(
        "--allow-truncated", help="Keep the frames read from a video that ends before its listed frame count.")] = False,
    workers: Annotated[Optional[int], typer.Option(
        help="Several inputs: track this many at once in local processes (default 1).", show_default=False)] = None,
    ray: Annotated[bool, typer.Option(
        "--ray", help="Several inputs: one Ray task per input (needs the ray extra of aetrack); a local Ray "
                      "running --workers tasks at once unless --ray-address is given.")] = False,
    ray_address: Annotated[Optional[str], typer.Option(
        help="Ray cluster to run on, e.g. auto or HOST:6379 (implies --ray; default: a local Ray); OUT must be "
             "a shared folder.",
        show_default=False)] = None,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Several inputs: track the finished ones again too.")] = False,
) -> None:
    """Track objects and write MOT text, JSON lines and optionally an annotated video, for one input or many."""
    from aetrack.track_job import TrackSettings

    settings = TrackSettings(
        weights=None if weights is None else str(weights), dets=None if dets is None else str(dets),
        frames=parse_frame_range(frames), save_video=save_video, linker=linker, overrides=tuple(set_ or []),
        device=device, threads=threads, fps=fps, classes=classes, allow_truncated=allow_truncated,
        input_size=parse_input_size(input_size),
        linker_config=None if linker_config is None else str(linker_config), backend=backend)
    parallel = ray or ray_address is not None or workers is not None
    if len(source) == 1 and not parallel:
        from aetrack.batch import is_many

        if not is_many(source):
            _track_single(source[0], out=out, settings=settings, evaluate=evaluate)
            return
    _track_many(source, out=out, settings=settings, workers=workers, ray=ray or ray_address is not None,
                ray_address=ray_address, overwrite=overwrite)


def _track_single(source: str, *, out: Path, settings: TrackSettings, evaluate: bool) -> None:
    """One input, in this process, with its own progress bar and, for a sequence with ground
    truth, its metrics."""
    from aetrack.track_job import track_input

    result = track_input(source, out_dir=out, settings=settings)
    stats = result.stats
    med = stats.median_ms(skip=min(5, max(0, stats.frames - 1)))
    typer.echo(f"{stats.name}: {stats.frames} frames, {stats.tracks_text()}, {stats.rows} boxes, "
               f"{stats.fps:.1f} frames/s end to end "
               f"({', '.join(f'{k} {v:.1f} ms' for k, v in med.items())})")
    if result.truncated is not None:
        typer.secho(f"warning: {source}: the video ends after frame {result.truncated[0]} of {result.truncated[1]} "
                    f"(truncated or corrupt); kept the {stats.frames} frames read", err=True, fg=typer.colors.YELLOW)
    for p in stats.outputs:
        typer.echo(f"wrote {p}")
    if evaluate and is_mot_sequence(source):
        seq = MotSequence.open(source)
        if seq.gt_path.is_file():
            from aetrack.eval import evaluate_tables
            from cli.common import print_metrics

            results = read_mot_file(out / f"{stats.name}.txt", kind="results")
            report = evaluate_tables(gt={seq.name: seq.gt()}, results={seq.name: results}, frames=settings.frames,
                                     num_frames={seq.name: seq.info.length})
            print_metrics(report)


def _track_many(sources: list[str], *, out: Path, settings: TrackSettings, workers: int | None, ray: bool,
                ray_address: str | None, overwrite: bool) -> None:
    """Every input that ``sources`` name, finished ones skipped, under one progress bar; exit
    code 1 with one line per failed input when any failed (the others are written)."""
    import dataclasses

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from aetrack.batch import import_ray, is_finished, list_inputs, run_batch

    if workers is not None and workers < 1:
        raise AetrackError(f"--workers must be >= 1, got {workers}")
    if ray:
        import_ray()  # a missing extra is one line and exit code 2, before any work
    inputs = list_inputs(sources, settings=settings)
    todo = [item for item in inputs if overwrite or not is_finished(item, out_dir=out, settings=settings)]
    done_before = len(inputs) - len(todo)
    if done_before:
        typer.echo(f"skipping {done_before} of {len(inputs)} inputs: their outputs are in {out} already "
                   "(--overwrite tracks them again)")
    if not todo:
        return
    cpus = os.cpu_count() or 1
    if ray and ray_address is not None:  # a cluster: Ray places the tasks, each on --threads CPUs
        where, workers = f"the Ray cluster at {ray_address}", workers or 1
        settings = dataclasses.replace(settings, threads=settings.threads or 1)
    else:  # this machine: `workers` at a time, sharing its CPUs
        workers = min(workers or (cpus if ray else 1), len(todo))
        where = f"{workers} at a time in " + ("a local Ray" if ray else "local processes")
        settings = dataclasses.replace(settings, threads=settings.threads or max(1, cpus // workers))
    frames = 0
    failed: list[InputOutcome] = []
    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[fps]:.1f} frames/s"), TimeElapsedColumn(), TimeRemainingColumn())
    with bar:
        task = bar.add_task(f"tracking {len(todo)} inputs", total=len(todo), fps=0.0)
        elapsed_start = bar.get_time()

        def on_done(outcome: InputOutcome) -> None:
            nonlocal frames
            frames += outcome.frames
            if outcome.ok:
                retried = f" (try {outcome.attempts}: the first failed)" if outcome.attempts > 1 else ""
                bar.console.print(f"{outcome.name}: {outcome.frames} frames, {outcome.tracks}, {outcome.rows} boxes, "
                                  f"{outcome.frames / outcome.seconds if outcome.seconds else 0.0:.1f} frames/s"
                                  f"{retried}", markup=False, highlight=False)
            else:
                failed.append(outcome)
            if outcome.warning:
                bar.console.print(f"warning: {outcome.warning}", style="yellow", markup=False, highlight=False)
            elapsed = bar.get_time() - elapsed_start
            bar.update(task, advance=1, fps=frames / elapsed if elapsed > 0 else 0.0)

        per = f"{settings.threads} thread{'' if settings.threads == 1 else 's'} each"
        bar.console.print(f"{len(todo)} inputs, {where}, {per}",
                          markup=False, highlight=False)
        run_batch(todo, out_dir=out, settings=settings, workers=workers, use_ray=ray, ray_address=ray_address,
                  on_done=on_done)
    typer.echo(f"tracked {len(todo) - len(failed)} of {len(todo)} inputs into {out}")
    for outcome in failed:
        typer.secho(f"error: {outcome.source}: {outcome.error} (failed {outcome.attempts} times)", err=True,
                    fg=typer.colors.RED)
    if failed:
        raise typer.Exit(1)
