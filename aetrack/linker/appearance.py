"""Appearance side of the linker: per-track tag galleries, tag distances, fused costs, margins.

A track keeps two views of its appearance: the moving average of its tags
(``TrackTable.tags``, ``LinkerConfig.tag_momentum``) and a small gallery of the last
``LinkerConfig.tag_gallery_size`` tags it was matched with (ring buffer, arrays here, rows in
step with the track table). The distance of a track to a detection is the smallest Euclidean
distance of the detection's tag to the average or to any gallery entry: an object seen from a
few sides keeps a tag for each, and a tag read while the object was partly covered does not
drag the whole average away.

Cost forms (rows tracks, columns detections; inf = never pair):

* :func:`min_cost` (BoT-SORT): ``min(1 - IoU, tag_cost_scale * d)``, where the tag term only
  counts for pairs whose tag distance is within ``tag_max_distance`` and whose boxes overlap
  enough (``1 - IoU <= tag_proximity``); otherwise the pair costs its IoU distance alone.
* the summed form of the gated tag stage lives in :mod:`aetrack.linker.linker` (tag distance
  plus an overlap term inside the Mahalanobis gate, FairMOT's gating).

:func:`margins` is the tag confidence: for each pair, how much farther the detection's tag is
from the nearest *other* live track than from this one. A tag-only revival (a track lost beyond
the motion horizon, nothing but the tag to go on) is accepted only with a margin, so that a
look-alike does not take over a lost track's id.
"""

from __future__ import annotations

import numpy as np

from aetrack.linker.matching import tag_distance


class TagGallery:
    """The last ``size`` tags of each track, as arrays parallel to a track table's rows.

    ``tags`` (N, size, D) float64, ``count`` (N,) int64 entries stored (at most ``size``),
    ``head`` (N,) int64 the slot the next tag goes to. ``size`` 0: no gallery, every method is
    a no-op and :meth:`distance` returns None.
    """

    def __init__(self, *, size: int) -> None:
        self.size = int(size)
        self.clear()

    def clear(self) -> None:
        self.tags: np.ndarray | None = None
        self.count = np.zeros(0, dtype=np.int64)
        self.head = np.zeros(0, dtype=np.int64)

    def add_rows(self, k: int, dim: int | None) -> None:
        """Append ``k`` empty rows (new tracks)."""
        if self.size == 0 or k == 0:
            return
        if self.tags is None and dim is not None:
            self.tags = np.zeros((len(self.count), self.size, dim))
        if self.tags is not None:
            self.tags = np.concatenate([self.tags, np.zeros((k, self.size, self.tags.shape[2]))])
        self.count = np.concatenate([self.count, np.zeros(k, dtype=np.int64)])
        self.head = np.concatenate([self.head, np.zeros(k, dtype=np.int64)])

    def push(self, rows: np.ndarray, tags: np.ndarray) -> None:
        """Store one tag (K, D) for each of the K distinct ``rows``, overwriting the oldest."""
        if self.size == 0 or rows.shape[0] == 0:
            return
        if self.tags is None:
            self.tags = np.zeros((len(self.count), self.size, tags.shape[1]))
        self.tags[rows, self.head[rows]] = tags
        self.head[rows] = (self.head[rows] + 1) % self.size
        self.count[rows] = np.minimum(self.count[rows] + 1, self.size)

    def keep(self, mask: np.ndarray) -> None:
        if self.size == 0:
            return
        self.count, self.head = self.count[mask], self.head[mask]
        if self.tags is not None:
            self.tags = self.tags[mask]

    def distance(self, rows: np.ndarray, det_tags: np.ndarray) -> np.ndarray | None:
        """(R, C) smallest distance of each detection tag to the stored tags of each row; inf
        for rows with none stored. None without a gallery."""
        if self.size == 0 or self.tags is None:
            return None
        g = self.tags[rows]                                                        # (R, G, D)
        r, s, dim = g.shape
        d = tag_distance(g.reshape(r * s, dim), det_tags).reshape(r, s, -1)        # (R, G, C)
        empty = np.arange(s)[None, :] >= self.count[rows][:, None]                 # (R, G)
        d[empty] = np.inf
        return d.min(axis=1) if s else np.full((r, det_tags.shape[0]), np.inf)


def track_distance(
    avg_tags: np.ndarray, has_tag: np.ndarray, gallery_d: np.ndarray | None, det_tags: np.ndarray
) -> np.ndarray:
    """(R, C) distance of tracks (average tags ``avg_tags`` (R, D), ``has_tag`` (R,)) to the
    detection tags (C, D): the smaller of the average's and the gallery's (``gallery_d``, from
    :meth:`TagGallery.distance`, or None); inf for a track without any tag."""
    d = tag_distance(avg_tags, det_tags)
    d[~has_tag] = np.inf
    if gallery_d is not None:
        d = np.minimum(d, gallery_d)
    return d


def min_cost(
    iou_cost: np.ndarray, tag_d: np.ndarray, *, max_distance: float, proximity: float, scale: float
) -> np.ndarray:
    """BoT-SORT's fused cost: ``min(1 - IoU, scale * tag distance)``, the tag term only where
    the tag distance is at most ``max_distance`` and ``1 - IoU`` at most ``proximity``."""
    tag_term = np.where((tag_d <= max_distance) & (iou_cost <= proximity), scale * tag_d, np.inf)
    return np.minimum(iou_cost, tag_term)


def margins(d_rows: np.ndarray, d_all: np.ndarray, row_in_all: np.ndarray) -> np.ndarray:
    """(R, C) tag confidence: for each pair, the distance of the detection to the nearest live
    track other than this one, minus its distance to this one (inf when there is no other).

    ``d_rows`` (R, C) distances of the candidate tracks, ``d_all`` (N, C) of every live track,
    ``row_in_all`` (R,) the candidates' row indices in ``d_all``.
    """
    n, c = d_all.shape
    if n < 2:
        return np.full(d_rows.shape, np.inf)
    order = np.argsort(d_all, axis=0)                                              # (N, C)
    cols = np.arange(c)
    best, second = d_all[order[0], cols], d_all[order[1], cols]                    # (C,)
    # The nearest other track: the second nearest where this row is the nearest, else the nearest.
    is_best = row_in_all[:, None] == order[0][None, :]                             # (R, C)
    other = np.where(is_best, second[None, :], best[None, :])
    with np.errstate(invalid="ignore"):
        m = other - d_rows
    return np.where(np.isnan(m), -np.inf, m)
