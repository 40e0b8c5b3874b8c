"""Per-track state of a linker, stored as parallel arrays (row i of each array is one track).

Keeping the tracks as stacked arrays lets the linker predict every Kalman filter, build cost
matrices and update the matched tracks with one numpy call each, instead of a Python loop
per track. Rows stay in order of creation, hence in ascending id order. Removed tracks are
dropped from the arrays, so memory follows the number of live tracks, not the stream length.
"""

from __future__ import annotations

import numpy as np

from aetrack.linker import kalman
from aetrack.linker.appearance import TagGallery
from aetrack.linker.kalman import KalmanNoise

# Track states. "removed" is not stored: a removed track is deleted from the table.
TENTATIVE, CONFIRMED, LOST = 0, 1, 2
STATE_NAMES = ("tentative", "confirmed", "lost")


class TrackTable:
    """The live tracks of one linker.

    Arrays (N = number of live tracks):
        ids (N,) int64, 1-based; state (N,) int8 (TENTATIVE / CONFIRMED / LOST);
        cls (N,) int64 0-based class, fixed at birth (from the track's first detection);
        mean (N, 8) and cov (N, 8, 8) Kalman state (see :mod:`kalman`);
        tags (N, D) float64 tag averages, or None while no frame had tags; has_tag (N,) bool;
        hits (N,) int64 matched frames; start_frame / last_frame (N,) int64 frame of birth and
        of the last match (1-based frame indices of the linker);
        box (N, 4) xyxy pixels and score (N,) of the last matched detection.
    """

    def __init__(self, *, noise: KalmanNoise, gallery_size: int = 0) -> None:
        self.noise = noise
        self.gallery = TagGallery(size=gallery_size)  # the last tags of each track (appearance.py)
        self.clear()

    def clear(self) -> None:
        self.ids = np.zeros(0, dtype=np.int64)
        self.state = np.zeros(0, dtype=np.int8)
        self.cls = np.zeros(0, dtype=np.int64)
        self.mean = np.zeros((0, 8))
        self.cov = np.zeros((0, 8, 8))
        self.tags: np.ndarray | None = None
        self.has_tag = np.zeros(0, dtype=bool)
        self.hits = np.zeros(0, dtype=np.int64)
        self.start_frame = np.zeros(0, dtype=np.int64)
        self.last_frame = np.zeros(0, dtype=np.int64)
        self.box = np.zeros((0, 4))
        self.score = np.zeros(0)
        self.gallery.clear()

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @property
    def tag_dim(self) -> int | None:
        return None if self.tags is None else int(self.tags.shape[1])

    def predict(self) -> None:
        """Advance every filter one frame. A lost track's height velocity is zeroed first
        (ByteTrack), so a hidden object's box does not shrink or grow without evidence."""
        if len(self) == 0:
            return
        self.mean[self.state == LOST, 7] = 0.0
        self.mean, self.cov = kalman.predict(self.mean, self.cov, self.noise)

    def predicted_boxes(self) -> np.ndarray:
        """(N, 4) xyxy pixels of the current Kalman means."""
        return kalman.xyah_to_xyxy(self.mean)

    def add(
        self,
        *,
        ids: np.ndarray,
        boxes: np.ndarray,
        scores: np.ndarray,
        classes: np.ndarray,
        tags: np.ndarray | None,
        frame: int,
        confirmed: bool,
    ) -> None:
        """Append K new tracks: ids (K,), boxes (K, 4) xyxy, scores (K,), classes (K,) int,
        tags (K, D) or None."""
        k = int(ids.shape[0])
        if k == 0:
            return
        mean, cov = kalman.initiate(kalman.xyxy_to_xyah(boxes), self.noise)
        if tags is not None:
            self.ensure_tags(tags.shape[1])
        if self.tags is not None:
            new_tags = np.zeros((k, self.tags.shape[1])) if tags is None else tags
            self.tags = np.concatenate([self.tags, new_tags])
        self.ids = np.concatenate([self.ids, ids.astype(np.int64)])
        self.state = np.concatenate([self.state, np.full(k, CONFIRMED if confirmed else TENTATIVE, dtype=np.int8)])
        self.cls = np.concatenate([self.cls, classes.astype(np.int64)])
        self.mean = np.concatenate([self.mean, mean])
        self.cov = np.concatenate([self.cov, cov])
        self.has_tag = np.concatenate([self.has_tag, np.full(k, tags is not None)])
        self.hits = np.concatenate([self.hits, np.ones(k, dtype=np.int64)])
        self.start_frame = np.concatenate([self.start_frame, np.full(k, frame, dtype=np.int64)])
        self.last_frame = np.concatenate([self.last_frame, np.full(k, frame, dtype=np.int64)])
        self.box = np.concatenate([self.box, boxes])
        self.score = np.concatenate([self.score, scores])
        self.gallery.add_rows(k, None if self.tags is None else self.tags.shape[1])
        if tags is not None:
            self.gallery.push(np.arange(len(self) - k, len(self)), tags)

    def match(
        self,
        *,
        rows: np.ndarray,
        boxes: np.ndarray,
        scores: np.ndarray,
        tags: np.ndarray | None,
        update_tag: np.ndarray,
        frame: int,
        momentum: float,
        min_hits: int,
    ) -> None:
        """Apply K matches: rows (K,) into the table, boxes (K, 4) xyxy, scores (K,), tags
        (K, D) or None, update_tag (K,) bool = whether that detection's tag enters the average."""
        if rows.shape[0] == 0:
            return
        self.mean[rows], self.cov[rows] = kalman.update(
            self.mean[rows], self.cov[rows], kalman.xyxy_to_xyah(boxes), self.noise
        )
        if tags is not None:
            self.ensure_tags(tags.shape[1])
            r = rows[update_tag]
            new = tags[update_tag]
            old = self.tags[r]
            # A track without a tag yet takes the detection's tag as is.
            blended = np.where(self.has_tag[r, None], momentum * old + (1.0 - momentum) * new, new)
            self.tags[r] = blended
            self.has_tag[r] = True
            self.gallery.push(r, new)
        self.hits[rows] += 1
        self.last_frame[rows] = frame
        self.box[rows] = boxes
        self.score[rows] = scores
        state = self.state[rows]
        promote = (state == LOST) | ((state == TENTATIVE) & (self.hits[rows] >= min_hits))
        self.state[rows[promote]] = CONFIRMED

    def keep(self, mask: np.ndarray) -> None:
        """Drop the rows where the (N,) bool ``mask`` is false."""
        if mask.all():
            return
        for name in ("ids", "state", "cls", "mean", "cov", "has_tag", "hits", "start_frame", "last_frame", "box", "score"):
            setattr(self, name, getattr(self, name)[mask])
        if self.tags is not None:
            self.tags = self.tags[mask]
        self.gallery.keep(mask)

    def rescale(self, sx: float, sy: float) -> None:
        """Map every track into a frame scaled by ``sx`` horizontally and ``sy`` vertically:
        x, y, h and their velocities scale with the frame, the aspect w / h by sx / sy, and
        the covariance as ``S cov S`` with S the diagonal of those factors."""
        f = np.array([sx, sy, sx / sy, sy] * 2)
        self.mean = self.mean * f
        self.cov = self.cov * f[:, None] * f[None, :]
        self.box = self.box * np.array([sx, sy, sx, sy])

    def ensure_tags(self, dim: int) -> None:
        """Allocate the (N, D) tag array the first time tags appear (rows get has_tag False)."""
        if self.tags is None:
            self.tags = np.zeros((len(self), dim))
