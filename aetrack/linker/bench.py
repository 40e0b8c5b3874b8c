"""Micro-benchmark of the linker alone: milliseconds per frame on a synthetic scene.

    python -c "from aetrack.linker import time_linker; print(time_linker())"

The scene is generated before timing: ``n_objects`` boxes moving at constant velocity with
pixel jitter in a 1920 x 1080 frame (bouncing off the borders), each with a fixed random tag
plus noise, scores mostly high with some low ones, and a few detections missed per frame.
With ``num_classes`` > 1 each object gets a fixed random class, passed to the linker (which
then forbids cross-class pairs in every stage); with 1 no classes are passed.
Only :meth:`Linker.update` is timed, after a warm-up, per frame; the median is reported.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from aetrack.linker.config import MODES, LinkerConfig
from aetrack.linker.linker import Linker

_FRAME_SIZE = (1920.0, 1080.0)   # width, height pixels of the synthetic scene
_BOX_SIZE = (40.0, 100.0)        # width, height pixels of every object
_SPEED = 4.0                     # max |velocity| per axis, pixels/frame
_JITTER = 1.0                    # std of box corner noise, pixels
_TAG_NOISE = 0.05                # std of per-frame tag noise, tag units
_MISS_RATE = 0.05                # fraction of detections dropped per frame
_LOW_RATE = 0.1                  # fraction of detections given a low score


def _scene(
    *, n_objects: int, frames: int, tag_dim: int, num_classes: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]]:
    """Per frame: boxes (n, 4) xyxy pixels, scores (n,), tags (n, tag_dim), classes (n,) or None."""
    rng = np.random.default_rng(seed)
    size = np.array(_FRAME_SIZE)
    wh = np.array(_BOX_SIZE)
    pos = rng.uniform(0, 1, (n_objects, 2)) * (size - wh)
    vel = rng.uniform(-_SPEED, _SPEED, (n_objects, 2))
    tag = rng.normal(0, 1, (n_objects, tag_dim))
    cls = rng.integers(0, num_classes, n_objects) if num_classes > 1 else None  # one class: same scene as before
    out = []
    for _ in range(frames):
        pos = pos + vel
        bounce = (pos < 0) | (pos > size - wh)
        vel = np.where(bounce, -vel, vel)
        pos = np.clip(pos, 0, size - wh)
        keep = rng.uniform(0, 1, n_objects) >= _MISS_RATE
        boxes = np.concatenate([pos, pos + wh], axis=1) + rng.normal(0, _JITTER, (n_objects, 4))
        scores = np.where(rng.uniform(0, 1, n_objects) < _LOW_RATE, 0.3, 0.9)
        tags = tag + rng.normal(0, _TAG_NOISE, tag.shape)
        out.append((boxes[keep], scores[keep], tags[keep], None if cls is None else cls[keep]))
    return out


def time_linker(
    *,
    n_objects: int = 30,
    frames: int = 300,
    tag_dim: int = 8,
    num_classes: int = 1,
    modes: tuple[str, ...] = MODES,
    warmup: int = 20,
    seed: int = 0,
    base: LinkerConfig | None = None,
) -> dict:
    """Time ``Linker.update`` per frame for each mode on one synthetic scene.

    Returns ``{"n_objects", "frames", "tag_dim", "num_classes", "modes": {mode: {"median_ms", "p90_ms",
    "ids"}}}``: median and 90th percentile milliseconds per frame over the frames after
    ``warmup``, and the number of ids issued (a sanity check: ideally ``n_objects``).
    ``base``: the settings besides the mode (default ``LinkerConfig()``).
    """
    checks = (("n_objects", n_objects, 0), ("frames", frames, 1), ("tag_dim", tag_dim, 1),
              ("num_classes", num_classes, 1), ("warmup", warmup, 0))
    for name, value, low in checks:
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if warmup >= frames:
        raise ValueError(f"warmup must be < frames ({frames}), got {warmup!r}")
    for mode in modes:
        if mode not in MODES:
            raise ValueError(f"modes must be among {', '.join(MODES)}, got {mode!r}")
    scene = _scene(n_objects=n_objects, frames=frames, tag_dim=tag_dim, num_classes=num_classes, seed=seed)
    results: dict[str, dict[str, float]] = {}
    for mode in modes:
        cfg = LinkerConfig(mode=mode) if base is None else dataclasses.replace(base, mode=mode)
        linker = Linker(cfg=cfg, frame_rate=30.0)
        times = np.zeros(frames)
        ids: set[int] = set()
        for i, (boxes, scores, tags, classes) in enumerate(scene):
            t0 = time.perf_counter()
            tracks = linker.update(boxes=boxes, scores=scores, tags=tags, classes=classes)
            times[i] = time.perf_counter() - t0
            ids.update(t.track_id for t in tracks)
        ms = times[warmup:] * 1e3
        results[mode] = {
            "median_ms": float(np.median(ms)),
            "p90_ms": float(np.percentile(ms, 90)),
            "ids": len(ids),
        }
    return {"n_objects": n_objects, "frames": frames, "tag_dim": tag_dim, "num_classes": num_classes, "modes": results}
