"""Checks on what enters the tracker: frames, and detections (boxes with scores).

One implementation of each rule, shared by the Python API (:class:`aetrack.Tracker`) and the
CLI (frame sources, the MOT reader), so that a value is accepted or refused the same way
however it arrives. Refusals raise :class:`aetrack.errors.InvalidArgument`, which is both a
``ValueError`` naming the argument and an ``AetrackError`` (one line, exit code 2 in the CLI).

The rules:

* a frame is an (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) array of booleans, integers or
  floats; floats must be finite (NaN and inf alike are refused) and, when none exceeds 1, are
  read as 0..1 intensities; ``None`` or an array without pixels is an empty frame;
* boxes are (n, 4) and scores (n,), of the same n, every value finite (NaN and inf alike are
  refused, never dropped), box coordinates within +-``MAX_COORDINATE`` pixels.
"""

from __future__ import annotations

import numpy as np

from aetrack.errors import InvalidArgument

# Largest box coordinate (or MOT width/height) accepted, in pixels. No camera frame comes near
# it (a 100-megapixel frame is about 12,000 px wide, and boxes leave the frame by less than
# their own size); larger values are corrupt data, and at 1e154 and beyond the areas and
# Kalman covariances computed from them overflow to inf.
MAX_COORDINATE = 1e7


def to_bgr(frame: object, *, name: str = "frame") -> np.ndarray:
    """``frame`` as a (H, W, 3) BGR uint8 array (see the module docstring for what is accepted).

    Grey (H, W) / (H, W, 1) and BGRA inputs are converted; integers are clipped to 0..255;
    float frames whose maximum is at most 1 are scaled by 255. Raises
    :class:`~aetrack.errors.InvalidArgument` naming ``name`` for anything else.
    """
    try:
        a = np.asarray(frame)
    except (ValueError, TypeError) as err:  # ragged nested lists and the like
        raise InvalidArgument(f"{name} is not an image array ({err})") from None
    if a.dtype.kind not in "biuf":
        raise InvalidArgument(f"{name} has dtype {a.dtype}; expected an image of integers or floats")
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (1, 3, 4)) or a.size == 0:
        raise InvalidArgument(f"{name} of shape {a.shape} is not an image (expected HxW, HxWx1, HxWx3 or HxWx4)")
    if a.dtype != np.uint8:
        if a.dtype.kind == "f":
            if not np.isfinite(a).all():
                raise InvalidArgument(f"{name} has NaN or infinite pixel values")
            if float(a.max()) <= 1.0:
                a = a * 255.0
        a = np.clip(a, 0, 255).astype(np.uint8)
    if a.ndim == 3 and a.shape[2] == 3:
        return np.ascontiguousarray(a)
    import cv2  # only to convert grey and BGRA frames: linking given boxes needs no OpenCV

    if a.ndim == 2:
        return cv2.cvtColor(a, cv2.COLOR_GRAY2BGR)
    if a.shape[2] == 1:
        return cv2.cvtColor(a[:, :, 0], cv2.COLOR_GRAY2BGR)
    return cv2.cvtColor(a, cv2.COLOR_BGRA2BGR)  # (H, W, 4)


def is_empty_frame(frame: object) -> bool:
    """True for ``None`` and arrays without pixels: a frame in which nothing can be seen."""
    if frame is None:
        return True
    try:
        return np.asarray(frame).size == 0
    except (ValueError, TypeError):
        return False  # not an array at all: to_bgr says why


def check_detections(boxes: object, scores: object) -> tuple[np.ndarray, np.ndarray]:
    """``(boxes, scores)`` as float64 arrays of shapes (n, 4) and (n,), validated.

    Raises :class:`~aetrack.errors.InvalidArgument` naming ``boxes`` or ``scores`` when the
    shapes are wrong or differ in n, when any value is NaN or infinite (both refused alike), or
    when a coordinate lies beyond +-``MAX_COORDINATE`` pixels. Boxes without area are not
    refused here (what to do with them is the caller's rule).
    """
    b = _as_float_array(boxes, "boxes")
    s = _as_float_array(scores, "scores")
    if b.size == 0 and b.ndim <= 2:
        b = b.reshape(0, 4)
    if b.ndim != 2 or b.shape[1] != 4:
        raise InvalidArgument(f"boxes must have shape (n, 4), got {b.shape}")
    if s.size == 0 and s.ndim <= 1:
        s = s.reshape(0)
    if s.ndim != 1 or s.shape[0] != b.shape[0]:
        raise InvalidArgument(f"scores must have shape ({b.shape[0]},) to match boxes, got {s.shape}")
    bad = ~np.isfinite(b).all(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidArgument(f"boxes must be finite (NaN and inf are refused alike), row {i} is {b[i].tolist()}")
    bad = (np.abs(b) > MAX_COORDINATE).any(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidArgument(f"boxes must lie within +-{MAX_COORDINATE:g} pixels, row {i} is {b[i].tolist()}")
    bad = ~np.isfinite(s)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidArgument(f"scores must be finite (NaN and inf are refused alike), scores[{i}] is {s[i]}")
    return b, s


def _as_float_array(value: object, name: str) -> np.ndarray:
    try:
        a = np.asarray(value, dtype=np.float64)
    except (ValueError, TypeError) as err:
        raise InvalidArgument(f"{name} is not an array of numbers ({err})") from None
    return a
