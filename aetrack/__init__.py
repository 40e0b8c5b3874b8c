"""aetrack: multi-object tracking with temporal associative embedding.

A detector finds object centres and gives each a tag; tags are trained so that one object's
tags agree across frames and different objects' tags differ; a linker joins detections into
tracks by tag distance gated by motion.

Streaming example (README.md runs the same code: ``python stream.py a.mp4 b.mp4``)::

    import sys

    import cv2

    from aetrack import Tracker

    tracker = Tracker.from_pretrained()  # embedded default (real footage); "synthetic" also ships
    for path in sys.argv[1:]:  # one video after another
        cap = cv2.VideoCapture(path)
        # A new video: ids from 1 again, and its frame rate (the linker's time limits are in seconds).
        tracker.reset(frame_rate=cap.get(cv2.CAP_PROP_FPS) or 30.0)
        frame_no = 0
        while True:
            ok, frame = cap.read()  # H x W x 3 uint8, BGR (OpenCV order); grey and BGRA are converted
            if not ok:
                break
            frame_no += 1
            for t in tracker.update(frame):  # snapshots of this frame's tracks, not live objects
                x1, y1, x2, y2 = t.box  # frame pixels, clipped to the frame
                name = tracker.class_names[t.class_id]  # "person", "car", ...: the track's majority class
                print(f"{path} frame {frame_no}: track {t.track_id} {name} {t.state} "
                      f"({x1:.0f}, {y1:.0f}, {x2:.0f}, {y2:.0f}) score {t.score:.2f}")
        cap.release()
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aetrack.errors import AetrackError as AetrackError
from aetrack.lazy import lazy_attributes

__version__ = "0.1.0"

if TYPE_CHECKING:
    from aetrack.data.mot import parse_frame_range as parse_frame_range
    from aetrack.data.sources import open_source as open_source
    from aetrack.decode import DecodeConfig as DecodeConfig
    from aetrack.decode import Detections as Detections
    from aetrack.eval import evaluate as evaluate
    from aetrack.linker import Linker as Linker
    from aetrack.linker import LinkerConfig as LinkerConfig
    from aetrack.linker import Track as Track
    from aetrack.tracker import Tracker as Tracker

# The public names and the module each lives in. They load on first use (PEP 562), so that
# ``import aetrack`` (and the CLI's ``--help``) costs milliseconds, not the seconds that
# torch, OpenCV, motmetrics and trackeval take: ``from aetrack import Tracker`` imports torch,
# ``from aetrack import Linker`` does not.
_LAZY = {
    "parse_frame_range": "aetrack.data.mot",
    "open_source": "aetrack.data.sources",
    "DecodeConfig": "aetrack.decode",
    "Detections": "aetrack.decode",
    "evaluate": "aetrack.eval",
    "Linker": "aetrack.linker",
    "LinkerConfig": "aetrack.linker",
    "Track": "aetrack.linker",
    "Tracker": "aetrack.tracker",
}
__all__ = ["AetrackError", *_LAZY]

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
