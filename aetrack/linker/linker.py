"""The linker: joins per-frame detections (boxes, scores, tags) into tracks with stable ids.

Works in original image pixels with numpy and ``lap``; it never sees tensors. Every detection
has a class (0-based index, all 0 when none are given). A track's class is the majority of its
detections' classes, and a stage pairs a track only with detections of its own class or of a
class the detector confuses with it (``LinkerConfig.class_groups``, by name: the linker resolves
them with the ``class_names`` it is given), so a car read as a bus for a few frames stays one
car track while a cyclist and the bicycle under them stay two. Each frame:

1. predict every track's Kalman filter one frame ahead (one batched call);
2. split detections by score into high (>= high_score) and low ([low_score, high_score));
3. run the association stages of the configured mode (see :class:`LinkerConfig`), each a
   ``lap.lapjv`` assignment with a cost limit over the tracks and detections still unmatched;
4. update matched tracks (Kalman update, tag average, hits; a lost track is revived, a
   tentative one confirmed after ``LinkerConfig.confirm_frames`` matched frames);
5. remove unmatched tentative tracks, mark unmatched confirmed tracks lost, remove tracks
   lost for more than ``round(lost_time_s * frame_rate)`` frames;
6. start new tracks from unmatched high detections scoring at least ``new_track_score``;
7. report the confirmed tracks matched this frame and, at their Kalman predictions, the
   tracks lost for at most ``round(report_lost_s * frame_rate)`` frames; given the frame's size,
   each reported box is clipped to the frame (a track wholly outside it is not reported).

The tracks themselves keep whole boxes, also where an object leaves the frame (as MOT ground
truth does), so motion and sizes stay those of the object; only what is reported is clipped.
This is the one place where boxes are clipped: the Tracker's snapshots, MOT text, JSON lines and
the annotated video all come from these reports.

Example::

    linker = Linker(cfg=LinkerConfig(mode="tags_motion"), frame_rate=25.0)
    for boxes, scores, tags, classes in detections:   # (n, 4) xyxy px, (n,), (n, D), (n,) int
        for t in linker.update(boxes=boxes, scores=scores, tags=tags, classes=classes):
            print(linker.frame_index, t.track_id, t.class_id, t.box)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from aetrack.linker import appearance, kalman, matching
from aetrack.linker.config import LinkerConfig
from aetrack.linker.track import CONFIRMED, LOST, STATE_NAMES, TENTATIVE, TrackTable


@dataclass(frozen=True, eq=False)
class Track:
    """Snapshot of one track after a frame; immutable, not the linker's live state.

    ``eq=False``: snapshots compare by identity (a tag array has no single truth value).
    """

    track_id: int                              # 1-based, per linker instance, never reused
    box: tuple[float, float, float, float]     # x1, y1, x2, y2 frame pixels: for a track
                                               # matched this frame the Kalman-corrected box
                                               # (or the detection's, LinkerConfig.output_box);
                                               # else the Kalman prediction
    score: float                               # score of the last matched detection
    tag: np.ndarray | None                     # (D,) smoothed tag (read-only), None if never tagged
    state: str                                 # "tentative" | "confirmed" | "lost"
    age: int                                   # frames since the track started; 1 in its first frame
    hits: int                                  # frames in which it was matched
    class_id: int = 0                          # 0-based class: the majority of its detections' classes


@dataclass(frozen=True)
class _Stage:
    """One association stage: which tracks, which detections, which cost, which limit."""

    states: tuple[int, ...]     # track states taking part (among tracks still unmatched)
    detections: str             # "high" | "low" (among detections still unmatched)
    cost: str                   # "tag" | "tag_gated" | "iou" | "fused_min" | "revive"
    limit: str                  # name of the LinkerConfig field (or property) holding the cost limit


_TAG_GATED = _Stage((CONFIRMED, LOST), "high", "tag_gated", "tag_gated_limit")
_TAG = _Stage((CONFIRMED, LOST), "high", "tag", "tag_max_distance")
_TAG_TENTATIVE = _Stage((TENTATIVE,), "high", "tag", "tag_max_distance")
_IOU_ALL_HIGH = _Stage((CONFIRMED, LOST), "high", "iou", "iou_threshold_high")
_IOU_LOW = _Stage((CONFIRMED,), "low", "iou", "iou_threshold_low")
_IOU_TENTATIVE = _Stage((TENTATIVE,), "high", "iou", "iou_threshold_tentative")
_FUSED_MIN = _Stage((CONFIRMED, LOST), "high", "fused_min", "iou_threshold_high")
_REVIVE = _Stage((LOST,), "high", "revive", "revival_max_distance")

# Stages per mode, in order. CONFIRMED here means tracked (confirmed and matched last frame).
# The IoU stage of "tags_motion" takes lost tracks too (as "motion" does): the tag stage turns
# away a lost track whose tag drifted during an occlusion, and where its prediction still
# overlaps a detection, IoU revives it. Tuning seeds, embedded synthetic model, with the reach
# gate (LinkerConfig.lost_reach): hard 5000-5003 HOTA 58.6 -> 59.2, IDSW 31 -> 31, medium
# 2000-2002 74.8 -> 74.8 (aetrack/bench/reports/tags.md "Tags (issue 16)").
_STAGES: dict[str, tuple[_Stage, ...]] = {
    "tags_motion": (_TAG_GATED, _IOU_ALL_HIGH, _IOU_LOW, _IOU_TENTATIVE),
    "tags": (_TAG, _TAG_TENTATIVE),
    "motion": (_IOU_ALL_HIGH, _IOU_LOW, _IOU_TENTATIVE),
    "iou": (_IOU_ALL_HIGH, _IOU_TENTATIVE),
}


def _stages(cfg: LinkerConfig, mode: str) -> tuple[_Stage, ...]:
    """The stages of ``mode`` with the appearance options of ``cfg`` (tag cost form, revival)."""
    stages = _STAGES[mode]
    if mode != "tags_motion":
        return stages
    if cfg.tag_cost == "min":
        stages = (_FUSED_MIN, _IOU_LOW, _IOU_TENTATIVE)
    if cfg.tag_revival:
        stages = stages[:-1] + (_REVIVE, stages[-1])
    return stages


class Linker:
    """Multi-object linker; all state is per instance (ids start at 1 for each linker).

    Args:
        cfg: thresholds and mode; defaults to ``LinkerConfig()``.
        frame_rate: frames per second of the stream (> 0), used to turn time settings (seconds
            lost, Kalman noise per second, ...) into frames.
        class_names: the name of each class index, to resolve ``cfg.class_groups``; None:
            no names, so a track pairs only with detections of its own class.
    """

    def __init__(
        self, *, cfg: LinkerConfig | None = None, frame_rate: float = 30.0, class_names: Sequence[str] | None = None
    ) -> None:
        cfg = LinkerConfig() if cfg is None else cfg
        if not isinstance(cfg, LinkerConfig):
            raise ValueError(f"cfg must be a LinkerConfig, got {type(cfg).__name__}")
        self.cfg = cfg
        self._class_group = _class_group_table(cfg.class_groups, class_names)
        _check_positive("frame_rate", frame_rate)
        self._tracks = TrackTable(noise=cfg.kalman.per_frame(cfg.time_rate(float(frame_rate))),
                                  gallery_size=cfg.tag_gallery_size)
        self._set_frame_rate(frame_rate)
        self._next_id = 1
        self._frame = 0

    @property
    def frame_index(self) -> int:
        """1-based index of the last frame passed to :meth:`update`; 0 before the first."""
        return self._frame

    def reset(self, *, frame_rate: float | None = None) -> None:
        """Start over: no tracks, ids from 1 again, frame index 0; ``frame_rate``: the next
        stream's frames per second (None: unchanged)."""
        if frame_rate is not None:
            self._set_frame_rate(frame_rate)
        self._tracks.clear()
        self._next_id = 1
        self._frame = 0

    def _set_frame_rate(self, frame_rate: float) -> None:
        """The frame rate, and what the config's seconds give at it: budgets in frames (lost,
        reported, confirmation), the Kalman noise per frame and the direction history."""
        _check_positive("frame_rate", frame_rate)
        cfg = self.cfg
        self.frame_rate = float(frame_rate)
        self.max_lost_frames = cfg.lost_frames(self.frame_rate)
        self.confirm_frames = cfg.confirm_frames(self.frame_rate)
        self.report_lost_frames = cfg.report_lost_frames(self.frame_rate)
        self.revival_after_frames = cfg.revival_after_frames(self.frame_rate)
        self._tracks.noise = cfg.kalman.per_frame(cfg.time_rate(self.frame_rate))
        self._tracks.set_history(cfg.direction_frames(self.frame_rate) if cfg.direction_weight > 0 else 0)

    def update(
        self,
        *,
        boxes: np.ndarray,
        scores: np.ndarray,
        tags: np.ndarray | None = None,
        classes: np.ndarray | None = None,
        frame_size: tuple[float, float] | None = None,
    ) -> list[Track]:
        """Link one frame's detections.

        Args:
            boxes: (n, 4) float x1, y1, x2, y2 in frame pixels, finite, positive width and height.
            scores: (n,) finite detection scores.
            tags: (n, D) finite tags, or None (then motion and IoU only, whatever the mode).
            classes: (n,) integer 0-based class of each detection, or None (all class 0). A
                detection is only ever linked to a track of its class's group
                (``LinkerConfig.class_groups``; its own class alone without ``class_names``).
            frame_size: (width, height) of the frame in pixels: reported boxes are clipped to
                [0, width] x [0, height] and tracks with nothing inside are not reported. None:
                boxes as tracked (may reach outside the frame).

        Returns:
            What a MOT result file holds for this frame, sorted by id; ``[]`` when empty: the
            confirmed tracks matched in this frame, and the tracks lost for at most
            ``report_lost_frames`` frames (state ``"lost"``, box = Kalman prediction).
        """
        if frame_size is not None:
            frame_size = (float(frame_size[0]), float(frame_size[1]))
            _check_positive("frame_size width", frame_size[0])
            _check_positive("frame_size height", frame_size[1])
        boxes, scores, tags = self._check_inputs(boxes, scores, tags)
        classes = _check_classes(classes, boxes.shape[0])
        cfg = self.cfg
        self._frame += 1
        frame = self._frame
        table = self._tracks
        table.predict()
        if tags is not None:
            table.ensure_tags(tags.shape[1])    # tracks started without tags get has_tag False

        # (Index arrays of 1-D masks come from mask.nonzero()[0], np.flatnonzero without its
        # Python-level overhead: this method runs once a frame on arrays of a few dozen rows.)
        high = (scores >= cfg.high_score).nonzero()[0]
        low = ((scores >= cfg.low_score) & (scores < cfg.high_score)).nonzero()[0]
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2                           # (n, 2) pixels
        if cfg.common_motion:
            self._follow_common_motion(centres[high], frame)
        if len(table) and boxes.shape[0]:
            det_of_track, free_high = self._associate(boxes, centres, scores, tags, classes, high, low)
        else:
            det_of_track, free_high = np.full(len(table), -1, dtype=np.int64), high
        rows = (det_of_track >= 0).nonzero()[0]
        dets = det_of_track[rows]
        if cfg.observation_recovery:
            table.recover(rows=rows, boxes=boxes[dets], frame=frame)
        update_tag = None
        if tags is not None:
            update_tag = np.full(rows.shape[0], True) if cfg.low_score_updates_tag else scores[dets] >= cfg.high_score
        table.match(
            rows=rows,
            boxes=boxes[dets],
            scores=scores[dets],
            classes=classes[dets],
            tags=None if tags is None else tags[dets],
            update_tag=update_tag,
            frame=frame,
            momentum=cfg.tag_momentum,
            min_hits=self.confirm_frames,
        )

        unmatched = det_of_track < 0
        state = table.state
        state[unmatched & (state == CONFIRMED)] = LOST
        expired = (state == LOST) & (table.last_frame < frame - self.max_lost_frames)    # lost too long
        drop = (unmatched & (state == TENTATIVE)) | expired
        if drop.any():
            table.keep(~drop)

        born = free_high[scores[free_high] >= cfg.new_track_score]
        if born.shape[0]:
            ids = np.arange(self._next_id, self._next_id + born.shape[0], dtype=np.int64)
            self._next_id += born.shape[0]
            table.add(
                ids=ids,
                boxes=boxes[born],
                scores=scores[born],
                classes=classes[born],
                tags=None if tags is None else tags[born],
                frame=frame,
                confirmed=self.confirm_frames == 1 or (cfg.confirm_on_first_frame and frame == 1),
            )
        report = (table.state == CONFIRMED) & (table.last_frame == frame)     # matched now
        if self.report_lost_frames == 0:  # (then none lost: a track matched now is not lost)
            return self._snapshots(report.nonzero()[0], matched=True, frame_size=frame_size)
        report |= (table.state == LOST) & (table.last_frame >= frame - self.report_lost_frames)
        return self._snapshots(report.nonzero()[0], frame_size=frame_size)

    def rescale(self, *, sx: float, sy: float) -> None:
        """Carry every track over to frames resized by ``sx`` (width) and ``sy`` (height), e.g.
        a camera that switches resolution: positions, sizes, velocities and uncertainties
        scale; ids, tags and states are kept."""
        _check_positive("sx", sx)
        _check_positive("sy", sy)
        self._tracks.rescale(float(sx), float(sy))

    def apply_camera_motion(self, affine: np.ndarray) -> None:
        """Move every track into the next frame's pixels after the camera moved: ``affine``
        (2, 3) maps a point of the last frame to the next (``p' = A p + t``, a similarity).
        Call it before :meth:`update` of that next frame (see :class:`aetrack.camera_motion`)."""
        a = np.asarray(affine, dtype=np.float64)
        if a.shape != (2, 3) or not np.isfinite(a).all():
            raise ValueError(f"affine must be a finite (2, 3) array, got shape {a.shape}")
        if not abs(np.linalg.det(a[:, :2])) > 0:
            raise ValueError(f"affine must be invertible, got {a.tolist()}")
        self._tracks.warp(a)

    def _follow_common_motion(self, centres: np.ndarray, frame: int) -> None:
        """Shift every track by the motion its neighbours share but the filters did not predict:
        the median offset from each tracked track's prediction to its nearest high detection,
        over the pairs that are each other's nearest and closer than ``common_motion_radius`` box
        heights. A camera that pans or shakes moves every object alike; walkers' own motions
        differ and cancel out in the median. Needs ``common_motion_pairs`` such pairs; else
        nothing moves. ``common_motion_velocity_gain`` of the shift also goes into every
        track's velocity, so that the filters learn a camera's motion instead of the shift
        standing in for it frame after frame. (Tried on the MOT17 tuning halves and dropped: a
        second pair-and-median round, HOTA 54.45 against 54.43; a least-squares similarity
        instead of the shift, 53.68. Issue 27 follow-up, dropped: the shift applied to the
        association only, not to the states, and a shift only where the median differs from
        zero by 2 or 3 of its standard errors: both below the velocity gain.)

        ``centres`` (C, 2): pixel centres of the frame's high detections."""
        table, cfg = self._tracks, self.cfg
        rows = ((table.state == CONFIRMED) & (table.last_frame == frame - 1)).nonzero()[0]
        if rows.shape[0] < cfg.common_motion_pairs or centres.shape[0] < cfg.common_motion_pairs:
            return
        pred = table.mean[rows, :4]                                                # (R, 4) x, y, a, h
        d = centres[None] - pred[:, None, :2]                                      # (R, C, 2) dx, dy pixels
        dist = np.hypot(d[..., 0], d[..., 1]) / pred[:, 3:4]                       # (R, C) in box heights
        nearest_det = dist.argmin(axis=1)                                          # (R,)
        each_row = np.arange(rows.shape[0])
        mutual = dist.argmin(axis=0)[nearest_det] == each_row
        r = (mutual & (dist[each_row, nearest_det] < cfg.common_motion_radius)).nonzero()[0]
        k = r.shape[0]
        if k < cfg.common_motion_pairs:
            return
        offsets = d[r, nearest_det[r]]                                             # (K, 2)
        offsets.sort(axis=0)
        shift = (offsets[(k - 1) // 2] + offsets[k // 2]) / 2      # the median, without np.median's overhead
        table.translate(shift, velocity_gain=cfg.common_motion_velocity_gain)

    def live_tracks(self) -> list[Track]:
        """Snapshots of every live track (tentative, confirmed and lost), sorted by id; an
        unmatched track's box is its Kalman prediction for the last frame."""
        return self._snapshots(np.arange(len(self._tracks)))

    def _iou_cost(
        self, rows: np.ndarray, cols: np.ndarray, iou: np.ndarray, centres: np.ndarray, fuse_scores: np.ndarray | None,
        stage: _Stage,
    ) -> np.ndarray:
        """(R, C) ``1 - IoU`` of predicted track boxes and detections (``iou`` (R, C)); over high
        detections ``1 - IoU * score`` with ``fuse_score`` (``fuse_scores``: the (n,) scores
        clipped to [0, 1]), plus the direction term with ``direction_weight`` (pairs beyond the
        stage's IoU limit are inf first). ``centres`` (n, 2): the detections' pixel centres."""
        cfg, table = self.cfg, self._tracks
        high = stage.detections == "high"
        cost = 1.0 - (iou * fuse_scores[cols][None, :] if fuse_scores is not None and high else iou)
        if cfg.direction_weight > 0 and high and stage.states != (TENTATIVE,):
            cost[cost > getattr(cfg, stage.limit)] = np.inf
            direction = table.direction[rows][:, None]                             # (R, 1, 2) unit or 0
            d = centres[cols][None] - table.anchors(rows)[:, None]                 # (R, C, 2) dx, dy pixels
            norm = np.hypot(d[..., 0], d[..., 1])                                  # (R, C)
            dot = d * direction
            cos = (dot[..., 0] + dot[..., 1]) / np.maximum(norm, 1e-12)
            cos = np.minimum(np.maximum(cos, -1.0, out=cos), 1.0, out=cos)         # clipped to [-1, 1]
            angle = np.arccos(cos, out=cos)                                        # (R, C) radians
            moving = direction != 0
            known = (norm > 0) & (moving[..., 0] | moving[..., 1])
            np.add(cost, cfg.direction_weight * (angle / np.pi - 0.5), out=cost, where=known)
        return cost

    def _associate(
        self, boxes: np.ndarray, centres: np.ndarray, scores: np.ndarray, tags: np.ndarray | None,
        classes: np.ndarray, high: np.ndarray, low: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Run the mode's stages; returns (N,) detection index per track row, -1 if unmatched,
        and the indices of the high detections left unmatched (ascending)."""
        cfg, table = self.cfg, self._tracks
        det_of_track = np.full(len(table), -1, dtype=np.int64)
        free = {"high": high, "low": low}
        # Without tags the tag modes fall back to motion + IoU; "iou" stays SORT-like.
        mode = cfg.mode if tags is not None or cfg.mode == "iou" else "motion"
        # IoU of every predicted track box with every detection, once for all stages (each
        # reads its rows and columns); "tags" alone has no IoU term.
        iou_all = None if mode == "tags" else matching.iou_matrix(table.predicted_boxes(), boxes)   # (N, n)
        # Fusion reads scores as probabilities: unnormalised ones (MOT15's det.txt: up to 139)
        # are clipped to [0, 1], so they neither turn costs negative nor favour far boxes.
        fuse_scores = np.minimum(np.maximum(scores, 0.0), 1.0) if cfg.fuse_score else None
        # Class 0 everywhere (a one-class model, or no classes given): no pair to forbid.
        one_class = not (table.cls.any() or classes.any())
        if not one_class:  # (N,) and (n,) class groups: a pair needs the same group
            track_group, det_group = self._groups(table.cls), self._groups(classes)
        for stage in _stages(cfg, mode):
            in_stage = table.state == stage.states[0]
            for state in stage.states[1:]:
                in_stage |= table.state == state
            rows = (in_stage & (det_of_track < 0)).nonzero()[0]
            if stage.cost == "revive":
                rows = rows[self._frame - 1 - table.last_frame[rows] >= self.revival_after_frames]
            cols = free[stage.detections]
            if rows.shape[0] == 0 or cols.shape[0] == 0:
                continue
            iou = None if iou_all is None else iou_all[rows[:, None], cols]        # (R, C)
            if stage.cost == "iou":
                cost = self._iou_cost(rows, cols, iou, centres, fuse_scores, stage)
            elif stage.cost == "fused_min":
                iou_cost = 1.0 - iou
                tag_d = self._track_tag_distance(rows, tags[cols])
                if cfg.tag_proximity >= 1.0:  # no overlap needed: FairMOT's Mahalanobis gate instead
                    d2 = kalman.gating_distance(table.mean[rows], table.cov[rows],
                                                kalman.xyxy_to_xyah(boxes[cols]), table.noise)
                    tag_d = matching.gate(tag_d, d2, threshold=cfg.motion_gate)
                tag_d = self._confident(tag_d)
                cost = appearance.min_cost(iou_cost, tag_d,
                                           max_distance=cfg.tag_max_distance, proximity=cfg.tag_proximity,
                                           scale=cfg.tag_cost_scale)
            elif stage.cost == "revive":
                cost = self._revive_cost(rows, tags[cols], centres[cols])
            else:
                cost = self._tag_cost(rows, cols, boxes, centres, tags, iou, gated=stage.cost == "tag_gated")
            if not one_class:  # (R, C): never pair across class groups
                cost[track_group[rows][:, None] != det_group[cols][None, :]] = np.inf
            pairs, _, left = matching.assign(cost, cost_limit=getattr(cfg, stage.limit))
            det_of_track[rows[pairs[:, 0]]] = cols[pairs[:, 1]]
            free[stage.detections] = cols[left]
        return det_of_track, free["high"]

    def _groups(self, classes: np.ndarray) -> np.ndarray:
        """(k,) class group of each class index: the smallest index of its group
        (:func:`_class_group_table`), the class itself where it is in no group."""
        lut = self._class_group
        if lut is None:
            return classes
        n = lut.shape[0]
        return np.where(classes < n, lut[np.minimum(classes, n - 1)], classes)

    def _tag_cost(
        self,
        rows: np.ndarray,
        cols: np.ndarray,
        boxes: np.ndarray,
        centres: np.ndarray,
        tags: np.ndarray,
        iou: np.ndarray | None,
        *,
        gated: bool,
    ) -> np.ndarray:
        """(R, C) tag distances, inf for untagged tracks. If ``gated``: inf outside the motion
        gate unless the track is lost and its tag within ``revive_tag_distance``, inf beyond a lost
        track's reach (``centres`` (n, 2): the detections' pixel centres), and
        ``tag_iou_weight * (1 - IoU)`` of the predicted and detected boxes (``iou`` (R, C)) added
        (the limit is ``LinkerConfig.tag_gated_limit``)."""
        table, cfg = self._tracks, self.cfg
        cost = self._track_tag_distance(rows, tags[cols])
        if gated:
            cost = self._confident(cost)
            d2 = kalman.gating_distance(
                table.mean[rows], table.cov[rows], kalman.xyxy_to_xyah(boxes[cols]), table.noise
            )
            revive = (table.state[rows] == LOST)[:, None] & (cost <= cfg.revive_tag_distance)
            cost = matching.gate(cost, d2, threshold=cfg.motion_gate, exempt=revive)
            cost[self._beyond_reach(rows, centres[cols])] = np.inf
            if cfg.tag_iou_weight > 0:  # inf (outside the gates) stays inf
                cost = cost + cfg.tag_iou_weight * (1.0 - iou)
        return cost

    def _track_tag_distance(self, rows: np.ndarray, det_tags: np.ndarray) -> np.ndarray:
        """(R, C) tag distance of track rows to detection tags: the smaller of the moving
        average's and the gallery's (appearance.track_distance); inf for untagged tracks."""
        t = self._tracks
        return appearance.track_distance(t.tags[rows], t.has_tag[rows], t.gallery.distance(rows, det_tags), det_tags)

    def _confident(self, tag_d: np.ndarray) -> np.ndarray:
        """``tag_d`` with inf where the pair's tag margin over the other candidate tracks (rows
        of ``tag_d``) is below ``tag_margin`` (appearance.margins); unchanged when it is 0."""
        if self.cfg.tag_margin <= 0 or tag_d.shape[0] < 2:
            return tag_d
        m = appearance.margins(tag_d, tag_d, np.arange(tag_d.shape[0]))
        return np.where(m >= self.cfg.tag_margin, tag_d, np.inf)

    def _revive_cost(self, rows: np.ndarray, det_tags: np.ndarray, det_centres: np.ndarray) -> np.ndarray:
        """(R, C) tag distance of long-lost tracks to detections, inf beyond a track's reach
        (:meth:`_beyond_reach`) or where the detection's tag is not at least ``revival_margin``
        farther from every other live tagged track."""
        t, cfg = self._tracks, self.cfg
        cost = self._track_tag_distance(rows, det_tags)
        cost[self._beyond_reach(rows, det_centres)] = np.inf
        if cfg.revival_margin > 0:
            live = np.flatnonzero(t.has_tag & (t.state != TENTATIVE))
            d_all = self._track_tag_distance(live, det_tags)
            pos = np.searchsorted(live, rows)  # rows are live tagged tracks (lost), both sorted
            m = appearance.margins(cost, d_all, pos)
            cost = np.where(m >= cfg.revival_margin, cost, np.inf)
        return cost

    def _beyond_reach(self, rows: np.ndarray, det_centres: np.ndarray) -> np.ndarray:
        """(R, C) True where track row ``rows[r]`` is lost and the detection centred at
        ``det_centres[c]`` (pixels) lies farther from the centre of the track's last matched box
        than (lost_reach + lost_reach_speed * seconds lost) times that box's height: where the
        object could not have walked in the time (LinkerConfig.lost_reach)."""
        t, cfg = self._tracks, self.cfg
        lost = t.state[rows] == LOST                                               # (R,)
        out = np.zeros((len(rows), len(det_centres)), dtype=bool)
        if not lost.any() or len(det_centres) == 0:
            return out
        last = t.box[rows[lost]]                                                   # (L, 4)
        seconds = (self._frame - t.last_frame[rows[lost]]) / self.frame_rate
        reach = (cfg.lost_reach + cfg.lost_reach_speed * seconds) * (last[:, 3] - last[:, 1])
        gap = (last[:, None, :2] + last[:, None, 2:]) / 2 - det_centres[None]      # (L, C, 2)
        out[lost] = np.hypot(gap[..., 0], gap[..., 1]) > reach[:, None]
        return out

    def _snapshots(self, rows: np.ndarray, *, matched: bool = False,
                   frame_size: tuple[float, float] | None = None) -> list[Track]:
        """Snapshots of the given table rows (``matched``: all matched in this frame): every
        field read for all rows at once (one batched box conversion, one ``tolist`` per field),
        then one :class:`Track` per row. With ``frame_size`` = (width, height) the boxes are
        clipped to the frame and rows with no area left inside it are dropped."""
        t = self._tracks
        if self.cfg.output_box == "detection":
            boxes = t.box[rows]                                                # (K, 4)
            if not matched:
                unmatched = t.last_frame[rows] != self._frame
                boxes[unmatched] = kalman.xyah_to_xyxy(t.mean[rows[unmatched]])
        else:
            boxes = kalman.xyah_to_xyxy(t.mean[rows])
        if frame_size is not None:
            np.clip(boxes, 0.0, (frame_size[0], frame_size[1], frame_size[0], frame_size[1]), out=boxes)
            inside = ((boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])).nonzero()[0]
            if inside.shape[0] < rows.shape[0]:
                rows, boxes = rows[inside], boxes[inside]
        tags: list[np.ndarray | None] = [None] * rows.shape[0]
        if t.tags is not None:
            block = t.tags[rows]                                               # (K, D) copy
            block.flags.writeable = False                                      # its rows are read-only views
            tags = [tag if has else None for tag, has in zip(block, t.has_tag[rows].tolist())]
        ages = (self._frame - t.start_frame[rows] + 1).tolist()
        # Positional, in Track's field order (id, box, score, tag, state, age, hits, class):
        # keyword arguments cost a third more per snapshot.
        return [
            Track(i, tuple(b), score, tag, STATE_NAMES[state], age, hits, c)
            for i, b, score, tag, state, age, hits, c in zip(
                t.ids[rows].tolist(), boxes.tolist(), t.score[rows].tolist(), tags, t.state[rows].tolist(), ages,
                t.hits[rows].tolist(), t.cls[rows].tolist())
        ]

    def _check_inputs(
        self, boxes: np.ndarray, scores: np.ndarray, tags: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Validate and convert to float64: boxes (n, 4), scores (n,), tags (n, D) or None."""
        boxes = np.asarray(boxes, dtype=np.float64)
        if boxes.size == 0:
            boxes = boxes.reshape(0, 4)
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise ValueError(f"boxes must have shape (n, 4), got {boxes.shape}")
        n = boxes.shape[0]
        scores = np.asarray(scores, dtype=np.float64)
        if scores.size == 0 and n == 0:
            scores = scores.reshape(0)
        if scores.shape != (n,):
            raise ValueError(f"scores must have shape ({n},) to match boxes, got {scores.shape}")
        if not np.isfinite(boxes).all():
            i = int(np.flatnonzero(~np.isfinite(boxes).all(axis=1))[0])
            raise ValueError(f"boxes must be finite, row {i} is {boxes[i].tolist()}")
        if not (boxes[:, 2:] > boxes[:, :2]).all():
            i = int(np.flatnonzero((boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1]))[0])
            raise ValueError(f"boxes must have x2 > x1 and y2 > y1, row {i} is {boxes[i].tolist()}")
        if not np.isfinite(scores).all():
            i = int(np.flatnonzero(~np.isfinite(scores))[0])
            raise ValueError(f"scores must be finite, scores[{i}] is {scores[i]}")
        if tags is None:
            return boxes, scores, None
        tags = np.asarray(tags, dtype=np.float64)
        if n == 0 and tags.size == 0:
            return boxes, scores, None
        if tags.ndim != 2 or tags.shape[0] != n or tags.shape[1] == 0:
            raise ValueError(f"tags must have shape ({n}, D) with D >= 1 to match boxes, got {tags.shape}")
        dim = self._tracks.tag_dim
        if dim is not None and tags.shape[1] != dim:
            raise ValueError(f"tags must have D = {dim} like earlier frames, got shape {tags.shape}")
        if not np.isfinite(tags).all():
            i = int(np.flatnonzero(~np.isfinite(tags).all(axis=1))[0])
            raise ValueError(f"tags must be finite, row {i} is {tags[i].tolist()}")
        return boxes, scores, tags


def _class_group_table(groups: tuple[tuple[str, ...], ...], names: Sequence[str] | None) -> np.ndarray | None:
    """(len(names),) int64: for each class index the smallest index of the classes grouped with
    it by ``groups`` (names the model does not have are skipped), its own index if none; None
    when no group joins two of ``names``."""
    if names is None:
        return None
    names = list(names)
    lut = np.arange(len(names), dtype=np.int64)
    joined = False
    for group in groups:
        members = sorted(names.index(n) for n in group if n in names)
        if len(members) > 1:
            lut[members] = members[0]
            joined = True
    return lut if joined else None


def _check_classes(classes: np.ndarray | None, n: int) -> np.ndarray:
    """(n,) int64 classes: zeros for None; else shape (n,), integer dtype, >= 0, or ValueError."""
    if classes is None:
        return np.zeros(n, dtype=np.int64)
    arr = np.asarray(classes)
    if arr.size == 0 and n == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.shape != (n,):
        raise ValueError(f"classes must have shape ({n},) to match boxes, got {arr.shape}")
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"classes must be integers (0-based class indices), got dtype {arr.dtype}")
    if (arr < 0).any():
        i = int(np.flatnonzero(arr < 0)[0])
        raise ValueError(f"classes must be >= 0, classes[{i}] is {arr[i]}")
    return arr.astype(np.int64, copy=False)


def _check_positive(name: str, value: object) -> None:
    """Raise ValueError naming ``name`` unless ``value`` is a finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
