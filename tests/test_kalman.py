"""Kalman filter: numbers derived by hand from the deep_sort noise model.

Noise for a box of height h = 100 px (KalmanNoise defaults):
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


def test_box_conversions_round_trip() -> None:
    # box 10..50 x 20..120: w 40, h 100, centre (30, 70), a = 0.4
    xyah = kalman.xyxy_to_xyah(np.array([10.0, 20.0, 50.0, 120.0]))
    assert xyah == pytest.approx([30.0, 70.0, 0.4, 100.0])
    assert kalman.xyah_to_xyxy(xyah) == pytest.approx([10.0, 20.0, 50.0, 120.0])


def test_initiate_predict_update_by_hand() -> None:
    mean, cov = kalman.initiate(np.array([100.0, 200.0, 0.5, 100.0]))
    assert mean == pytest.approx([100, 200, 0.5, 100, 0, 0, 0, 0])
    assert np.diag(cov) == pytest.approx([100, 100, 1e-4, 100, 39.0625, 39.0625, 1e-10, 39.0625])

    # predict: x' = x + vx = 100 (vx = 0); var x' = var x + var vx + Q = 100 + 39.0625 + 25
    # = 164.0625; var vx' = 39.0625 + 0.390625 = 39.453125; cov(x', vx') = var vx = 39.0625.
    mean, cov = kalman.predict(mean, cov)
    assert mean == pytest.approx([100, 200, 0.5, 100, 0, 0, 0, 0])
    assert cov[0, 0] == pytest.approx(164.0625)
    assert cov[4, 4] == pytest.approx(39.453125)
    assert cov[0, 4] == pytest.approx(39.0625)
    assert cov[2, 2] == pytest.approx(1e-4 + 1e-4 + 1e-10)

    # update with x measured 10 px right: S = 164.0625 + 25 = 189.0625;
    # x = 100 + 10 * 164.0625 / S; vx = 10 * 39.0625 / S; var x = 164.0625 * 25 / S;
    # var vx = 39.453125 - 39.0625^2 / S. y, a, h measured as predicted: unchanged.
    s = 189.0625
    mean, cov = kalman.update(mean, cov, np.array([110.0, 200.0, 0.5, 100.0]))
    assert mean[0] == pytest.approx(100 + 10 * 164.0625 / s)       # 108.6777
    assert mean[4] == pytest.approx(10 * 39.0625 / s)              # 2.0661
    assert mean[[1, 2, 3, 5, 6, 7]] == pytest.approx([200, 0.5, 100, 0, 0, 0])
    assert cov[0, 0] == pytest.approx(164.0625 * 25 / s)           # 21.6942
    assert cov[4, 4] == pytest.approx(39.453125 - 39.0625**2 / s)  # 31.3824


def test_covariance_grows_on_every_predict_without_update() -> None:
    mean, cov = kalman.initiate(np.array([0.0, 0.0, 0.5, 100.0]))
    var_x = [cov[0, 0]]
    for _ in range(5):
        mean, cov = kalman.predict(mean, cov)
        var_x.append(cov[0, 0])
    assert np.all(np.diff(var_x) > 0)
    # predict twice by hand: var x1 = 164.0625 (above); var vx1 = 39.453125, cov1 = 39.0625;
    # var x2 = 164.0625 + 2 * 39.0625 + 39.453125 + 25 = 306.640625
    assert var_x[2] == pytest.approx(306.640625)


def test_constant_velocity_is_predicted_exactly_once_velocity_is_known() -> None:
    # State with the true velocity (5 px/frame in x): predict moves exactly 5 px, and an
    # update with the exact measurement has zero innovation, so the mean stays on the line.
    mean, cov = kalman.initiate(np.array([0.0, 0.0, 0.5, 100.0]))
    mean[4] = 5.0
    for t in range(1, 6):
        mean, cov = kalman.predict(mean, cov)
        assert mean[0] == pytest.approx(5.0 * t, abs=1e-9)
        mean, cov = kalman.update(mean, cov, np.array([5.0 * t, 0.0, 0.5, 100.0]))
        assert mean[0] == pytest.approx(5.0 * t, abs=1e-9)
        assert mean[4] == pytest.approx(5.0, abs=1e-9)


def test_velocity_is_learned_from_constant_motion() -> None:
    # From zero velocity, the prediction error on x = 5 t shrinks every frame (the filter's
    # error decays geometrically) and is below 0.05 px after 30 updates (0.0387 measured).
    mean, cov = kalman.initiate(np.array([0.0, 0.0, 0.5, 100.0]))
    errors = []
    for t in range(1, 31):
        mean, cov = kalman.predict(mean, cov)
        errors.append(abs(mean[0] - 5.0 * t))
        mean, cov = kalman.update(mean, cov, np.array([5.0 * t, 0.0, 0.5, 100.0]))
    assert errors[0] == pytest.approx(5.0)
    assert np.all(np.diff(errors) < 0)
    assert errors[-1] < 0.05


def test_batched_calls_equal_single_calls() -> None:
    z = np.array([[100.0, 200.0, 0.5, 100.0], [10.0, 20.0, 0.4, 50.0]])
    mean, cov = kalman.predict(*kalman.initiate(z))
    meas = z + np.array([[3.0, -2.0, 0.01, 4.0], [1.0, 1.0, 0.0, -1.0]])
    bm, bc = kalman.update(mean, cov, meas)
    for i in range(2):
        m, c = kalman.predict(*kalman.initiate(z[i]))
        m, c = kalman.update(m, c, meas[i])
        assert bm[i] == pytest.approx(m)
        assert bc[i] == pytest.approx(c)


def test_gating_distance_by_hand() -> None:
    # Right after initiate, innovation variance of x is 100 (initial) + 25 (R) = 125, so a
    # detection 10 px to the right has squared Mahalanobis distance 10^2 / 125 = 0.8.
    mean, cov = kalman.initiate(np.array([[100.0, 200.0, 0.5, 100.0]]))
    d2 = kalman.gating_distance(mean, cov, np.array([[110.0, 200.0, 0.5, 100.0], [100.0, 200.0, 0.5, 100.0]]))
    assert d2.shape == (1, 2)
    assert d2[0] == pytest.approx([0.8, 0.0])
    assert kalman.gating_distance(mean, cov, np.zeros((0, 4))).shape == (1, 0)
    assert kalman.gating_distance(np.zeros((0, 8)), np.zeros((0, 8, 8)), np.zeros((3, 4))).shape == (0, 3)


def test_noise_validation_names_the_field() -> None:
    with pytest.raises(ValueError, match="position_weight"):
        KalmanNoise(position_weight=0.0)
    with pytest.raises(ValueError, match="velocity_weight.*nan"):
        KalmanNoise(velocity_weight=float("nan"))
