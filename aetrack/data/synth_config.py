"""What shapes a synthetic sequence: :class:`SynthConfig`, the difficulty presets and the
sequence names (the generator itself is :mod:`aetrack.data.synth`).

A room of its own so that reading a config (the CLI's help lists the presets) does not load the
renderer and OpenCV.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from aetrack.config import from_dict
from aetrack.errors import AetrackError


@dataclass(frozen=True, kw_only=True)
class SynthConfig:
    """Everything that shapes a synthetic sequence. Defaults are the ``medium`` preset; the other
    presets in :data:`PRESETS` override a few fields. Sizes relative to the frame keep a scene
    alike at any resolution."""

    difficulty: str = "medium"  # preset name; part of the sequence name synth-<difficulty>-<seed>
    width: int = 640  # frame width, pixels
    height: int = 360  # frame height, pixels
    frames: int = 300  # sequence length, frames
    fps: float = 30.0  # frame rate written to seqinfo.ini; motion speeds are per second

    # Population and looks.
    objects: int = 9  # target number of objects in view; new ones enter while fewer are
    lookalike_rate: float = 0.1  # chance a new identity is a near twin of one in view (a minority:
    #   twins cost tag separability, which held-out medium sequences are scored on)
    look_candidates: int = 8  # random looks tried per new identity; the most distinct wins

    # Perspective: heights as fractions of the frame height, by the row of the object's foot.
    horizon: float = 0.30  # wall/floor boundary, fraction of the height from the top
    walk_top: float = 0.36  # highest foot row (farthest from the camera), fraction of height
    walk_bottom: float = 1.03  # lowest foot row; > 1 lets near objects be cut by the bottom edge
    far_height: float = 0.09  # object height at walk_top (x frame height): ~32 px at 360 rows
    near_height: float = 0.33  # object height with the foot on the bottom row: ~120 px at 360

    # Motion (smooth walking with turns and stops).
    speed: float = 0.6  # cruise speed in body heights per second (people: ~0.8)
    speed_spread: float = 0.3  # relative spread of cruise speed between identities
    depth_motion: float = 0.5  # vertical screen motion per unit of heading sin (foreshortening)
    heading_spread: float = 0.5  # std of the initial heading around left/right, radians
    turn_noise: float = 0.003  # std of the per-frame change of turn rate, radians/frame
    turn_decay: float = 0.97  # per-frame decay of the turn rate (memory of a turn)
    turn_event_rate: float = 0.006  # per-frame chance of a deliberate turn
    turn_impulse: tuple[float, float] = (0.02, 0.05)  # turn-rate kick of such a turn, rad/frame
    stop_rate: float = 0.003  # per-frame chance an object starts a stop
    stop_frames: tuple[int, int] = (20, 90)  # stop duration range, frames
    pace_gain: float = 0.12  # per-frame approach of the pace to its target (speeding/slowing)
    spawn_rate: float = 0.05  # per-frame chance of an entry while fewer than `objects` are in view

    # Scenery.
    occluders: tuple[int, int] = (1, 2)  # range of static occluders per sequence (inclusive)
    background_contrast: float = 1.0  # amplitude of the background textures (0 = flat)

    # Camera.
    illumination_drift: float = 0.08  # amplitude of the slow gain drift (0.08 = +-8 %)
    drift_periods: tuple[float, float] = (8.0, 4.0)  # mean periods of global/colour drift, s
    camera_jitter: float = 0.0  # std of the camera shake, pixels (0 = still camera)
    jitter_memory: float = 0.9  # AR(1) coefficient of the shake: near 1 = slow sway, 0 = white
    blur_prob: float = 0.3  # per-frame chance of a Gaussian defocus/motion blur
    blur_sigma: tuple[float, float] = (0.4, 1.2)  # range of that blur's sigma, pixels
    noise_sigma: float = 4.0  # std of the additive sensor noise, grey levels
    jpeg_quality: int = 80  # quality of the written JPEG frames (1-100)

    # Simulated public detections (det/det.txt).
    det_miss_rate: float = 0.03  # miss probability of a fully visible object
    det_miss_power: float = 2.0  # miss prob = rate + (1 - rate) * (1 - visibility) ** power
    det_box_jitter: float = 0.04  # std of box centre and log-size noise, in box sizes
    det_conf_base: float = 0.3  # confidence of a true detection = base + gain * visibility
    det_conf_gain: float = 0.65  # (+ noise, clipped to [0.01, 1])
    det_conf_noise: float = 0.08  # std of the confidence noise
    det_fp_rate: float = 0.3  # mean number of false positives per frame (Poisson)
    det_fp_conf: tuple[float, float] = (0.05, 0.55)  # confidence range of false positives

    def __post_init__(self) -> None:
        def need(ok: bool, what: str) -> None:
            if not ok:
                raise AetrackError(f"synth config: {what}")

        need(self.width >= 64 and self.height >= 64, f"frame size {self.width}x{self.height} is below 64x64")
        need(self.frames >= 1, f"frames must be >= 1, got {self.frames}")
        need(self.fps > 0, f"fps must be > 0, got {self.fps}")
        need(self.objects >= 0, f"objects must be >= 0, got {self.objects}")
        need(0.0 <= self.horizon < self.walk_top < 1.0 < self.walk_bottom <= 1.2,
             "need 0 <= horizon < walk_top < 1 < walk_bottom <= 1.2")
        need(0.0 < self.far_height <= self.near_height <= 1.0, "need 0 < far_height <= near_height <= 1")
        need(0 <= self.occluders[0] <= self.occluders[1], f"occluders range {self.occluders} is not lo <= hi")
        need(1 <= self.stop_frames[0] <= self.stop_frames[1],
             f"stop_frames {self.stop_frames} is not 1 <= lo <= hi")
        need(0.0 < self.blur_sigma[0] <= self.blur_sigma[1], f"blur_sigma {self.blur_sigma} is not 0 < lo <= hi")
        need(0.0 <= self.det_fp_conf[0] <= self.det_fp_conf[1] <= 1.0,
             f"det_fp_conf {self.det_fp_conf} is not lo <= hi in [0, 1]")
        need(1 <= self.jpeg_quality <= 100, f"jpeg_quality must be in 1..100, got {self.jpeg_quality}")
        need(self.look_candidates >= 1, f"look_candidates must be >= 1, got {self.look_candidates}")
        for name in ("lookalike_rate", "turn_decay", "turn_event_rate", "stop_rate", "pace_gain", "spawn_rate",
                     "jitter_memory", "blur_prob", "det_miss_rate", "det_conf_base", "det_conf_gain"):
            v = getattr(self, name)
            need(0.0 <= v <= 1.0, f"{name} must be in [0, 1], got {v}")
        for name in ("speed", "speed_spread", "depth_motion", "heading_spread", "turn_noise",
                     "background_contrast", "illumination_drift", "camera_jitter", "noise_sigma",
                     "det_miss_power", "det_box_jitter", "det_conf_noise", "det_fp_rate"):
            v = getattr(self, name)
            need(math.isfinite(v) and v >= 0.0, f"{name} must be >= 0, got {v}")
        need(min(self.drift_periods) > 0, f"drift_periods must be > 0, got {self.drift_periods}")

    @staticmethod
    def preset(name: str, **overrides: Any) -> "SynthConfig":
        """The named preset (``easy``, ``medium``, ``hard``) with ``overrides`` applied."""
        if name not in PRESETS:
            raise AetrackError(f"unknown difficulty {name!r}; choose one of {', '.join(PRESETS)}")
        return from_dict(SynthConfig, {**PRESETS[name], **overrides, "difficulty": name},
                         where=f"synth preset {name}")

    def foot_rows(self) -> tuple[float, float]:
        """(top, bottom) foot rows of the walking band, pixels."""
        return self.walk_top * self.height, self.walk_bottom * self.height

    def height_at(self, foot_y: np.ndarray | float) -> np.ndarray | float:
        """Perspective object height (pixels, before the identity's scale) at foot row(s)."""
        top = self.walk_top * self.height
        frac = (np.asarray(foot_y, dtype=np.float64) - top) / (self.height - top)
        h = (self.far_height + (self.near_height - self.far_height) * frac) * self.height
        return np.maximum(h, 4.0) if isinstance(foot_y, np.ndarray) else float(max(h, 4.0))


# The difficulty presets: the fields each changes from the defaults (= medium), in one place.
PRESETS: dict[str, dict[str, Any]] = {
    "easy": dict(objects=5, lookalike_rate=0.0, occluders=(0, 0), background_contrast=0.7,
                 illumination_drift=0.03, blur_prob=0.1, blur_sigma=(0.4, 0.8), noise_sigma=2.0,
                 jpeg_quality=92, det_miss_rate=0.01, det_fp_rate=0.1),
    "medium": {},
    "hard": dict(objects=15, lookalike_rate=0.3, occluders=(3, 4), background_contrast=1.2,
                 illumination_drift=0.18, camera_jitter=1.5, blur_prob=0.5, blur_sigma=(0.4, 1.6),
                 noise_sigma=7.0, jpeg_quality=65, stop_rate=0.005, turn_event_rate=0.01,
                 det_miss_rate=0.06, det_box_jitter=0.06, det_fp_rate=0.8),
}


def sequence_name(cfg: SynthConfig, seed: int) -> str:
    """``synth-<difficulty>-<seed>``, e.g. ``synth-medium-1000``."""
    return f"synth-{cfg.difficulty}-{seed}"
