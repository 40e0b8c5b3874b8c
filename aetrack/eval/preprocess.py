"""The MOTChallenge devkit's preprocessing, done once per sequence and shared by all metrics.

What the official evaluator (TrackEval's ``MotChallenge2DBox``) does before any metric sees a
box, reproduced here with the same numerical tests:

* **Similarity**: IoU of every gt box with every tracker box in a frame (boxes ``x, y, w, h``
  in pixels), computed exactly as TrackEval does (degenerate boxes give IoU 0).
* **MOT16/17/20**: in every frame, tracker boxes are matched to *all* gt boxes (any class, any
  flag) by Hungarian assignment maximising summed IoU over pairs with IoU >= 0.5; a tracker box
  matched to a distractor-class gt box (2 person on vehicle, 7 static person, 8 distractor,
  12 reflection; MOT20 adds 6 non-MOT vehicle) is dropped. Then only gt rows of class 1
  (pedestrian) with a non-zero consider flag are kept.
* **MOT15**: no distractor matching (the files have no classes); gt rows with a zero consider
  flag are still removed, as TrackEval and motmetrics' MOTChallenge app both do.
* **Tracker classes** (every benchmark): only pedestrian rows are evaluated, tracker rows whose
  class column (8) is 1 or not a class (-1, 0, no column). TrackEval refuses a results file with
  any class above 1 ("Evaluation is only valid for pedestrian class"); aetrack's multi-class
  results (person = 1, car = 3, ...) are evaluated on their person rows instead, so a car track
  is neither a false positive nor a match against pedestrian ground truth.

The result, :class:`PreparedSequence`, holds per-frame id arrays and IoU matrices; the CLEAR /
identity metrics (motmetrics) and HOTA (trackeval) are computed from the same object.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from aetrack.data.mot import FrameRange, MotTable
from aetrack.errors import AetrackError

BENCHMARKS = ("MOT15", "MOT16", "MOT17", "MOT20")

#: IoU a tracker box needs with a gt box to count as a match (devkit: 0.5, inclusive).
IOU_THRESHOLD = 0.5

#: TrackEval compares with a float-epsilon tolerance: ``iou >= 0.5 - eps`` is a match.
_EPS = float(np.finfo(float).eps)

#: gt class of the only evaluated category.
PEDESTRIAN_CLASS = 1

#: Classes a tracker box may cover without penalty: its box is removed before evaluation.
DISTRACTOR_CLASSES: dict[str, frozenset[int]] = {
    "MOT16": frozenset({2, 7, 8, 12}),
    "MOT17": frozenset({2, 7, 8, 12}),
    "MOT20": frozenset({2, 6, 7, 8, 12}),
}

#: gt classes the devkit accepts (1 pedestrian ... 13 crowd); others are a data error.
VALID_CLASSES = frozenset(range(1, 14))


def parse_benchmark(name: str | None) -> str | None:
    """Normalise a benchmark name (``"mot17"`` -> ``"MOT17"``); ``None`` means pick from the gt."""
    if name is None:
        return None
    norm = str(name).strip().upper()
    if norm not in BENCHMARKS:
        raise AetrackError(f"unknown benchmark {name!r}: use one of {', '.join(BENCHMARKS)}")
    return norm


def pick_benchmark(gt: MotTable, *, name: str = "") -> str:
    """The evaluation rules for a gt table: 9-column gt -> MOT17 (MOT20 if ``name`` says so), else MOT15."""
    if gt.fmt != "mot16":
        return "MOT15"
    return "MOT20" if name.upper().startswith("MOT20") else "MOT17"


def box_iou_xywh(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU between boxes ``a`` (N, 4) and ``b`` (M, 4), both ``x, y, w, h`` in pixels -> (N, M).

    Same arithmetic as TrackEval's ``_calculate_box_ious``: boxes of zero area and pairs with
    zero union have IoU 0.
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    a1, a2 = a[:, :2], a[:, :2] + a[:, 2:]  # (N, 2) top-left, bottom-right
    b1, b2 = b[:, :2], b[:, :2] + b[:, 2:]  # (M, 2)
    lo = np.maximum(a1[:, None, :], b1[None, :, :])  # (N, M, 2)
    hi = np.minimum(a2[:, None, :], b2[None, :, :])
    wh = np.maximum(hi - lo, 0.0)
    inter = wh[..., 0] * wh[..., 1]  # (N, M)
    area_a = a[:, 2] * a[:, 3]
    area_b = b[:, 2] * b[:, 3]
    union = area_a[:, None] + area_b[None, :] - inter
    inter[area_a <= _EPS, :] = 0.0
    inter[:, area_b <= _EPS] = 0.0
    inter[union <= _EPS] = 0.0
    union[union <= _EPS] = 1.0
    return inter / union


def evaluated_gt_rows(gt: MotTable, *, by_class: bool) -> np.ndarray:
    """Mask of the gt rows the metrics see: consider flag != 0 (TrackEval casts the flag to
    int) and, when ``by_class`` (MOT16/17/20 rules), class 1 (pedestrian)."""
    keep = gt.conf.astype(np.int64) != 0
    if by_class:
        keep &= gt.cls == PEDESTRIAN_CLASS
    return keep


def evaluated_tracker_rows(results: MotTable) -> np.ndarray:
    """Mask of the tracker rows the metrics see: pedestrian (class 1) or no class (<= 0, e.g.
    -1); the classes TrackEval accepts in a results file."""
    return results.cls <= PEDESTRIAN_CLASS


def is_match(iou: np.ndarray) -> np.ndarray:
    """Boolean mask of IoU values that count as a match (``>= IOU_THRESHOLD`` with TrackEval's eps)."""
    return iou >= IOU_THRESHOLD - _EPS


@dataclass(frozen=True)
class PreparedSequence:
    """One sequence after the devkit's preprocessing, frame by frame.

    ``frames[k]`` is the 1-based frame number of timestep ``k``; ``gt_ids[k]`` (G_k,) and
    ``tracker_ids[k]`` (H_k,) are the original int64 ids present there and ``iou[k]`` the
    (G_k, H_k) IoU matrix between them. ``removed`` counts tracker boxes dropped because they
    matched a distractor.
    """

    name: str
    benchmark: str
    frames: np.ndarray  # (T,) int64
    gt_ids: tuple[np.ndarray, ...]  # T x (G_k,) int64
    tracker_ids: tuple[np.ndarray, ...]  # T x (H_k,) int64
    iou: tuple[np.ndarray, ...]  # T x (G_k, H_k) float64
    removed: int = 0

    @property
    def num_gt_dets(self) -> int:
        return int(sum(len(g) for g in self.gt_ids))

    @property
    def num_tracker_dets(self) -> int:
        return int(sum(len(h) for h in self.tracker_ids))


def _frame_slices(frames: np.ndarray, timesteps: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sort rows by frame; return (order, start, end) so rows of ``timesteps[k]`` are ``order[start[k]:end[k]]``."""
    order = np.argsort(frames, kind="stable")
    sorted_frames = frames[order]
    start = np.searchsorted(sorted_frames, timesteps, side="left")
    end = np.searchsorted(sorted_frames, timesteps, side="right")
    return order, start, end


def _first_duplicate(frames: np.ndarray, ids: np.ndarray) -> tuple[int, int] | None:
    """(frame, id) of the first id repeated within a frame, or ``None``."""
    if len(ids) < 2:
        return None
    key = np.stack([frames, ids], axis=1)
    uniq, counts = np.unique(key, axis=0, return_counts=True)
    if (counts > 1).any():
        f, i = uniq[counts > 1][0]
        return int(f), int(i)
    return None


def prepare_sequence(
    *,
    gt: MotTable,
    results: MotTable,
    name: str,
    benchmark: str | None = None,
    frames: FrameRange | None = None,
    num_frames: int | None = None,
    gt_label: str | None = None,
    results_label: str | None = None,
) -> PreparedSequence:
    """Apply the devkit's preprocessing to one sequence.

    ``gt`` and ``results`` are whole-sequence tables (boxes in pixels); ``frames`` restricts both
    to an inclusive 1-based range; ``num_frames`` (the seqinfo length) rejects rows beyond the
    sequence as the devkit does. ``benchmark`` ``None`` picks the rules from the gt columns.
    ``gt_label`` / ``results_label`` name the inputs in error messages (e.g. their file paths).
    """
    rules = parse_benchmark(benchmark) or pick_benchmark(gt, name=name)
    labelled = ((gt_label or f"{name} ground truth", gt), (results_label or f"{name} results", results))
    for label, table in labelled:
        if num_frames is not None and len(table) and int(table.frame.max()) > num_frames:
            raise AetrackError(f"{label}: frame {int(table.frame.max())} is beyond the sequence length {num_frames}")
        dup = _first_duplicate(table.frame, table.ids)
        if dup is not None:
            raise AetrackError(f"{label}: id {dup[1]} appears twice in frame {dup[0]}")
    distractors = DISTRACTOR_CLASSES.get(rules)
    if distractors is not None and len(gt):
        bad = np.setdiff1d(np.unique(gt.cls), np.fromiter(VALID_CLASSES, dtype=np.int64))
        if len(bad):
            raise AetrackError(f"{labelled[0][0]}: class {int(bad[0])} is not a {rules} class (1-13)")

    gt = gt.in_range(frames)
    results = results.in_range(frames)
    results = results.subset(evaluated_tracker_rows(results))
    timesteps = np.union1d(gt.frame, results.frame).astype(np.int64)
    g_order, g_start, g_end = _frame_slices(gt.frame, timesteps)
    h_order, h_start, h_end = _frame_slices(results.frame, timesteps)
    keep_gt = evaluated_gt_rows(gt, by_class=distractors is not None)
    if distractors is not None:
        is_distractor = np.isin(gt.cls, np.fromiter(distractors, dtype=np.int64))
    else:
        is_distractor = np.zeros(len(gt), dtype=bool)

    out_gt: list[np.ndarray] = []
    out_trk: list[np.ndarray] = []
    out_iou: list[np.ndarray] = []
    removed = 0
    for k in range(len(timesteps)):
        gi = g_order[g_start[k]:g_end[k]]  # (G,) rows of this frame
        hi = h_order[h_start[k]:h_end[k]]  # (H,)
        iou = box_iou_xywh(gt.boxes[gi], results.boxes[hi])  # (G, H)
        keep_trk = np.ones(len(hi), dtype=bool)
        dis = is_distractor[gi]
        if dis.any() and len(hi) and is_match(iou[dis]).any():
            scores = np.where(is_match(iou), iou, 0.0)
            rows, cols = linear_sum_assignment(-scores)
            matched = scores[rows, cols] > _EPS
            drop = cols[matched & dis[rows]]
            keep_trk[drop] = False
            removed += len(drop)
        kg = keep_gt[gi]
        out_gt.append(gt.ids[gi[kg]])
        out_trk.append(results.ids[hi[keep_trk]])
        out_iou.append(iou[np.ix_(kg, keep_trk)])
    return PreparedSequence(
        name=name,
        benchmark=rules,
        frames=timesteps,
        gt_ids=tuple(out_gt),
        tracker_ids=tuple(out_trk),
        iou=tuple(out_iou),
        removed=removed,
    )
