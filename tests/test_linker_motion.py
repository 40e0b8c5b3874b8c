"""The linker's motion options on scripted frames: score fusion, direction consistency,
observation-centric re-update and camera-motion compensation (with the real OpenCV estimator)."""

from __future__ import annotations

import numpy as np
import pytest

from aetrack.linker import Linker, LinkerConfig


def _box(x: float) -> np.ndarray:
    """A 40 x 100 px box at left edge x, top 100."""
    return np.array([x, 100.0, x + 40.0, 200.0])


def _walk(lk: Linker, xs: list[float]) -> None:
    for x in xs:
        lk.update(boxes=_box(x)[None], scores=np.array([0.9]))


@pytest.mark.parametrize("fuse, winner", [(False, "close"), (True, "confident")])
def test_fuse_score_prefers_the_confident_detection(fuse: bool, winner: str) -> None:
    # A still track at x = 100. Detection "close" at x = 104 (IoU 36/44 = 0.818, cost 0.182)
    # scores 0.55; "confident" at x = 108 (IoU 32/48 = 0.667) scores 1.0. Plain IoU picks close;
    # fused costs 1 - 0.818 * 0.55 = 0.55 against 1 - 0.667 * 1.0 = 0.333 pick confident.
    cfg = LinkerConfig(mode="motion", output_box="detection", fuse_score=fuse, new_track_score=0.9)
    lk = Linker(cfg=cfg, frame_rate=30.0)
    _walk(lk, [100.0, 100.0, 100.0])
    close, confident = _box(104.0), _box(108.0)
    out = lk.update(boxes=np.stack([close, confident]), scores=np.array([0.55, 1.0]))
    track1 = next(t for t in out if t.track_id == 1)
    assert track1.box == tuple((close if winner == "close" else confident).tolist())


@pytest.mark.parametrize("weight, winner_x", [(0.0, 128.0), (0.5, 172.0)])
def test_direction_consistency_keeps_the_track_going_its_way(weight: float, winner_x: float) -> None:
    # Walking right 10 px/frame (left edges 100..140); the Kalman prediction for the next frame
    # has its left edge at 146.6. Detection B at 128 overlaps it more (IoU 0.364) than A at 172
    # (IoU 0.224): plain IoU takes B. With direction_s 1/30 s (one frame at 30 frames/s) the
    # anchor is the previous observation (centre x 150); B's centre (148) lies behind it (angle
    # pi, + 0.25 at weight 0.5) and A's (192) ahead (angle 0, - 0.25): costs 0.886 vs 0.526, so A wins.
    cfg = LinkerConfig(mode="motion", output_box="detection", direction_weight=weight, direction_s=1 / 30,
                       min_hits=1)
    lk = Linker(cfg=cfg, frame_rate=30.0)
    _walk(lk, [100.0, 110.0, 120.0, 130.0, 140.0])
    out = lk.update(boxes=np.stack([_box(128.0), _box(172.0)]), scores=np.array([0.9, 0.9]))
    assert next(t for t in out if t.track_id == 1).box[0] == winner_x


def test_direction_span_is_in_seconds() -> None:
    # direction_s 0.1: round(0.1 * 30) = 3 matches back at 30 frames/s, round(0.1 * 7.5) = 1 at
    # 7.5 frames/s (0.13 s), never fewer than 1.
    cfg = LinkerConfig(direction_s=0.1)
    assert (cfg.direction_frames(30.0), cfg.direction_frames(7.5), cfg.direction_frames(2.0)) == (3, 1, 1)


def test_observation_recovery_equals_seeing_the_straight_line() -> None:
    # Walking right 10 px/frame for 10 frames, unseen for frames 11-13, seen at frame 14 at
    # x = 120. ORU replays the gap with virtual boxes at 105, 110, 115 (straight line from 100
    # to 120): the state must be the one of a linker that saw those boxes (same filter steps).
    def run(oru: bool, gap_boxes: bool) -> np.ndarray:
        lk = Linker(cfg=LinkerConfig(mode="motion", observation_recovery=oru, min_hits=1), frame_rate=30.0)
        _walk(lk, [10.0 * f for f in range(1, 11)])
        for x in (105.0, 110.0, 115.0):
            if gap_boxes:
                _walk(lk, [x])
            else:
                lk.update(boxes=np.zeros((0, 4)), scores=np.zeros(0))
        out = lk.update(boxes=_box(120.0)[None], scores=np.array([0.9]))
        assert [t.track_id for t in out] == [1]
        return lk._tracks.mean[0].copy()

    seen = run(False, True)
    np.testing.assert_allclose(run(True, False), seen, atol=1e-9)
    assert not np.allclose(run(False, False), seen, atol=1e-3)  # without ORU the blind predictions remain


def test_camera_motion_warp_moves_tracks_with_the_camera() -> None:
    # The camera pans: every point moves by (+30, -5) px. A track at x 100..140, y 100..200
    # (still, zero velocity) must be predicted at x 130..170, y 95..195 next frame, so the
    # object's detection there continues track 1 even though it does not overlap the old box.
    lk = Linker(cfg=LinkerConfig(mode="motion", output_box="detection", min_hits=1), frame_rate=30.0)
    _walk(lk, [100.0, 100.0])
    lk.apply_camera_motion(np.array([[1.0, 0.0, 30.0], [0.0, 1.0, -5.0]]))
    np.testing.assert_allclose(lk.live_tracks()[0].box, (130.0, 95.0, 170.0, 195.0), atol=1e-6)
    out = lk.update(boxes=np.array([[145.0, 95.0, 185.0, 195.0]]), scores=np.array([0.9]))
    assert [t.track_id for t in out] == [1]
    with pytest.raises(ValueError, match="affine"):
        lk.apply_camera_motion(np.zeros((2, 3)))


def test_camera_motion_estimator_finds_a_pan() -> None:
    cv2 = pytest.importorskip("cv2")
    from aetrack.camera_motion import CameraMotion

    # Smooth random texture (1080p), then the same scene shifted by (+24, -16) px: points of
    # frame 1 appear at +24, -16 in frame 2. At downscale 4 that is (6, -4) px, found to well
    # under a pixel there; the translation comes back in full-frame pixels.
    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.integers(0, 255, (1200, 2100), dtype=np.uint8), (0, 0), 3)
    first = base[60:1140, 60:1980]
    second = base[76:1156, 36:1956]
    est = CameraMotion()
    np.testing.assert_array_equal(est.update(first), [[1, 0, 0], [0, 1, 0]])  # nothing before frame 1
    affine = est.update(second)
    np.testing.assert_allclose(affine[:, :2], np.eye(2), atol=0.01)
    np.testing.assert_allclose(affine[:, 2], [24.0, -16.0], atol=1.0)


@pytest.mark.parametrize("field, value", [("direction_weight", -0.1), ("direction_s", -0.1),
                                          ("fuse_score", 1), ("camera_motion", "yes"), ("common_motion", 1),
                                          ("common_motion_pairs", 0), ("common_motion_radius", 0.0),
                                          ("common_motion_velocity_gain", 1.5), ("common_motion_velocity_gain", -0.1)])
def test_bad_motion_settings_name_the_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        LinkerConfig(**{field: value})


@pytest.mark.parametrize("common, ids_after", [(False, [5, 6, 7, 8]), (True, [1, 2, 3, 4])])
def test_common_motion_follows_a_camera_jump_without_pixels(common: bool, ids_after: list[int]) -> None:
    # Four still people 300 px apart (40 x 100 boxes) for 3 frames; then the camera jerks and
    # every box is 60 px further right: IoU with its prediction is 0 (60 > the 40 px width).
    # Each track's nearest detection is its own person (60 px = 0.6 heights < radius 1;
    # the next person is 240 px off), all 4 pairs mutual, median offset (+60, 0): the tracks
    # move onto their people and keep ids 1-4. Without it, four new tracks (5-8), confirmed
    # at their second frame (min_hits 2), so the frame after the jump reports them.
    cfg = LinkerConfig(mode="motion", output_box="detection", common_motion=common, fuse_score=False,
                       direction_weight=0.0, min_hits=2)
    lk = Linker(cfg=cfg, frame_rate=30.0)
    xs = np.array([100.0, 400.0, 700.0, 1000.0])
    for _ in range(3):
        lk.update(boxes=np.stack([_box(x) for x in xs]), scores=np.full(4, 0.9))
    for _ in range(2):
        out = lk.update(boxes=np.stack([_box(x + 60.0) for x in xs]), scores=np.full(4, 0.9))
    assert [t.track_id for t in out] == ids_after


@pytest.mark.parametrize("gain, velocities", [(0.0, [0.0, 0.0, 0.0]), (0.5, [5.0, 7.5, 8.75]), (1.0, [10.0, 10.0, 10.0])])
def test_common_motion_velocity_gain_lets_the_filters_learn_a_pan(gain: float, velocities: list[float]) -> None:
    # Four still people 300 px apart for 3 frames: every filter's velocity is 0 (each detection
    # lands on its prediction, so the updates move nothing). Then the camera pans: every box 10 px
    # further right each frame. Frame 4: predictions at x, detections at x + 10, shift +10; the
    # velocities take gain * 10. Frame 5: predictions at x + 10 + v, detections at x + 20, shift
    # 10 - v, and so on: v = 10 (1 - (1 - gain)^f) after f frames of the pan (5, 7.5, 8.75 with
    # gain 0.5). After each shift the detections lie exactly on the shifted predictions, so the
    # Kalman updates leave the velocities as the shift set them. With gain 0 the shift stands in
    # for the pan every frame and the velocities stay 0.
    cfg = LinkerConfig(mode="motion", output_box="detection", common_motion_velocity_gain=gain, fuse_score=False,
                       direction_weight=0.0)
    lk = Linker(cfg=cfg, frame_rate=30.0)
    xs = np.array([100.0, 400.0, 700.0, 1000.0])
    for _ in range(3):
        lk.update(boxes=np.stack([_box(x) for x in xs]), scores=np.full(4, 0.9))
    seen = []
    for f in (1, 2, 3):
        out = lk.update(boxes=np.stack([_box(x + 10.0 * f) for x in xs]), scores=np.full(4, 0.9))
        assert [t.track_id for t in out] == [1, 2, 3, 4]
        vx = lk._tracks.mean[:, 4]
        assert np.all(vx == vx[0]) and np.all(lk._tracks.mean[:, 5] == 0.0)
        seen.append(float(vx[0]))
    assert seen == velocities


def test_common_motion_needs_enough_pairs() -> None:
    # Two people only (common_motion_pairs 3): no common motion is estimated, the jump
    # breaks both tracks as without the option (new tracks 3 and 4, confirmed at their second
    # frame with min_hits 2).
    cfg = LinkerConfig(mode="motion", output_box="detection", common_motion=True, fuse_score=False, min_hits=2)
    lk = Linker(cfg=cfg, frame_rate=30.0)
    for _ in range(3):
        lk.update(boxes=np.stack([_box(100.0), _box(400.0)]), scores=np.full(2, 0.9))
    for _ in range(2):
        out = lk.update(boxes=np.stack([_box(160.0), _box(460.0)]), scores=np.full(2, 0.9))
    assert [t.track_id for t in out] == [3, 4]


@pytest.mark.parametrize("camera, ids", [(True, [1]), (False, [])])
def test_tracker_compensates_a_pan_from_the_frames(camera: bool, ids: list[int]) -> None:
    cv2 = pytest.importorskip("cv2")
    import dataclasses

    from aetrack import Tracker

    # Textured 1080p frames; between the 2nd and 3rd the camera pans so that scene points move
    # by (+48, -40) px. The person's box moves with them: 48 px > its 40 px width, so it no
    # longer overlaps the track's prediction. With camera_motion the estimated pan moves the
    # track onto it (id 1 continues); without, the box starts a new, not yet confirmed track
    # (min_hits 3), so frame 3 reports nothing. One track: common motion has no pairs to use.
    rng = np.random.default_rng(1)
    base = cv2.GaussianBlur(rng.integers(0, 255, (1300, 2100), dtype=np.uint8), (0, 0), 3)
    still = cv2.cvtColor(base[100:1180, 100:2020], cv2.COLOR_GRAY2BGR)
    panned = cv2.cvtColor(base[140:1220, 52:1972], cv2.COLOR_GRAY2BGR)
    cfg = dataclasses.replace(LinkerConfig(), camera_motion=camera)
    trk = Tracker.for_detections(linker_cfg=cfg, frame_rate=30.0)
    box = np.array([[500.0, 400.0, 540.0, 500.0]])
    for img in (still, still):
        trk.update_detections(boxes=box, scores=[0.9], frame=img)
    out = trk.update_detections(boxes=box + [48.0, -40.0, 48.0, -40.0], scores=[0.9], frame=panned)
    assert [t.track_id for t in out] == ids


def test_confirmation_takes_min_hits_frames_or_confirm_s_seconds_at_least_two() -> None:
    # min(3, max(2, ceil(0.1 * fps))): 3 frames from 21 frames/s up (0.1 s = 2.1 frames at 21),
    # 2 below (0.1 s = 2 frames at 20, less than one at 7); confirm_s 0: min_hits at any rate.
    cfg = LinkerConfig()
    assert [cfg.confirm_frames(f) for f in (60.0, 30.0, 25.0, 21.0, 20.0, 14.0, 7.5, 7.0)] == [3, 3, 3, 3, 2, 2, 2, 2]
    assert LinkerConfig(confirm_s=0.0).confirm_frames(7.0) == 3
    assert LinkerConfig(min_hits=1).confirm_frames(7.0) == 1


@pytest.mark.parametrize("fps, reported", [(7.0, [[], [], [1], [1], [1]]), (30.0, [[], [], [], [1], [1]])])
def test_a_new_track_is_reported_from_its_second_frame_at_7_frames_a_second(fps: float, reported: list) -> None:
    # Nothing in frame 1 (which would confirm at once); a still person from frame 2. At 7 frames/s
    # two matched frames confirm it (reported from frame 3); at 30 frames/s three (from frame 4).
    lk = Linker(cfg=LinkerConfig(mode="motion"), frame_rate=fps)
    seen = [[t.track_id for t in lk.update(boxes=np.zeros((0, 4)), scores=np.zeros(0))]]
    for _ in range(4):
        seen.append([t.track_id for t in lk.update(boxes=_box(100.0)[None], scores=np.array([0.9]))])
    assert seen == reported
