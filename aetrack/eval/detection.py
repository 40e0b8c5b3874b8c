"""Detection average precision (PASCAL VOC style, all-point interpolation).

Used by training validation: how well the heatmap finds objects, before any linking. Boxes are
``(n, 4)`` xyxy in any one pixel frame (continuous coordinates: a box's area is
``(x2 - x1) * (y2 - y1)``, no ``+1``). Matching follows VOC: detections are visited from the
highest score down (ties keep input order); each takes the ground-truth box of its frame with
the highest IoU; at IoU >= the threshold it is a true positive if that box is still free, a
false positive if it was already taken (a duplicate), and neither if that box is marked
``ignore`` (VOC's "difficult"); below the threshold it is a false positive. AP is the area
under the precision-recall curve after making precision monotone (all-point interpolation,
VOC 2010+).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix ``(n, m)`` between ``(n, 4)`` and ``(m, 4)`` xyxy boxes; empty boxes give 0."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ix1 = np.maximum(a[:, None, 0], b[None, :, 0])  # (n, m)
    iy1 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix2 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def average_precision(
    *,
    det_boxes: Sequence[np.ndarray],
    det_scores: Sequence[np.ndarray],
    gt_boxes: Sequence[np.ndarray],
    gt_ignore: Sequence[np.ndarray] | None = None,
    iou_threshold: float = 0.5,
) -> float:
    """VOC all-point AP of one class over a set of frames.

    Args:
        det_boxes: per frame, ``(n_f, 4)`` xyxy detection boxes.
        det_scores: per frame, ``(n_f,)`` detection scores (higher = more confident).
        gt_boxes: per frame, ``(g_f, 4)`` xyxy ground-truth boxes.
        gt_ignore: per frame, ``(g_f,)`` bool; detections matched to these count neither way.
        iou_threshold: minimum IoU for a match (0.5 for AP50).

    Returns:
        AP in [0, 1]; ``nan`` when there is no (non-ignored) ground truth at all.
    """
    if not (len(det_boxes) == len(det_scores) == len(gt_boxes)):
        raise ValueError("det_boxes, det_scores and gt_boxes need one entry per frame")
    ignore = [np.zeros(len(np.asarray(g).reshape(-1, 4)), bool) for g in gt_boxes] if gt_ignore is None \
        else [np.asarray(m, dtype=bool).reshape(-1) for m in gt_ignore]
    n_gt = sum(int((~m).sum()) for m in ignore)
    if n_gt == 0:
        return float("nan")

    # Flatten detections over frames and visit them in descending score order (stable sort).
    frame_of = np.concatenate([np.full(len(np.asarray(s).reshape(-1)), f) for f, s in enumerate(det_scores)]
                              + [np.zeros(0, np.int64)]).astype(np.int64)
    scores = np.concatenate([np.asarray(s, np.float64).reshape(-1) for s in det_scores] + [np.zeros(0)])
    order = np.argsort(-scores, kind="stable")

    taken = [np.zeros(len(m), bool) for m in ignore]
    ious = [box_iou(np.asarray(det_boxes[f]).reshape(-1, 4), gt_boxes[f]) for f in range(len(gt_boxes))]
    first_det = np.cumsum([0] + [len(np.asarray(s).reshape(-1)) for s in det_scores])
    tp = np.zeros(len(order))
    fp = np.zeros(len(order))
    for rank, k in enumerate(order):
        f = frame_of[k]
        row = ious[f][k - first_det[f]]  # (g_f,) IoU of this detection with the frame's gt
        if row.size == 0 or row.max() < iou_threshold:
            fp[rank] = 1
            continue
        j = int(np.argmax(row))
        if ignore[f][j]:
            continue
        if taken[f][j]:
            fp[rank] = 1
        else:
            taken[f][j] = True
            tp[rank] = 1

    counted = (tp + fp) > 0
    ctp = np.cumsum(tp[counted])
    cfp = np.cumsum(fp[counted])
    recall = ctp / n_gt
    precision = ctp / np.maximum(ctp + cfp, np.finfo(np.float64).eps)
    return _area_under_pr(recall, precision)


def _area_under_pr(recall: np.ndarray, precision: np.ndarray) -> float:
    """All-point interpolated area: precision made non-increasing in recall, summed over recall steps."""
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]  # envelope: best precision at any higher recall
    steps = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1]))


def mean_average_precision(
    *,
    det_boxes: Sequence[np.ndarray],
    det_scores: Sequence[np.ndarray],
    det_classes: Sequence[np.ndarray],
    gt_boxes: Sequence[np.ndarray],
    gt_classes: Sequence[np.ndarray],
    gt_ignore: Sequence[np.ndarray] | None = None,
    iou_threshold: float = 0.5,
) -> float:
    """Mean over classes present in the ground truth of :func:`average_precision` (``nan`` if none)."""
    gt_cls = [np.asarray(c, np.int64).reshape(-1) for c in gt_classes]
    det_cls = [np.asarray(c, np.int64).reshape(-1) for c in det_classes]
    ignore = [np.zeros(len(c), bool) for c in gt_cls] if gt_ignore is None \
        else [np.asarray(m, bool).reshape(-1) for m in gt_ignore]
    present = sorted({int(c) for cs, m in zip(gt_cls, ignore) for c in cs[~m]})
    if not present:
        return float("nan")
    aps = []
    for c in present:
        aps.append(average_precision(
            det_boxes=[np.asarray(b).reshape(-1, 4)[k == c] for b, k in zip(det_boxes, det_cls)],
            det_scores=[np.asarray(s).reshape(-1)[k == c] for s, k in zip(det_scores, det_cls)],
            gt_boxes=[np.asarray(b).reshape(-1, 4)[k == c] for b, k in zip(gt_boxes, gt_cls)],
            gt_ignore=[m[k == c] for m, k in zip(ignore, gt_cls)],
            iou_threshold=iou_threshold,
        ))
    return float(np.mean(aps))
