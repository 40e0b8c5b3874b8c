"""Tag separation: ROC-AUC of tag distance for "same object" versus "different objects" pairs.

The linker joins detections by tag distance, so a good embedding puts any two appearances of
one object (in different frames) closer than any two different objects. Treat the Euclidean
tag distance as a score and count pairs:

* positive: same identity, different frames;
* negative: different identities (same frame or different frames).

AUC = P(d_pos < d_neg) + 0.5 * P(d_pos == d_neg) over all positive/negative pairs (the
Mann-Whitney statistic): 1.0 means a single distance threshold separates every pair, 0.5 is
chance. ``max_gap`` restricts both kinds of pairs to frames at most that far apart, which is
the range the linker actually compares over (tags may drift slowly over a long sequence).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata


def tag_pair_distances(
    *, tags: np.ndarray, ids: np.ndarray, frames: np.ndarray, max_gap: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Distances of positive and negative pairs among the tags of one sequence.

    Args:
        tags: ``(n, D)`` tag vectors, one per (frame, object) appearance.
        ids: ``(n,)`` identity of each appearance.
        frames: ``(n,)`` frame number of each appearance.
        max_gap: only pairs with ``|frame_i - frame_j| <= max_gap`` (``None``: all pairs).

    Returns:
        ``(pos, neg)``: 1-D arrays of Euclidean distances (tag units).
    """
    t = np.asarray(tags, dtype=np.float64)
    t = t.reshape(len(t), -1)
    ids = np.asarray(ids).reshape(-1)
    frames = np.asarray(frames).reshape(-1)
    if not (len(t) == len(ids) == len(frames)):
        raise ValueError("tags, ids and frames need the same length")
    i, j = np.triu_indices(len(t), k=1)  # every unordered pair once
    if max_gap is not None:
        near = np.abs(frames[i] - frames[j]) <= max_gap
        i, j = i[near], j[near]
    dist = np.linalg.norm(t[i] - t[j], axis=1)
    same = ids[i] == ids[j]
    pos = same & (frames[i] != frames[j])
    return dist[pos], dist[~same]


def roc_auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """P(a positive distance < a negative one), ties counting half; ``nan`` if either is empty."""
    pos = np.asarray(pos, dtype=np.float64).reshape(-1)
    neg = np.asarray(neg, dtype=np.float64).reshape(-1)
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    # Rank all distances descending: a positive "wins" against every negative with a larger distance.
    ranks = rankdata(-np.concatenate([pos, neg]))  # average ranks handle ties (the 0.5 term)
    rank_sum = ranks[: len(pos)].sum()
    wins = rank_sum - len(pos) * (len(pos) + 1) / 2
    return float(wins / (len(pos) * len(neg)))


def tag_auc(
    sequences: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]], *, max_gap: int | None = None
) -> float:
    """ROC-AUC of tag distance pooled over sequences (pairs never cross sequences).

    Args:
        sequences: per sequence, ``(tags (n, D), ids (n,), frames (n,))``.
        max_gap: frame-distance limit for pairs, see :func:`tag_pair_distances`.
    """
    pos, neg = [np.zeros(0)], [np.zeros(0)]
    for tags, ids, frames in sequences:
        p, n = tag_pair_distances(tags=tags, ids=ids, frames=frames, max_gap=max_gap)
        pos.append(p)
        neg.append(n)
    return roc_auc(np.concatenate(pos), np.concatenate(neg))


# -- ROC-AUC against the frame gap ---------------------------------------------------------------
# The linker compares a track's tag, read some time ago, with this frame's detections. Reviving
# a track after an occlusion needs tags that agree over seconds, not over the next frame, so the
# AUC is also measured at fixed gaps: only pairs exactly k frames apart, k = round(gap_s * fps).


@dataclass(frozen=True)
class LabelledTags:
    """Tags of one sequence's detections that matched a ground-truth object.

    ``tags`` (n, D), ``ids`` (n,) ground-truth identity, ``frames`` (n,) frame number,
    ``fps`` the sequence's frame rate (turns gaps in seconds into frames).
    """

    tags: np.ndarray
    ids: np.ndarray
    frames: np.ndarray
    fps: float


def label_detections(
    *, det_boxes: np.ndarray, gt_boxes: np.ndarray, gt_ids: np.ndarray, min_iou: float = 0.5
) -> np.ndarray:
    """(n,) ground-truth id of each detection of one frame, -1 where none matched.

    ``det_boxes`` (n, 4) and ``gt_boxes`` (m, 4) are xyxy pixels; detections and ground-truth
    boxes are paired one to one by Hungarian assignment on IoU, pairs below ``min_iou`` dropped
    (the MOT matching rule).
    """
    from scipy.optimize import linear_sum_assignment

    from aetrack.linker.matching import iou_matrix

    out = np.full(len(det_boxes), -1, dtype=np.int64)
    if len(det_boxes) == 0 or len(gt_boxes) == 0:
        return out
    iou = iou_matrix(det_boxes, gt_boxes)
    r, c = linear_sum_assignment(-iou)
    ok = iou[r, c] >= min_iou
    out[r[ok]] = np.asarray(gt_ids)[c[ok]]
    return out


def gap_pair_distances(seq: LabelledTags, *, gap_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Distances of the pairs exactly ``gap_frames`` (>= 1) apart: same identity (positive)
    and different identities (negative)."""
    if gap_frames < 1:
        raise ValueError(f"gap_frames must be >= 1, got {gap_frames}")
    t = np.asarray(seq.tags, dtype=np.float64).reshape(len(seq.tags), -1)
    ids = np.asarray(seq.ids).reshape(-1)
    frames = np.asarray(seq.frames).reshape(-1)
    by_frame: dict[int, np.ndarray] = {}
    for f in np.unique(frames):
        by_frame[int(f)] = np.flatnonzero(frames == f)
    pos, neg = [np.zeros(0)], [np.zeros(0)]
    for f, a in by_frame.items():
        b = by_frame.get(f + gap_frames)
        if b is None:
            continue
        d = np.linalg.norm(t[a][:, None, :] - t[b][None, :, :], axis=2)       # (|a|, |b|)
        same = ids[a][:, None] == ids[b][None, :]
        pos.append(d[same])
        neg.append(d[~same])
    return np.concatenate(pos), np.concatenate(neg)


def tag_auc_at_gap(sequences: Sequence[LabelledTags], *, gap_s: float) -> dict[str, float]:
    """ROC-AUC of tag distance over pairs ``gap_s`` seconds apart (per sequence
    ``max(1, round(gap_s * fps))`` frames), pooled over sequences; also the pair counts."""
    pos, neg = [np.zeros(0)], [np.zeros(0)]
    for seq in sequences:
        p, n = gap_pair_distances(seq, gap_frames=max(1, round(gap_s * seq.fps)))
        pos.append(p)
        neg.append(n)
    p, n = np.concatenate(pos), np.concatenate(neg)
    return {"gap_s": float(gap_s), "auc": roc_auc(p, n), "positives": int(len(p)), "negatives": int(len(n))}


# -- A hand-made reference: colour histograms ---------------------------------------------------
# What plain appearance separates without any learning, on the same detection pairs as the tags:
# learned tags that do not beat it leave identity information on the table.

#: Hue, saturation and value bins of :func:`colour_histograms` (OpenCV's 8-bit HSV ranges).
HIST_BINS = (8, 4, 4)


def colour_histograms(image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(n, 2 * 128) float32: for each xyxy pixel box of a BGR uint8 image, the HSV histogram
    (:data:`HIST_BINS`) of its upper and of its lower half (clothing above and below the waist),
    each normalised to sum 1 and square-rooted, so that the Euclidean distance of two rows is the
    Hellinger distance of their histograms (times sqrt 2, summed over the halves)."""
    import cv2

    bins = int(np.prod(HIST_BINS))
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    out = np.zeros((len(b), 2 * bins), dtype=np.float32)
    if not len(b):
        return out
    h, w = image.shape[:2]
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
    for i, (x1, y1, x2, y2) in enumerate(b):
        xa, xb = int(np.clip(np.floor(x1), 0, w)), int(np.clip(np.ceil(x2), 0, w))
        ya, yb = int(np.clip(np.floor(y1), 0, h)), int(np.clip(np.ceil(y2), 0, h))
        ym = (ya + yb) // 2
        for k, (top, bottom) in enumerate(((ya, ym), (ym, yb))):
            patch = hsv[top:bottom, xa:xb]
            if patch.size == 0:
                continue
            hist = cv2.calcHist([patch], [0, 1, 2], None, list(HIST_BINS), [0, 180, 0, 256, 0, 256]).reshape(-1)
            out[i, k * bins:(k + 1) * bins] = np.sqrt(hist / max(hist.sum(), 1.0))
    return out
