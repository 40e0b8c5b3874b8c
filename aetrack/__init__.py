"""aetrack: multi-object tracking with temporal associative embedding.

A detector finds object centres and gives each a tag; tags are trained so that one object's
tags agree across frames and different objects' tags differ; a linker joins detections into
tracks by tag distance gated by motion.

Streaming example::

    import cv2
    from aetrack import Tracker

    tracker = Tracker.from_pretrained()          # embedded default weights
    cap = cv2.VideoCapture("video.mp4")
    while True:
        ok, frame = cap.read()                   # H x W x 3 uint8, BGR
        if not ok:
            break
        for t in tracker.update(frame):          # snapshots, not live objects
            print(t.track_id, t.box, t.score)    # box = (x1, y1, x2, y2) in frame pixels
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
