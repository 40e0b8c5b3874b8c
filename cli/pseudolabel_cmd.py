"""``aetrack pseudolabel SOURCE OUT``: label real frames with the YOLOX-nano teacher for training.

    aetrack pseudolabel ../shared/data/real-unlabelled/car-detection.mp4 data/pseudo
    aetrack pseudolabel ../shared/data/MOT17-train/MOT17-04-FRCNN/img1 data/pseudo --name MOT17-04
    aetrack pseudolabel clip.mp4 data/pseudo --pretrained yolox_nano.onnx --target-score 0.6 --every 2

Writes ``OUT/<name>/`` as a MOT-layout sequence (frames, ``gt/gt.txt``, ``seqinfo.ini``) that a
training config lists under ``data.train``; see :mod:`aetrack.train.pseudolabel`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from aetrack.errors import AetrackError
from cli.common import THREADS_DEFAULT

# Where the pretrained file lies in this project's development layout; users pass their own.
DEFAULT_PRETRAINED = Path("../shared/models/yolox_nano.onnx")


def pseudolabel(
    source: Annotated[str, typer.Argument(help="Video file, image folder or MOT sequence folder.")],
    out: Annotated[Path, typer.Argument(help="Output root: the sequence goes to OUT/<name>/.")],
    pretrained: Annotated[
        Path, typer.Option(help="YOLOX-nano ONNX file (YOLOX release 0.1.1rc0, asset yolox_nano.onnx).")
    ] = DEFAULT_PRETRAINED,
    name: Annotated[Optional[str], typer.Option(help="Sequence name (default: the source's name).")] = None,
    target_score: Annotated[float, typer.Option(help="Teacher score of a training target.")] = 0.5,
    ignore_score: Annotated[float, typer.Option(help="Teacher score of an ignore region (below target).")] = 0.2,
    every: Annotated[int, typer.Option(help="Label every n-th frame.")] = 1,
    frames: Annotated[Optional[str], typer.Option(help="Only frames A:B (inclusive, 1-based; default: all).")] = None,
    tile: Annotated[bool, typer.Option(help="Also run the teacher on tiles of large frames.")] = True,
    threads: Annotated[Optional[int], typer.Option(help=f"CPU threads for the teacher ({THREADS_DEFAULT}).")] = None,
) -> None:
    """Label a video or image folder with the teacher: confident boxes, ignore regions, pseudo-tracks."""
    from aetrack.data.mot import parse_frame_range
    from aetrack.data.sources import open_source
    from aetrack.model.pretrained import load_yolox_nano
    from aetrack.model.teacher import Tiling, YoloxTeacher
    from aetrack.train.pseudolabel import COCO_IDS, PseudoLabelConfig
    from aetrack.train.pseudolabel import pseudolabel as run
    from cli.common import set_threads

    set_threads(threads)
    try:
        cfg = PseudoLabelConfig(target_score=target_score, ignore_score=ignore_score, every=every)
    except ValueError as err:
        raise AetrackError(str(err)) from None
    src = open_source(source, frames=parse_frame_range(frames))
    if name is not None:
        src.name = name
    teacher = YoloxTeacher(model=load_yolox_nano(pretrained), score_threshold=ignore_score, classes=COCO_IDS,
                           tiling=Tiling() if tile else None)
    stats = run(src, out, teacher=teacher, cfg=cfg)
    typer.echo(f"{src.name}: {stats.frames} frames, {stats.targets} target boxes in {stats.tracks} pseudo-tracks, "
               f"{stats.ignored} ignore regions ({stats.ambiguous} of them ambiguous links)")
    typer.echo(f"wrote {stats.out_dir}")
