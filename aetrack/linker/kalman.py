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

# Transition (8, 8): position += velocity (dt = one frame). The observation H (4, 8), the
# position part, is written as slices in project() and update().
_F = np.eye(2 * NDIM)
_F[:NDIM, NDIM:] = np.eye(NDIM)


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
    out = np.empty(b.shape)
    size = b[..., 2:] - b[..., :2]                                   # (..., 2) w, h
    np.add(b[..., :2], size / 2, out=out[..., :2])                   # centre x, y
    np.divide(size[..., 0], size[..., 1], out=out[..., 2])
    out[..., 3] = size[..., 1]
    return out


def xyah_to_xyxy(xyah: np.ndarray) -> np.ndarray:
    """(..., >=4) centre x, centre y, a, h (extra trailing entries ignored) -> (..., 4) xyxy."""
    m = np.asarray(xyah, dtype=np.float64)
    size = np.empty(m.shape[:-1] + (2,))                             # (..., 2) w, h
    np.multiply(m[..., 2], m[..., 3], out=size[..., 0])
    size[..., 1] = m[..., 3]
    out = np.empty(m.shape[:-1] + (4,))
    np.subtract(m[..., :2], size / 2, out=out[..., :2])              # x1, y1
    np.add(out[..., :2], size, out=out[..., 2:])                     # x2, y2
    return out


def _var(h: np.ndarray, weight: float, aspect: float) -> np.ndarray:
    """(...,) heights -> (..., 4) variances of x, y, a, h: ``(weight * h)^2``, except the fixed
    aspect std squared."""
    return _var2(h, weight, aspect, weight, aspect)[..., :NDIM]


def _var2(h: np.ndarray, w1: float, a1: float, w2: float, a2: float) -> np.ndarray:
    """(...,) heights -> (..., 8) variances of a position part (weight ``w1``, aspect std ``a1``)
    and a velocity part (``w2``, ``a2``), each as :func:`_var`, in one pass."""
    std = h[..., None] * np.array([w1, w1, 0.0, w1, w2, w2, 0.0, w2])     # (..., 8) weight * h
    var = std * std
    var[..., 2] = a1 * a1
    var[..., 6] = a2 * a2
    return var


def _diagonal(m: np.ndarray) -> np.ndarray:
    """Writable view of the diagonals of a C-contiguous (..., k, k) array, shape (..., k)."""
    if not m.flags.c_contiguous:  # reshape would copy, and writes would be lost
        raise ValueError("_diagonal needs a C-contiguous array")
    k = m.shape[-1]
    return m.reshape(m.shape[:-2] + (k * k,))[..., :: k + 1]


def initiate(measurement: np.ndarray, noise: KalmanNoise = DEFAULT_NOISE) -> tuple[np.ndarray, np.ndarray]:
    """(..., 4) xyah -> mean (..., 8) with zero velocity, covariance (..., 8, 8)."""
    z = np.asarray(measurement, dtype=np.float64)
    # The factors widen x, y, h only; the aspect keeps its per-frame std (as in deep_sort).
    var = _var2(z[..., 3], noise.initial_position_factor * noise.position_weight, noise.aspect_std,
                noise.initial_velocity_factor * noise.velocity_weight, noise.aspect_velocity_std)
    mean = np.concatenate([z, np.zeros_like(z)], axis=-1)
    cov = np.zeros(var.shape + (2 * NDIM,))
    _diagonal(cov)[...] = var
    return mean, cov


def predict(mean: np.ndarray, cov: np.ndarray, noise: KalmanNoise = DEFAULT_NOISE) -> tuple[np.ndarray, np.ndarray]:
    """One frame ahead: ``mean' = F mean``, ``cov' = F cov F^T + Q(h)``; shapes as given.
    Q is diagonal: added on a view of the diagonal, not built as (..., 8, 8)."""
    cov = _F @ cov @ _F.T
    _diagonal(cov)[...] += _var2(mean[..., 3], noise.position_weight, noise.aspect_std,
                                 noise.velocity_weight, noise.aspect_velocity_std)
    return mean @ _F.T, cov


def project(mean: np.ndarray, cov: np.ndarray, noise: KalmanNoise = DEFAULT_NOISE) -> tuple[np.ndarray, np.ndarray]:
    """State -> measurement space: mean (..., 4) and innovation covariance ``H cov H^T + R``."""
    s = cov[..., :NDIM, :NDIM].copy()
    _diagonal(s)[...] += _var(mean[..., 3], noise.position_weight, noise.aspect_measurement_std)   # + R (diagonal)
    return mean[..., :NDIM], s


def update(
    mean: np.ndarray, cov: np.ndarray, measurement: np.ndarray, noise: KalmanNoise = DEFAULT_NOISE
) -> tuple[np.ndarray, np.ndarray]:
    """Correct with a (..., 4) xyah measurement; returns mean (..., 8), covariance (..., 8, 8)."""
    z_mean, s = project(mean, cov, noise)
    pht = cov[..., :, :NDIM]                                   # (..., 8, 4) = cov H^T
    gain = np.linalg.solve(s, pht.swapaxes(-1, -2)).swapaxes(-1, -2)        # (..., 8, 4)
    innovation = np.asarray(measurement, dtype=np.float64) - z_mean
    new_mean = mean + (gain @ innovation[..., None])[..., 0]
    new_cov = cov - gain @ s @ gain.swapaxes(-1, -2)
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
