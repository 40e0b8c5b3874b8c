"""``aetrack track SOURCE --out DIR``: track a video, image folder, MOT sequence or camera.

    aetrack track video.mp4 --out tracks --save-video
    aetrack track ../shared/data/PETS09-S2L1 --out pets --frames 398:795 --weights runs/pets_small/best.pt
    aetrack track MOT17-04-FRCNN --out mot17 --dets MOT17-04-FRCNN/det/det.txt --linker motion
    aetrack track street.mp4 --out tracks --classes person,bicycle

Writes ``DIR/<name>.txt`` (MOT), ``DIR/<name>.jsonl`` and, with ``--save-video``,
``DIR/<name>.mp4``. A MOT sequence folder with ground truth is evaluated afterwards.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from aetrack.config import apply_overrides, from_dict, to_dict
from aetrack.data.mot import MotSequence, is_mot_sequence, parse_frame_range, read_mot_file
from aetrack.data.sources import FrameNumbers, open_source
from aetrack.decode import DecodeConfig
from aetrack.errors import AetrackError
from aetrack.linker import MODES, LinkerConfig
from cli.common import BACKEND_HELP


def tracker_settings(
    *, base_linker: LinkerConfig, base_decode: DecodeConfig, linker: str | None, overrides: list[str]
) -> tuple[LinkerConfig, DecodeConfig]:
    """Apply ``--linker MODE`` and ``--set linker.x=..``/``decode.x=..`` overrides to the configs."""
    data: dict[str, Any] = {"linker": to_dict(base_linker), "decode": to_dict(base_decode)}
    if linker is not None:
        if linker not in MODES:
            raise AetrackError(f"unknown linker {linker!r}; choose one of {', '.join(MODES)}")
        data["linker"]["mode"] = linker
    for item in overrides:
        if item.split("=", 1)[0].split(".")[0] not in data:
            raise AetrackError(f"--set {item!r}: only linker.* and decode.* settings apply here")
    data = apply_overrides(data, overrides)
    return (from_dict(LinkerConfig, data["linker"], where="linker"),
            from_dict(DecodeConfig, data["decode"], where="decode"))


def parse_classes(text: str | None, names: tuple[str, ...]) -> list[str] | None:
    """``--classes person,car`` -> ``["person", "car"]``, each checked against the model's ``names``."""
    from aetrack.tracker import class_indices

    if text is None:
        return None
    wanted = [c.strip() for c in text.split(",") if c.strip()]
    try:
        class_indices(wanted, names)
    except ValueError as err:
        raise AetrackError(f"--classes: {err}") from None
    return wanted


def build_tracker(
    *, weights: Path | None, use_model: bool, device: str, frame_rate: float, linker: str | None,
    overrides: list[str], classes: str | None = None, backend: str = "torch", threads: int | None = None,
):
    """The tracker the options ask for: embedded or given weights on ``backend``, or a
    model-free linker (class person); ``classes`` = ``--classes`` (comma-separated names, None = all)."""
    from aetrack.backend import check_backend, load_detector
    from aetrack.tracker import Tracker

    check_backend(backend, device=device)
    if not use_model:
        lcfg, _ = tracker_settings(base_linker=LinkerConfig(), base_decode=DecodeConfig(), linker=linker,
                                   overrides=overrides)
        return Tracker.for_detections(linker_cfg=lcfg, frame_rate=frame_rate,
                                      classes=parse_classes(classes, ("person",)))
    loaded = load_detector(weights, backend=backend, threads=threads, device=device)
    lcfg, dcfg = tracker_settings(base_linker=loaded.linker, base_decode=loaded.decode, linker=linker,
                                  overrides=overrides)
    return Tracker(model=loaded.model, model_cfg=loaded.model_cfg, decode_cfg=dcfg, linker_cfg=lcfg,
                   frame_rate=frame_rate, device=device, classes=parse_classes(classes, loaded.model_cfg.names))


def track(
    source: Annotated[str, typer.Argument(help="Video file, image folder, MOT sequence folder or camera index.")],
    out: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("track_out"),
    weights: Annotated[Optional[Path], typer.Option(
        help="Checkpoint from `aetrack train`, an .onnx file from `aetrack export`, or embedded weights by "
             "name: default (real people and vehicles; what no --weights means) or synthetic.",
        show_default=False)] = None,
    dets: Annotated[
        Optional[Path],
        typer.Option(help="Link these MOT detections instead of detecting (tags from the model only with --weights)."),
    ] = None,
    frames: Annotated[Optional[str], typer.Option(help="Only frames A:B (inclusive, 1-based).")] = None,
    save_video: Annotated[bool, typer.Option("--save-video", help="Also write an annotated mp4.")] = False,
    linker: Annotated[Optional[str], typer.Option(help=f"Linker mode: {', '.join(MODES)}.")] = None,
    set_: Annotated[
        Optional[list[str]], typer.Option("--set", help="Override a setting, e.g. linker.high_score=0.6.")
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.")] = "cpu",
    threads: Annotated[Optional[int], typer.Option(help="CPU threads for the model.")] = None,
    backend: Annotated[str, typer.Option(help=BACKEND_HELP)] = "torch",
    fps: Annotated[Optional[float], typer.Option(help="Frame rate if the source does not say.")] = None,
    evaluate: Annotated[bool, typer.Option(help="Evaluate against gt/gt.txt of a MOT sequence folder.")] = True,
    classes: Annotated[
        Optional[str],
        typer.Option(help="Track only these classes, comma-separated, e.g. person,car (default: all). "
                          "--dets detections are all person."),
    ] = None,
    allow_truncated: Annotated[bool, typer.Option(
        "--allow-truncated", help="Keep the frames read from a video that ends before its listed frame count.")] = False,
) -> None:
    """Track objects and write MOT text, JSON lines and optionally an annotated video."""
    from aetrack.backend import check_backend, is_onnx_file
    from aetrack.pipeline import track_source
    from cli.common import set_threads

    backend = "onnxruntime" if is_onnx_file(weights) else backend
    check_backend(backend, device=device)
    threads = set_threads(threads, backend=backend)
    frame_range = parse_frame_range(frames)
    use_model = dets is None or weights is not None
    if not use_model and not save_video and is_mot_sequence(source):
        # Linking given detections needs no pixels; MOT folders often have images for few frames.
        seq = MotSequence.open(source)
        src = FrameNumbers(name=seq.name, fps=seq.info.frame_rate, length=seq.info.length, frames=frame_range)
    else:
        src = open_source(source, frames=frame_range, allow_truncated=allow_truncated)
    if fps is not None:
        src.fps = fps
    det_table = read_mot_file(dets, kind="det") if dets is not None else None
    tracker = build_tracker(weights=weights, use_model=use_model, device=device,
                            frame_rate=src.fps, linker=linker, overrides=list(set_ or []), classes=classes,
                            backend=backend, threads=threads)
    stats = track_source(source=src, tracker=tracker, out_dir=out, dets=det_table, save_video=save_video)
    med = stats.median_ms(skip=min(5, max(0, stats.frames - 1)))
    typer.echo(f"{stats.name}: {stats.frames} frames, {stats.rows} boxes, {stats.fps:.1f} frames/s end to end "
               f"({', '.join(f'{k} {v:.1f} ms' for k, v in med.items())})")
    if src.truncated is not None:
        typer.secho(f"warning: {source}: the video ends after frame {src.truncated[0]} of {src.truncated[1]} "
                    f"(truncated or corrupt); kept the {stats.frames} frames read", err=True, fg=typer.colors.YELLOW)
    for p in stats.outputs:
        typer.echo(f"wrote {p}")
    if evaluate and isinstance(source, str) and is_mot_sequence(source):
        seq = MotSequence.open(source)
        if seq.gt_path.is_file():
            from aetrack.eval import evaluate_tables
            from cli.common import print_metrics

            results = read_mot_file(out / f"{stats.name}.txt", kind="results")
            report = evaluate_tables(gt={seq.name: seq.gt()}, results={seq.name: results}, frames=frame_range,
                                     num_frames={seq.name: seq.info.length})
            print_metrics(report)
