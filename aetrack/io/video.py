"""Annotated video: boxes labelled "<id> <class>", short trails and a stable colour per id (OpenCV).

The mp4 is written to a temp file and renamed on :meth:`AnnotatedVideoWriter.close`, so an
interrupted run leaves no broken video behind.
"""

from __future__ import annotations

import contextlib
import os
from collections import deque
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from aetrack.cvlog import quiet_opencv
from aetrack.errors import AetrackError
from aetrack.io.atomic import temp_beside


def id_colour(track_id: int) -> tuple[int, int, int]:
    """A distinct, stable BGR colour for an id (golden-ratio hue steps, full saturation)."""
    hue = int((track_id * 0.618033988749895 % 1.0) * 180)
    hsv = np.uint8([[[hue, 220, 255]]])
    b, g, r = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0]
    return int(b), int(g), int(r)


class AnnotatedVideoWriter:
    """Draws tracks on frames and writes an mp4 (``mp4v``) at the source frame rate.

    Args:
        path: output ``.mp4`` path.
        fps: frames per second of the output.
        trail_length: frames of centre history drawn behind each track.
        class_names: names by 0-based class index; a track's label is "<id> <name>", e.g. "7 car".
    """

    def __init__(
        self, *, path: str | Path, fps: float, trail_length: int = 20, class_names: Sequence[str] = ("person",)
    ) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        if trail_length < 0:
            raise ValueError(f"trail_length must be >= 0, got {trail_length}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fps = fps
        self.trail_length = trail_length
        self.class_names = tuple(class_names)
        fd, self._tmp = temp_beside(self.path, suffix=".mp4")  # ".mp4": OpenCV picks the container by suffix
        os.close(fd)
        self._writer: cv2.VideoWriter | None = None
        self._size: tuple[int, int] | None = None
        self._trails: dict[int, deque[tuple[int, int]]] = {}
        self.frames_written = 0

    def write(self, frame: np.ndarray, tracks: Sequence, *, frame_no: int | None = None) -> None:
        """Draw ``tracks`` (objects with ``track_id``, ``box`` x1y1x2y2, ``score``, optional
        ``state`` and ``class_id``, 0 if absent) on a copy of ``frame``."""
        img = frame.copy()
        h, w = img.shape[:2]
        if self._writer is None:
            self._size = (w, h)
            with quiet_opencv():
                self._writer = cv2.VideoWriter(self._tmp, cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
            if not self._writer.isOpened():
                raise AetrackError(f"{self.path}: cannot open an mp4 writer")
        elif (w, h) != self._size:  # frames changed size mid-stream: keep the first size
            img = cv2.resize(img, self._size)
            sx, sy = self._size[0] / w, self._size[1] / h
            tracks = [_Scaled(t, sx, sy) for t in tracks]
        seen = set()
        for t in tracks:
            x1, y1, x2, y2 = (int(round(v)) for v in t.box)
            colour = id_colour(t.track_id)
            trail = self._trails.setdefault(t.track_id, deque(maxlen=max(1, self.trail_length)))
            trail.append(((x1 + x2) // 2, y2))
            seen.add(t.track_id)
            if self.trail_length > 1 and len(trail) > 1:
                cv2.polylines(img, [np.array(trail, np.int32)], False, colour, 2, cv2.LINE_AA)
            # A hidden track reported at its prediction ("lost") gets a thin box.
            cv2.rectangle(img, (x1, y1), (x2, y2), colour, 1 if getattr(t, "state", "") == "lost" else 2)
            label = self.label(t)
            (tw, th), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
            cv2.rectangle(img, (x1, y1 - th - 4), (x1 + tw + 4, y1), colour, -1)
            cv2.putText(img, label, (x1 + 2, y1 - 3), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        for tid in [k for k in self._trails if k not in seen]:
            del self._trails[tid]  # forget trails of tracks not shown: memory stays flat
        if frame_no is not None:
            cv2.putText(img, f"{frame_no}", (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
        self._writer.write(img)
        self.frames_written += 1

    def label(self, track) -> str:
        """The text drawn on a track's box: id and class name, e.g. "7 car"."""
        class_id = getattr(track, "class_id", 0)
        name = self.class_names[class_id] if 0 <= class_id < len(self.class_names) else f"class{class_id + 1}"
        return f"{track.track_id} {name}"

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
            os.replace(self._tmp, self.path)
        else:
            self.abort()

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._tmp)

    def __enter__(self) -> "AnnotatedVideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class _Scaled:
    """A track view with its box scaled (frames that change size mid-stream)."""

    def __init__(self, t, sx: float, sy: float) -> None:
        x1, y1, x2, y2 = t.box
        self.track_id, self.score = t.track_id, t.score
        self.state = getattr(t, "state", "confirmed")
        self.class_id = getattr(t, "class_id", 0)
        self.box = (x1 * sx, y1 * sy, x2 * sx, y2 * sy)
