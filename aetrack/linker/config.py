"""Linker configuration: every association threshold, its unit and why it has its default.

Load from YAML with ``aetrack.config.from_dict(LinkerConfig, data)`` (unknown keys are
rejected; an old per-frame key is refused naming the key that replaced it); constructing with
a bad value raises ``ValueError`` naming the field and value.

``LinkerConfig()`` is the one default (issue 27): given detections (``--dets``, without a model,
link by its motion stages) and the embedded default model store and use the same settings; a
checkpoint's stored settings win (:func:`upgrade_stored` keeps older ones linking as before).
Settings where the frame rate matters are in time units (seconds, Kalman noise per second), so a
7 frames/s and a 30 frames/s camera get the same behaviour in time. The defaults marked
"issue 27" were chosen by leave-one-sequence-out over MOT17-train (seven sequences, each at
full rate and thinned to every 2nd and 4th frame), PETS09-S2L1 frames 1-397 with YOLOX-nano's
boxes and with its MOT15 ACF boxes, and the synthetic tuning seeds (aetrack/bench/reports/linker.md,
"Linker default (issue 27)"). Those marked "issue 27 follow-up" (common_motion_velocity_gain, confirm_s,
output_box) were chosen the same way over eleven folds: the seven MOT17 sequences, PETS 1-198 and
199-397 (YOLOX-nano boxes from two decoders, ACF boxes, the default model's own detections with
and without tags), and the synthetic seeds at 30 and at 7 frames/s.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from aetrack.linker.kalman import REFERENCE_FPS, KalmanNoise

MODES = ("tags_motion", "tags", "motion", "iou")
TAG_COSTS = ("sum", "min")
OUTPUT_BOXES = ("kalman", "detection")


@dataclass(frozen=True)
class LinkerConfig:
    """Association stages and thresholds of :class:`aetrack.linker.Linker`.

    ``mode`` selects which association stages run (one implementation, stages switched):

    - ``"tags_motion"`` (default): confirmed and lost tracks vs high detections on tag distance,
      gated by motion and by a lost track's reach; remaining tracked and lost tracks vs
      remaining high detections by IoU (a lost track whose tag drifted is still revived where
      its prediction overlaps, as in ``"motion"``); remaining tracked tracks vs low detections
      by IoU; tentative tracks vs remaining high by IoU.
    - ``"tags"``: tag distance only, no motion gate and no IoU: confirmed and lost tracks, then
      tentative tracks, against high detections.
    - ``"motion"`` (ByteTrack-like): Kalman + IoU, no tags: tracked and lost tracks vs high
      detections, remaining tracked tracks vs low detections, tentative tracks vs the rest.
    - ``"iou"`` (SORT-like): IoU with the Kalman-predicted boxes, high detections only:
      tracked and lost tracks, then tentative tracks.

    Frames without tags (``tags=None``) always use the ``"motion"`` stages.

    IoU costs are ``1 - IoU`` of the Kalman-predicted track box and the detection box; a pair
    is matched only if its cost is at most the stage's limit (``lap.lapjv`` ``cost_limit``).
    """

    mode: str = "tags_motion"
    # Detection score splits (units of the detector's score). "High" detections take part in
    # every stage; "low" ones in [low_score, high_score) only in the low-score IoU stage, where
    # they keep an occluded, faded object's track alive (ByteTrack); below low_score: dropped.
    high_score: float = 0.5
    low_score: float = 0.1
    # An unmatched high detection starts a track only if this confident, so that a spurious
    # detection just above high_score does not spawn an id (ByteTrack: high + 0.1).
    new_track_score: float = 0.6
    # Tag stage cost limit, Euclidean distance in tag space. The margin form of the push loss
    # drives different objects' mean tags at least 1.0 apart while pull drives one object's
    # tags together. Half the margin (0.5) was the first choice; on the tuning seeds
    # 2000-2002 0.8 did better (tags + motion HOTA 72.1 against 71.0, IDF1 88.2 against 85.6;
    # tags alone IDF1 83.5 against 72.8, BENCHMARKS.md): single-frame tags scatter around
    # their object's mean, and a pair refused here falls to the IoU stages, which ignore tags.
    # Issue 26 (the tag branch on the frozen detector): re-chosen with the other tag settings
    # marked so, by `aetrack tune --weights` on PETS 1-397 (aetrack/bench/reports/tags.md, "Issue 26").
    tag_max_distance: float = 0.61
    # Exponential moving average of a track's tag: tag = m * tag + (1 - m) * new. Tags drift as
    # an object turns, changes scale or is partly covered; a slow average (0.9, ten frames)
    # lags that drift and the track falls out of tag_max_distance of its own detection. On the
    # tuning seeds 2000-2002, 0.2 cut identity switches from 32 to 18 (BENCHMARKS.md).
    # Issue 26: 0.62 (tags re-chosen, see tag_max_distance).
    tag_momentum: float = 0.62
    # Motion gate of the tag stage: squared Mahalanobis distance of the detection (x, y, a, h)
    # to the track's Kalman prediction; 9.4877 is the chi-square 95 % quantile with 4 degrees
    # of freedom (deep_sort). For a lost track the gate widens with time lost by itself: every
    # predict without an update adds process noise, so after t seconds lost the position
    # variance has grown by about t (0.27 h)^2 + t^3/3 (1.03 h)^2 (see kalman.KalmanNoise).
    motion_gate: float = 9.4877
    # A lost track whose tag is within this distance of a detection's tag is revived even if
    # the detection lies outside the motion gate (its prediction drifted while it was hidden).
    # Stricter than tag_max_distance because nothing else confirms the pairing.
    # Issue 26: 0.05, near off (tags re-chosen, see tag_max_distance).
    revive_tag_distance: float = 0.05
    # Reach of a lost track in the tag stages ("tags_motion"): a lost track is paired by tags
    # only with a detection whose centre lies within (lost_reach + lost_reach_speed * seconds
    # lost) times the height of the track's last matched box from that box's centre. Objects do
    # not jump: the motion gate alone widens with every blind predict (and revive_tag_distance
    # skips it), so after a second or two a look-alike across the scene could take the track,
    # and gap filling then drew a line of false boxes across the frame. 1.0 height a second is
    # a walking pace (people walk about 0.8 of their height a second; the synthetic walkers
    # 0.4-0.8). A large speed (e.g. 100) turns the gate off. Chosen on the tuning seeds with
    # the embedded synthetic model (2026-11-28, aetrack/bench/reports/tags.md "Tags (issue 16)"): hard
    # 5000-5003 HOTA 57.2 -> 58.6, IDSW 35 -> 31, FP 2095 -> 1832; medium 2000-2002 unchanged
    # (74.8); 1.0 + 1.0 / s, 0.5 + 2.0 / s and 0.3 + 0.5 / s did no better.
    lost_reach: float = 0.5
    lost_reach_speed: float = 1.0
    # Weight of the overlap term in the tag stage: cost = tag distance + tag_iou_weight *
    # (1 - IoU(predicted track box, detection)), limit tag_max_distance + tag_iou_weight.
    # Tags alone decide among detections in the motion gate; where a model's tags are weak
    # (a real scene with few training identities) two nearby people's tags can fall within
    # tag_max_distance of each other and the pairing flips. The overlap term makes the
    # detection the track's box moved onto win such ties; when two boxes overlap (a
    # crossing) the term is about equal for both and the tags decide. 0 = tags only; 1.0 puts
    # no overlap on the same footing as the push margin (1.0 apart in tag space).
    # Issue 26: 0.81 (tags re-chosen, see tag_max_distance).
    tag_iou_weight: float = 0.81
    # How the first stage of "tags_motion" uses tags (aetrack/linker/appearance.py):
    # "sum" = the motion-gated tag stage above (tag distance + tag_iou_weight * (1 - IoU),
    # FairMOT-like), then IoU stages; "min" = BoT-SORT: one stage over tracked and lost tracks
    # with cost min(1 - IoU, tag_cost_scale * tag distance), the tag term only where the tag
    # distance is within tag_max_distance and 1 - IoU within tag_proximity, limit
    # iou_threshold_high; tags then only break ties among overlapping boxes.
    # On the tuning seeds (aetrack/bench/reports/tags.md "Tags (issue 16)") "min" + tag_revival gave hard
    # (5000-5003) HOTA 57.2 -> 59.4, switches 38 -> 26, but medium (2000-2002) 73.0 -> 72.3, and on the held-out
    # medium seeds 1000-1003 75.6 / 90.0 -> 74.4 / 89.1 (below the synthetic model's goals);
    # "min" also lets a bounce with IoU < 0.5 swap like motion does (test_linker). So the
    # synthetic model stores "sum"; the real default model, whose tags are weak, uses "min"
    # (PETS 1-397 IDF1 54.7 with "sum", 65.0 with "min"), and since issue 27 its settings are
    # the default.
    tag_cost: str = "min"
    # BoT-SORT's proximity gate (its default 0.5): the tag term of the "min" cost needs IoU >=
    # 1 - tag_proximity. 0.6 (IoU >= 0.4): PETS runs at 7 frames/s, so a walker's predicted and
    # detected boxes overlap little; on PETS 1-397 with the real model HOTA / IDF1 49.3 / 65.4 ->
    # 52.4 / 72.0 (session 12, aetrack/bench/reports/tags.md "Tags (issue 16)").
    # Issue 26: 0.61 (tags re-chosen, see tag_max_distance).
    tag_proximity: float = 0.61
    # Tag distance -> cost units of the "min" cost. BoT-SORT halves cosine distance (range 0-2);
    # here different objects sit >= 1.0 apart (the push margin), so 0.5 maps the margin to 0.5.
    # Issue 26: 0.52 (tags re-chosen, see tag_max_distance).
    tag_cost_scale: float = 0.52
    # Tags kept per track besides the moving average (ring buffer of the last matched tags; 0 =
    # the average only). A track's tag distance to a detection is the smallest over the average
    # and the gallery (appearance.TagGallery).
    # Issue 26: 3 (tags re-chosen, see tag_max_distance).
    tag_gallery_size: int = 3
    # Tag confidence in the first tags_motion stage: a pair's tag term counts only if the
    # detection's tag is at least this much farther from every other candidate track
    # (appearance.margins); 0 = always. "sum": an unconfident pair is left to the IoU stages.
    # 0.2 cost HOTA on the tuning seeds (hard "min" 58.3 -> 57.7, medium 70.5 -> 69.1;
    # `git show ad55cac:notes/BENCH_tags.md`): a look-alike's tag is often the only hint in a crossing.
    # Issue 26: 0.16 (tags re-chosen, see tag_max_distance).
    tag_margin: float = 0.16
    # Tag revival: a tags-only stage of "tags_motion", after the IoU stages and before the
    # tentative tracks: lost tracks, lost for at least revival_after_s (beyond what motion still
    # predicts), against the high detections left, on tag distance alone (limit
    # revival_max_distance), each pair only if the detection's tag is at least revival_margin
    # farther from every other live track (tag confidence). With it, lost tracks are kept for
    # revival_lost_time_s (if longer than lost_time_s): tags recognise an object after an
    # occlusion longer than motion can bridge. Chosen on the tuning seeds 5000-5003 (hard) and
    # 2000-2002 (medium), aetrack/bench/reports/tags.md "Tags (issue 16)": with the "min" cost, revival with
    # 0.6 / 0.2 / 0.5 s / 5 s gave hard HOTA 58.3 -> 59.4, IDF1 70.9 -> 73.3, medium 70.5 -> 72.3; with the
    # "sum" cost it cost HOTA (hard 57.2 -> 56.8, medium 73.0 -> 72.6), so it is off by default.
    tag_revival: bool = False
    revival_max_distance: float = 0.6
    revival_margin: float = 0.2
    revival_after_s: float = 0.5
    revival_lost_time_s: float = 5.0
    iou_threshold_high: float = 0.8
    iou_threshold_low: float = 0.5
    # A looser IoU gate for tentative tracks (0.85: IoU >= 0.15): a newborn track has no velocity
    # yet, so its prediction lags a walker, and at a low frame rate (PETS: 7 frames/s) consecutive
    # boxes of one person overlap little (session 11; kept by issue 27: 0.7 and 0.95 did no better).
    iou_threshold_tentative: float = 0.85
    # Consecutive matched frames (the birth frame counts) that confirm a tentative track; a
    # tentative track missed once is removed. 2 = ByteTrack, 3 = deep_sort. It counts the
    # detector's confirmations, and a spurious box repeats frame after frame at any rate, so it
    # is in frames, but no more of them than last confirm_s seconds and never fewer than 2 (one
    # detection is never a track): frames = min(min_hits, max(2, ceil(confirm_s * fps))), 3 from
    # 21 frames/s up and 2 below with the defaults; confirm_s 0 = min_hits at any rate. At 7
    # frames/s three frames keep every new track unreported for 0.3 s and drop it if the
    # detector misses it once in 0.4 s. Issue 27 measured min_hits in seconds alone (0.1 s: 3
    # frames at 30 frames/s, 1 at 7): PETS 1-397 with its ACF boxes (unnormalised scores, every
    # box "high") fell from HOTA 37.2 to 22.9. 3 (issue 27): with 2 at every rate, MOT17 all frames
    # had 458 identity switches against 371. confirm_s 0.1 (issue 27 follow-up, with
    # common_motion_velocity_gain 0.5): MOT17 every 4th frame HOTA / IDF1 51.1 / 59.7 -> 51.5 /
    # 59.9 (IDSW 206 -> 293), every 2nd 51.4 / 59.7 -> 52.3 / 60.6, all frames 51.6 / 59.7 / 371 ->
    # 51.7 / 59.8 / 375 (MOT17-05, 14 frames/s), synthetic seeds at 7 frames/s 58.1 / 70.8 ->
    # 58.9 / 71.3; PETS 1-397 YOLOX-nano 55.6 / 76.8 -> 55.6 / 76.5, ACF 35.5 / 42.0 -> 36.5 /
    # 47.1 (but frames 1-198 37.1 -> 32.7 HOTA); 0.08 s scored the same, 0.15 s and 0.2 s less.
    min_hits: int = 3
    confirm_s: float = 0.1
    # Tracks born in the first frame after construction or reset() are confirmed at once:
    # nothing earlier could confirm them, and metrics count the first frame (ByteTrack).
    confirm_on_first_frame: bool = True
    # Seconds a lost track is kept for revival; in frames: round(lost_time_s * frame_rate).
    # A track unmatched for up to that many consecutive frames can be revived; one more
    # unmatched frame removes it. Longer than ByteTrack's 30-frame buffer because tags can
    # recognise an object after a longer occlusion than motion alone can predict it. 2.0 s
    # (session 2) -> 3.0 s on the tuning seeds 2000-2007 (embedded model, Kalman output
    # boxes): tags + motion HOTA 72.4 -> 72.6 / IDF1 88.5 -> 88.9 on 2000-2002 and 78.7 ->
    # 79.1 / 91.4 -> 92.3 on 2003-2007; 4 s and longer gave no more (BENCHMARKS.md).
    # Issue 17, real data: on the MOT17 half-val tuning halves (public detections) 3.0 s gave
    # HOTA 52.98 against 52.88 at 2.0 s (IDF1 60.00 / 60.02), no gain; 2.0 s is kept as the
    # default, as before session 8 (aetrack/bench/reports/linker.md, issue 17). Issue 27: 1.5 s
    # and 3.0 s did no better across scenes and frame rates.
    lost_time_s: float = 2.0
    # Seconds a lost track is still reported, at its Kalman prediction and with state
    # "lost", after its last match (in frames: round(report_lost_s * frame_rate); 0 = report
    # matched tracks only). A person who passes behind another for a few frames keeps a box
    # and, when revived, one unbroken trajectory; a track that never comes back adds at most
    # that many frames of false boxes. On the tuning seeds 2000-2007 (30 fps) 0.2 s (6
    # frames) gave tags + motion HOTA 72.6 -> 73.0 / IDF1 88.9 -> 89.2 on 2000-2002 and
    # 79.1 -> 79.5 / 92.3 -> 92.6 on 2003-2007; 10 frames added FP for no further IDF1
    # (BENCHMARKS.md). Capped at lost_time_s: a removed track cannot be reported.
    # Issue 17, real data: on the MOT17 tuning halves 0.2 s moved HOTA 52.88 -> 53.03 but IDF1
    # 60.02 -> 59.98 and MOTA 51.22 -> 50.67 while FP rose 1053 -> 2890 (predictions of
    # tracks that never came back), and the issue reports 10 MOTA lost on other real footage:
    # the default is 0 (report matched tracks only). The embedded weights store 0.2.
    report_lost_s: float = 0.0
    # Longest gap (seconds) between two matches of one track that results files fill with
    # boxes on the straight line between the two matched boxes (aetrack.io.gap_fill; 0 = off).
    # The linker itself never uses it: files get the filled rows interpolate_s late, and
    # Tracker.update's live rows are never filled. The linker has already joined both ends, so
    # filling costs no identity and recovers the frames the detector missed, without the false
    # positives of report_lost_s (a track that never comes back adds nothing). On the tuning
    # halves (2026-11-27; aetrack/bench/reports/linker.md, issue 17) filling every gap of a
    # revived track gave MOT17 public detections HOTA 54.4 -> 56.0 / IDF1 62.5 -> 63.7 (20
    # frames: 55.1 / 63.0), PETS 1-397 YOLOX-nano boxes 46.7 -> 47.5, PETS 1-397 with the
    # embedded default model 48.6 -> 49.0; longer gaps gained more, so 3.0 s covers every
    # lost_time_s default (a track is removed after lost_time_s, so no gap is longer).
    interpolate_s: float = 3.0
    # Whether a match with a low-score detection updates the track's tag average. Low scores
    # usually mean partial occlusion, where the tag read at the centre may be an occluder's.
    low_score_updates_tag: bool = False
    # Box reported for a track matched this frame: "kalman" = the filter's corrected state
    # (deep_sort / ByteTrack report it too), which averages the detection with the track's
    # motion and damps the detector's frame-to-frame size and centre jitter; "detection" =
    # the matched detection's box as decoded. On the tuning seeds 2000-2007 (embedded model,
    # tags + motion) "kalman" gave HOTA 72.1 -> 72.4 on 2000-2002 and 78.3 -> 78.7 on
    # 2003-2007, IDF1 level or higher (BENCHMARKS.md). Association uses the detections
    # either way; only what the tracker reports changes. Issue 17, real data: on the MOT17
    # tuning halves "kalman" lost HOTA 52.88 -> 52.34 (IDF1 60.02 -> 60.10): FRCNN boxes are
    # steady and several cameras move, so the default was "detection". Issue 27: "kalman" gained
    # on the synthetic seeds and lost on MOT17 at every rate. Issue 27 follow-up (with
    # common_motion_velocity_gain and confirm_s; picked by leave-one-sequence-out, aetrack/bench/reports/linker.md
    # "Follow-up"): "kalman" gained HOTA on every detector but MOT17's FRCNN,
    # where IDF1 held and switches fell: PETS 1-397 YOLOX-nano boxes 55.6 / 76.5 -> 56.4 / 76.7
    # (HOTA / IDF1), the default model's own 54.4 / 75.1 -> 55.2 / 75.4 (motion) and 51.4 / 68.0 ->
    # 52.2 / 68.2 (tags), ACF 36.5 -> 36.8, synthetic 65.2 -> 69.0 (30 frames/s) and 58.9 -> 59.9
    # (7); MOT17 all frames 51.7 / 59.8 / 375 -> 51.3 / 59.9 / 356, every 4th 51.5 / 59.9 -> 50.7 / 60.0.
    output_box: str = "kalman"
    # BYTE's score-fused IoU: in the IoU stages over high detections the cost is
    # 1 - IoU * score instead of 1 - IoU, so of two overlapping detections the more confident
    # one wins the track (ByteTrack does this on MOT17, not on MOT20). MOT17 tuning halves:
    # HOTA 52.88 -> 53.29, IDF1 60.02 -> 60.61 (aetrack/bench/reports/linker.md, issue 17). Off
    # (issue 27): across MOT17 at three frame rates, PETS and the synthetic seeds it lost (fused
    # scores favour confident boxes, which a detector other than MOT17's FRCNN does not
    # calibrate alike).
    fuse_score: bool = False
    # OC-SORT's observation-centric re-update (ORU): a track matched again after k unmatched
    # frames restarts its Kalman filter from its last match and replays the gap with virtual
    # observations on the straight line to the new detection, instead of keeping the velocity
    # its blind predictions drifted to. MOT17 tuning halves: HOTA 52.88 -> 52.87, IDF1 60.02
    # -> 60.05: no gain with this filter's noise model, so off.
    observation_recovery: bool = False
    # OC-SORT's direction consistency (OCM) in the IoU stages over high detections, for tracks
    # whose direction of travel is known: cost += direction_weight * (angle / pi - 0.5), the
    # angle (radians) between the track's direction (from its observation direction_s seconds
    # of matches earlier, in frames max(1, round(direction_s * fps)), to its last one) and the
    # direction from that same earlier observation to the detection. Only pairs within the
    # stage's IoU limit are eligible. 0 = off (OC-SORT's inertia 0.2, delta_t 3 frames at 30
    # frames/s = 0.1 s). MOT17 tuning halves: 0.2 alone HOTA 52.88 -> 53.40, IDF1 60.02 ->
    # 60.95; on in the issue 27 default (0.1 and 0.3, 0.05 s and 0.2 s did no better).
    direction_weight: float = 0.2
    direction_s: float = 0.1
    # Camera-motion compensation: when the tracker has the frames, the global motion between
    # consecutive frames (sparse optical flow + RANSAC similarity, aetrack.camera_motion)
    # moves every track's state before association (BoT-SORT). Off automatically when
    # linking given detections without frames.
    camera_motion: bool = False
    # Common-motion compensation from the detections alone (no pixels needed): after the
    # predict, every track is shifted by the median offset from the tracked tracks'
    # predictions to their nearest high detections (mutual nearest, within
    # common_motion_radius box heights), if at least common_motion_pairs such pairs exist. What
    # a camera pan or shake adds to every object's motion; the objects' own motions differ and
    # cancel in the median.
    # MOT17 tuning halves (with fuse_score and direction 0.2): HOTA 53.32 -> 54.43, IDF1
    # 60.71 -> 62.48, IDSW 377 -> 274, nearly all on the moving cameras MOT17-10 and -13
    # (aetrack/bench/reports/linker.md, issue 17). Issue 27: off cost HOTA at every rate (MOT17
    # 51.8 -> 50.6 at full rate, PETS YOLOX-nano 50.6 -> 44.3).
    common_motion: bool = True
    common_motion_pairs: int = 3
    # Largest offset (in box heights of the track) of a pair that votes on the common motion, a
    # frame's worth: generous at any frame rate (a walker covers 0.8 heights a second, 0.11 a
    # frame at 7 frames/s). 1.4 (issue 27; 1.0 and 2.0 scored the same to 0.1).
    common_motion_radius: float = 1.4
    # Fraction of the common shift also added to every track's velocity (unitless, per frame;
    # 0 = positions only, as before): a camera that moved unlike the tracks predicted is taken
    # to keep moving so, and the filters' velocities take up the camera's motion. With
    # positions only, the shift stands in for the velocity the filters would have learnt: after
    # it, the median track's innovation is zero, so a velocity error common to all tracks is
    # never corrected and drifts like a random walk, even on a still camera. PETS 1-397 with
    # YOLOX-nano's boxes (still camera): with 0 the detections lay below the predictions in 98 %
    # of frames, by 3.6 px a frame on average (0.05 box heights), and the shift made up for it
    # every frame; with 0.5 the average is 0.03 px, as without common motion. In frame f of a
    # steady pan of p px a frame the tracks' velocities reach p (1 - (1 - gain)^f). Issue 27
    # follow-up, leave-one-sequence-out (aetrack/bench/reports/linker.md "Follow-up"): 0.5 alone
    # gave MOT17 every 4th frame HOTA / IDF1 / IDSW 49.9 / 57.8 / 338 -> 51.1 / 59.7 / 206, all
    # frames 51.5 / 59.8 / 385 -> 51.6 / 59.7 / 371, PETS 1-397 YOLOX-nano 55.5 / 76.7 -> 55.6 /
    # 76.8; 0.25, 0.75 and 1 scored within 0.3 of it.
    common_motion_velocity_gain: float = 0.5
    # Classes the detector confuses, by class name: a track is paired with detections of its
    # own class or of a class in its group, never across groups, and its class is the majority
    # of its detections' classes, so a car read as a bus for a few frames stays one car track.
    # Classes in no group pair only with themselves (a cyclist and the bicycle under them stay
    # two tracks); names the model does not have are ignored. One group of every name would
    # pair across all classes, as ByteTrack does.
    class_groups: tuple[tuple[str, ...], ...] = (("car", "truck", "bus"), ("bicycle", "motorcycle"))
    kalman: KalmanNoise = field(default_factory=KalmanNoise)
    # Whether the settings in time units follow the stream's frame rate: the Kalman noise per
    # second and the direction span (direction_s). False reads them as those of a 30 frames/s
    # stream whatever the frame rate, as linkers did with their per-frame settings before issue
    # 27: checkpoints written before it are loaded so (upgrade_stored) and link exactly as
    # before at any frame rate. Time budgets in seconds (lost_time_s, ...) always follow it.
    frame_rate_scaling: bool = True

    # Per-frame keys before issue 27 -> their replacement (not fields: refused with this text in
    # configs, --set and tune spaces; translated in checkpoints, see upgrade_stored).
    RENAMED = {"direction_frames": "direction_s (seconds: direction_frames / frame rate; 3 frames at 30 frames/s = 0.1)"}

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"LinkerConfig.mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.tag_cost not in TAG_COSTS:
            raise ValueError(f"LinkerConfig.tag_cost must be one of {', '.join(TAG_COSTS)}, got {self.tag_cost!r}")
        _check_number("tag_proximity", self.tag_proximity, low=0.0, high=1.0)
        _check_number("tag_cost_scale", self.tag_cost_scale, low=0.0)
        for name in ("revival_max_distance", "revival_margin", "revival_after_s", "revival_lost_time_s"):
            _check_number(name, getattr(self, name), low=0.0)
        _check_number("tag_margin", self.tag_margin, low=0.0)
        if (isinstance(self.tag_gallery_size, bool) or not isinstance(self.tag_gallery_size, int)
                or not 0 <= self.tag_gallery_size <= 1000):
            raise ValueError(f"LinkerConfig.tag_gallery_size must be an integer in [0, 1000], "
                             f"got {self.tag_gallery_size!r}")
        if self.output_box not in OUTPUT_BOXES:
            raise ValueError(
                f"LinkerConfig.output_box must be one of {', '.join(OUTPUT_BOXES)}, got {self.output_box!r}"
            )
        for name in ("high_score", "low_score", "new_track_score"):
            _check_number(name, getattr(self, name))
        if not self.low_score <= self.high_score:
            raise ValueError(
                f"LinkerConfig.low_score must be <= high_score ({self.high_score!r}), got {self.low_score!r}"
            )
        if not self.new_track_score >= self.high_score:
            raise ValueError(
                f"LinkerConfig.new_track_score must be >= high_score ({self.high_score!r}), "
                f"got {self.new_track_score!r}"
            )
        for name in ("tag_max_distance", "motion_gate"):
            _check_number(name, getattr(self, name), low=0.0, low_open=True)
        _check_number("revive_tag_distance", self.revive_tag_distance, low=0.0)
        _check_number("tag_iou_weight", self.tag_iou_weight, low=0.0)
        _check_number("lost_reach", self.lost_reach, low=0.0)
        _check_number("lost_reach_speed", self.lost_reach_speed, low=0.0)
        if self.revive_tag_distance > self.tag_max_distance:
            raise ValueError(
                f"LinkerConfig.revive_tag_distance must be <= tag_max_distance "
                f"({self.tag_max_distance!r}), got {self.revive_tag_distance!r}"
            )
        _check_number("tag_momentum", self.tag_momentum, low=0.0, high=1.0, high_open=True)
        for name in ("iou_threshold_high", "iou_threshold_low", "iou_threshold_tentative"):
            _check_number(name, getattr(self, name), low=0.0, high=1.0)
        if isinstance(self.min_hits, bool) or not isinstance(self.min_hits, int) or self.min_hits < 1:
            raise ValueError(f"LinkerConfig.min_hits must be an integer >= 1, got {self.min_hits!r}")
        _check_number("confirm_s", self.confirm_s, low=0.0)
        _check_number("lost_time_s", self.lost_time_s, low=0.0)
        _check_number("report_lost_s", self.report_lost_s, low=0.0)
        _check_number("interpolate_s", self.interpolate_s, low=0.0)
        _check_number("direction_weight", self.direction_weight, low=0.0)
        _check_number("direction_s", self.direction_s, low=0.0)
        if isinstance(self.common_motion_pairs, bool) or not isinstance(self.common_motion_pairs, int) or \
                self.common_motion_pairs < 1:
            raise ValueError(f"LinkerConfig.common_motion_pairs must be an integer >= 1, got {self.common_motion_pairs!r}")
        _check_number("common_motion_radius", self.common_motion_radius, low=0.0, low_open=True)
        _check_number("common_motion_velocity_gain", self.common_motion_velocity_gain, low=0.0, high=1.0)
        for name in ("confirm_on_first_frame", "low_score_updates_tag", "fuse_score", "observation_recovery",
                     "camera_motion", "common_motion", "tag_revival", "frame_rate_scaling"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"LinkerConfig.{name} must be a bool, got {getattr(self, name)!r}")
        _check_class_groups(self.class_groups)
        if not isinstance(self.kalman, KalmanNoise):
            raise ValueError(f"LinkerConfig.kalman must be a KalmanNoise, got {self.kalman!r}")

    @property
    def tag_gated_limit(self) -> float:
        """Cost limit of the motion-gated tag stage: tag distance plus the overlap term."""
        return self.tag_max_distance + self.tag_iou_weight

    def without_tags(self) -> LinkerConfig:
        """This config as it links detections without tags (given detections, no model): the tag
        modes run their ``"motion"`` stages, so model-free runs say ``"motion"``, the mode that runs."""
        return self if self.mode in ("motion", "iou") else dataclasses.replace(self, mode="motion")

    def lost_frames(self, frame_rate: float) -> int:
        """Frames a track may stay unmatched and still be revived: round(lost_time_s * fps), or
        round(revival_lost_time_s * fps) if longer and the tags-only revival stage runs."""
        seconds = self.lost_time_s
        if self.mode == "tags_motion" and self.tag_revival:
            seconds = max(seconds, self.revival_lost_time_s)
        return round(seconds * frame_rate)

    def time_rate(self, frame_rate: float) -> float:
        """The frame rate the time-unit settings are carried to: the stream's, or with
        ``frame_rate_scaling`` off 30 frames/s (per-frame behaviour at any rate)."""
        return frame_rate if self.frame_rate_scaling else REFERENCE_FPS

    def confirm_frames(self, frame_rate: float) -> int:
        """Matched frames that confirm a tentative track: min(min_hits, max(2, ceil(confirm_s *
        fps))), or min_hits when confirm_s is 0. (ceil of a product a hair above a whole number,
        as 0.1 * 30 is in floating point, is that whole number.)"""
        if self.confirm_s == 0:
            return self.min_hits
        return min(self.min_hits, max(2, math.ceil(self.confirm_s * frame_rate - 1e-9)))

    def direction_frames(self, frame_rate: float) -> int:
        """Matches back to the observation a track's direction is measured from (direction
        consistency): max(1, round(direction_s * fps)), fps from :meth:`time_rate`."""
        return max(1, round(self.direction_s * self.time_rate(frame_rate)))

    def revival_after_frames(self, frame_rate: float) -> int:
        """Frames a track must have been lost for the tags-only revival stage: round(revival_after_s * fps)."""
        return round(self.revival_after_s * frame_rate)

    def interpolate_frames(self, frame_rate: float) -> int:
        """Longest gap (frames) of a revived track that results files fill: round(interpolate_s *
        fps), at most :meth:`lost_frames` (no longer gap can occur)."""
        return min(round(self.interpolate_s * frame_rate), self.lost_frames(frame_rate))

    def report_lost_frames(self, frame_rate: float) -> int:
        """Frames a lost track is still reported after its last match: round(report_lost_s *
        fps), at most :meth:`lost_frames`."""
        return min(round(self.report_lost_s * frame_rate), self.lost_frames(frame_rate))


#: Defaults before issue 27 of the settings whose default it changed (and its new class groups,
#: and per-frame noise and direction span at every frame rate: frame_rate_scaling off):
#: a checkpoint written before it (its stored linker section has no ``direction_s``) takes these
#: for the keys it did not store, as it did then, so an old checkpoint links as before
#: (upgrade_stored). ``kalman``: the per-frame noise of then, translated like a stored one.
#: Also the tag settings issue 26 changed that such sections did not store (gallery, margin, scale).
LEGACY_DEFAULTS: dict[str, Any] = {
    "tag_cost": "sum", "tag_proximity": 0.5, "iou_threshold_tentative": 0.7, "min_hits": 2, "direction_weight": 0.0,
    "common_motion": False, "common_motion_radius": 1.0, "class_groups": [], "frame_rate_scaling": False,
    "output_box": "detection", "tag_gallery_size": 0, "tag_margin": 0.0, "tag_cost_scale": 0.5,
    "kalman": {"position_weight": 1.0 / 20.0, "velocity_weight": 1.0 / 160.0, "aspect_std": 1e-2,
               "aspect_velocity_std": 1e-5, "aspect_measurement_std": 1e-1, "initial_position_factor": 2.0,
               "initial_velocity_factor": 10.0},
}

#: Settings added after issue 27, with the values that link as before them: a stored section
#: that lacks one (checkpoints store every key of their time) takes this value (upgrade_stored).
ADDED_AFTER_27: dict[str, Any] = {"common_motion_velocity_gain": 0.0, "confirm_s": 0.0}


def upgrade_stored(data: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint's stored linker section (a mapping, as written) in today's keys.

    A section written before issue 27 (no ``direction_s``) gets :data:`LEGACY_DEFAULTS` for the
    keys it lacks (``frame_rate_scaling`` off among them, so it links exactly as before at any
    frame rate), and its per-frame keys translated as those of a 30 frames/s stream: ``direction_frames`` n
    -> ``direction_s`` n / 30; Kalman ``position_weight`` p -> ``measurement_weight`` p and
    ``position_noise`` p sqrt(30); ``velocity_weight`` v -> ``velocity_noise`` v 30^1.5;
    ``aspect_std`` -> ``aspect_noise`` (x sqrt(30)); ``aspect_velocity_std`` ->
    ``aspect_velocity_noise`` (x 30^1.5); ``initial_velocity_factor`` f -> ``initial_velocity`` f v 30.
    Any section lacking a setting added since (:data:`ADDED_AFTER_27`) gets the value that links
    as before it. Anything else is left for :func:`aetrack.config.from_dict` to check.
    """
    if not isinstance(data, dict):
        return data
    if "direction_s" in data:
        missing = {k: v for k, v in ADDED_AFTER_27.items() if k not in data}
        return {**data, **missing} if missing else data
    out = {**LEGACY_DEFAULTS, **ADDED_AFTER_27, **data}
    if "kalman" not in data:
        out["kalman"] = dict(LEGACY_DEFAULTS["kalman"])
    fps = REFERENCE_FPS
    frames = out.pop("direction_frames", 3)
    if isinstance(frames, (int, float)) and not isinstance(frames, bool):
        out["direction_s"] = frames / fps
    kal = out["kalman"]
    if isinstance(kal, dict):
        kal = dict(kal)
        old = {k: LEGACY_DEFAULTS["kalman"][k] for k in KalmanNoise.RENAMED}  # their defaults then
        old.update({k: kal.pop(k) for k in list(kal) if k in old})
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in old.values()):
            kal.update(measurement_weight=old["position_weight"], position_noise=old["position_weight"] * fps ** 0.5,
                       velocity_noise=old["velocity_weight"] * fps ** 1.5, aspect_noise=old["aspect_std"] * fps ** 0.5,
                       aspect_velocity_noise=old["aspect_velocity_std"] * fps ** 1.5,
                       initial_velocity=old["initial_velocity_factor"] * old["velocity_weight"] * fps)
        out["kalman"] = kal
    return out


def _check_class_groups(groups: object) -> None:
    """Raise ValueError unless ``groups`` is a tuple of tuples of non-empty names, each name in one group."""
    ok = isinstance(groups, tuple) and all(
        isinstance(g, tuple) and g and all(isinstance(n, str) and n for n in g) for g in groups)
    if not ok:
        raise ValueError(f"LinkerConfig.class_groups must be a list of lists of class names, e.g. "
                         f"[[car, truck, bus]], got {groups!r}")
    names = [n for g in groups for n in g]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"LinkerConfig.class_groups names {twice[0]!r} more than once; a class belongs to one group")


def _check_number(
    name: str,
    value: object,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """Raise ValueError naming ``name`` unless ``value`` is a finite number in the range."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        raise ValueError(f"LinkerConfig.{name} must be a finite number in {lo}{low}, {high}{hi}, got {value!r}")
