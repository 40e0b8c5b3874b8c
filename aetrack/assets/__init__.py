"""Files shipped with the package besides the weights: the demo clip.

``demo_corridor.mp4`` is a short real clip (a corridor where people walk past, from Intel's IoT
DevKit sample videos, CC BY 4.0; see NOTICE), what ``aetrack demo`` tracks and the speed
benchmarks (:mod:`aetrack.bench.engines`) resize.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

DEMO_CLIP = "demo_corridor.mp4"  # in this folder; see NOTICE for its source and licence


def demo_clip_path() -> Path:
    """The real clip shipped with the package."""
    return Path(str(resources.files("aetrack") / "assets" / DEMO_CLIP))
