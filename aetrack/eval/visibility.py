"""Recall by ground-truth visibility: how many of the partly hidden people a tracker reports.

MOT16/17/20 ground truth carries each box's visibility (the fraction of the person not
covered by others or by scenery). HOTA and MOTA pool all boxes, so they do not say whether a
tracker's misses are people in plain view or people half behind someone else; this table does.

In every frame, reported boxes are paired with the frame's evaluated gt boxes (class 1 with a
non-zero consider flag, as the devkit keeps) by Hungarian assignment maximising summed IoU over
pairs with IoU >= 0.5, the devkit's per-frame matching test. A gt box counts as found when it is
paired. Boxes are then counted per visibility bin. This per-frame matching ignores identities,
so it measures detection coverage, not tracking.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from aetrack.data.mot import FrameRange, MotTable
from aetrack.eval.preprocess import box_iou_xywh, evaluated_gt_rows, evaluated_tracker_rows, is_match

#: Bin edges; bin i holds visibility in [edge i, edge i+1), the last bin includes 1.0.
VISIBILITY_BINS: tuple[float, ...] = (0.0, 0.1, 0.25, 0.5, 0.75, 1.0)


def _bin_labels(edges: tuple[float, ...]) -> list[str]:
    return [f"{lo:g}-{hi:g}" for lo, hi in zip(edges[:-1], edges[1:])]


def recall_by_visibility(
    *,
    gt: dict[str, MotTable],
    results: dict[str, MotTable],
    frames: FrameRange | Mapping[str, FrameRange | None] | None = None,
    edges: tuple[float, ...] = VISIBILITY_BINS,
) -> dict[str, Any] | None:
    """Found / total gt boxes per visibility bin, pooled over sequences.

    Args:
        gt: gt table per sequence name; only MOT16+ tables (with a visibility column) count.
        results: the tracker's table per sequence name (a missing name counts as no boxes).
        frames: restricts both to ``A:B`` (inclusive), for all sequences or, as a mapping, per
            sequence name.
        edges: increasing bin edges from 0 to 1.

    Returns:
        ``{"bins": [labels], "total": [int], "found": [int], "recall": [float | None]}``
        (recall in percent, None for an empty bin), or None when no gt table has visibility.
    """
    if len(edges) < 2 or edges[0] != 0.0 or edges[-1] != 1.0 or any(b <= a for a, b in zip(edges, edges[1:])):
        raise ValueError(f"visibility bin edges must increase from 0 to 1, got {edges}")
    total = np.zeros(len(edges) - 1, dtype=np.int64)
    found = np.zeros(len(edges) - 1, dtype=np.int64)
    any_vis = False
    for name, table in gt.items():
        if table.fmt != "mot16":
            continue
        any_vis = True
        window = frames.get(name) if isinstance(frames, Mapping) else frames
        g = table.in_range(window)
        g = g.subset(evaluated_gt_rows(g, by_class=True))
        res = results.get(name, MotTable.empty()).in_range(window)
        res = res.subset(evaluated_tracker_rows(res))
        res_rows = res.by_frame()
        # np.digitize with right=False puts v in bin i when edges[i] <= v < edges[i+1]; clip
        # sends 1.0 (and any value past the ends) into the first or last bin.
        bins = np.clip(np.digitize(g.vis, edges) - 1, 0, len(edges) - 2)
        np.add.at(total, bins, 1)
        for f, rows in g.by_frame().items():
            hyp = res_rows.get(f)
            if hyp is None or len(hyp) == 0:
                continue
            iou = box_iou_xywh(g.boxes[rows], res.boxes[hyp])
            score = np.where(is_match(iou), iou, 0.0)
            gi, hi = linear_sum_assignment(-score)
            paired = gi[is_match(iou[gi, hi])]
            np.add.at(found, bins[rows[paired]], 1)
    if not any_vis:
        return None
    return {
        "bins": _bin_labels(edges),
        "total": [int(t) for t in total],
        "found": [int(f) for f in found],
        "recall": [100.0 * f / t if t > 0 else None for f, t in zip(found, total)],
    }
