"""``aetrack pseudolabel SOURCE OUT``: label real frames with the detector as teacher, for training.

    aetrack pseudolabel ../shared/data/real-unlabelled/car-detection.mp4 data/pseudo
    aetrack pseudolabel ../shared/data/MOT17-train/MOT17-04-FRCNN/img1 data/pseudo --name MOT17-04
    aetrack pseudolabel clip.mp4 data/pseudo --target-score 0.6 --every 2 --classes person

The teacher is the embedded default model's detection branch (YOLOX-nano's COCO head) unless
``--weights`` names other weights. Writes ``OUT/<name>/`` as a MOT-layout sequence (frames,
``gt/gt.txt``, ``seqinfo.ini``) that a training config lists under ``data.train``; see
:mod:`aetrack.train.pseudolabel`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from aetrack.errors import AetrackError
from cli.common import BACKEND_HELP, THREADS_DEFAULT, parse_input_size


def pseudolabel(
    source: Annotated[str, typer.Argument(help="Video file, image folder or MOT sequence folder.")],
    out: Annotated[Path, typer.Argument(help="Output root: the sequence goes to OUT/<name>/.")],
    weights: Annotated[Optional[str], typer.Option(
        help="Teacher: a checkpoint path or an embedded name (default: the embedded default model).")] = None,
    pretrained: Annotated[Optional[Path], typer.Option(
        help="A YOLOX-nano ONNX file (YOLOX release 0.1.1rc0, asset yolox_nano.onnx) whose weights replace "
             "the teacher's detection branch; the default model already holds them.", show_default=False)] = None,
    name: Annotated[Optional[str], typer.Option(help="Sequence name (default: the source's name).")] = None,
    target_score: Annotated[float, typer.Option(help="Teacher score of a training target.")] = 0.5,
    ignore_score: Annotated[float, typer.Option(help="Teacher score of an ignore region (below target).")] = 0.2,
    every: Annotated[int, typer.Option(help="Label every n-th frame.")] = 1,
    frames: Annotated[Optional[str], typer.Option(help="Only frames A:B (inclusive, 1-based; default: all).")] = None,
    classes: Annotated[Optional[str], typer.Option(
        help="Classes to label, comma-separated COCO names, or 'all' (default: the teacher's set).")] = None,
    input_size: Annotated[Optional[str], typer.Option(
        help="Network input WxH (multiples of 32; default: follows the frame size).", show_default=False)] = None,
    tile: Annotated[Optional[bool], typer.Option(
        "--tile/--no-tile", hidden=True, help="Retired: the input follows the frame size.")] = None,
    threads: Annotated[Optional[int], typer.Option(help=f"CPU threads for the teacher ({THREADS_DEFAULT}).")] = None,
    backend: Annotated[str, typer.Option(help=BACKEND_HELP)] = "auto",
) -> None:
    """Label a video or image folder with the teacher: confident boxes, ignore regions, pseudo-tracks."""
    import dataclasses

    from aetrack.backend import apply_threads, resolve_backend
    from aetrack.data.mot import parse_frame_range
    from aetrack.data.sources import open_source
    from aetrack.track_job import parse_classes
    from aetrack.train.pseudolabel import PseudoLabelConfig
    from aetrack.train.pseudolabel import pseudolabel as run
    from aetrack.model.weights import resolve_weights
    from aetrack.tracker import Tracker

    if tile is not None:
        typer.echo("note: --tile/--no-tile is retired and ignored: the teacher's input follows the frame size "
                   "(--input-size overrides)", err=True)
    try:
        cfg = PseudoLabelConfig(target_score=target_score, ignore_score=ignore_score, every=every)
    except ValueError as err:
        raise AetrackError(str(err)) from None
    src = open_source(source, frames=parse_frame_range(frames))
    if name is not None:
        src.name = name
    size = parse_input_size(input_size)
    if pretrained is not None:
        backend = "torch"  # the ONNX weights go into the torch model
    engine = resolve_backend(backend, weights=weights)
    model_threads = apply_threads(threads, backend=engine)
    teacher = Tracker.from_checkpoint(resolve_weights(weights), backend=engine, threads=model_threads, input_size=size)
    if pretrained is not None:
        from aetrack.model.pretrained import load_yolox_nano

        if teacher.model_cfg.backbone != "yolox_nano":
            raise AetrackError(f"--pretrained replaces a yolox_nano detection branch; {weights} is a "
                               f"{teacher.model_cfg.backbone} model")
        teacher.model.net.yolox.load_state_dict(load_yolox_nano(pretrained).state_dict())
    wanted = parse_classes(classes, teacher.class_names)
    teacher = Tracker(model=teacher.model, model_cfg=teacher.model_cfg, linker_cfg=teacher.linker.cfg,
                      decode_cfg=dataclasses.replace(teacher.decode_cfg, score_threshold=min(
                          cfg.ignore_score, teacher.decode_cfg.score_threshold)),
                      classes=wanted)
    stats = run(src, out, teacher=teacher, cfg=cfg)
    typer.echo(f"{src.name}: {stats.frames} frames, {stats.targets} target boxes in {stats.tracks} pseudo-tracks, "
               f"{stats.ignored} ignore regions ({stats.ambiguous} of them ambiguous links)")
    typer.echo(f"wrote {stats.out_dir}")
