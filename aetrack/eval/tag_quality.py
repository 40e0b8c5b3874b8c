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
