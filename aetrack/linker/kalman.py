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

Time is measured in frames (one predict = one frame) with the per-frame :class:`FrameNoise`;
the configured :class:`KalmanNoise` is in time units and :meth:`KalmanNoise.per_frame` carries it
to a stream's frame rate, as the linker's time budgets convert seconds to frames.
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


#: Frame rate (frames/s) at which the default noise equals deep_sort's per-frame values.
REFERENCE_FPS = 30.0


@dataclass(frozen=True)
class KalmanNoise:
    """Noise model in time units, so that a 7 frames/s and a 30 frames/s camera get the same
    motion model in time; :meth:`per_frame` turns it into the per-frame :class:`FrameNoise` the
    filter functions use. Weights are fractions of the box height (deep_sort's parameterisation).

    Defaults: deep_sort's per-frame process noise (position 1/20, velocity 1/160 of the height a
    frame) read as that of a 30 frames/s camera and carried to other rates by the random-walk rules
    below; the measurement noise (1/10) and the initial velocity (6 heights a second) chosen
    by issue 27 across scenes and frame rates (aetrack/bench/reports/linker.md "Linker default (issue 27)"): the
    detector boxes of MOT17, PETS and the synthetic seeds jitter more than deep_sort's 1/20, and
    a new track must be free to take up a walker's or a moving camera's speed within a few frames.

    ``measurement_weight``: the detector's jitter, std of a measured centre and height (1/10 of
    the height; deep_sort 1/20); a property of the detector, the same at any frame rate.
    ``position_noise``: random walk of the centre and height between measurements, std in box
    heights per square root of a second (sqrt(30) / 20 = 0.274: 1/20 a frame at 30 frames/s,
    0.104 a frame at 7 frames/s).
    ``velocity_noise``: random change of the velocity, box heights a second per square root of a
    second (30^1.5 / 160 = 1.03); in the filter's per-frame velocity units it is
    ``velocity_noise * dt^1.5`` a frame (1/160 at 30 frames/s, 1/18 at 7 frames/s: in 1/7 s a
    walker's velocity changes as much as in four 30 frames/s frames, and each frame's velocity
    step is four times as many pixels).
    ``aspect_measurement_std``, ``aspect_noise`` (per square root of a second),
    ``aspect_velocity_noise`` (per second per square root of a second): the same for the unitless
    aspect w / h; a walking person's aspect barely changes, so the process terms are small and
    the detector's width jitter dominates.
    ``initial_position_factor``: a new track's centre and height std in multiples of its
    measurement noise. ``initial_velocity``: a new track's velocity std, box heights a second
    (6; deep_sort's 10 / 160 a frame is 1.875 at 30 frames/s; a walker covers about 0.8 of its
    height a second, a panning camera moves everything faster).
    """

    measurement_weight: float = 1.0 / 10.0
    position_noise: float = REFERENCE_FPS ** 0.5 / 20.0
    velocity_noise: float = REFERENCE_FPS ** 1.5 / 160.0
    aspect_measurement_std: float = 1e-1
    aspect_noise: float = 1e-2 * REFERENCE_FPS ** 0.5
    aspect_velocity_noise: float = 1e-5 * REFERENCE_FPS ** 1.5
    initial_position_factor: float = 2.0
    initial_velocity: float = 6.0

    # Per-frame keys before issue 27 -> their replacement (not fields: refused with this text in
    # configs, --set and tune spaces; translated in checkpoints, aetrack.linker.config.upgrade_stored).
    RENAMED = {
        "position_weight": "measurement_weight (the detector's jitter, as before) and position_noise "
                           "(heights per sqrt second: position_weight * sqrt(30) at 30 frames/s)",
        "velocity_weight": "velocity_noise (heights a second per sqrt second: velocity_weight * 30^1.5 at 30 frames/s)",
        "aspect_std": "aspect_noise (per sqrt second: aspect_std * sqrt(30) at 30 frames/s)",
        "aspect_velocity_std": "aspect_velocity_noise (aspect_velocity_std * 30^1.5 at 30 frames/s)",
        "initial_velocity_factor": "initial_velocity (heights a second: initial_velocity_factor * velocity_weight * 30 "
                                   "at 30 frames/s)",
    }

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"KalmanNoise.{name} must be a finite number > 0, got {value!r}")

    def per_frame(self, frame_rate: float) -> FrameNoise:
        """The noise of one frame at ``frame_rate`` frames/s (dt = 1 / frame_rate seconds):
        random-walk stds grow as sqrt(dt), a velocity's (in pixels a frame) as dt^1.5, the
        initial velocity's as dt; measurement noise does not depend on time."""
        if not (isinstance(frame_rate, (int, float)) and math.isfinite(frame_rate) and frame_rate > 0):
            raise ValueError(f"frame_rate must be a finite number > 0, got {frame_rate!r}")
        dt = 1.0 / frame_rate
        return FrameNoise(
            position_weight=self.position_noise * dt ** 0.5,
            velocity_weight=self.velocity_noise * dt ** 1.5,
            aspect_std=self.aspect_noise * dt ** 0.5,
            aspect_velocity_std=self.aspect_velocity_noise * dt ** 1.5,
            measurement_weight=self.measurement_weight,
            aspect_measurement_std=self.aspect_measurement_std,
            initial_position_weight=self.initial_position_factor * self.measurement_weight,
            initial_velocity_weight=self.initial_velocity * dt,
        )


@dataclass(frozen=True)
class FrameNoise:
    """Per-frame noise of the filter functions (one predict = one frame), from
    :meth:`KalmanNoise.per_frame`. Weights are fractions of the box height, stds of the aspect
    unitless: process noise a frame (``position_weight``, ``velocity_weight`` in height a frame,
    ``aspect_std``, ``aspect_velocity_std``), measurement noise (``measurement_weight``,
    ``aspect_measurement_std``) and a new track's stds (``initial_position_weight``,
    ``initial_velocity_weight``; its aspect starts with the process stds, as in deep_sort)."""

    position_weight: float
    velocity_weight: float
    aspect_std: float
    aspect_velocity_std: float
    measurement_weight: float
    aspect_measurement_std: float
    initial_position_weight: float
    initial_velocity_weight: float


DEFAULT_NOISE = KalmanNoise().per_frame(REFERENCE_FPS)


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
    half = m[..., 2:4] * 0.5                                         # (..., 2) a / 2, h / 2
    half[..., 0] *= m[..., 3]                                        # w / 2 = a h / 2
    out = np.empty(m.shape[:-1] + (4,))
    np.subtract(m[..., :2], half, out=out[..., :2])                  # x1, y1
    np.add(m[..., :2], half, out=out[..., 2:])                       # x2, y2
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


def initiate(measurement: np.ndarray, noise: FrameNoise = DEFAULT_NOISE) -> tuple[np.ndarray, np.ndarray]:
    """(..., 4) xyah -> mean (..., 8) with zero velocity, covariance (..., 8, 8)."""
    z = np.asarray(measurement, dtype=np.float64)
    # The initial weights widen x, y, h only; the aspect keeps its per-frame std (as in deep_sort).
    var = _var2(z[..., 3], noise.initial_position_weight, noise.aspect_std,
                noise.initial_velocity_weight, noise.aspect_velocity_std)
    mean = np.concatenate([z, np.zeros_like(z)], axis=-1)
    cov = np.zeros(var.shape + (2 * NDIM,))
    _diagonal(cov)[...] = var
    return mean, cov


def predict(mean: np.ndarray, cov: np.ndarray, noise: FrameNoise = DEFAULT_NOISE) -> tuple[np.ndarray, np.ndarray]:
    """One frame ahead: ``mean' = F mean``, ``cov' = F cov F^T + Q(h)``; shapes as given.
    Q is diagonal: added on a view of the diagonal, not built as (..., 8, 8)."""
    cov = _F @ cov @ _F.T
    _diagonal(cov)[...] += _var2(mean[..., 3], noise.position_weight, noise.aspect_std,
                                 noise.velocity_weight, noise.aspect_velocity_std)
    return mean @ _F.T, cov


def project(mean: np.ndarray, cov: np.ndarray, noise: FrameNoise = DEFAULT_NOISE) -> tuple[np.ndarray, np.ndarray]:
    """State -> measurement space: mean (..., 4) and innovation covariance ``H cov H^T + R``."""
    s = cov[..., :NDIM, :NDIM].copy()
    _diagonal(s)[...] += _var(mean[..., 3], noise.measurement_weight, noise.aspect_measurement_std)   # + R (diagonal)
    return mean[..., :NDIM], s


def update(
    mean: np.ndarray, cov: np.ndarray, measurement: np.ndarray, noise: FrameNoise = DEFAULT_NOISE
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
    mean: np.ndarray, cov: np.ndarray, measurements: np.ndarray, noise: FrameNoise = DEFAULT_NOISE
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
