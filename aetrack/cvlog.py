"""OpenCV's and FFmpeg's own log lines, silenced around aetrack's calls into them.

OpenCV prints warnings and errors on stderr itself (a missing camera gives a dozen lines;
FFmpeg adds "[mjpeg @ 0x...] overread 8" for a damaged video) before aetrack can say what
went wrong in one line. Inside :func:`quiet_opencv` both are off; the previous settings come
back on exit. A user who sets ``OPENCV_LOG_LEVEL`` or ``OPENCV_FFMPEG_LOGLEVEL`` keeps that
library's messages: their choice is respected.

FFmpeg's level is read from the environment when a capture is opened and holds for that
capture, so wrapping the open (and each read) is enough.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import cv2

FFMPEG_LEVEL_ENV = "OPENCV_FFMPEG_LOGLEVEL"
OPENCV_LEVEL_ENV = "OPENCV_LOG_LEVEL"
FFMPEG_QUIET = "-8"  # AV_LOG_QUIET


@contextlib.contextmanager
def quiet_opencv() -> Iterator[None]:
    """Silence OpenCV's and FFmpeg's logging inside the block, unless the user asked for it."""
    logging = cv2.utils.logging
    old_level = logging.getLogLevel()
    set_cv = OPENCV_LEVEL_ENV not in os.environ
    set_ffmpeg = FFMPEG_LEVEL_ENV not in os.environ
    if set_cv:
        logging.setLogLevel(logging.LOG_LEVEL_SILENT)
    if set_ffmpeg:
        os.environ[FFMPEG_LEVEL_ENV] = FFMPEG_QUIET
    try:
        yield
    finally:
        if set_cv:
            logging.setLogLevel(old_level)
        if set_ffmpeg:
            os.environ.pop(FFMPEG_LEVEL_ENV, None)
