"""Linking detections into tracks: numpy + ``lap``, image pixels, no tensors.

Example::

    import numpy as np
    from aetrack.linker import Linker, LinkerConfig

    linker = Linker(cfg=LinkerConfig(mode="tags_motion"), frame_rate=30.0)
    tracks = linker.update(
        boxes=np.array([[10.0, 20.0, 50.0, 120.0]]),   # (n, 4) x1, y1, x2, y2 pixels
        scores=np.array([0.9]),                         # (n,)
        tags=np.array([[0.1, -0.3]]),                   # (n, D) or None
        classes=np.array([0]),                          # (n,) 0-based class, or None: all 0
    )
    [(t.track_id, t.box) for t in tracks]               # [(1, (10.0, 20.0, 50.0, 120.0))]
"""

from __future__ import annotations

from aetrack.linker.bench import time_linker as time_linker
from aetrack.linker.config import MODES as MODES
from aetrack.linker.config import LinkerConfig as LinkerConfig
from aetrack.linker.kalman import KalmanNoise as KalmanNoise
from aetrack.linker.linker import Linker as Linker
from aetrack.linker.linker import Track as Track
