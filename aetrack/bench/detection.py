"""Detection AP50 of a tracker's detector on labelled frames (``aetrack ap``).

    aetrack ap ../shared/data/MOT17-train                         # the first frames that have images
    aetrack ap ../shared/data/PETS09-S2L1 --frames 398:795 --every 4
    aetrack ap DATA --weights runs/x/last.pt --classes person,car,bicycle --json ap.json

Every frame of each sequence that has an image (``img1/`` or the sequence's video; MOT17-train
here ships only its first frames) is detected with :meth:`aetrack.tracker.Tracker.detect` at
the tracker's own settings, except the score floor and the number of detections
(``--score-threshold`` 0.01 and ``--top-k`` 300 by default: AP integrates over the whole score
ranking). AP is VOC's all-point AP at IoU 0.5 (:func:`aetrack.eval.detection.average_precision`)
of one class's detections against that class's ground truth, over all frames of a sequence and
over all sequences together ("combined").

Ground truth per class (:func:`class_ground_truth`):

- MOT16/17/20 ground truth (a class column, no ``classes=`` in seqinfo): targets are rows of the
  class (person = MOT class 1, bicycle 4, car 3, motorcycle 5) with visibility >=
  ``min_visibility`` (0.3) and, for persons, consider flag 1 (MOT17 flags only pedestrians);
  ignore regions are the class's other rows and, for persons, the person-like classes 2 (on a
  vehicle), 7 (static), 8 (distractor) and 12 (reflection). A detection on an ignore region
  counts neither way.
- MOT15 ground truth (PETS; no class column): every row is a person; flag 0 rows are ignore
  regions.
- Pseudo-labelled sequences (``classes=`` in seqinfo): rows of the named class; flag 0 is ignore.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from aetrack.data.mot import FrameRange, MotSequence, MotTable
from aetrack.errors import AetrackError

# MOTChallenge (MOT16/17/20) gt class ids of the COCO classes they annotate.
MOT_CLASS_IDS = {"person": 1, "car": 3, "bicycle": 4, "motorcycle": 5}
# MOT classes that are people but not pedestrian targets: ignored for the person class.
MOT_PERSON_LIKE = (2, 7, 8, 12)


@dataclass
class ApReport:
    """AP50 per sequence and class, and over all sequences (``combined``); ``nan`` where a class
    has no target. ``targets`` counts the target boxes per class."""

    sequences: dict[str, dict[str, float]] = field(default_factory=dict)
    combined: dict[str, float] = field(default_factory=dict)
    targets: dict[str, int] = field(default_factory=dict)
    frames: int = 0


def _xyxy(t: MotTable) -> np.ndarray:
    b = t.boxes
    return np.c_[b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]].reshape(-1, 4)


def class_ground_truth(seq: MotSequence, gt: MotTable, class_name: str, *,
                       min_visibility: float) -> tuple[MotTable, MotTable] | None:
    """(targets, ignore regions) of ``class_name`` in ``gt`` (module docstring), or None when
    the sequence does not annotate that class."""
    if seq.info.classes:
        if class_name not in seq.info.classes:
            return None
        rows = gt.cls == seq.info.classes.index(class_name) + 1
        return gt.subset(rows & (gt.conf > 0)), gt.subset(rows & (gt.conf <= 0))
    if gt.fmt == "mot15":
        if class_name != "person":
            return None
        return gt.subset(gt.conf > 0), gt.subset(gt.conf <= 0)
    if class_name not in MOT_CLASS_IDS:
        return None
    rows = gt.cls == MOT_CLASS_IDS[class_name]
    target = rows & (gt.vis >= min_visibility) & ((gt.conf > 0) | (class_name != "person"))
    ignore = rows & ~target
    if class_name == "person":
        ignore |= np.isin(gt.cls, MOT_PERSON_LIKE)
    return gt.subset(target), gt.subset(ignore)


def detection_ap(tracker, sequences: Sequence[MotSequence], *, class_names: Sequence[str],
                 frames: FrameRange | None = None, every: int = 1, min_visibility: float = 0.3,
                 progress: bool = True) -> ApReport:
    """AP50 of ``tracker``'s detections (:class:`aetrack.tracker.Tracker`) per sequence and class."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from aetrack.data.sources import open_sequence_source
    from aetrack.eval.detection import average_precision

    unknown = [c for c in class_names if c not in tracker.class_names]
    if unknown:
        raise AetrackError(f"--classes: the model has no class {unknown[0]!r}")
    if every < 1:
        raise AetrackError(f"--every must be >= 1, got {every}")
    report = ApReport()
    pooled: dict[str, tuple[list, list, list, list]] = {c: ([], [], [], []) for c in class_names}
    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                   disable=not progress)
    with bar:
        for seq in sequences:
            gt = seq.gt()
            per_class = {c: class_ground_truth(seq, gt, c, min_visibility=min_visibility) for c in class_names}
            mine: dict[str, tuple[list, list, list, list]] = {c: ([], [], [], []) for c in class_names}
            src = open_sequence_source(seq, frames=frames, allow_truncated=True)
            task = bar.add_task(seq.name, total=None)
            first = frames.first if frames is not None and frames.first else 1
            for frame_no, image in src:
                if (frame_no - first) % every:
                    continue
                det = tracker.detect(image)
                report.frames += 1
                bar.advance(task)
                for c, truth in per_class.items():
                    if truth is None:
                        continue
                    target, ignore = (t.subset(t.frame == frame_no) for t in truth)
                    k = det.classes == tracker.class_names.index(c)
                    for store in (mine[c], pooled[c]):
                        store[0].append(det.boxes[k])
                        store[1].append(det.scores[k])
                        store[2].append(np.concatenate([_xyxy(target), _xyxy(ignore)]))
                        store[3].append(np.r_[np.zeros(len(target), bool), np.ones(len(ignore), bool)])
                    report.targets[c] = report.targets.get(c, 0) + len(target)
            report.sequences[seq.name] = {c: _ap(mine[c], average_precision) for c in class_names}
    report.combined = {c: _ap(pooled[c], average_precision) for c in class_names}
    return report


def _ap(store: tuple[list, list, list, list], average_precision) -> float:
    boxes, scores, gt, ignore = store
    if not boxes:
        return float("nan")
    return average_precision(det_boxes=boxes, det_scores=scores, gt_boxes=gt, gt_ignore=ignore, iou_threshold=0.5)
