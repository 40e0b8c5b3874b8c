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
from aetrack.linker.kalman import FrameNoise

# Track states. "removed" is not stored: a removed track is deleted from the table.
TENTATIVE, CONFIRMED, LOST = 0, 1, 2
STATE_NAMES = ("tentative", "confirmed", "lost")


class TrackTable:
    """The live tracks of one linker.

    Arrays (N = number of live tracks):
        ids (N,) int64, 1-based; state (N,) int8 (TENTATIVE / CONFIRMED / LOST);
        cls (N,) int64 0-based class: the majority of its detections' classes (a tie keeps the
        class it had); votes (N, C) int64 how many of its detections had each class;
        mean (N, 8) and cov (N, 8, 8) Kalman state (see :mod:`kalman`);
        tags (N, D) float64 tag averages, or None while no frame had tags; has_tag (N,) bool;
        hits (N,) int64 matched frames; start_frame / last_frame (N,) int64 frame of birth and
        of the last match (1-based frame indices of the linker);
        box (N, 4) xyxy pixels and score (N,) of the last matched detection;
        obs_mean (N, 8) / obs_cov (N, 8, 8) the Kalman state right after the last match (where
        observation-centric re-update restarts after a gap);
        anchor (N, 2) centre (pixels) of the observation ``direction_frames`` matches before
        the last (as far back as the track goes) and direction (N, 2) the unit vector from it
        to the last observation's centre, zero while unknown (OC-SORT's direction consistency).
    """

    def __init__(self, *, noise: FrameNoise, gallery_size: int = 0) -> None:
        self.noise = noise
        self.gallery = TagGallery(size=gallery_size)  # the last tags of each track (appearance.py)
        self.clear()

    def clear(self) -> None:
        self.ids = np.zeros(0, dtype=np.int64)
        self.state = np.zeros(0, dtype=np.int8)
        self.cls = np.zeros(0, dtype=np.int64)
        self.votes = np.zeros((0, 1), dtype=np.int64)
        self.mean = np.zeros((0, 8))
        self.cov = np.zeros((0, 8, 8))
        self.tags: np.ndarray | None = None
        self.has_tag = np.zeros(0, dtype=bool)
        self.hits = np.zeros(0, dtype=np.int64)
        self.start_frame = np.zeros(0, dtype=np.int64)
        self.last_frame = np.zeros(0, dtype=np.int64)
        self.box = np.zeros((0, 4))
        self.score = np.zeros(0)
        self.obs_mean = np.zeros((0, 8))
        self.obs_cov = np.zeros((0, 8, 8))
        self.centres = np.zeros((0, 0, 2))    # (N, K, 2) last K observed centres, newest last
        self.direction = np.zeros((0, 2))
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
        self._ensure_classes(classes)
        if tags is not None:
            self.ensure_tags(tags.shape[1])
        if self.tags is not None:
            new_tags = np.zeros((k, self.tags.shape[1])) if tags is None else tags
            self.tags = np.concatenate([self.tags, new_tags])
        self.ids = np.concatenate([self.ids, ids.astype(np.int64)])
        self.state = np.concatenate([self.state, np.full(k, CONFIRMED if confirmed else TENTATIVE, dtype=np.int8)])
        self.cls = np.concatenate([self.cls, classes.astype(np.int64)])
        votes = np.zeros((k, self.votes.shape[1]), dtype=np.int64)
        votes[np.arange(k), classes] = 1
        self.votes = np.concatenate([self.votes, votes])
        self.mean = np.concatenate([self.mean, mean])
        self.cov = np.concatenate([self.cov, cov])
        self.has_tag = np.concatenate([self.has_tag, np.full(k, tags is not None)])
        self.hits = np.concatenate([self.hits, np.ones(k, dtype=np.int64)])
        self.start_frame = np.concatenate([self.start_frame, np.full(k, frame, dtype=np.int64)])
        self.last_frame = np.concatenate([self.last_frame, np.full(k, frame, dtype=np.int64)])
        self.box = np.concatenate([self.box, boxes])
        self.score = np.concatenate([self.score, scores])
        self.obs_mean = np.concatenate([self.obs_mean, mean])
        self.obs_cov = np.concatenate([self.obs_cov, cov])
        centre = (boxes[:, :2] + boxes[:, 2:]) / 2                              # (K, 2)
        k_hist = self.centres.shape[1]
        self.centres = np.concatenate([self.centres, np.repeat(centre[:, None], k_hist, axis=1)])
        self.direction = np.concatenate([self.direction, np.zeros((k, 2))])
        self.gallery.add_rows(k, None if self.tags is None else self.tags.shape[1])
        if tags is not None:
            self.gallery.push(np.arange(len(self) - k, len(self)), tags)

    def set_history(self, frames: int) -> None:
        """Keep the last ``frames`` + 1 observed centres per track (0: directions off)."""
        if self.centres.shape[1] != frames + 1:
            self.centres = np.zeros((len(self), frames + 1, 2))

    def anchors(self, rows: np.ndarray) -> np.ndarray:
        """(R, 2) oldest kept observed centre (pixels) of each of the tracks ``rows`` (R,)."""
        return self.centres[rows, 0]

    def recover(self, *, rows: np.ndarray, boxes: np.ndarray, frame: int) -> None:
        """Observation-centric re-update (OC-SORT's ORU) of tracks matched after a gap.

        For each row (K,) matched in ``frame`` with the (K, 4) xyxy ``boxes`` after being
        unmatched since ``last_frame``: restart the filter from its state at the last match and
        replay the gap with virtual observations on the straight line from the last observed
        box to the new one, so the velocity learnt while the object was hidden reflects where
        it went, not the drift of the unobserved predictions. Leaves the state predicted to
        ``frame``; the caller then updates it with ``boxes`` as for any match.
        """
        gaps = frame - self.last_frame[rows]
        for i, (row, gap) in enumerate(zip(rows.tolist(), gaps.tolist())):
            if gap <= 1:
                continue
            start = kalman.xyxy_to_xyah(self.box[row])
            end = kalman.xyxy_to_xyah(boxes[i])
            mean, cov = self.obs_mean[row], self.obs_cov[row]
            for step in range(1, gap):
                mean, cov = kalman.predict(mean, cov, self.noise)
                mean, cov = kalman.update(mean, cov, start + (end - start) * step / gap, self.noise)
            self.mean[row], self.cov[row] = kalman.predict(mean, cov, self.noise)

    def match(
        self,
        *,
        rows: np.ndarray,
        boxes: np.ndarray,
        scores: np.ndarray,
        classes: np.ndarray,
        tags: np.ndarray | None,
        update_tag: np.ndarray | None,
        frame: int,
        momentum: float,
        min_hits: int,
    ) -> None:
        """Apply K matches: rows (K,) into the table, boxes (K, 4) xyxy, scores (K,), classes
        (K,) int, tags (K, D) or None, update_tag (K,) bool = whether that detection's tag
        enters the average (None without tags)."""
        if rows.shape[0] == 0:
            return
        self._ensure_classes(classes)
        self.votes[rows, classes] += 1
        if self.votes.shape[1] > 1:  # (one class seen so far: nothing to vote on)
            votes = self.votes[rows]                                            # (K, C)
            each = np.arange(rows.shape[0])
            best = votes.argmax(axis=1)
            # The majority class; a tie keeps the track's class (no flicker between two readings).
            self.cls[rows] = np.where(votes[each, best] > votes[each, self.cls[rows]], best, self.cls[rows])
        mean, cov = kalman.update(self.mean[rows], self.cov[rows], kalman.xyxy_to_xyah(boxes), self.noise)
        self.mean[rows], self.cov[rows] = mean, cov
        self.obs_mean[rows], self.obs_cov[rows] = mean, cov
        if self.centres.shape[1] > 1:
            centre = (boxes[:, :2] + boxes[:, 2:]) / 2                          # (K, 2)
            hist = np.concatenate([self.centres[rows, 1:], centre[:, None]], axis=1)
            self.centres[rows] = hist
            step = centre - hist[:, 0]                                          # (K, 2)
            norm = np.hypot(step[:, 0], step[:, 1])[:, None]
            self.direction[rows] = np.where(norm > 0, step / np.maximum(norm, 1e-12), self.direction[rows])
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
        hits = self.hits[rows] + 1
        self.hits[rows] = hits
        self.last_frame[rows] = frame
        self.box[rows] = boxes
        self.score[rows] = scores
        # A lost track is revived, a tentative one confirmed with min_hits (confirmed stays).
        self.state[rows[(self.state[rows] != TENTATIVE) | (hits >= min_hits)]] = CONFIRMED

    def keep(self, mask: np.ndarray) -> None:
        """Drop the rows where the (N,) bool ``mask`` is false."""
        if mask.all():
            return
        for name in ("ids", "state", "cls", "votes", "mean", "cov", "has_tag", "hits", "start_frame", "last_frame", "box", "score",
                     "obs_mean", "obs_cov", "centres", "direction"):
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
        self.obs_mean = self.obs_mean * f
        self.obs_cov = self.obs_cov * f[:, None] * f[None, :]
        self.box = self.box * np.array([sx, sy, sx, sy])
        self.centres = self.centres * np.array([sx, sy])

    def translate(self, shift: np.ndarray, *, velocity_gain: float = 0.0) -> None:
        """Move every track by ``shift`` (2,) pixels (x, y): centres, last boxes and observed
        centres (:meth:`warp` with A = I), and add ``velocity_gain * shift`` to every velocity
        (pixels a frame; 0: velocities unchanged); sizes and uncertainties unchanged."""
        step = np.zeros(8)                                  # (8,) added to each state: x, y, and vx, vy
        step[:2] = shift
        step[4:6] = shift
        step[4:6] *= velocity_gain
        self.mean += step
        self.obs_mean += step
        self.box += np.concatenate([shift, shift])
        self.centres += shift

    def warp(self, affine: np.ndarray) -> None:
        """Carry every track into the next frame's pixels after the camera moved: ``affine`` (2, 3)
        maps a point of the previous frame to the next (``p' = A p + t``), a similarity (rotation,
        uniform scale s, translation) as cv2.estimateAffinePartial2D returns. Centres map through
        A p + t, velocities and the covariance's x, y blocks through A, the height and its
        velocity scale by s (the aspect is unchanged) (BoT-SORT's camera-motion compensation)."""
        a = np.asarray(affine, dtype=np.float64)
        lin, t = a[:, :2], a[:, 2]
        s = float(np.sqrt(abs(np.linalg.det(lin))))
        m = np.eye(8)                              # (8, 8): state -> warped state (without t)
        m[0:2, 0:2] = lin
        m[4:6, 4:6] = lin
        m[3, 3] = m[7, 7] = s
        for mean_name, cov_name in (("mean", "cov"), ("obs_mean", "obs_cov")):
            mean = getattr(self, mean_name) @ m.T
            mean[:, :2] += t
            setattr(self, mean_name, mean)
            setattr(self, cov_name, m @ getattr(self, cov_name) @ m.T)
        if len(self):
            c = (self.box[:, :2] + self.box[:, 2:]) / 2 @ lin.T + t
            half = (self.box[:, 2:] - self.box[:, :2]) * s / 2
            self.box = np.concatenate([c - half, c + half], axis=1)
            self.centres = self.centres @ lin.T + t
            self.direction = self.direction @ lin.T
            norm = np.linalg.norm(self.direction, axis=1, keepdims=True)
            self.direction = np.where(norm > 0, self.direction / np.maximum(norm, 1e-12), 0.0)

    def _ensure_classes(self, classes: np.ndarray) -> None:
        """Widen ``votes`` to hold class indices up to ``classes.max()`` (before rows are added)."""
        if classes.shape[0] and classes.max() >= self.votes.shape[1]:
            wider = np.zeros((len(self), int(classes.max()) + 1), dtype=np.int64)
            wider[:, :self.votes.shape[1]] = self.votes
            self.votes = wider

    def ensure_tags(self, dim: int) -> None:
        """Allocate the (N, D) tag array the first time tags appear (rows get has_tag False)."""
        if self.tags is None:
            self.tags = np.zeros((len(self), dim))
