"""One frame-source interface over videos, image folders, MOT sequences, cameras and iterators.

Every source yields ``(frame_number, frame)`` with 1-based frame numbers and BGR ``uint8``
frames of shape (H, W, 3); grey and BGRA inputs are converted. ``frames=FrameRange`` selects an
inclusive 1-based range.

    >>> for frame_no, img in open_source("video.mp4", frames=parse_frame_range("10:20")):
    ...     ...
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from aetrack.data.mot import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, FrameRange, MotSequence, is_mot_sequence
from aetrack.cvlog import quiet_opencv
from aetrack.errors import AetrackError
from aetrack.validate import to_bgr  # one frame rule for sources and the Tracker API


@dataclass
class FrameSource:
    """Base class: ``name``, ``fps`` (frames/s, may be a default), ``length`` (frames, or None)."""

    name: str
    fps: float = 30.0
    length: int | None = None
    frames: FrameRange | None = None
    # Set when a video ended before the frame count its container lists and the source was
    # opened with allow_truncated: (last frame read, last frame expected).
    truncated: tuple[int, int] | None = None
    # (width, height) of the frames when known without pixels (FrameNumbers of a MOT sequence:
    # its seqinfo), so that reported boxes are clipped to the frame; sources with pixels: None.
    frame_size: tuple[int, int] | None = None

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:  # pragma: no cover - abstract
        raise NotImplementedError

    def selected_length(self) -> int | None:
        """Number of frames the iteration will yield, when known."""
        if self.length is None:
            return None
        first = (self.frames.first if self.frames and self.frames.first else 1)
        last = min(self.length, self.frames.last) if self.frames and self.frames.last else self.length
        return max(0, last - first + 1)

    def check_frames(self) -> "FrameSource":
        """Refuse a frame range that selects none of the source's frames (``--frames 50:60`` of
        a 41-frame video), when the length is known; returns the source."""
        if self.frames is not None and self.selected_length() == 0:
            raise AetrackError(f"--frames {self.frames} selects no frame of {self.name}: it has {self.length} "
                               f"frame{'' if self.length == 1 else 's'} (1:{self.length})")
        return self


@dataclass
class VideoSource(FrameSource):
    """A video file decoded with OpenCV; frame ``f`` is the decoder's frame index ``f - 1``.

    A video that ends before the frame count its container lists (a truncated download, a
    recording cut off, a damaged file) raises :class:`AetrackError` when the iteration gets
    there, so nobody takes part of a video for all of it. With ``allow_truncated`` the frames
    read are kept: the iteration just stops and :attr:`truncated` records where.
    """

    path: Path = field(default_factory=Path)
    allow_truncated: bool = False

    @staticmethod
    def open(path: str | Path, *, frames: FrameRange | None = None, fps: float | None = None,
             allow_truncated: bool = False) -> "VideoSource":
        p = Path(path)
        if not p.is_file():
            raise AetrackError(f"{p}: video file not found")
        with quiet_opencv():
            cap = cv2.VideoCapture(str(p))
            ok = cap.isOpened() and cap.read()[0]
            n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if ok else 0
            rate = cap.get(cv2.CAP_PROP_FPS) if ok else 0.0
            cap.release()
        if not ok:
            raise AetrackError(f"{p}: cannot decode video (unreadable or corrupt file)")
        return VideoSource(name=p.stem, fps=fps or (rate if 0 < rate < 1e4 else 30.0),
                           length=n if n > 0 else None, frames=frames, path=p, allow_truncated=allow_truncated)

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        self.truncated = None
        with quiet_opencv():
            cap = cv2.VideoCapture(str(self.path))
        try:
            first = self.frames.first if self.frames and self.frames.first else 1
            idx = 1
            while idx < first:  # grab() skips without converting; exact, unlike seeking
                with quiet_opencv():
                    ok = cap.grab()
                if not ok:
                    self._ended_early(idx - 1)
                    return
                idx += 1
            while self.frames is None or self.frames.last is None or idx <= self.frames.last:
                with quiet_opencv():
                    ok, img = cap.read()
                if not ok:
                    self._ended_early(idx - 1)
                    return
                yield idx, to_bgr(img)
                idx += 1
        finally:
            cap.release()

    def _ended_early(self, last_read: int) -> None:
        """The decoder stopped after frame ``last_read``: refuse, or record, a shortfall."""
        expected = self.length
        if self.frames is not None and self.frames.last is not None and expected is not None:
            expected = min(expected, self.frames.last)
        if expected is None or last_read >= expected:
            return
        if not self.allow_truncated:
            raise AetrackError(f"{self.path}: video ends after frame {last_read} of the {expected} its container "
                               "lists (truncated or corrupt file); --allow-truncated keeps the frames read")
        self.truncated = (last_read, expected)


@dataclass
class ImageFolderSource(FrameSource):
    """Images in a folder, sorted by name; the k-th image (1-based) is frame k."""

    files: list[Path] = field(default_factory=list)

    @staticmethod
    def open(folder: str | Path, *, frames: FrameRange | None = None, fps: float = 30.0,
             name: str | None = None) -> "ImageFolderSource":
        d = Path(folder)
        if not d.is_dir():
            raise AetrackError(f"{d}: image folder not found")
        files = sorted(f for f in d.iterdir() if f.suffix.lower() in IMAGE_EXTENSIONS)
        if not files:
            raise AetrackError(f"{d}: no images ({', '.join(IMAGE_EXTENSIONS)}) in folder")
        return ImageFolderSource(name=name or d.name, fps=fps, length=len(files), frames=frames, files=files)

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        for k, f in enumerate(self.files, start=1):
            if self.frames is not None and not self.frames.contains(k):
                if self.frames.last is not None and k > self.frames.last:
                    return
                continue
            with quiet_opencv():
                img = cv2.imread(str(f), cv2.IMREAD_UNCHANGED)
            if img is None:
                raise AetrackError(f"{f}: cannot decode image")
            yield k, to_bgr(img)


@dataclass
class CameraSource(FrameSource):
    """A live camera by OpenCV index; endless until the camera stops."""

    index: int = 0

    @staticmethod
    def open(index: int, *, frames: FrameRange | None = None) -> "CameraSource":
        with quiet_opencv():
            cap = cv2.VideoCapture(index)
            ok = cap.isOpened()
            rate = cap.get(cv2.CAP_PROP_FPS) if ok else 0.0
            cap.release()
        if not ok:
            raise AetrackError(f"camera {index}: cannot open")
        return CameraSource(name=f"camera{index}", fps=rate if rate > 0 else 30.0, frames=frames, index=index)

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        with quiet_opencv():
            cap = cv2.VideoCapture(self.index)
        try:
            idx = 1
            while self.frames is None or self.frames.last is None or idx <= self.frames.last:
                with quiet_opencv():
                    ok, img = cap.read()
                if not ok:
                    if idx == 1:
                        raise AetrackError(f"camera {self.index}: no frames")
                    return
                if self.frames is None or self.frames.contains(idx):
                    yield idx, to_bgr(img)
                idx += 1
        finally:
            cap.release()


@dataclass
class IterableSource(FrameSource):
    """Any iterable of arrays (a generator, a list, a network stream decoder)."""

    items: Iterable[np.ndarray] = ()

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        for k, img in enumerate(self.items, start=1):
            if self.frames is not None and not self.frames.contains(k):
                if self.frames.last is not None and k > self.frames.last:
                    return
                continue
            yield k, to_bgr(img)


@dataclass
class FrameNumbers(FrameSource):
    """Frame numbers 1..length (within ``frames``) with empty images: linking given detections
    needs no pixels, and MOT sequences often ship detections for frames without images."""

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        first = self.frames.first if self.frames is not None and self.frames.first else 1
        for frame_no in range(first, first + (self.selected_length() or 0)):
            yield frame_no, np.zeros((0, 0, 3), dtype=np.uint8)


def open_sequence_source(seq: MotSequence, *, frames: FrameRange | None = None,
                         allow_truncated: bool = False) -> FrameSource:
    """Frames of a MOT sequence: ``img1/`` when present, else the one video file in the folder
    (``allow_truncated``: see :class:`VideoSource`)."""
    img_dir = seq.image_dir()
    if img_dir is not None:
        src: FrameSource = ImageFolderSource.open(img_dir, frames=frames, fps=seq.info.frame_rate, name=seq.name)
    else:
        video = seq.video_file()
        if video is None:
            raise AetrackError(f"{seq.root}: no {seq.info.im_dir}/ images and no video file "
                               f"({', '.join(VIDEO_EXTENSIONS)})")
        src = VideoSource.open(video, frames=frames, fps=seq.info.frame_rate, allow_truncated=allow_truncated)
    src.name = seq.name
    if src.length is None or seq.info.length < src.length:
        src.length = seq.info.length
    return src


def open_source(source: str | int | Path | Iterable[np.ndarray], *,
                frames: FrameRange | None = None, allow_truncated: bool = False) -> FrameSource:
    """Open a video file, image folder, MOT sequence folder, camera index or iterable of arrays.

    ``allow_truncated``: a video that ends before its container's frame count keeps the frames
    read instead of raising (see :class:`VideoSource`). A ``frames`` range past the end of a
    source of known length is refused (:meth:`FrameSource.check_frames`)."""
    if isinstance(source, int) or (isinstance(source, str) and source.strip().isdigit()):
        return CameraSource.open(int(source), frames=frames)
    if isinstance(source, (str, Path)):
        p = Path(source)
        if p.is_dir():
            if is_mot_sequence(p):
                return open_sequence_source(MotSequence.open(p), frames=frames,
                                            allow_truncated=allow_truncated).check_frames()
            return ImageFolderSource.open(p, frames=frames).check_frames()
        if p.is_file():
            return VideoSource.open(p, frames=frames, allow_truncated=allow_truncated).check_frames()
        raise AetrackError(f"{p}: no such video file, image folder or sequence folder")
    if isinstance(source, np.ndarray):
        raise AetrackError("open_source: pass an iterable of frames, not a single array")
    return IterableSource(name="stream", frames=frames, items=source)
