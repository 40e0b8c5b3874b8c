"""Drawing for the synthetic sequences: identity looks and sprites, backgrounds, occluders and
camera effects. Everything is vectorised numpy/OpenCV and draws from a caller's generator, so a
seed fixes every pixel. Images are BGR ``uint8``; coordinates are 0-based pixels, x right, y
down.

The scene logic (who moves where, ground truth) lives in :mod:`aetrack.data.synth`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import cv2
import numpy as np

SHAPES = ("person", "capsule", "ellipse", "box", "cone")
TEXTURES = ("solid", "hstripes", "vstripes", "checker", "dots")
# Height over width of each shape (person-like objects are tall and thin, boxes squat); a look
# draws its aspect from this range.
SHAPE_ASPECT = {"person": (2.4, 3.0), "capsule": (2.0, 2.6), "ellipse": (1.6, 2.1),
                "box": (1.2, 1.6), "cone": (1.5, 1.9)}
SPRITE_HEIGHT = 128  # canonical sprite height (px); frames resize from it, mostly downwards
OUTLINE_PX = 3  # dark rim width at the canonical height (~1 px at 40 px), so objects read as blobs
OUTLINE_GAIN = 0.4  # rim colour = region colour times this
TEXTURE_DEPTH = 0.35  # texture darkens its marks by this fraction of the region colour
TEXTURE_PERIOD = (10.0, 22.0)  # range of texture periods, pixels at the canonical height
# Object colours are saturated and bright (HSV s, v in these ranges); scenery stays below
# saturation 0.25, so objects stand out from any background.
LOOK_SATURATION = (0.55, 1.0)
LOOK_VALUE = (0.55, 1.0)
BODY_SCALE = (0.85, 1.15)  # identity size relative to the perspective height (tall and short)
TWIN_HUE_SHIFT = (6.0, 10.0)  # hue shift of a hue-twin, OpenCV hue units (180 = full circle)
# Occluder (width, height) ranges as fractions of the frame, before the closeness factor, for
# pillar (height: from above the frame down to its foot), hedge and sign board.
OCCLUDER_SIZE = (((0.04, 0.07), (0.0, 0.0)), ((0.12, 0.22), (0.1, 0.16)), ((0.08, 0.12), (0.28, 0.36)))


@dataclass(frozen=True)
class Look:
    """The appearance of one identity.

    ``colors`` are BGR triples for the upper part, the lower part and an accent (head, band or
    emblem, depending on the shape).
    """

    shape: str
    aspect: float  # height / width of the full extent
    colors: tuple[tuple[int, int, int], tuple[int, int, int], tuple[int, int, int]]
    texture: str
    texture_period: float  # pixels at the canonical sprite height
    scale: float  # body size relative to the perspective height at the object's foot

    def descriptor(self) -> np.ndarray:
        """(10,) float vector in which distance tracks how different two looks appear."""
        c = np.asarray(self.colors, dtype=np.float64).ravel()[:6] / 255.0
        shape_code = SHAPES.index(self.shape) / len(SHAPES)
        texture_code = TEXTURES.index(self.texture) / len(TEXTURES)
        return np.concatenate([c, [shape_code, texture_code, self.aspect / 3.0, self.scale]])


def _hsv_to_bgr(h: float, s: float, v: float) -> tuple[int, int, int]:
    """One colour from OpenCV HSV (h in [0, 180), s and v in [0, 1]) to a BGR int triple."""
    px = np.array([[[2.0 * (h % 180.0), s, v]]], dtype=np.float32)  # float HSV: degrees, [0, 1]
    b, g, r = cv2.cvtColor(px, cv2.COLOR_HSV2BGR)[0, 0] * 255.0
    return int(round(b)), int(round(g)), int(round(r))


def random_look(rng: np.random.Generator) -> Look:
    """A random look with saturated colours (see :data:`LOOK_SATURATION`)."""
    shape = SHAPES[int(rng.integers(len(SHAPES)))]
    lo, hi = SHAPE_ASPECT[shape]
    colors = tuple(_random_color(rng) for _ in range(3))
    return Look(shape=shape, aspect=float(rng.uniform(lo, hi)), colors=colors,  # type: ignore[arg-type]
                texture=TEXTURES[int(rng.integers(len(TEXTURES)))],
                texture_period=float(rng.uniform(*TEXTURE_PERIOD)), scale=float(rng.uniform(*BODY_SCALE)))


def _random_color(rng: np.random.Generator) -> tuple[int, int, int]:
    return _hsv_to_bgr(rng.uniform(0.0, 180.0), rng.uniform(*LOOK_SATURATION), rng.uniform(*LOOK_VALUE))


def distinct_look(rng: np.random.Generator, others: list[Look], *, candidates: int) -> Look:
    """The one of ``candidates`` random looks farthest from every look in ``others``."""
    looks = [random_look(rng) for _ in range(candidates)]
    if not others:
        return looks[0]
    ref = np.stack([o.descriptor() for o in others])  # (M, 10)
    cand = np.stack([lk.descriptor() for lk in looks])  # (C, 10)
    nearest = np.linalg.norm(cand[:, None, :] - ref[None, :, :], axis=2).min(axis=1)  # (C,)
    return looks[int(np.argmax(nearest))]


def twin_look(rng: np.random.Generator, base: Look) -> Look:
    """A near twin of ``base``: same shape and main colours, one small difference.

    The difference (texture, accent colour or a slight hue shift) is what a good appearance
    model can still pick up at close range; at a distance the two need motion to tell apart.
    """
    kind = int(rng.integers(3))
    if kind == 0:
        others = [t for t in TEXTURES if t != base.texture]
        return replace(base, texture=others[int(rng.integers(len(others)))])
    if kind == 1:
        return replace(base, colors=(base.colors[0], base.colors[1], _random_color(rng)))
    hsv = cv2.cvtColor(np.array([base.colors[:2]], dtype=np.uint8), cv2.COLOR_BGR2HSV).astype(np.float64)
    hsv[..., 0] = (hsv[..., 0] + rng.choice([-1.0, 1.0]) * rng.uniform(*TWIN_HUE_SHIFT)) % 180.0
    shifted = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR)[0]
    up, low = (tuple(int(v) for v in c) for c in shifted)
    return replace(base, colors=(up, low, base.colors[2]))  # type: ignore[arg-type]


@dataclass
class Sprite:
    """A look drawn once at the canonical height, resized on demand (cached per height)."""

    color: np.ndarray  # (S, Ws, 3) uint8 BGR
    mask: np.ndarray  # (S, Ws) uint8, 255 inside the object
    _cache: dict[int, tuple[np.ndarray, np.ndarray, tuple[int, int, int, int], int]] = field(
        default_factory=dict, repr=False)

    def at_height(self, h: int) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int, int], int]:
        """Resized ``(color (h, w, 3), mask (h, w) bool, tight box (x, y, w, h), mask pixels)``.

        The box is the extent of the mask inside the resized patch, in patch pixels.
        """
        hit = self._cache.get(h)
        if hit is not None:
            return hit
        s, ws = self.mask.shape
        w = max(2, int(round(h * ws / s)))
        color = cv2.resize(self.color, (w, h), interpolation=cv2.INTER_AREA)
        mask = cv2.resize(self.mask, (w, h), interpolation=cv2.INTER_AREA) >= 128
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        box = (int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1))
        out = (color, mask, box, int(np.count_nonzero(mask)))
        self._cache[h] = out
        return out


def draw_sprite(look: Look) -> Sprite:
    """Draw ``look`` at :data:`SPRITE_HEIGHT` rows; the mask touches all four patch edges."""
    s = SPRITE_HEIGHT
    w = max(8, int(round(s / look.aspect)))
    region = np.zeros((s, w), np.uint8)  # 0 outside, 1 upper, 2 lower, 3 accent
    if look.shape == "person":
        head_r = max(3, int(round(min(0.09 * s, 0.3 * w))))
        cv2.circle(region, (w // 2, head_r), head_r, 3, -1)
        neck = 2 * head_r - 1
        waist = int(0.58 * s)
        cv2.rectangle(region, (0, neck), (w - 1, waist), 1, -1)
        leg_w = max(2, int(0.42 * w))
        cv2.rectangle(region, (0, waist), (leg_w - 1, s - 1), 2, -1)
        cv2.rectangle(region, (w - leg_w, waist), (w - 1, s - 1), 2, -1)
    elif look.shape == "capsule":
        r = w // 2
        cv2.rectangle(region, (0, r), (w - 1, s - 1 - r), 1, -1)
        cv2.ellipse(region, (w // 2, r), (w // 2, r), 0, 180, 360, 1, -1)
        cv2.ellipse(region, (w // 2, s - 1 - r), (w // 2, r), 0, 0, 180, 2, -1)
        region[s // 2:][region[s // 2:] == 1] = 2
        region[int(0.45 * s):int(0.53 * s)][region[int(0.45 * s):int(0.53 * s)] > 0] = 3
    elif look.shape == "ellipse":
        cv2.ellipse(region, (w // 2, s // 2), ((w - 1) // 2, (s - 1) // 2), 0, 0, 360, 1, -1)
        region[s // 2:][region[s // 2:] == 1] = 2
        cv2.circle(region, (w // 2, int(0.3 * s)), max(2, w // 6), 3, -1)
    elif look.shape == "box":
        cv2.rectangle(region, (0, 0), (w - 1, s // 2), 1, -1)
        cv2.rectangle(region, (0, s // 2), (w - 1, s - 1), 2, -1)
        cv2.rectangle(region, (w // 4, s // 4), (w - 1 - w // 4, s // 2 - 2), 3, -1)
    elif look.shape == "cone":
        top = int(0.3 * w)
        poly = np.array([[top, 0], [w - 1 - top, 0], [w - 1, s - 1], [0, s - 1]], np.int32)
        cv2.fillPoly(region, [poly], 1)
        region[s // 2:][region[s // 2:] == 1] = 2
        region[:int(0.12 * s)][region[:int(0.12 * s)] > 0] = 3
    else:  # pragma: no cover - looks are built from SHAPES only
        raise ValueError(f"unknown shape {look.shape!r}")

    palette = np.zeros((4, 3), np.float32)
    palette[1:] = np.asarray(look.colors, np.float32)
    color = palette[region]  # (S, W, 3)
    yy, xx = np.mgrid[0:s, 0:w].astype(np.float32)
    marks = _texture_marks(look.texture, look.texture_period, yy, xx) & (region != 3)
    color *= np.where(marks, 1.0 - TEXTURE_DEPTH, 1.0)[..., None]
    # Light from above and a rounded body: brighter near the top and the vertical centre line.
    across = (xx - (w - 1) / 2.0) / max(1.0, (w - 1) / 2.0)
    shade = (1.08 - 0.22 * yy / (s - 1)) * (0.8 + 0.2 * (1.0 - across * across))
    color *= shade[..., None]
    mask = (region > 0).astype(np.uint8) * 255
    inner = cv2.erode(mask, np.ones((2 * OUTLINE_PX + 1, 2 * OUTLINE_PX + 1), np.uint8))
    rim = (mask > 0) & (inner == 0)
    color[rim] *= OUTLINE_GAIN
    color[mask == 0] = color[rim].mean(axis=0) if rim.any() else 0.0  # resize blends rim, not black
    return Sprite(color=np.clip(color, 0, 255).astype(np.uint8), mask=mask)


def _texture_marks(texture: str, period: float, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """Boolean (S, W) marks of a texture with the given period in pixels."""
    half = period / 2.0
    if texture == "solid":
        return np.zeros(yy.shape, bool)
    if texture == "hstripes":
        return (yy // half) % 2 == 1
    if texture == "vstripes":
        return (xx // (half * 0.6)) % 2 == 1
    if texture == "checker":
        return ((yy // half) + (xx // half)) % 2 == 1
    if texture == "dots":
        dy = (yy % period) - half
        dx = (xx % period) - half
        return dy * dy + dx * dx < (0.3 * period) ** 2
    raise ValueError(f"unknown texture {texture!r}")  # pragma: no cover


def _muted(rng: np.random.Generator, *, v_lo: float, v_hi: float) -> np.ndarray:
    """A desaturated colour (saturation <= 0.25) as a float32 BGR triple."""
    return np.asarray(_hsv_to_bgr(rng.uniform(0, 180), rng.uniform(0.05, 0.25), rng.uniform(v_lo, v_hi)),
                      np.float32)


def draw_background(rng: np.random.Generator, *, width: int, height: int, horizon: float,
                    contrast: float) -> np.ndarray:
    """A muted scene of (height, width, 3) uint8: a wall with panels above ``horizon`` (fraction
    of the height), a tiled floor in perspective below, low-frequency blotches and fine grain.

    ``contrast`` scales every texture amplitude (1 = the default look); textures stay well below
    the contrast of objects so the background is textured but not adversarial.
    """
    hy = int(round(horizon * height))
    img = np.empty((height, width, 3), np.float32)
    wall, floor = _muted(rng, v_lo=0.45, v_hi=0.75), _muted(rng, v_lo=0.35, v_hi=0.65)
    ramp = np.linspace(1.05, 0.92, max(1, hy), dtype=np.float32)[:, None, None]
    img[:hy] = wall * ramp
    img[hy:] = floor
    for _ in range(int(rng.integers(3, 7))):  # wall panels / windows, low contrast
        pw, ph = int(rng.uniform(0.05, 0.15) * width), int(rng.uniform(0.3, 0.8) * max(hy, 1))
        px, py = int(rng.uniform(0, width - pw)), int(rng.uniform(0, max(1, hy - ph)))
        tone = float(rng.uniform(-18.0, 18.0)) * contrast
        img[py:py + ph, px:px + pw] += tone
    # Floor tiles: rows spaced like a ground plane seen from above the horizon, and lines
    # converging to a vanishing point on the horizon.
    line = np.zeros((height, width), np.uint8)
    depth = np.linspace(0.0, 1.0, 12) ** 2
    for d in depth[1:]:
        y = hy + int(d * (height - hy))
        cv2.line(line, (0, y), (width - 1, y), 255, 1)
    vx = float(rng.uniform(0.3, 0.7) * width)
    for fx in np.linspace(-width, 2 * width, 16):
        cv2.line(line, (int(vx), hy), (int(fx), height - 1), 255, 1)
    line[:hy] = 0
    img -= (line.astype(np.float32) / 255.0 * 14.0 * contrast)[..., None]
    # Blotches: mostly brightness (shared by the channels), a little colour.
    blot = rng.normal(0.0, 1.0, size=(8, 14, 1)) + rng.normal(0.0, 0.3, size=(8, 14, 3))
    img += cv2.resize(blot.astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC) * 10.0 * contrast
    img += rng.normal(0.0, 3.0 * contrast, size=img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Occluder:
    """A static scene object. ``depth`` is its foot row: objects standing above it (farther away)
    pass behind it, objects below pass in front."""

    color: np.ndarray  # (h, w, 3) uint8
    mask: np.ndarray  # (h, w) bool
    x: int  # left column of the patch, frame pixels (camera at rest)
    y: int  # top row of the patch
    depth: float  # foot row, pixels


def draw_occluder(rng: np.random.Generator, *, width: int, height: int, foot_lo: float,
                  foot_hi: float) -> Occluder:
    """A pillar (reaching well above the frame, even under camera jitter), a hedge (wide and
    low) or a sign board on a post, standing with its foot between rows ``foot_lo`` and
    ``foot_hi``. Muted colours with a grain texture: they look like scenery, not like the
    saturated objects. Sizes are :data:`OCCLUDER_SIZE` scaled by closeness to the camera."""
    kind = int(rng.integers(3))
    foot = float(rng.uniform(foot_lo, foot_hi))
    near = 0.5 + foot / height  # bigger closer to the camera
    (w_lo, w_hi), (h_lo, h_hi) = OCCLUDER_SIZE[kind]
    w = int(rng.uniform(w_lo, w_hi) * width * near)
    h = int(foot) + height // 8 if kind == 0 else int(rng.uniform(h_lo, h_hi) * height * near)
    w, h = max(w, 6), max(h, 6)
    mask = np.zeros((h, w), np.uint8)
    if kind == 0:
        mask[:] = 1
    elif kind == 1:
        cv2.rectangle(mask, (0, h // 3), (w - 1, h - 1), 1, -1)
        cv2.ellipse(mask, (w // 2, h // 3), (w // 2, h // 3), 0, 180, 360, 1, -1)
    else:
        board = int(0.55 * h)
        cv2.rectangle(mask, (0, 0), (w - 1, board), 1, -1)
        cv2.rectangle(mask, (w // 2 - max(1, w // 12), board), (w // 2 + max(1, w // 12), h - 1), 1, -1)
    base = _muted(rng, v_lo=0.25, v_hi=0.6)
    grain = rng.normal(0.0, 8.0, size=(h, w, 1)).astype(np.float32)
    across = np.linspace(-1.0, 1.0, w, dtype=np.float32)[None, :, None]
    color = base * (0.85 + 0.15 * (1.0 - across * across)) + grain
    x = int(rng.uniform(0.05, 0.95) * width - w / 2)
    return Occluder(color=np.clip(color, 0, 255).astype(np.uint8), mask=mask > 0, x=x,
                    y=int(round(foot)) - h, depth=foot)


@dataclass(frozen=True)
class NoiseBank:
    """A few frames of Gaussian sensor noise, cropped at a random offset per frame: per-frame
    noise at the cost of a crop instead of ~700k normal draws."""

    fields: np.ndarray  # (K, H + pad, W + pad, 3) int16

    @staticmethod
    def make(rng: np.random.Generator, *, width: int, height: int, sigma: float, count: int = 4,
             pad: int = 32) -> "NoiseBank":
        noise = rng.normal(0.0, sigma, size=(count, height + pad, width + pad, 3))
        return NoiseBank(np.round(noise).astype(np.int16))

    def add(self, rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
        """``img`` plus one noise crop, saturated to uint8 (a new array)."""
        h, w = img.shape[:2]
        k = int(rng.integers(self.fields.shape[0]))
        oy = int(rng.integers(self.fields.shape[1] - h + 1))
        ox = int(rng.integers(self.fields.shape[2] - w + 1))
        return cv2.add(img, self.fields[k, oy:oy + h, ox:ox + w], dtype=cv2.CV_8U)


def illumination_gain(t: int, *, amplitude: float, periods: np.ndarray, phases: np.ndarray) -> np.ndarray:
    """(3,) per-channel BGR gain at frame ``t``: a slow global drift plus a slower colour drift.

    ``periods`` (2,) are in frames, ``phases`` (4,) in radians (one global, three per channel).
    """
    glob = np.sin(2.0 * np.pi * t / periods[0] + phases[0])
    chan = np.sin(2.0 * np.pi * t / periods[1] + phases[1:])
    return 1.0 + amplitude * (0.7 * glob + 0.3 * chan)


def paste(img: np.ndarray, owner: np.ndarray, color: np.ndarray, mask: np.ndarray, x: int, y: int,
          value: int) -> None:
    """Draw ``color`` where ``mask`` is set with the patch's top-left at (x, y), clipped to the
    frame, and write ``value`` into ``owner`` at the same pixels (both in place)."""
    h, w = mask.shape
    H, W = owner.shape
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, W), min(y + h, H)
    if x0 >= x1 or y0 >= y1:
        return
    m = mask[y0 - y:y1 - y, x0 - x:x1 - x]
    np.copyto(img[y0:y1, x0:x1], color[y0 - y:y1 - y, x0 - x:x1 - x], where=m[..., None])
    owner[y0:y1, x0:x1][m] = value
