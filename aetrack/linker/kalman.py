"""Constant-velocity Kalman filter for boxes in image pixels, as pure functions.

State (8,): centre x, centre y, aspect a = w / h, height h, and their velocities per frame
(pixels/frame, 1/frame, pixels/frame). Measurement (4,): x, y, a, h. This is the deep_sort
parameterisation: process and measurement noise standard deviations are proportional to the
box height, so a tall (near) object is allowed to move more pixels than a short (far) one.

Every function is stateless and broadcasts over leading batch dimensions, so the linker
predicts and updates all its tracks with one call on stacked arrays::

    mean, cov = initiate(xyxy_to_xyah(boxes))      # (N, 8), (N, 8, 8)
    mean, cov = predict(mean, cov)                 # one frame ahead
    mean, cov = update(mean, cov, xyxy_to_xyah(new_boxes))
    d2 = gating_distance(mean, cov, xyxy_to_xyah(dets))   # (N, M) squared Mahalanobis

Time is measured in frames (one predict = one frame), so the filter is independent of the
frame rate; the linker's time budgets convert seconds to frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

NDIM = 4  # measurement dimension: x, y, a, h

# Transition (8, 8): position += velocity (dt = one frame). Observation (4, 8): position part.
_F = np.eye(2 * NDIM)
_F[:NDIM, NDIM:] = np.eye(NDIM)
_H = np.eye(NDIM, 2 * NDIM)


@dataclass(frozen=True)
class KalmanNoise:
    """Noise model. Weights are fractions of the box height per frame (deep_sort's values).

    ``position_weight`` 1/20: a box's centre and height are uncertain by about 5 % of its
    height, both as measurement noise and as per-frame process noise.
    ``velocity_weight`` 1/160: per-frame random change of velocity, as a fraction of height.
    ``aspect_std`` / ``aspect_velocity_std``: process noise of a (unitless) and its velocity;
    the aspect of a walking person barely changes, so both are small.
    ``aspect_measurement_std``: measurement noise of a; detectors jitter the width more than
    the centre, hence ten times ``aspect_std``.
    ``initial_position_factor`` / ``initial_velocity_factor``: a new track's x, y, h
    uncertainty in multiples of the per-frame noise; velocity is unknown at birth, hence the
    large factor.
    """

    position_weight: float = 1.0 / 20.0
    velocity_weight: float = 1.0 / 160.0
    aspect_std: float = 1e-2
    aspect_velocity_std: float = 1e-5
    aspect_measurement_std: float = 1e-1
    initial_position_factor: float = 2.0
    initial_velocity_factor: float = 10.0

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"KalmanNoise.{name} must be a finite number > 0, got {value!r}")


DEFAULT_NOISE = KalmanNoise()


def xyxy_to_xyah(boxes: np.ndarray) -> np.ndarray:
    """(..., 4) x1, y1, x2, y2 pixels -> (..., 4) centre x, centre y, w / h, h."""
    b = np.asarray(boxes, dtype=np.float64)
    w = b[..., 2] - b[..., 0]
    h = b[..., 3] - b[..., 1]
    return np.stack([b[..., 0] + w / 2, b[..., 1] + h / 2, w / h, h], axis=-1)


def xyah_to_xyxy(xyah: np.ndarray) -> np.ndarray:
    """(..., >=4) centre x, centre y, a, h (extra trailing entries ignored) -> (..., 4) xyxy."""
    m = np.asarray(xyah, dtype=np.float64)
    w = m[..., 2] * m[..., 3]
    h = m[..., 3]
    x0 = m[..., 0] - w / 2
    y0 = m[..., 1] - h / 2
    return np.stack([x0, y0, x0 + w, y0 + h], axis=-1)


def _diag(std: np.ndarray) -> np.ndarray:
    """(..., k) standard deviations -> (..., k, k) diagonal covariance."""
    var = std * std
    out = np.zeros(var.shape + (var.shape[-1],))
    idx = np.arange(var.shape[-1])
    out[..., idx, idx] = var
    return out


def _std(h: np.ndarray, weight: float, aspect: float) -> np.ndarray:
    """(...,) heights -> (..., 4) std for x, y, a, h: ``weight * h`` except the fixed aspect."""
    s = weight * h
    return np.stack([s, s, np.full_like(s, aspect), s], axis=-1)


def initiate(measurement: np.ndarray, noise: KalmanNoise = DEFAULT_NOISE) -> tuple[np.ndarray, np.ndarray]:
    """(..., 4) xyah -> mean (..., 8) with zero velocity, covariance (..., 8, 8)."""
    z = np.asarray(measurement, dtype=np.float64)
    h = z[..., 3]
    # The factors widen x, y, h only; the aspect keeps its per-frame std (as in deep_sort).
    std_pos = _std(h, noise.initial_position_factor * noise.position_weight, noise.aspect_std)
    std_vel = _std(h, noise.initial_velocity_factor * noise.velocity_weight, noise.aspect_velocity_std)
    mean = np.concatenate([z, np.zeros_like(z)], axis=-1)
    return mean, _diag(np.concatenate([std_pos, std_vel], axis=-1))


def predict(mean: np.ndarray, cov: np.ndarray, noise: KalmanNoise = DEFAULT_NOISE) -> tuple[np.ndarray, np.ndarray]:
    """One frame ahead: ``mean' = F mean``, ``cov' = F cov F^T + Q(h)``; shapes as given."""
    h = mean[..., 3]
    q = _diag(np.concatenate([
        _std(h, noise.position_weight, noise.aspect_std),
        _std(h, noise.velocity_weight, noise.aspect_velocity_std),
    ], axis=-1))
    return mean @ _F.T, _F @ cov @ _F.T + q


def project(mean: np.ndarray, cov: np.ndarray, noise: KalmanNoise = DEFAULT_NOISE) -> tuple[np.ndarray, np.ndarray]:
    """State -> measurement space: mean (..., 4) and innovation covariance ``H cov H^T + R``."""
    r = _diag(_std(mean[..., 3], noise.position_weight, noise.aspect_measurement_std))
    return mean[..., :NDIM], cov[..., :NDIM, :NDIM] + r


def update(
    mean: np.ndarray, cov: np.ndarray, measurement: np.ndarray, noise: KalmanNoise = DEFAULT_NOISE
) -> tuple[np.ndarray, np.ndarray]:
    """Correct with a (..., 4) xyah measurement; returns mean (..., 8), covariance (..., 8, 8)."""
    z_mean, s = project(mean, cov, noise)
    pht = cov[..., :, :NDIM]                                   # (..., 8, 4) = cov H^T
    gain = np.swapaxes(np.linalg.solve(s, np.swapaxes(pht, -1, -2)), -1, -2)  # (..., 8, 4)
    innovation = np.asarray(measurement, dtype=np.float64) - z_mean
    new_mean = mean + (gain @ innovation[..., None])[..., 0]
    new_cov = cov - gain @ s @ np.swapaxes(gain, -1, -2)
    return new_mean, new_cov


def gating_distance(
    mean: np.ndarray, cov: np.ndarray, measurements: np.ndarray, noise: KalmanNoise = DEFAULT_NOISE
) -> np.ndarray:
    """Squared Mahalanobis distance of (M, 4) xyah measurements to (N, 8) states -> (N, M).

    Compare with a chi-square quantile with 4 degrees of freedom (e.g. 9.4877 for 95 %).
    """
    z = np.asarray(measurements, dtype=np.float64).reshape(-1, NDIM)
    mean = np.asarray(mean, dtype=np.float64).reshape(-1, 2 * NDIM)
    cov = np.asarray(cov, dtype=np.float64).reshape(-1, 2 * NDIM, 2 * NDIM)
    z_mean, s = project(mean, cov, noise)
    if z_mean.shape[0] == 0 or z.shape[0] == 0:
        return np.zeros((z_mean.shape[0], z.shape[0]))
    d = z[None, :, :] - z_mean[:, None, :]                    # (N, M, 4)
    s_inv = np.linalg.inv(s)                                   # (N, 4, 4)
    return np.einsum("nmi,nij,nmj->nm", d, s_inv, d)
