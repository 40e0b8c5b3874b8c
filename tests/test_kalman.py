"""Kalman filter: numbers derived by hand from the deep_sort noise model.

Noise for a box of height h = 100 px (deep_sort's: ``DEEP_SORT`` below, KalmanNoise at 30
frames/s with measurement noise 1/20 and initial velocity 10/160 a frame):
  per-frame position std  h/20  = 5 px      -> variance 25   (x, y, h; also measurement R)
  per-frame velocity std  h/160 = 0.625 px  -> variance 0.390625
  initial position std    2 * 5    = 10 px   -> variance 100
  initial velocity std    10 * 0.625 = 6.25  -> variance 39.0625
  aspect: process std 1e-2, velocity 1e-5, measurement 1e-1; initial = process values.
"""

from __future__ import annotations

import numpy as np
import pytest

from aetrack.linker import kalman
from aetrack.linker.kalman import KalmanNoise

DEEP_SORT = KalmanNoise(measurement_weight=1 / 20, initial_velocity=10 / 160 * 30).per_frame(30.0)


def test_box_conversions_round_trip() -> None:
    # box 10..50 x 20..120: w 40, h 100, centre (30, 70), a = 0.4
    xyah = kalman.xyxy_to_xyah(np.array([10.0, 20.0, 50.0, 120.0]))
    assert xyah == pytest.approx([30.0, 70.0, 0.4, 100.0])
    assert kalman.xyah_to_xyxy(xyah) == pytest.approx([10.0, 20.0, 50.0, 120.0])


def test_initiate_predict_update_by_hand() -> None:
    mean, cov = kalman.initiate(np.array([100.0, 200.0, 0.5, 100.0]), DEEP_SORT)
    assert mean == pytest.approx([100, 200, 0.5, 100, 0, 0, 0, 0])
    assert np.diag(cov) == pytest.approx([100, 100, 1e-4, 100, 39.0625, 39.0625, 1e-10, 39.0625])

    # predict: x' = x + vx = 100 (vx = 0); var x' = var x + var vx + Q = 100 + 39.0625 + 25
    # = 164.0625; var vx' = 39.0625 + 0.390625 = 39.453125; cov(x', vx') = var vx = 39.0625.
    mean, cov = kalman.predict(mean, cov, DEEP_SORT)
    assert mean == pytest.approx([100, 200, 0.5, 100, 0, 0, 0, 0])
    assert cov[0, 0] == pytest.approx(164.0625)
    assert cov[4, 4] == pytest.approx(39.453125)
    assert cov[0, 4] == pytest.approx(39.0625)
    assert cov[2, 2] == pytest.approx(1e-4 + 1e-4 + 1e-10)

    # update with x measured 10 px right: S = 164.0625 + 25 = 189.0625;
    # x = 100 + 10 * 164.0625 / S; vx = 10 * 39.0625 / S; var x = 164.0625 * 25 / S;
    # var vx = 39.453125 - 39.0625^2 / S. y, a, h measured as predicted: unchanged.
    s = 189.0625
    mean, cov = kalman.update(mean, cov, np.array([110.0, 200.0, 0.5, 100.0]), DEEP_SORT)
    assert mean[0] == pytest.approx(100 + 10 * 164.0625 / s)       # 108.6777
    assert mean[4] == pytest.approx(10 * 39.0625 / s)              # 2.0661
    assert mean[[1, 2, 3, 5, 6, 7]] == pytest.approx([200, 0.5, 100, 0, 0, 0])
    assert cov[0, 0] == pytest.approx(164.0625 * 25 / s)           # 21.6942
    assert cov[4, 4] == pytest.approx(39.453125 - 39.0625**2 / s)  # 31.3824


def test_covariance_grows_on_every_predict_without_update() -> None:
    mean, cov = kalman.initiate(np.array([0.0, 0.0, 0.5, 100.0]), DEEP_SORT)
    var_x = [cov[0, 0]]
    for _ in range(5):
        mean, cov = kalman.predict(mean, cov, DEEP_SORT)
        var_x.append(cov[0, 0])
    assert np.all(np.diff(var_x) > 0)
    # predict twice by hand: var x1 = 164.0625 (above); var vx1 = 39.453125, cov1 = 39.0625;
    # var x2 = 164.0625 + 2 * 39.0625 + 39.453125 + 25 = 306.640625
    assert var_x[2] == pytest.approx(306.640625)


def test_constant_velocity_is_predicted_exactly_once_velocity_is_known() -> None:
    # State with the true velocity (5 px/frame in x): predict moves exactly 5 px, and an
    # update with the exact measurement has zero innovation, so the mean stays on the line.
    mean, cov = kalman.initiate(np.array([0.0, 0.0, 0.5, 100.0]), DEEP_SORT)
    mean[4] = 5.0
    for t in range(1, 6):
        mean, cov = kalman.predict(mean, cov, DEEP_SORT)
        assert mean[0] == pytest.approx(5.0 * t, abs=1e-9)
        mean, cov = kalman.update(mean, cov, np.array([5.0 * t, 0.0, 0.5, 100.0]), DEEP_SORT)
        assert mean[0] == pytest.approx(5.0 * t, abs=1e-9)
        assert mean[4] == pytest.approx(5.0, abs=1e-9)


def test_velocity_is_learned_from_constant_motion() -> None:
    # From zero velocity, the prediction error on x = 5 t shrinks every frame (the filter's
    # error decays geometrically) and is below 0.05 px after 30 updates (0.0387 measured).
    mean, cov = kalman.initiate(np.array([0.0, 0.0, 0.5, 100.0]), DEEP_SORT)
    errors = []
    for t in range(1, 31):
        mean, cov = kalman.predict(mean, cov, DEEP_SORT)
        errors.append(abs(mean[0] - 5.0 * t))
        mean, cov = kalman.update(mean, cov, np.array([5.0 * t, 0.0, 0.5, 100.0]), DEEP_SORT)
    assert errors[0] == pytest.approx(5.0)
    assert np.all(np.diff(errors) < 0)
    assert errors[-1] < 0.05


def test_batched_calls_equal_single_calls() -> None:
    z = np.array([[100.0, 200.0, 0.5, 100.0], [10.0, 20.0, 0.4, 50.0]])
    mean, cov = kalman.predict(*kalman.initiate(z, DEEP_SORT), DEEP_SORT)
    meas = z + np.array([[3.0, -2.0, 0.01, 4.0], [1.0, 1.0, 0.0, -1.0]])
    bm, bc = kalman.update(mean, cov, meas, DEEP_SORT)
    for i in range(2):
        m, c = kalman.predict(*kalman.initiate(z[i], DEEP_SORT), DEEP_SORT)
        m, c = kalman.update(m, c, meas[i], DEEP_SORT)
        assert bm[i] == pytest.approx(m)
        assert bc[i] == pytest.approx(c)


def test_gating_distance_by_hand() -> None:
    # Right after initiate, innovation variance of x is 100 (initial) + 25 (R) = 125, so a
    # detection 10 px to the right has squared Mahalanobis distance 10^2 / 125 = 0.8.
    mean, cov = kalman.initiate(np.array([[100.0, 200.0, 0.5, 100.0]]), DEEP_SORT)
    dets = np.array([[110.0, 200.0, 0.5, 100.0], [100.0, 200.0, 0.5, 100.0]])
    d2 = kalman.gating_distance(mean, cov, dets, DEEP_SORT)
    assert d2.shape == (1, 2)
    assert d2[0] == pytest.approx([0.8, 0.0])
    assert kalman.gating_distance(mean, cov, np.zeros((0, 4))).shape == (1, 0)
    assert kalman.gating_distance(np.zeros((0, 8)), np.zeros((0, 8, 8)), np.zeros((3, 4))).shape == (0, 3)


def test_noise_validation_names_the_field() -> None:
    with pytest.raises(ValueError, match="position_noise"):
        KalmanNoise(position_noise=0.0)
    with pytest.raises(ValueError, match="velocity_noise.*nan"):
        KalmanNoise(velocity_noise=float("nan"))
    with pytest.raises(ValueError, match="frame_rate must be a finite number > 0, got 0"):
        KalmanNoise().per_frame(0)


def test_noise_per_frame_follows_time() -> None:
    # At 30 frames/s the default process noise is deep_sort's per-frame values: position 1/20,
    # velocity 1/160 of the height, aspect 1e-2 and 1e-5; measurement 1/10 (initial position
    # 2 x 1/10), initial velocity 6 heights a second = 6/30 = 1/5 of the height a frame.
    at30 = KalmanNoise().per_frame(30.0)
    assert at30.position_weight == pytest.approx(1 / 20)
    assert at30.velocity_weight == pytest.approx(1 / 160)
    assert (at30.aspect_std, at30.aspect_velocity_std) == pytest.approx((1e-2, 1e-5))
    assert (at30.measurement_weight, at30.initial_position_weight) == pytest.approx((1 / 10, 2 / 10))
    assert at30.initial_velocity_weight == pytest.approx(1 / 5)
    # At 7.5 frames/s a frame is 4 times as long (dt = 4 / 30 s): a random walk's std grows as
    # sqrt(4) = 2 (position 1/10 of the height), a velocity's in pixels a frame as 4^1.5 = 8
    # (8/160 = 1/20), the initial velocity as 4 (6 / 7.5 = 4/5); the detector's jitter stays 1/10.
    at7 = KalmanNoise().per_frame(7.5)
    assert at7.position_weight == pytest.approx(1 / 10)
    assert at7.velocity_weight == pytest.approx(1 / 20)
    assert at7.initial_velocity_weight == pytest.approx(4 / 5)
    assert (at7.measurement_weight, at7.initial_position_weight) == pytest.approx((1 / 10, 2 / 10))


def test_noise_in_time_gives_one_motion_model_at_any_frame_rate() -> None:
    # A box of height 100 px at rest, never measured again: after 1 s of predicts its x variance
    # is the same whatever the frame rate, up to the discretisation of the velocity's walk.
    # 30 predicts at 30 frames/s against 8 at 8 frames/s (one second each); deep_sort's noise
    # at 30 frames/s (measurement 1/20, initial velocity 1.875 heights a second).
    def var_after_one_second(fps: int) -> float:
        noise = KalmanNoise(measurement_weight=1 / 20, initial_velocity=1.875).per_frame(float(fps))
        mean, cov = kalman.initiate(np.array([0.0, 0.0, 0.5, 100.0]), noise)
        for _ in range(fps):
            mean, cov = kalman.predict(mean, cov, noise)
        return float(cov[0, 0])

    # After n predicts, var x = initial 100 ((2 * 5)^2) + n^2 var v0 + n q_pos + q_vel * sum of
    # m^2 for m < n (the velocity noise of predict j moves x in the n - j predicts after it).
    # 30 frames/s: 100 + 900 * 6.25^2 + 30 * 25 + 0.625^2 * (29 * 30 * 59 / 6) = 100 + 35156.25
    # + 750 + 3341.80 = 39348.05. 8 frames/s: v0 std 187.5 / 8 px a frame, q_pos 750 / 8, q_vel
    # (102.7 / 8^1.5)^2 = 20.60: 100 + 35156.25 + 750 + 20.60 * 140 = 38890 (the velocity walk's
    # Riemann sum, 2884 against 3342; continuous limit 102.7^2 / 3 = 3516): within 2 %.
    v30, v8 = var_after_one_second(30), var_after_one_second(8)
    assert v30 == pytest.approx(100 + 35156.25 + 750 + 0.390625 * 8555, rel=1e-6)
    assert v8 == pytest.approx(v30, rel=0.02)
