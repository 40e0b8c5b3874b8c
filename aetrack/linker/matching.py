"""Cost matrices and linear assignment for the linker (numpy + ``lap``).

Rows are tracks, columns detections. A NaN or infinite cost means "never pair these two":
:func:`assign` replaces it with a cost above the limit before calling ``lap.lapjv``, so the
solver leaves such pairs unmatched. Every function returns arrays of the documented shape
and dtype on empty input too.
"""

from __future__ import annotations

import lap
import numpy as np

# Costs within this fraction of (1 + cost limit) of the limit are left to the solver in
# :func:`assign` (a tie there has two optima); the rest differ from the limit by far more than
# the solver's rounding.
_CLEAR_MARGIN = 1e-9


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 4) and (M, 4) xyxy pixel boxes -> (N, M) intersection over union in [0, 1]."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    # x and y side by side in the last axis: one call for both.
    overlap = np.minimum(a[:, None, 2:], b[None, :, 2:]) - np.maximum(a[:, None, :2], b[None, :, :2])  # (N, M, 2)
    np.maximum(overlap, 0.0, out=overlap)
    inter = overlap[..., 0] * overlap[..., 1]                                      # (N, M)
    size_a = a[:, 2:] - a[:, :2]                                                   # (N, 2) w, h
    size_b = b[:, 2:] - b[:, :2]                                                   # (M, 2)
    union = (size_a[:, 0] * size_a[:, 1])[:, None] + (size_b[:, 0] * size_b[:, 1])[None, :] - inter
    iou = np.zeros(inter.shape)   # 0 where the union is empty (degenerate boxes)
    return np.divide(inter, union, out=iou, where=union > 0)


def tag_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, D) and (M, D) tags -> (N, M) Euclidean distances."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape[0] == 0 or b.shape[0] == 0:
        return np.zeros((a.shape[0], b.shape[0]))
    diff = a[:, None, :] - b[None, :, :]                                           # (N, M, D)
    return np.sqrt(np.einsum("nmd,nmd->nm", diff, diff))


def gate(
    cost: np.ndarray, mahalanobis2: np.ndarray, *, threshold: float, exempt: np.ndarray | None = None
) -> np.ndarray:
    """Copy of ``cost`` with ``inf`` where the squared Mahalanobis distance exceeds
    ``threshold`` (chi-square, 4 dof), except where the (N, M) bool ``exempt`` is true."""
    outside = mahalanobis2 > threshold
    if exempt is not None:
        outside &= ~exempt
    return np.where(outside, np.inf, cost)


def assign(cost: np.ndarray, *, cost_limit: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Minimum-cost one-to-one pairing with every pair's cost at most ``cost_limit``.

    Args:
        cost: (N, M) float; NaN or inf = forbidden pair.
        cost_limit: finite, > 0; pairs above it stay unmatched (``lap.lapjv`` ``cost_limit``).

    Returns:
        matches (K, 2) int64 (row, column), unmatched rows (N - K,) int64, unmatched columns
        (M - K,) int64, each sorted ascending.
    """
    cost = np.asarray(cost, dtype=np.float64)
    n, m = cost.shape
    if n == 0 or m == 0:
        return np.zeros((0, 2), dtype=np.int64), np.arange(n, dtype=np.int64), np.arange(m, dtype=np.int64)
    margin = _CLEAR_MARGIN * (1.0 + cost_limit)
    # Pairs to take: below the limit by more than the margin (NaN, +inf and -inf are not).
    below = (cost < cost_limit - margin) & (cost > -np.inf)                         # (N, M)
    per_row, per_col = below.sum(axis=1), below.sum(axis=0)                         # (N,), (M,) candidates
    if per_row.max() <= 1 and per_col.max() <= 1 and (below | (cost > cost_limit + margin)).all():
        # No track and no detection has two candidates, every other pair is forbidden or above
        # the limit by more than the margin: taking every candidate pair beats every other
        # assignment by more than the margin, so it is lapjv's answer too (the usual case when
        # objects are apart), without lapjv.
        rows, cols = below.nonzero()
        free_rows, free_cols = (per_row == 0).nonzero()[0], (per_col == 0).nonzero()[0]
    else:
        # Any value above the limit is never chosen: leaving both row and column unmatched costs
        # exactly cost_limit in lap's extended matrix. Finite values keep the solver well behaved.
        forbidden = 2.0 * cost_limit + 1.0
        safe = np.where(np.isfinite(cost), np.minimum(cost, forbidden), forbidden)
        row_to_col, _ = lap.lapjv(safe, extend_cost=True, cost_limit=cost_limit, return_cost=False)
        rows = (row_to_col >= 0).nonzero()[0]
        cols = row_to_col[rows].astype(np.int64)
        keep = safe[rows, cols] <= cost_limit
        if not keep.all():
            rows, cols = rows[keep], cols[keep]
        matched_rows = np.zeros(n, dtype=bool)
        matched_rows[rows] = True
        matched_cols = np.zeros(m, dtype=bool)
        matched_cols[cols] = True
        free_rows, free_cols = (~matched_rows).nonzero()[0], (~matched_cols).nonzero()[0]
    matches = np.empty((rows.shape[0], 2), dtype=np.int64)
    matches[:, 0] = rows
    matches[:, 1] = cols
    return matches, free_rows, free_cols
