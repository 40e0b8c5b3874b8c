"""Camera-motion compensation: the global motion between consecutive frames as a 2x3 affine.

Sparse optical flow, as BoT-SORT's GMC and roboflow's trackers do: corners of the previous
frame (``cv2.goodFeaturesToTrack``) are followed into the next frame with pyramidal
Lucas-Kanade (``cv2.calcOpticalFlowPyrLK``), and a similarity transform (rotation, uniform
scale, translation) is fitted to the pairs with RANSAC (``cv2.estimateAffinePartial2D``), so
that the moving people, a minority of the corners, fall out as outliers. Frames are
downscaled first (``CameraMotionConfig.downscale``); the transform is returned in full-frame
pixels. The linker applies it with :meth:`aetrack.linker.Linker.apply_camera_motion`.

    cmc = CameraMotion()
    for frame in frames:
        affine = cmc.update(frame)          # (2, 3): previous frame -> this frame
        linker.apply_camera_motion(affine)
        linker.update(...)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


@dataclass(frozen=True)
class CameraMotionConfig:
    """Settings of the estimator.

    BoT-SORT's sparse GMC follows up to 1000 corners 1 px apart; following them with
    pyramidal Lucas-Kanade took 46 ms of a 1080p frame here (2-core CPU), nearly all of the
    cost. 200 corners at least 8 px apart (downscaled) still cover the frame, so the
    background, the majority, decides the RANSAC fit (aetrack/bench/reports/linker.md, issue 17).
    """

    # Frames are shrunk by this factor before finding corners (1080p -> 480x270 at 4).
    downscale: int = 4
    # goodFeaturesToTrack: at most this many corners, quality relative to the best corner,
    # minimum spacing in downscaled pixels.
    max_corners: int = 200
    quality_level: float = 0.01
    min_distance: float = 8.0
    # RANSAC reprojection threshold, downscaled pixels.
    ransac_threshold: float = 3.0
    # Fewer tracked corner pairs than this: no estimate (identity).
    min_points: int = 10

    def __post_init__(self) -> None:
        if isinstance(self.downscale, bool) or not isinstance(self.downscale, int) or self.downscale < 1:
            raise ValueError(f"CameraMotionConfig.downscale must be an integer >= 1, got {self.downscale!r}")
        if not isinstance(self.max_corners, int) or self.max_corners < 4:
            raise ValueError(f"CameraMotionConfig.max_corners must be an integer >= 4, got {self.max_corners!r}")
        if not isinstance(self.min_points, int) or self.min_points < 3:
            raise ValueError(f"CameraMotionConfig.min_points must be an integer >= 3, got {self.min_points!r}")
        for name in ("quality_level", "min_distance", "ransac_threshold"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and np.isfinite(v) and v > 0):
                raise ValueError(f"CameraMotionConfig.{name} must be a finite number > 0, got {v!r}")


class CameraMotion:
    """Per-stream estimator: keeps the previous (downscaled, grey) frame; no other state."""

    def __init__(self, *, cfg: CameraMotionConfig | None = None) -> None:
        self.cfg = cfg or CameraMotionConfig()
        self._prev: np.ndarray | None = None

    def reset(self) -> None:
        self._prev = None

    def update(self, frame: np.ndarray) -> np.ndarray:
        """(2, 3) affine mapping points of the previous frame to ``frame`` (H x W x 3 BGR or
        H x W grey, uint8), full-frame pixels; the identity for the first frame, after a size
        change, or when too few corners could be followed."""
        import cv2

        grey = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        d = self.cfg.downscale
        small = cv2.resize(grey, (grey.shape[1] // d, grey.shape[0] // d), interpolation=cv2.INTER_AREA) if d > 1 else grey
        prev, self._prev = self._prev, small
        if prev is None or prev.shape != small.shape:
            return IDENTITY.copy()
        return self._estimate(prev, small)

    def _estimate(self, prev: np.ndarray, cur: np.ndarray) -> np.ndarray:
        import cv2

        c = self.cfg
        pts = cv2.goodFeaturesToTrack(prev, maxCorners=c.max_corners, qualityLevel=c.quality_level,
                                      minDistance=c.min_distance, blockSize=3)
        if pts is None or len(pts) < c.min_points:
            return IDENTITY.copy()
        nxt, status, _ = cv2.calcOpticalFlowPyrLK(prev, cur, pts, None)
        ok = status.reshape(-1) == 1
        if ok.sum() < c.min_points:
            return IDENTITY.copy()
        affine, inliers = cv2.estimateAffinePartial2D(pts[ok], nxt[ok], method=cv2.RANSAC,
                                                      ransacReprojThreshold=c.ransac_threshold)
        if affine is None or inliers is None or int(inliers.sum()) < c.min_points:
            return IDENTITY.copy()
        affine = affine.astype(np.float64)
        affine[:, 2] *= c.downscale          # translation back to full-frame pixels
        return affine
