"""Teacher pseudo-labels: real frames without annotations become a MOT-layout training sequence.

    aetrack pseudolabel ../shared/data/real-unlabelled/car-detection.mp4 pseudo/
    aetrack pseudolabel ../shared/data/MOT17-train/MOT17-04-FRCNN pseudo/ --classes person

The teacher is a tracker's detector (:meth:`aetrack.tracker.Tracker.detect`; by default the
embedded default model, whose detection branch is YOLOX-nano's COCO head, its input following
the frame size); it labels every frame with the classes it reports. Boxes scoring
at least ``target_score`` are targets, boxes between ``ignore_score`` and ``target_score`` are
ignore regions (flag 0: neither a target nor background for the heatmap loss). Identities come
from conservative pseudo-tracks: the confident boxes are linked by our own linker (motion mode,
one class at a time) and a link is kept only where it is unambiguous:

- the box does not overlap another confident box of its class by IoU > ``crowd_iou`` (two
  people crossing: the linker may swap them), and
- it overlaps its track's previous box by IoU >= ``link_iou`` (no jump across a gap).

An ambiguous box becomes an ignore region, and its track continues under a new id, so that
one identity never spans a doubtful link (the tag loss would pull two people together).

Output: ``OUT/<name>/`` with ``seqinfo.ini`` (``classes=person,bicycle,...``, the teacher's
reported classes, names the class column), ``img1/000001.jpg ...`` and ``gt/gt.txt`` in the
MOT16 column set ``frame,id,x,y,w,h,flag,class,visibility`` (class 1-based in ``classes``,
visibility 1), and
``det/det.txt``: every person box the teacher kept (score >= ``ignore_score``) with its score, as
MOT public detections (``frame,-1,x,y,w,h,score,-1,-1,-1``), so that the teacher's boxes can be
linked with ``aetrack track SEQ --dets`` against a sequence's real ground truth.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from aetrack.data.sources import FrameSource
from aetrack.decode import cross_class_duplicates
from aetrack.errors import AetrackError
from aetrack.io.atomic import atomic_write
from aetrack.linker import Linker, LinkerConfig
from aetrack.linker.matching import iou_matrix

if TYPE_CHECKING:
    from aetrack.tracker import Tracker


@dataclass(frozen=True)
class PseudoLabelConfig:
    """Thresholds of pseudo-labelling (teacher scores are objectness x class probability)."""

    # Teacher score at or above which a box is a training target.
    target_score: float = 0.5
    # Teacher score at or above which (and below target_score) a box is an ignore region:
    # the teacher is unsure, so the student is neither rewarded nor punished there.
    ignore_score: float = 0.2
    # A box overlapping another confident box of its class by more than this IoU has no
    # trusted identity (crossings, groups).
    crowd_iou: float = 0.3
    # A link is trusted only if the box overlaps its track's previous box by at least this IoU.
    link_iou: float = 0.3
    # The teacher's NMS is per class, so one vehicle often comes back as a car, a truck and a
    # bus: a box overlapping a higher-scoring box of another class by this IoU or more is
    # the same object and is dropped (decode.cross_class_duplicates).
    same_object_iou: float = 0.7
    # Label every n-th frame of the source (1 = all); the sequence's frame rate divides by n.
    every: int = 1
    # JPEG quality of the written frames.
    jpeg_quality: int = 92

    def __post_init__(self) -> None:
        if not 0.0 < self.ignore_score <= self.target_score <= 1.0:
            raise ValueError(f"need 0 < ignore_score <= target_score <= 1, got {self.ignore_score}, "
                             f"{self.target_score}")
        for name in ("crowd_iou", "link_iou", "same_object_iou"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.every < 1 or not 1 <= self.jpeg_quality <= 100:
            raise ValueError("every must be >= 1 and jpeg_quality in 1..100")


@dataclass
class PseudoLabelStats:
    """What one call wrote."""

    out_dir: Path
    frames: int = 0
    targets: int = 0
    ignored: int = 0
    ambiguous: int = 0
    tracks: int = 0


def link_pseudo_tracks(
    frames: list[tuple[np.ndarray, np.ndarray]], *, cfg: PseudoLabelConfig, frame_rate: float
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Identities for confident boxes of ONE class over consecutive frames.

    Args:
        frames: per frame ``(boxes (n, 4) xyxy pixels, scores (n,))``.

    Returns per frame ``(ids (n,) int64 >= 1, trusted (n,) bool)``: ids are unique over the
    whole sequence; a box whose link is ambiguous (see the module docstring) is not trusted,
    and the ids of its track before and after it differ.
    """
    linker = Linker(cfg=LinkerConfig(mode="motion", high_score=cfg.target_score, low_score=cfg.target_score,
                                     new_track_score=cfg.target_score, min_hits=1, output_box="detection",
                                     report_lost_s=0.0), frame_rate=frame_rate)
    out: list[tuple[np.ndarray, np.ndarray]] = []
    segment: dict[int, int] = {}  # linker track id -> current pseudo id
    last_box: dict[int, np.ndarray] = {}  # linker track id -> box of its last frame
    next_id = 1
    for boxes, scores in frames:
        n = len(boxes)
        ids = np.zeros(n, np.int64)
        trusted = np.ones(n, bool)
        if n == 0:
            linker.update(boxes=np.zeros((0, 4)), scores=np.zeros(0))
            out.append((ids, trusted))
            continue
        tracks = linker.update(boxes=boxes, scores=scores)
        # The linker reports matched tracks with the detection's own box (output_box detection).
        track_boxes = np.array([t.box for t in tracks]).reshape(-1, 4)
        match = iou_matrix(boxes, track_boxes) if len(tracks) else np.zeros((n, 0))
        crowd = iou_matrix(boxes, boxes)
        np.fill_diagonal(crowd, 0.0)
        trusted &= crowd.max(axis=1, initial=0.0) <= cfg.crowd_iou
        for i in range(n):
            j = int(np.argmax(match[i])) if match.shape[1] else -1
            if j < 0 or match[i, j] < 0.999:  # not reported this frame (tentative): its own id
                ids[i], next_id = next_id, next_id + 1
                continue
            tid = tracks[j].track_id
            prev = last_box.get(tid)
            if prev is not None and iou_matrix(prev[None], boxes[i][None])[0, 0] < cfg.link_iou:
                trusted[i] = False
            if tid not in segment or not trusted[i]:
                segment[tid], next_id = next_id, next_id + 1  # a new identity from here on
            ids[i] = segment[tid]
            last_box[tid] = boxes[i]
            if not trusted[i]:
                segment.pop(tid)  # the next trusted box of this track starts yet another id
        out.append((ids, trusted))
    return out


def pseudolabel(source: FrameSource, out_root: str | Path, *, teacher: Tracker, cfg: PseudoLabelConfig,
                progress: bool = True) -> PseudoLabelStats:
    """Label ``source`` with ``teacher``'s detector (:meth:`aetrack.tracker.Tracker.detect`; its
    decode score floor must be at most ``cfg.ignore_score``) into ``out_root/<source.name>/``;
    see the module docstring for the layout."""
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    out = Path(out_root) / source.name
    img_dir = out / "img1"
    img_dir.mkdir(parents=True, exist_ok=True)
    for stale in (out / "seqinfo.ini", out / "gt" / "gt.txt", out / "det" / "det.txt"):
        stale.unlink(missing_ok=True)  # written last: until then the folder is not a sequence
    # The classes the teacher reports, in its own order: gt.txt's class column counts in them.
    kept = teacher.reported_classes()
    class_names = tuple(teacher.class_names[i] for i in kept)
    to_class = {int(c): i for i, c in enumerate(kept)}
    size: tuple[int, int] | None = None
    per_frame: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # boxes, scores, classes (0-based)
    total = source.selected_length()
    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), TimeRemainingColumn(), disable=not progress)
    with bar:
        task = bar.add_task(f"pseudolabel {source.name}", total=total)
        for k, (_, frame) in enumerate(source):
            bar.advance(task)
            if k % cfg.every:
                continue
            h, w = frame.shape[:2]
            if size is None:
                size = (w, h)
            elif size != (w, h):
                raise AetrackError(f"{source.name}: frame size changes from {size[0]}x{size[1]} to {w}x{h}")
            det = teacher.detect(frame)
            keep = (det.scores >= cfg.ignore_score) & np.isin(det.classes, kept)
            keep &= ~cross_class_duplicates(det.boxes, det.scores, det.classes, iou=cfg.same_object_iou)
            cls = np.array([to_class[int(c)] for c in det.classes[keep]], dtype=np.int64)
            per_frame.append((det.boxes[keep].astype(np.float64), det.scores[keep].astype(np.float64), cls))
            ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, cfg.jpeg_quality])
            if not ok:
                raise AetrackError(f"{source.name}: cannot encode frame {k + 1} as JPEG")
            # Frames first, gt.txt and seqinfo.ini last (atomically): a folder without them
            # is an interrupted run, which the next run overwrites.
            (img_dir / f"{len(per_frame):06d}.jpg").write_bytes(buf.tobytes())
    if size is None:
        raise AetrackError(f"{source.name}: no frames read")
    stats = PseudoLabelStats(out_dir=out, frames=len(per_frame))
    fps = source.fps / cfg.every
    # (frame, track id, box, flag, class); an ignore region's id is 0 until the track ids are known.
    rows: list[tuple[int, int, np.ndarray, int, int]] = []
    offset = 0  # ids of each class follow those of the previous one
    for c in range(len(class_names)):
        confident = [(b[(cl == c) & (s >= cfg.target_score)], s[(cl == c) & (s >= cfg.target_score)])
                     for b, s, cl in per_frame]
        links = link_pseudo_tracks(confident, cfg=cfg, frame_rate=fps)
        used = 0
        for f, ((b, s, cl), (boxes, _), (ids, trusted)) in enumerate(zip(per_frame, confident, links), start=1):
            rows.extend((f, int(i) + offset if t else 0, box, int(t), c) for box, i, t in zip(boxes, ids, trusted))
            unsure = b[(cl == c) & (s < cfg.target_score)]
            rows.extend((f, 0, box, 0, c) for box in unsure)
            stats.targets += int(trusted.sum())
            stats.ambiguous += int((~trusted).sum())
            stats.ignored += len(unsure) + int((~trusted).sum())
            used = max(used, int(ids.max(initial=0)))
        offset += used
    stats.tracks = offset
    # Ignore rows need an id for the MOT layout: each its own, above every track id.
    ignore_ids = itertools.count(offset + 1)
    rows = [(f, i or next(ignore_ids), box, flag, c) for f, i, box, flag, c in rows]
    rows.sort(key=lambda r: r[:2])
    (out / "det").mkdir(exist_ok=True)
    with atomic_write(out / "det" / "det.txt") as f:
        person = class_names.index("person") if "person" in class_names else -1
        f.writelines(_det_row(k, box, score) for k, (b, s, cl) in enumerate(per_frame, start=1)
                     for box, score in zip(b[cl == person], s[cl == person]))
    with atomic_write(out / "gt" / "gt.txt") as f:
        f.writelines(_row(*r) for r in rows)
    with atomic_write(out / "seqinfo.ini") as f:
        f.write(f"[Sequence]\nname={source.name}\nimDir=img1\nframeRate={fps:g}\nseqLength={len(per_frame)}\n"
                f"imWidth={size[0]}\nimHeight={size[1]}\nimExt=.jpg\nclasses={','.join(class_names)}\n")
    return stats


def _xywh(box: np.ndarray) -> str:
    """An xyxy pixel box as MOT text columns ``x,y,w,h``."""
    x1, y1, x2, y2 = (float(v) for v in box)
    return f"{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f}"


def _det_row(frame: int, box: np.ndarray, score: float) -> str:
    return f"{frame},-1,{_xywh(box)},{score:.4f},-1,-1,-1\n"


def _row(frame: int, track_id: int, box: np.ndarray, flag: int, cls: int) -> str:
    return f"{frame},{track_id},{_xywh(box)},{flag},{cls + 1},1\n"
