"""Linker: scripted frame sequences with the exact id of every object on every frame.

Conventions in these scripts: boxes are 40 x 100 px (height 100 px, so the Kalman noise is
5 px per frame in position, see test_kalman.py); a "frame" is a list of detections
``(label, centre x, centre y, score, tag)``; :func:`run` feeds the frames and returns, per
frame, ``{label: id}`` for the labels the linker reported (a reported box is the matched
detection's box in :func:`scripted` configs, so it identifies the label). New tracks get ids
in detection order. Unless a test says otherwise: min_hits = 2, so a track born after the first frame is reported from its
second frame on, while tracks born in frame 1 are reported at once.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from aetrack.config import from_dict
from aetrack.errors import AetrackError
from aetrack.linker import KalmanNoise, Linker, LinkerConfig, Track

W, H = 40.0, 100.0
TAG_A = (1.0, 0.0)
TAG_B = (0.0, 1.0)  # |TAG_A - TAG_B| = sqrt(2) = 1.41 > tag_max_distance 0.8


def box(cx: float, cy: float) -> list[float]:
    return [cx - W / 2, cy - H / 2, cx + W / 2, cy + H / 2]


Det = tuple  # (label, cx, cy, score, tag or None)


def frame_arrays(dets: list[Det], *, with_tags: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    boxes = np.array([box(cx, cy) for _, cx, cy, _, _ in dets], dtype=np.float64).reshape(-1, 4)
    scores = np.array([s for *_, s, _ in dets], dtype=np.float64)
    tags = None
    if with_tags:
        dim = len(next((d[4] for d in dets), TAG_A))
        tags = np.array([d[4] for d in dets], dtype=np.float64).reshape(-1, dim)
    return boxes, scores, tags


#: deep_sort's Kalman noise at 30 frames/s (measurement 1/20, initial velocity 10/160 of the
#: height a frame): what the scripts' derivations assume (tests/test_kalman.py).
DEEP_SORT_NOISE = KalmanNoise(measurement_weight=1 / 20, initial_velocity=10 / 160 * 30)


def scripted(**fields: object) -> LinkerConfig:
    """A linker config that reports only matched tracks (``report_lost_s=0``), each with the
    matched detection's box (``output_box="detection"``), so that :func:`run` can tell which
    scripted detection a reported track is. The IoU costs the tests derive are plain
    ``1 - IoU``: score fusion, the direction term and common motion (tests/test_linker_motion.py)
    are off. The scripts were derived with the settings below (the defaults before issue 27):
    min_hits 2, tentative IoU limit 0.7, the "sum" tag cost, deep_sort's Kalman noise, and the tag
    settings before issue 26 (limit 0.8, overlap weight 1.0, momentum 0.2, revival 0.3, no gallery)."""
    return LinkerConfig(**{"output_box": "detection", "report_lost_s": 0.0, "fuse_score": False,
                           "direction_weight": 0.0, "common_motion": False, "min_hits": 2,
                           "iou_threshold_tentative": 0.7, "tag_cost": "sum", "tag_proximity": 0.5,
                           "tag_max_distance": 0.8, "tag_iou_weight": 1.0, "tag_momentum": 0.2,
                           "revive_tag_distance": 0.3, "tag_gallery_size": 0, "tag_margin": 0.0,
                           "tag_cost_scale": 0.5, "kalman": DEEP_SORT_NOISE, **fields})


def run(linker: Linker, frames: list[list[Det]], *, with_tags: bool = True) -> list[dict[str, int]]:
    assert linker.cfg.output_box == "detection" and linker.report_lost_frames == 0, "use scripted()"
    out = []
    for dets in frames:
        boxes, scores, tags = frame_arrays(dets, with_tags=with_tags)
        tracks = linker.update(boxes=boxes, scores=scores, tags=tags)
        ids = [t.track_id for t in tracks]
        assert ids == sorted(set(ids)), "ids must be unique within a frame and sorted"
        label_of = {tuple(b): d[0] for b, d in zip(boxes.tolist(), dets)}
        out.append({label_of[t.box]: t.track_id for t in tracks})
    return out


def crossing(*, bounce: bool, frames: int = 20, speed: float = 10.0) -> list[list[Det]]:
    """A moves right, B left, on the same line y = 100. In frame t (0-based), up to t = 9:
    A at 95 - 10 (9 - t), B at 105 + 10 (9 - t), so in frame 9 they are 10 px apart (boxes
    overlap, IoU = 30/50 = 0.6). Straight: they pass through x = 100 and swap sides (A at
    105, B at 95 in frame 10). Bounce: they turn back instead (A at 85, B at 115)."""
    seq = []
    for t in range(frames):
        d = speed * (9 - t) if (t <= 9 or bounce) else -speed * (t - 9)
        d = abs(d) if bounce else d
        seq.append([("A", 95.0 - d, 100.0, 0.9, TAG_A), ("B", 105.0 + d, 100.0, 0.9, TAG_B)])
    return seq


# ---- crossing objects -------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["tags_motion", "tags", "motion", "iou"])
def test_straight_crossing_keeps_ids_in_every_mode(mode: str) -> None:
    # Tag modes: A's tag is 0 from track 1's and 1.41 from track 2's (> 0.8 limit), so the tag
    # stage can only pair A with 1 and B with 2, whatever the boxes do.
    # Motion modes: constant velocity is learned within a few frames (prediction error
    # < 0.7 px after 9 updates, test_kalman), so at the crossing each track's predicted box
    # is within 1 px of its own detection (IoU = (40-1)/(40+1) > 0.95) and about 10 px from
    # the other's (IoU (40-10)/(40+10) = 0.6): the identity assignment costs less than the
    # swap, so motion alone also keeps the ids when the objects keep their velocity.
    seq = crossing(bounce=False)
    assert run(Linker(cfg=scripted(mode=mode)), seq) == [{"A": 1, "B": 2}] * len(seq)


def test_bounce_keeps_ids_with_tags_but_motion_alone_swaps() -> None:
    # Frame 10: the objects turn back. Kalman predicts them going on: track 1 at ~104.3
    # (velocity learned ~9.3 px/frame), track 2 at ~95.7; detections A at 85, B at 115.
    # Motion: IoU(track 1, B) with a ~10.7 px offset = 29.3/50.7 = 0.58, IoU(track 1, A) with
    # ~19.3 px = 20.7/59.3 = 0.35; the swap costs 2 (1 - 0.58) = 0.84 < 2 (1 - 0.35) = 1.30,
    # so motion and iou modes swap, and stay swapped (each track now follows the detection
    # moving in its own direction).
    # tags_motion: A's detection is 19.3 px from track 1's prediction; the innovation
    # variance of x is then ~76 px^2, so the squared Mahalanobis distance is ~19.3^2 / 76
    # = 4.9 < 9.49: inside the motion gate, and the tag (distance 0 vs 1.41) decides.
    # That is the "sum" tag cost. The default "min" cost (BoT-SORT) consults tags only where
    # 1 - IoU <= tag_proximity (0.5): track 1 and A have 1 - IoU = 0.65, so the pair costs its
    # IoU distance alone and the assignment swaps as in motion mode (issue 16 chose "min" on
    # the synthetic tuning seeds all the same, aetrack/bench/reports/tags.md "Tags (issue 16)").
    seq = crossing(bounce=True)
    kept = [{"A": 1, "B": 2}] * 20
    swapped = [{"A": 1, "B": 2}] * 10 + [{"A": 2, "B": 1}] * 10
    assert run(Linker(cfg=scripted(mode="tags_motion", tag_cost="sum")), seq) == kept
    assert run(Linker(cfg=scripted(mode="tags_motion", tag_cost="min")), seq) == swapped
    assert run(Linker(cfg=scripted(mode="tags")), seq) == kept
    assert run(Linker(cfg=scripted(mode="motion")), seq) == swapped
    assert run(Linker(cfg=scripted(mode="iou")), seq) == swapped


# ---- occlusion and the lost-time budget ---------------------------------------------------


def hidden_for(k: int) -> list[list[Det]]:
    """A still object, seen in frames 1-3, hidden in frames 4..3+k, seen again for 3 frames."""
    seen = [[("A", 100.0, 100.0, 0.9, TAG_A)]]
    return seen * 3 + [[]] * k + seen * 3


@pytest.mark.parametrize("mode", ["tags_motion", "motion"])
def test_hidden_within_budget_keeps_id_beyond_gets_new_one(mode: str) -> None:
    # Budget: round(lost_time_s * frame_rate) = round(0.5 * 10) = 5 frames. Last match in
    # frame 3; a lost track is removed at the end of frame f when f - 3 > 5, i.e. frame 9.
    cfg = scripted(mode=mode, lost_time_s=0.5)
    assert Linker(cfg=cfg, frame_rate=10.0).max_lost_frames == 5
    # k = 5: hidden in frames 4-8, back in frame 9 before removal: revived, id 1.
    assert run(Linker(cfg=cfg, frame_rate=10.0), hidden_for(5)) == [{"A": 1}] * 3 + [{}] * 5 + [{"A": 1}] * 3
    # k = 6: removed at the end of frame 9; frame 10 starts tentative track 2 (not reported),
    # confirmed by its second hit in frame 11.
    assert run(Linker(cfg=cfg, frame_rate=10.0), hidden_for(6)) == [{"A": 1}] * 3 + [{}] * 6 + [{}, {"A": 2}, {"A": 2}]


def test_budget_scales_with_frame_rate() -> None:
    # Same 0.5 s at 20 fps = 10 frames: hidden 6 frames is now within the budget.
    cfg = scripted(lost_time_s=0.5)
    assert run(Linker(cfg=cfg, frame_rate=20.0), hidden_for(6)) == [{"A": 1}] * 3 + [{}] * 6 + [{"A": 1}] * 3


def drifted(tag: tuple[float, ...], *, at: tuple[float, float] = (60.0, 150.0), step: float = -10.0) -> list[list[Det]]:
    """A moves right at 10 px/frame in frames 1-10 (x = 10..100, y = 100), is hidden in frames
    11-14 and is back in frames 15-17 at ``at``, with tag ``tag``, walking ``step`` px/frame
    (left by default: it turned)."""
    seq = [[("A", 10.0 * t, 100.0, 0.9, TAG_A)] for t in range(1, 11)]
    return seq + [[]] * 4 + [[("A", at[0] + step * t, at[1], 0.9, tag)] for t in range(3)]


def test_lost_track_revived_by_tag_after_its_prediction_drifted() -> None:
    # Frame 15: the prediction is x ~ 146, y = 100 (lost tracks keep their velocity); the
    # detection at (60, 150) is 86 px left and 50 px down of it, squared Mahalanobis distance
    # 31.3 > motion_gate 9.49, and the boxes (x 126-166 and 40-80) do not overlap.
    # It is within reach: 64 px from the last matched centre (100, 100), reach (lost_reach 0.5 +
    # 1.0 / s x 5 frames / 30 fps) x 100 px = 66.7 px.
    # tags_motion: the track is lost and its tag is at distance 0 <= revive_tag_distance 0.3,
    # so the gate is waived: revived as id 1. motion: no tags, no overlap: new track 2,
    # reported from its second frame.
    before = [{"A": 1}] * 10 + [{}] * 4
    assert run(Linker(cfg=scripted(mode="tags_motion")), drifted(TAG_A)) == before + [{"A": 1}] * 3
    assert run(Linker(cfg=scripted(mode="motion")), drifted(TAG_A)) == before + [{}, {"A": 2}, {"A": 2}]


def test_drifted_lost_track_with_a_different_tag_is_not_revived() -> None:
    # As above, but the detection in frame 15 has a tag 0.4 away: within tag_max_distance
    # (0.8) but not within revive_tag_distance (0.3), and outside the gate: a new track.
    near = (1.0, 0.4)
    assert run(Linker(cfg=scripted()), drifted(near)) == [{"A": 1}] * 10 + [{}] * 4 + [{}, {"A": 2}, {"A": 2}]


def test_lost_track_is_not_revived_by_tag_out_of_its_reach() -> None:
    # As above with the same tag, but back at (400, 300) and walking right: 361 px from the last
    # matched centre (100, 100), 3.6 heights in 5 frames (22 heights a second), beyond the reach
    # of 66.7 px.
    # A look-alike elsewhere, not A: a new track. With the reach gate off (a speed of 100
    # heights a second: 1767 px) the tag revives it as id 1.
    far = drifted(TAG_A, at=(400.0, 300.0), step=10.0)
    before = [{"A": 1}] * 10 + [{}] * 4
    assert run(Linker(cfg=scripted()), far) == before + [{}, {"A": 2}, {"A": 2}]
    assert run(Linker(cfg=scripted(lost_reach_speed=100.0)), far) == before + [{"A": 1}] * 3


def test_lost_track_whose_tag_changed_is_revived_by_overlap() -> None:
    # A hidden in frames 11-12 and back in frame 13 where its prediction is (x ~ 126: 130 gives
    # IoU ~ 0.8 with the predicted box, cost 0.2 <= iou_threshold_high 0.8), but with tag B,
    # 1.41 from its tag: the tag stage refuses the pair (> tag_max_distance 0.8). The IoU stage
    # of tags_motion takes lost tracks too, as motion does: revived as id 1.
    seq = [[("A", 10.0 * t, 100.0, 0.9, TAG_A)] for t in range(1, 11)]
    seq += [[]] * 2 + [[("A", 130.0 + 10.0 * t, 100.0, 0.9, TAG_B)] for t in range(3)]
    expected = [{"A": 1}] * 10 + [{}] * 2 + [{"A": 1}] * 3
    assert run(Linker(cfg=scripted(mode="tags_motion")), seq) == expected
    assert run(Linker(cfg=scripted(mode="motion")), seq) == expected


# ---- the low-score (ByteTrack) stage -------------------------------------------------------


def low_for(k: int) -> list[list[Det]]:
    """A still object at score 0.9 in frames 1-2, 0.3 in frames 3..2+k, 0.9 for 3 frames."""
    return (
        [[("A", 100.0, 100.0, 0.9, TAG_A)]] * 2
        + [[("A", 100.0, 100.0, 0.3, TAG_A)]] * k
        + [[("A", 100.0, 100.0, 0.9, TAG_A)]] * 3
    )


@pytest.mark.parametrize("mode", ["tags_motion", "motion", "iou", "tags"])
def test_low_score_frame(mode: str) -> None:
    # Score 0.3 is in [low_score 0.1, high_score 0.5): only the low stage may use it.
    # tags_motion, motion: the tracked track meets it in the low stage (IoU 1): reported.
    # iou, tags: no low stage; the track is lost in that frame (not reported), and the next
    # high detection revives it (lost tracks take part in the first stage): id 1 again.
    got = run(Linker(cfg=scripted(mode=mode)), low_for(1))
    if mode in ("tags_motion", "motion"):
        assert got == [{"A": 1}] * 6
    else:
        assert got == [{"A": 1}] * 2 + [{}] + [{"A": 1}] * 3


@pytest.mark.parametrize("mode", ["tags_motion", "motion", "iou"])
def test_low_score_longer_than_budget(mode: str) -> None:
    # Budget round(0.2 * 10) = 2 frames; low scores in frames 3-5. With the low stage the
    # track is matched every frame: id 1 throughout. Without (iou): last match frame 2,
    # removed at the end of frame 5 (5 - 2 > 2); frame 6 starts tentative track 2 (a low
    # detection never starts a track), reported from frame 7.
    cfg = scripted(mode=mode, lost_time_s=0.2)
    got = run(Linker(cfg=cfg, frame_rate=10.0), low_for(3))
    if mode == "iou":
        assert got == [{"A": 1}] * 2 + [{}] * 3 + [{}, {"A": 2}, {"A": 2}]
    else:
        assert got == [{"A": 1}] * 8


@pytest.mark.parametrize("mode", ["tags_motion", "tags", "motion", "iou"])
def test_modes_without_tags(mode: str) -> None:
    # Untagged frames: the tag modes fall back to motion (low stage keeps frame 3), while
    # iou stays SORT-like (no low stage: frame 3 unreported, revived in frame 4), as above.
    got = run(Linker(cfg=scripted(mode=mode)), low_for(1), with_tags=False)
    if mode == "iou":
        assert got == [{"A": 1}] * 2 + [{}] + [{"A": 1}] * 3
    else:
        assert got == [{"A": 1}] * 6


def test_detections_below_low_score_are_dropped() -> None:
    seen, faint = ("A", 100.0, 100.0, 0.9, TAG_A), ("A", 100.0, 100.0, 0.05, TAG_A)
    seq = [[seen], [seen], [faint], [seen]]
    assert run(Linker(cfg=scripted(mode="motion")), seq) == [{"A": 1}, {"A": 1}, {}, {"A": 1}]


def test_scores_between_high_and_new_track_score_match_but_do_not_start_tracks() -> None:
    # 0.55 is high (>= 0.5) but below new_track_score 0.6: frame 1 starts nothing; a track
    # started by 0.9 in frame 2 (tentative) is confirmed by the 0.55 detection in frame 3.
    seq = [[("A", 100.0, 100.0, 0.55, TAG_A)], [("A", 100.0, 100.0, 0.9, TAG_A)], [("A", 100.0, 100.0, 0.55, TAG_A)]]
    assert run(Linker(cfg=scripted()), seq) == [{}, {}, {"A": 1}]


# ---- ids: per instance, unique, never reused -----------------------------------------------


def test_two_linkers_are_independent() -> None:
    # norfair's test_multiple_trackers: interleaved updates, each linker counts from 1.
    one = Linker(cfg=scripted())
    two = Linker(cfg=scripted())
    a = [("A", 100.0, 100.0, 0.9, TAG_A), ("B", 300.0, 100.0, 0.9, TAG_B)]
    b = [("C", 500.0, 500.0, 0.9, TAG_A)]
    assert run(one, [a]) == [{"A": 1, "B": 2}]
    assert run(two, [b]) == [{"C": 1}]
    assert run(one, [a]) == [{"A": 1, "B": 2}]
    # A newcomer in linker two gets id 2 there, whatever linker one has issued.
    assert run(two, [b + [("D", 900.0, 500.0, 0.9, TAG_B)]] * 2) == [{"C": 1}, {"C": 1, "D": 2}]
    one.reset()
    assert run(two, [b]) == [{"C": 1}]
    assert run(one, [b]) == [{"C": 1}]


def onehot(i: int) -> tuple[float, ...]:
    return tuple(1.0 if j == i else 0.0 for j in range(8))


def test_long_sequence_ids_unique_and_never_reused() -> None:
    # Budget round(0.2 * 10) = 2 frames. Objects in separate lanes (150 px apart, no overlap),
    # each moving +2 px/frame, one-hot tags (pairwise distance 1.41). Script (frames 1..30):
    #   P lane 0   frames 1-30                 born frame 1 -> id 1, reported at once
    #   Q lane 1   frames 1-8, again 20-30     id 2; last match 8, removed end of frame 11
    #                                          (11 - 8 > 2); back in 20 -> new id 8 (from 21)
    #   V lane 5   frames 3-4, 7-9             id 3 (reported from frame 4); hidden 5-6 =
    #                                          2 frames, within budget: revived in frame 7
    #   R lane 2   frames 5-12                 id 4, reported 6-12
    #   S lane 3   frames 10-11                id 5, reported 11 only
    #   T lane 4   frame 15 only, x = 100      id 6: tentative, missed in 16 -> removed;
    #                                          never reported, and 6 is never issued again
    #   U lane 4   frames 16-30, x = 1000      id 7 (no overlap with T), reported 17-30
    lanes = {"P": 0, "Q": 1, "R": 2, "S": 3, "T": 4, "U": 4, "V": 5}
    start_x = {"T": 100.0, "U": 1000.0}
    tag_index = {"P": 0, "Q": 1, "R": 2, "S": 3, "T": 4, "U": 5, "V": 6}
    visible = {
        "P": range(1, 31), "Q": [*range(1, 9), *range(20, 31)], "V": [3, 4, 7, 8, 9],
        "R": range(5, 13), "S": [10, 11], "T": [15], "U": range(16, 31),
    }
    expected_ids = {  # label -> [(id, frames reported)]
        "P": [(1, range(1, 31))],
        "Q": [(2, range(1, 9)), (8, range(21, 31))],
        "V": [(3, [4, 7, 8, 9])],
        "R": [(4, range(6, 13))],
        "S": [(5, [11])],
        "T": [],
        "U": [(7, range(17, 31))],
    }
    frames = []
    for f in range(1, 31):
        frames.append([
            (label, start_x.get(label, 100.0) + 2.0 * f, 100.0 + 150.0 * lanes[label], 0.9, onehot(tag_index[label]))
            for label in lanes if f in visible[label]
        ])
    expected = [
        {label: i for label, spans in expected_ids.items() for i, fs in spans if f in fs}
        for f in range(1, 31)
    ]
    linker = Linker(cfg=scripted(lost_time_s=0.2), frame_rate=10.0)
    got = run(linker, frames)
    assert got == expected
    # Every id names one object span only, and id 6 (the burnt tentative one) never appears.
    spans: dict[int, set[str]] = {}
    for fr in got:
        for label, i in fr.items():
            spans.setdefault(i, set()).add(label)
    assert sorted(spans) == [1, 2, 3, 4, 5, 7, 8]
    assert all(len(labels) == 1 for labels in spans.values())
    # Removed tracks are dropped: only P, U and the returned Q are alive after frame 30.
    assert [t.track_id for t in linker.live_tracks()] == [1, 7, 8]


def test_memory_is_flat_on_an_endless_stream() -> None:
    # Every frame a new object appears at a fresh place and vanishes the next frame; with a
    # budget of 2 frames at most 3 lost tracks plus the newest one are alive at any time.
    linker = Linker(cfg=scripted(lost_time_s=0.2, min_hits=1), frame_rate=10.0)
    sizes = []
    for f in range(300):
        x = 60.0 * (f % 30)
        y = 150.0 * (f // 30 % 6)
        linker.update(boxes=np.array([box(x + 30, y + 60)]), scores=np.array([0.9]), tags=np.array([onehot(f % 8)]))
        sizes.append(len(linker.live_tracks()))
    assert max(sizes) <= 4
    assert linker.live_tracks()[-1].track_id <= 300


def test_reset_starts_ids_at_one() -> None:
    linker = Linker(cfg=scripted())
    seq = [[("A", 100.0, 100.0, 0.9, TAG_A), ("B", 300.0, 100.0, 0.9, TAG_B)]] * 2
    assert run(linker, seq) == [{"A": 1, "B": 2}] * 2
    assert linker.frame_index == 2
    linker.reset()
    assert linker.frame_index == 0
    assert linker.live_tracks() == []
    # After reset the first frame confirms at once again, and ids restart at 1.
    assert run(linker, [[("B", 300.0, 100.0, 0.9, TAG_B)]]) == [{"B": 1}]


# ---- inputs without tags, empty frames ----------------------------------------------------


def test_detections_without_tags_link_by_motion_and_iou() -> None:
    # Two objects in separate lanes moving toward each other horizontally (no overlap:
    # 150 px apart vertically); B is missed in frame 4 and found again in frame 5 by IoU
    # with its Kalman prediction (lost tracks take part in the first IoU stage).
    seq = []
    for f in range(1, 8):
        dets = [("A", 100.0 + 8.0 * f, 100.0, 0.9, None)]
        if f != 4:
            dets.append(("B", 600.0 - 8.0 * f, 250.0, 0.9, None))
        seq.append(dets)
    linker = Linker(cfg=scripted())
    got = run(linker, seq, with_tags=False)
    assert got == [{"A": 1, "B": 2}] * 3 + [{"A": 1}] + [{"A": 1, "B": 2}] * 3
    assert all(t.tag is None for t in linker.live_tracks())


def test_empty_frames_and_everything_disappearing() -> None:
    linker = Linker(cfg=scripted())
    empty = linker.update(boxes=np.zeros((0, 4)), scores=np.zeros(0), tags=np.zeros((0, 2)))
    assert empty == [] and linker.frame_index == 1
    assert linker.update(boxes=np.zeros((0, 4)), scores=np.zeros(0)) == []
    # Frame 3 is not the first frame: A's track is tentative there, reported from frame 4.
    seq = [[("A", 100.0, 100.0, 0.9, TAG_A)]] * 3 + [[]] * 2 + [[("A", 100.0, 100.0, 0.9, TAG_A)]]
    assert run(linker, seq) == [{}, {"A": 1}, {"A": 1}, {}, {}, {"A": 1}]
    assert [t.state for t in linker.live_tracks()] == ["confirmed"]


def test_track_snapshot_fields() -> None:
    linker = Linker(cfg=scripted(tag_momentum=0.5))
    linker.update(boxes=np.array([box(100, 100)]), scores=np.array([0.9]), tags=np.array([[1.0, 0.0]]))
    (t,) = linker.update(boxes=np.array([box(102, 100)]), scores=np.array([0.8]), tags=np.array([[0.0, 0.2]]))
    assert isinstance(t, Track)
    assert t.track_id == 1 and t.state == "confirmed" and t.age == 2 and t.hits == 2
    assert t.box == tuple(box(102, 100)) and t.score == pytest.approx(0.8)
    # tag = 0.5 * (1, 0) + 0.5 * (0, 0.2) = (0.5, 0.1); the snapshot's array is read-only.
    assert t.tag == pytest.approx([0.5, 0.1])
    with pytest.raises(ValueError):
        t.tag[0] = 3.0
    # A track missed this frame is lost, its box the Kalman prediction.
    assert linker.update(boxes=np.zeros((0, 4)), scores=np.zeros(0)) == []
    (lost,) = linker.live_tracks()
    assert lost.state == "lost" and lost.age == 3 and lost.hits == 2


# ---- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, value",
    [
        ("mode", "sort"),
        ("high_score", float("nan")),
        ("low_score", 0.7),
        ("new_track_score", 0.4),
        ("tag_max_distance", 0.0),
        ("tag_momentum", 1.0),
        ("motion_gate", -1.0),
        ("revive_tag_distance", 0.9),  # > tag_max_distance 0.8
        ("iou_threshold_high", 1.5),
        ("iou_threshold_low", float("inf")),
        ("min_hits", 0),
        ("confirm_s", -0.1),
        ("lost_time_s", -1.0),
        ("confirm_on_first_frame", 1),
        ("output_box", "smoothed"),
    ],
)
def test_invalid_config_names_the_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        LinkerConfig(**{field: value})


def test_config_from_yaml_mapping() -> None:
    cfg = from_dict(LinkerConfig, {"mode": "motion", "lost_time_s": 2, "kalman": {"position_noise": 0.1},
                                   "class_groups": [["car", "bus"]]})
    assert cfg.mode == "motion" and cfg.lost_time_s == 2.0 and cfg.kalman.position_noise == 0.1
    assert cfg.class_groups == (("car", "bus"),)
    with pytest.raises(AetrackError, match="unknown key"):
        from_dict(LinkerConfig, {"track_buffer": 30})
    with pytest.raises(AetrackError, match="tag_momentum"):
        from_dict(LinkerConfig, {"tag_momentum": 2.0})
    with pytest.raises(AetrackError, match="names 'car' more than once"):
        from_dict(LinkerConfig, {"class_groups": [["car", "bus"], ["car", "truck"]]})


@pytest.mark.parametrize("data, where, new", [
    ({"direction_frames": 3}, "linker: direction_frames", "use direction_s (seconds"),
    ({"kalman": {"velocity_weight": 0.01}}, "linker.kalman: velocity_weight", "use velocity_noise"),
    ({"kalman": {"position_weight": 0.05}}, "linker.kalman: position_weight", "use measurement_weight"),
])
def test_old_per_frame_keys_name_their_replacement(data: dict, where: str, new: str) -> None:
    with pytest.raises(AetrackError, match=f"^{re.escape(where)} is no longer a setting; {re.escape(new)}"):
        from_dict(LinkerConfig, data, where="linker")


@pytest.mark.parametrize("frame_rate", [0.0, -5.0, float("nan"), float("inf")])
def test_invalid_frame_rate(frame_rate: float) -> None:
    with pytest.raises(ValueError, match="frame_rate"):
        Linker(frame_rate=frame_rate)


def test_invalid_inputs_raise() -> None:
    linker = Linker(cfg=scripted())
    good = np.array([box(100, 100)])
    with pytest.raises(ValueError, match="boxes must be finite"):
        linker.update(boxes=np.array([[0.0, np.nan, 10.0, 10.0]]), scores=np.array([0.9]))
    with pytest.raises(ValueError, match="x2 > x1"):
        linker.update(boxes=np.array([[10.0, 0.0, 10.0, 10.0]]), scores=np.array([0.9]))
    with pytest.raises(ValueError, match="shape"):
        linker.update(boxes=np.zeros((2, 3)), scores=np.zeros(2))
    with pytest.raises(ValueError, match="scores"):
        linker.update(boxes=good, scores=np.array([0.9, 0.8]))
    with pytest.raises(ValueError, match="scores must be finite"):
        linker.update(boxes=good, scores=np.array([np.inf]))
    with pytest.raises(ValueError, match="tags"):
        linker.update(boxes=good, scores=np.array([0.9]), tags=np.array([[np.nan, 0.0]]))
    linker.update(boxes=good, scores=np.array([0.9]), tags=np.array([[1.0, 0.0]]))
    with pytest.raises(ValueError, match="D = 2"):
        linker.update(boxes=good, scores=np.array([0.9]), tags=np.array([[1.0, 0.0, 0.0]]))


def test_frames_with_and_without_tags_mix() -> None:
    # Frame 1 has no tags: the track starts untagged. Frame 2 has tags: the untagged track
    # cannot take part in the tag stage (cost inf) but the IoU stage matches it and it takes
    # the detection's tag as is. Frame 3 without tags: motion stages, tag kept.
    linker = Linker(cfg=scripted())
    seq = [[("A", 100.0, 100.0, 0.9, None)], [("A", 102.0, 100.0, 0.9, TAG_A)], [("A", 104.0, 100.0, 0.9, None)]]
    got = []
    for i, dets in enumerate(seq):
        got += run(linker, [dets], with_tags=i == 1)
    assert got == [{"A": 1}] * 3
    assert linker.live_tracks()[0].tag == pytest.approx(TAG_A)


def test_overlap_term_settles_ambiguous_tags() -> None:
    # Two still objects 20 px apart (IoU of their boxes: 20*100 / (2*4000 - 2000) = 1/3), well
    # inside each other's motion gate. Their tags, 0.3 apart, swap in frame 2 (weak tags).
    # Costs tag + w * (1 - IoU): w = 0: keep 0.3 + 0.3 = 0.6 > swap 0.0 + 0.0 -> swapped ids;
    # w = 1 (scripted): keep 0.3 + 0.3 = 0.6 < swap 2 * (0.0 + 2/3) = 1.33 -> ids kept.
    frames = [
        [("a", 100.0, 200.0, 0.9, (0.0, 0.0)), ("b", 120.0, 200.0, 0.9, (0.3, 0.0))],
        [("a", 100.0, 200.0, 0.9, (0.3, 0.0)), ("b", 120.0, 200.0, 0.9, (0.0, 0.0))],
    ]
    assert run(Linker(cfg=scripted(tag_iou_weight=0.0)), frames) == [{"a": 1, "b": 2}, {"a": 2, "b": 1}]
    assert run(Linker(cfg=scripted()), frames) == [{"a": 1, "b": 2}, {"a": 1, "b": 2}]
    assert scripted().tag_gated_limit == 0.8 + 1.0


def test_kalman_output_box_is_the_corrected_state() -> None:
    # One object, 40 x 100 px, moves 10 px right between frame 1 and frame 2. Kalman noise
    # (deep_sort weights, h = 100): position std 5 px, velocity std 0.625 px/frame. Birth:
    # var(x) = (2 * 5)^2 = 100, var(vx) = (10 * 0.625)^2 = 39.0625. Predict: var(x) = 100 +
    # 39.0625 + 5^2 = 164.0625. Update: innovation variance 164.0625 + 5^2 = 189.0625, gain
    # 164.0625 / 189.0625 = 105 / 121, so the centre moves 10 * 105 / 121 = 8.6777 px of the
    # 10; y, aspect and height see zero innovation and stay put.
    frames = [[("A", 120.0, 150.0, 0.9, None)], [("A", 130.0, 150.0, 0.9, None)]]
    kalman_linker = Linker(cfg=LinkerConfig(output_box="kalman", kalman=DEEP_SORT_NOISE, common_motion=False))
    detection_linker = Linker(cfg=scripted())
    for dets in frames:
        boxes, scores, _ = frame_arrays(dets, with_tags=False)
        (k,) = kalman_linker.update(boxes=boxes, scores=scores)
        (d,) = detection_linker.update(boxes=boxes, scores=scores)
    assert LinkerConfig().output_box == "kalman"  # issue 27 follow-up, across detectors and frame rates
    cx = 120.0 + 10.0 * 105.0 / 121.0
    np.testing.assert_allclose(k.box, (cx - 20.0, 100.0, cx + 20.0, 200.0), atol=1e-9)
    assert d.box == (110.0, 100.0, 150.0, 200.0)  # the detection as given
    assert k.track_id == d.track_id == 1


def test_rescale_carries_tracks_to_resized_frames() -> None:
    # A 40 x 100 box at (100, 100)-(140, 200), born with zero velocity; the frames then shrink
    # to half size, so the same object is the box (50, 50)-(70, 100). Rescaled, the
    # prediction is exactly that box (IoU 1, zero innovation): same id, the box unchanged.
    # Without the rescale the boxes do not overlap (IoU 0), so the object gets a new id.
    first = (np.array([[100.0, 100.0, 140.0, 200.0]]), np.array([0.9]))
    half = (np.array([[50.0, 50.0, 70.0, 100.0]]), np.array([0.9]))
    kept, fresh = Linker(), Linker(cfg=LinkerConfig(report_lost_s=0.0, min_hits=1))
    for linker in (kept, fresh):
        linker.update(boxes=first[0], scores=first[1])
    kept.rescale(sx=0.5, sy=0.5)
    (t,) = kept.update(boxes=half[0], scores=half[1])
    assert t.track_id == 1
    np.testing.assert_allclose(t.box, (50.0, 50.0, 70.0, 100.0), atol=1e-9)
    assert [t.track_id for t in fresh.update(boxes=half[0], scores=half[1])] == [2]
    with pytest.raises(ValueError, match="sx"):
        kept.rescale(sx=0.0, sy=1.0)


def test_recently_lost_tracks_are_reported_at_their_prediction() -> None:
    # A stands still at x = 100 for 3 frames, then is hidden. report_lost_s 0.2 at 10 fps =
    # round(2.0) = 2 frames: A is reported in the first 2 hidden frames with state "lost" at
    # its (still) prediction, then no more; lost_time_s 0.5 = 5 frames keeps it revivable,
    # so when A reappears in hidden frame 4 it keeps id 1.
    cfg = LinkerConfig(report_lost_s=0.2, lost_time_s=0.5)
    linker = Linker(cfg=cfg, frame_rate=10.0)
    assert linker.report_lost_frames == 2
    seen, lost_boxes = [], []
    for present in [True] * 3 + [False] * 3 + [True]:
        boxes = np.array([box(100.0, 150.0)]) if present else np.zeros((0, 4))
        tracks = linker.update(boxes=boxes, scores=np.full(len(boxes), 0.9))
        seen.append([(t.track_id, t.state) for t in tracks])
        lost_boxes += [t.box for t in tracks if t.state == "lost"]
    assert seen == [[(1, "confirmed")]] * 3 + [[(1, "lost")]] * 2 + [[], [(1, "confirmed")]]
    # Same box every frame: zero velocity, so the prediction is the box itself.
    np.testing.assert_allclose(lost_boxes, [box(100.0, 150.0)] * 2, atol=1e-9)
    # Capped at the lost-track budget: 1.0 s would be 10 frames, lost_time_s 0.5 keeps 5.
    assert LinkerConfig(report_lost_s=1.0, lost_time_s=0.5).report_lost_frames(10.0) == 5
    with pytest.raises(ValueError, match="report_lost_s"):
        LinkerConfig(report_lost_s=-0.1)


# ---- classes: a track never takes a detection of another class group; its class is the ----
# ---- majority of its detections' classes ------------------------------------------------

PERSON, CAR = 0, 1
CLASS_OF = {"P": PERSON, "C": CAR}
TAG_SHARED = (0.5, 0.5)  # both objects get the same tag: a weak model, tags cannot tell them apart


def run_classes(linker: Linker, frames: list[list[Det]], *, with_classes: bool = True) -> list[dict[str, int]]:
    """Like :func:`run`, with each detection's class from ``CLASS_OF[label]`` (all class 0 when
    not ``with_classes``). Reported tracks are told apart by box and class, so two detections
    at one spot are fine; every reported track must carry its detection's class."""
    assert linker.cfg.output_box == "detection" and linker.report_lost_frames == 0, "use scripted()"
    out = []
    for dets in frames:
        boxes, scores, tags = frame_arrays(dets, with_tags=True)
        classes = np.array([CLASS_OF[d[0]] if with_classes else 0 for d in dets], dtype=np.int64)
        tracks = linker.update(boxes=boxes, scores=scores, tags=tags, classes=classes)
        label_of = {(tuple(b), int(c)): d[0] for b, c, d in zip(boxes.tolist(), classes, dets)}
        out.append({label_of[(t.box, t.class_id)]: t.track_id for t in tracks})
    return out


def person_and_car(*, bounce: bool) -> list[list[Det]]:
    """A person P walks right and a car C (same 40 x 100 box: seen end-on) drives left on one
    line, 4 px per frame each. In frame t (0-based) their centres are ``sep(t)`` apart:

    * straight: P at 100 - 4 (10 - t), C at 100 + 4 (10 - t), crossing over: 40 px apart in
      frame 5, 8 px in frame 9 (IoU (40-8)/(40+8) = 0.67), the same spot in frame 10 (IoU 1),
      8 px apart with sides swapped in frame 11, 40 px in frame 15;
    * bounce: they come to 5 px of each other in frame 9 (IoU 35/45 = 0.78) and turn back:
      P at 97.5 - 4 |9 - t|, C at 102.5 + 4 |9 - t| (frame 10: 93.5 and 106.5).
    """
    seq = []
    for t in range(16):
        d = 4.0 * abs(9 - t) + 2.5 if bounce else 4.0 * (10 - t)
        seq.append([("P", 100.0 - d, 100.0, 0.9, TAG_SHARED), ("C", 100.0 + d, 100.0, 0.9, TAG_SHARED)])
    return seq


@pytest.mark.parametrize("mode", ["iou", "motion", "tags_motion"])
@pytest.mark.parametrize("bounce", [False, True])
def test_person_and_car_never_swap_ids(mode: str, bounce: bool) -> None:
    # Frame 1 confirms both tracks: P -> 1, C -> 2 (detection order). Every stage forbids a
    # person track taking the car and the reverse, and each object's own detection is always
    # close enough to its track's prediction: at most the Kalman lag of a turn, e.g. bounce,
    # frame 10: track 1 predicted at x = 101.0 (97.5 plus a velocity learned as ~3.5 of the 4
    # px/frame), P at 93.5, a 7.5 px offset, IoU 32.5/47.5 = 0.68 >= 0.2 (iou_threshold_high
    # 0.8 as a cost limit; tags_motion: inside the motion gate). So the ids hold on
    # all 16 frames, whatever the overlap (IoU 1 in frame 10 of the straight crossing).
    seq = person_and_car(bounce=bounce)
    assert run_classes(Linker(cfg=scripted(mode=mode)), seq) == [{"P": 1, "C": 2}] * 16


@pytest.mark.parametrize("mode", ["iou", "motion", "tags_motion"])
def test_bounce_without_classes_swaps(mode: str) -> None:
    # The control for the test above: with one class for both, the bounce swaps the ids in
    # frame 10 (0-based, the 11th frame). Track 1 (moving right) is predicted at x = 101.0,
    # track 2 at 99.0; P is at 93.5, C at 106.5. IoU(track 1, C) at a 5.5 px offset is
    # 34.5/45.5 = 0.76, IoU(track 1, P) at 7.5 px is 32.5/47.5 = 0.68 (track 2 mirrors it): the
    # swap costs 2 (1 - 0.76) = 0.48 < 2 (1 - 0.68) = 0.64 for keeping. tags_motion: equal tags
    # (distance 0 to both, both inside the motion gate), so the overlap term decides the same way.
    got = run_classes(Linker(cfg=scripted(mode=mode)), person_and_car(bounce=True), with_classes=False)
    assert got[:10] == [{"P": 1, "C": 2}] * 10
    assert got[10] == {"P": 2, "C": 1}


@pytest.mark.parametrize("mode", ["iou", "motion", "tags_motion"])
def test_car_at_a_lost_person_track_starts_a_new_track(mode: str) -> None:
    # A still person P at (100, 100) in frames 1-3 (track 1), hidden in frames 4-5 (lost; the
    # budget is round(3.0 s * 30) = 90 frames, so it is kept). Frame 6: a car C at exactly the
    # person's spot, with the person's tag: IoU 1 with the lost track's prediction and tag
    # distance 0, which would revive track 1 (see the control below), but the classes differ:
    # C starts track 2, tentative in frame 6 (not reported), confirmed in frame 7. Frame 8: P
    # is back at the same spot beside C: P revives track 1, C keeps track 2.
    p = ("P", 100.0, 100.0, 0.9, TAG_SHARED)
    c = ("C", 100.0, 100.0, 0.9, TAG_SHARED)
    seq = [[p]] * 3 + [[]] * 2 + [[c], [c], [p, c]]
    expected = [{"P": 1}] * 3 + [{}] * 2 + [{}, {"C": 2}, {"P": 1, "C": 2}]
    assert run_classes(Linker(cfg=scripted(mode=mode)), seq) == expected
    control = run_classes(Linker(cfg=scripted(mode=mode)), seq[:6], with_classes=False)
    assert control[5] == {"C": 1}  # without classes the car takes the person's id


def test_classes_without_names_never_pair() -> None:
    linker = Linker(cfg=scripted())
    boxes = np.array([box(100, 100), box(300, 100)])
    tracks = linker.update(boxes=boxes, scores=np.array([0.9, 0.9]), classes=np.array([5, 2]))
    assert [(t.track_id, t.class_id) for t in tracks] == [(1, 5), (2, 2)]
    # Without class names no group joins two classes. Without classes every detection is
    # class 0: neither the class-5 nor the class-2 track matches, both become lost, and class-0
    # tracks 3 and 4 start (tentative, not reported).
    assert linker.update(boxes=boxes, scores=np.array([0.9, 0.9])) == []
    assert [(t.track_id, t.class_id, t.state) for t in linker.live_tracks()] == [
        (1, 5, "lost"), (2, 2, "lost"), (3, 0, "tentative"), (4, 0, "tentative")
    ]


TRAFFIC = ("person", "bicycle", "car", "motorcycle", "bus", "truck")  # the default model's classes
P_, BIKE, CAR_, BUS = 0, 1, 2, 4


def classed(linker: Linker, frames: list[list[tuple[float, float, int]]]) -> list[list[tuple[int, str]]]:
    """Feed frames of detections ``(centre x, centre y, class)`` (score 0.9, no tags); per frame
    the reported ``(track id, class name)`` pairs."""
    out = []
    for dets in frames:
        boxes = np.array([box(x, y) for x, y, _ in dets]).reshape(-1, 4)
        tracks = linker.update(boxes=boxes, scores=np.full(len(dets), 0.9),
                               classes=np.array([c for *_, c in dets], dtype=np.int64))
        out.append([(t.track_id, TRAFFIC[t.class_id]) for t in tracks])
    return out


def test_car_read_as_bus_for_a_few_frames_stays_one_car_track() -> None:
    # A car drives right 5 px a frame (its own detection overlaps its prediction: IoU >= 0.78),
    # read as a car in frames 1-3, as a bus in frames 4-6 and as a car again in frames 7-10.
    # car, truck and bus are one group (the default class_groups), so the bus detections match
    # track 1. Votes after frame 4: car 3, bus 1; after frame 6: car 3, bus 3, a tie, which keeps
    # the track's class; after frame 7: car 4. So track 1 is a car on all 10 frames.
    seq = [[(100.0 + 5 * t, 100.0, BUS if 3 <= t <= 5 else CAR_)] for t in range(10)]
    got = classed(Linker(cfg=scripted(mode="motion"), class_names=TRAFFIC), seq)
    assert got == [[(1, "car")]] * 10
    # Control: without the group (class_groups empty), the bus detections cannot take the car
    # track: frame 4 starts track 2 (tentative), frames 5-6 report it as a bus (min_hits 2),
    # and in frame 7 the car detection revives track 1 (lost for 3 frames, still overlapping).
    control = classed(Linker(cfg=scripted(mode="motion", class_groups=()), class_names=TRAFFIC), seq)
    assert control == [[(1, "car")]] * 3 + [[], [(2, "bus")], [(2, "bus")]] + [[(1, "car")]] * 4


def test_track_class_is_the_majority_of_its_detections() -> None:
    # Read as a bus at birth, then as a car: votes bus 1 (frame 1, class bus), bus 1 car 1
    # (frame 2: a tie keeps bus), bus 1 car 2 (frame 3: car from then on).
    seq = [[(100.0 + 5 * t, 100.0, BUS if t == 0 else CAR_)] for t in range(5)]
    got = classed(Linker(cfg=scripted(mode="motion"), class_names=TRAFFIC), seq)
    assert got == [[(1, "bus")], [(1, "bus")], [(1, "car")], [(1, "car")], [(1, "car")]]


@pytest.mark.parametrize("groups", [(("car", "truck", "bus"), ("bicycle", "motorcycle")), (TRAFFIC,)])
def test_cyclist_person_and_bicycle_stay_two_tracks(groups: tuple[tuple[str, ...], ...]) -> None:
    # A cyclist: the person's box P centred 40 px above the bicycle's box B (IoU 60 / 140 =
    # 0.43), both riding right 5 px a frame; the person is missed in frames 4-5. With the
    # default groups a person never pairs with a bicycle. Even with one group of every class
    # (ByteTrack's cross-class pairing) each detection overlaps its own track's prediction far
    # better (IoU >= 0.78) than the other's (0.43), so the assignment keeps them apart: person
    # track 1, bicycle track 2 on every frame, and the person track takes P back in frame 6.
    seq = [[(100.0 + 5 * t, 80.0, P_), (100.0 + 5 * t, 120.0, BIKE)] if t not in (3, 4)
           else [(100.0 + 5 * t, 120.0, BIKE)] for t in range(8)]
    got = classed(Linker(cfg=scripted(mode="motion", class_groups=groups), class_names=TRAFFIC), seq)
    both = [(1, "person"), (2, "bicycle")]
    assert got == [both] * 3 + [[(2, "bicycle")]] * 2 + [both] * 3


@pytest.mark.parametrize(
    "classes, match",
    [
        (np.array([0, 1]), r"classes must have shape \(1,\)"),
        (np.array([[0]]), r"classes must have shape \(1,\)"),
        (np.array([0.0]), "classes must be integers"),
        (np.array([True]), "classes must be integers"),
        (np.array([-1]), r"classes must be >= 0, classes\[0\] is -1"),
    ],
)
def test_invalid_classes_raise(classes: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Linker().update(boxes=np.array([box(100, 100)]), scores=np.array([0.9]), classes=classes)


def test_reported_boxes_are_clipped_to_the_frame() -> None:
    # A 640 x 480 frame; 40 x 100 boxes, each reported at its matched detection (scripted()).
    # A's box reaches 10 px past the left edge (x -10..30): reported as x 0..30. B's lies wholly
    # right of the frame (x 650..690): nothing of it is inside, so it is not reported at all.
    # Without a frame size both come back as linked. The tracks keep whole boxes either way:
    # in frame 2 the same detections match the same tracks (ids 1 and 2, no new ones).
    dets = np.array([box(10.0, 100.0), box(670.0, 100.0)])
    scores = np.array([0.9, 0.9])
    clipped, whole = Linker(cfg=scripted(min_hits=1)), Linker(cfg=scripted(min_hits=1))
    for _ in range(2):
        got = clipped.update(boxes=dets, scores=scores, frame_size=(640, 480))
        assert [(t.track_id, t.box) for t in got] == [(1, (0.0, 50.0, 30.0, 150.0))]
        got = whole.update(boxes=dets, scores=scores)
        assert [(t.track_id, t.box) for t in got] == [(1, (-10.0, 50.0, 30.0, 150.0)), (2, (650.0, 50.0, 690.0, 150.0))]
    with pytest.raises(ValueError, match="frame_size width must be a finite number > 0"):
        clipped.update(boxes=dets, scores=scores, frame_size=(0, 480))
