"""Training targets for one clip: centre heatmaps, and size, offset and identity at centres.

Coordinates: boxes arrive as xyxy in network-input pixels (after the letterbox); the maps are
at the model's output stride s (``ModelConfig.stride``, 4 unless the yolox_nano backbone is set
to 8): cell ``(x, y)`` covers input pixels ``[s x, s x + s)``. An object with centre
``(cx, cy)`` input pixels lands in cell ``(floor(cx / s), floor(cy / s))`` with sub-cell
offset ``(cx / s - floor(cx / s), cy / s - floor(cy / s))`` in [0, 1) cells.

Size parameterisation (shared with the ``size`` head and decoding): ``ln(w), ln(h)`` of the box
in input pixels, see :func:`encode_size` / :func:`decode_size`.

Boxes are not clipped to the input: the detector learns the full extent of a partly visible
object, as MOT ground truth annotates it. An object whose centre lies outside the input, or
whose width or height is not positive, is skipped (it is not in the heatmap either).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from aetrack.model.config import STRIDE, ModelConfig

__all__ = [
    "STRIDE",
    "build_targets",
    "decode_size",
    "draw_gaussian",
    "encode_size",
    "gather_at_cells",
    "gaussian_radius",
    "read_tags",
]

# Minimum IoU a box displaced by the Gaussian radius must keep with the true box (CenterNet).
MIN_OVERLAP = 0.7

# Upper clamp of the predicted ln(size) before exp: e^10 = 22026 px, larger than any input,
# only there so that an untrained or diverged head cannot produce inf boxes.
LOG_SIZE_MAX = 10.0


def encode_size(wh: np.ndarray) -> np.ndarray:
    """(..., 2) box (w, h) in input pixels (> 0) -> (..., 2) size-head target ln(w), ln(h)."""
    return np.log(np.asarray(wh, dtype=np.float64))


def decode_size(raw: Tensor) -> Tensor:
    """Size-head output ln(w), ln(h) -> (w, h) in input pixels (any shape, elementwise)."""
    return torch.exp(raw.clamp(max=LOG_SIZE_MAX))


def gaussian_radius(height: float, width: float, *, min_overlap: float = MIN_OVERLAP) -> float:
    """CenterNet's Gaussian radius for a (height, width) box, both in output cells.

    The radius r is meant as the corner displacement that keeps IoU >= ``min_overlap``; three
    cases give three quadratics a r^2 - b r + c = 0 (written with CenterNet's coefficients and
    its root ``(b + sqrt(b^2 - 4ac)) / 2``, kept as published so that targets match the
    reference rule; the smallest of the three is used):

    1. one corner in, one out: a = 1,  b = h + w,        c = h w (1 - o) / (1 + o)
    2. both corners inside:    a = 4,  b = 2 (h + w),    c = (1 - o) h w
    3. both corners outside:   a = 4o, b = -2 o (h + w), c = (o - 1) h w
    """
    if not 0.0 < min_overlap < 1.0:
        raise ValueError(f"min_overlap must be in (0, 1), got {min_overlap}")
    h, w, o = float(height), float(width), float(min_overlap)
    radii = []
    for a, b, c in (
        (1.0, h + w, h * w * (1 - o) / (1 + o)),
        (4.0, 2 * (h + w), (1 - o) * h * w),
        (4 * o, -2 * o * (h + w), (o - 1) * h * w),
    ):
        radii.append((b + math.sqrt(max(b * b - 4 * a * c, 0.0))) / 2)
    return min(radii)


def draw_gaussian(heatmap: np.ndarray, *, center: tuple[int, int], radius: int) -> None:
    """Max a Gaussian peak into ``heatmap`` (h, w) in place at cell ``center`` = (x, y).

    The kernel is (2r+1) x (2r+1) with sigma = (2r+1) / 6, value 1 at the centre, and values
    below float64 eps times the peak set to 0 (as CenterNet); it is clipped at the borders.
    """
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    sigma = (2 * radius + 1) / 6
    d = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-(d[None, :] ** 2 + d[:, None] ** 2) / (2 * sigma * sigma))  # (2r+1, 2r+1)
    kernel[kernel < np.finfo(np.float64).eps] = 0.0
    x, y = center
    hh, ww = heatmap.shape
    left, right = min(x, radius), min(ww - x, radius + 1)
    top, bottom = min(y, radius), min(hh - y, radius + 1)
    if left + right <= 0 or top + bottom <= 0:
        return
    region = heatmap[y - top : y + bottom, x - left : x + right]
    patch = kernel[radius - top : radius + bottom, radius - left : radius + right]
    np.maximum(region, patch.astype(heatmap.dtype), out=region)


def build_targets(
    *,
    boxes: list[np.ndarray],
    ids: list[np.ndarray],
    classes: list[np.ndarray],
    cfg: ModelConfig,
    max_objects: int = 128,
    input_size: tuple[int, int] | None = None,
    ignore: list[np.ndarray] | None = None,
) -> dict[str, Tensor]:
    """Targets for one clip of T frames (see the module docstring for frames and units).

    Args:
        boxes: T arrays (n_t, 4) float, xyxy in input pixels.
        ids: T arrays (n_t,) int64, clip-local identity >= 0 (same object, same id).
        classes: T arrays (n_t,) int64, 0-based class < ``cfg.num_classes``.
        cfg: model config (number of classes, input size).
        max_objects: K, objects per frame with size/offset/tag targets; further objects (in the
            given order) are still drawn into the heatmap but get no regression or tag target.
        input_size: (width, height) of the network input if not ``cfg.input_size`` (e.g. a
            smaller training size); multiples of ``cfg.stride``.
        ignore: None or T arrays (m_t, 4) xyxy input pixels of annotated non-targets (too
            hidden, flagged out). Each marks the cells of its own centre bump (the Gaussian a
            target there would get) where that bump exceeds the targets' heatmap: no class
            is penalised for a peak there, and target centres (value 1) are never ignored.

    Returns tensors with leading T, h = H / s, w = W / s (s = ``cfg.stride``):
        ``heatmap`` (T, C, h, w) float32, ``ind`` (T, K) int64 (cell y * w + x),
        ``mask`` (T, K) bool, ``size`` (T, K, 2) float32 ln(w, h in input pixels),
        ``offset`` (T, K, 2) float32 cells, ``ident`` (T, K) int64 (-1 for padding),
        ``boxes`` (T, K, 4) float32 xyxy input pixels, ``classes`` (T, K) int64 0-based,
        ``ignore`` (T, 1, h, w) bool (all False without ``ignore`` boxes).
    """
    width, height = cfg.input_size if input_size is None else input_size
    stride = cfg.stride
    if width <= 0 or height <= 0 or width % stride or height % stride:
        raise ValueError(f"input_size must be positive multiples of {stride}, got {(width, height)}")
    if max_objects < 1:
        raise ValueError(f"max_objects must be >= 1, got {max_objects}")
    num_frames = len(boxes)
    if num_frames < 1 or len(ids) != num_frames or len(classes) != num_frames:
        raise ValueError(
            f"boxes, ids and classes must be non-empty lists of equal length, got "
            f"{len(boxes)}, {len(ids)}, {len(classes)}"
        )
    if ignore is not None and len(ignore) != num_frames:
        raise ValueError(f"ignore must hold one array per frame ({num_frames}), got {len(ignore)}")
    h, w, k_max = height // stride, width // stride, max_objects
    heatmap = np.zeros((num_frames, cfg.num_classes, h, w), dtype=np.float32)
    ind = np.zeros((num_frames, k_max), dtype=np.int64)
    mask = np.zeros((num_frames, k_max), dtype=bool)
    size = np.zeros((num_frames, k_max, 2), dtype=np.float32)
    offset = np.zeros((num_frames, k_max, 2), dtype=np.float32)
    ident = np.full((num_frames, k_max), -1, dtype=np.int64)
    box_t = np.zeros((num_frames, k_max, 4), dtype=np.float32)
    cls_t = np.zeros((num_frames, k_max), dtype=np.int64)
    hidden = np.zeros((num_frames, h, w), dtype=np.float32)  # bumps of the ignored boxes

    for t in range(num_frames):
        b = np.asarray(boxes[t], dtype=np.float64)
        if b.size == 0:
            b = b.reshape(0, 4)
        if b.ndim != 2 or b.shape[1] != 4:
            raise ValueError(f"boxes[{t}] must have shape (n, 4), got {b.shape}")
        n = len(b)
        obj_ids = np.asarray(ids[t], dtype=np.int64).reshape(-1)
        obj_cls = np.asarray(classes[t], dtype=np.int64).reshape(-1)
        if len(obj_ids) != n or len(obj_cls) != n:
            raise ValueError(f"frame {t}: {n} boxes but {len(obj_ids)} ids and {len(obj_cls)} classes")
        if n and (obj_ids.min() < 0):
            raise ValueError(f"ids[{t}] must be >= 0, got {obj_ids.min()}")
        if n and (obj_cls.min() < 0 or obj_cls.max() >= cfg.num_classes):
            raise ValueError(
                f"classes[{t}] must be in [0, {cfg.num_classes}), got {sorted(set(obj_cls.tolist()))}"
            )
        bw, bh, cx, cy, keep = _centres(b, width=width, height=height)
        k = 0
        for i in np.flatnonzero(keep):
            gx, gy = cx[i] / stride, cy[i] / stride  # centre in cells
            ix, iy = int(gx), int(gy)  # non-negative, so int() is floor
            radius = max(0, int(gaussian_radius(bh[i] / stride, bw[i] / stride)))
            draw_gaussian(heatmap[t, obj_cls[i]], center=(ix, iy), radius=radius)
            if k < k_max:
                ind[t, k] = iy * w + ix
                mask[t, k] = True
                size[t, k] = encode_size(np.array([bw[i], bh[i]]))
                offset[t, k] = (gx - ix, gy - iy)
                ident[t, k] = obj_ids[i]
                box_t[t, k] = b[i]
                cls_t[t, k] = obj_cls[i]
                k += 1
        if ignore is not None:
            g = np.asarray(ignore[t], dtype=np.float64).reshape(-1, 4)
            gw, gh, gx_, gy_, ok = _centres(g, width=width, height=height)
            for i in np.flatnonzero(ok):
                radius = max(0, int(gaussian_radius(gh[i] / stride, gw[i] / stride)))
                draw_gaussian(hidden[t], center=(int(gx_[i] / stride), int(gy_[i] / stride)), radius=radius)
    ignored = hidden[:, None] > heatmap.max(axis=1, keepdims=True)  # (T, 1, h, w)
    return {
        "heatmap": torch.from_numpy(heatmap),
        "ind": torch.from_numpy(ind),
        "mask": torch.from_numpy(mask),
        "size": torch.from_numpy(size),
        "offset": torch.from_numpy(offset),
        "ident": torch.from_numpy(ident),
        "boxes": torch.from_numpy(box_t),
        "classes": torch.from_numpy(cls_t),
        "ignore": torch.from_numpy(ignored),
    }


def _centres(b: np.ndarray, *, width: int, height: int) -> tuple[np.ndarray, ...]:
    """(n, 4) xyxy -> widths, heights, centre x, centre y and the mask of finite, sized boxes
    whose centre lies inside the width x height input."""
    bw, bh = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    keep = np.isfinite(b).all(axis=1) & (bw > 0) & (bh > 0) & (cx >= 0) & (cx < width) & (cy >= 0) & (cy < height)
    return bw, bh, cx, cy, keep


def read_tags(maps: Tensor, boxes: Tensor, *, stride: int, readout: str) -> Tensor:
    """Each box's tag: (N, D, h, w) maps and (N, K, 4) xyxy input-pixel boxes -> (N, K, D), or
    (N, K, 2D) for "halves".

    ``readout`` "centre": the cell under the box centre (clamped into the map); "box": the
    mean over the cells whose squares the box overlaps (at least one), taken from a summed-area
    table, so any number of boxes costs one cumulative sum per map; "halves": that mean over the
    box's upper half, then over its lower half. Differentiable in ``maps``.
    """
    n, d, h, w = maps.shape
    b = boxes.float() / stride  # (N, K, 4) in cells
    if readout == "centre":
        cx = ((b[..., 0] + b[..., 2]) / 2).floor().clamp(0, w - 1).long()
        cy = ((b[..., 1] + b[..., 3]) / 2).floor().clamp(0, h - 1).long()
        return gather_at_cells(maps, cy * w + cx)
    if readout == "halves":
        mid = (boxes[..., 1] + boxes[..., 3]) / 2
        upper = torch.stack([boxes[..., 0], boxes[..., 1], boxes[..., 2], mid], dim=-1)
        lower = torch.stack([boxes[..., 0], mid, boxes[..., 2], boxes[..., 3]], dim=-1)
        return torch.cat([read_tags(maps, upper, stride=stride, readout="box"),
                          read_tags(maps, lower, stride=stride, readout="box")], dim=-1)
    if readout != "box":
        raise ValueError(f"readout must be 'centre', 'box' or 'halves', got {readout!r}")
    x1 = b[..., 0].floor().clamp(0, w - 1).long()
    y1 = b[..., 1].floor().clamp(0, h - 1).long()
    x2 = torch.maximum(b[..., 2].ceil().clamp(max=w).long(), x1 + 1)  # exclusive, >= x1 + 1
    y2 = torch.maximum(b[..., 3].ceil().clamp(max=h).long(), y1 + 1)
    table = F.pad(maps.float().cumsum(2).cumsum(3), (1, 0, 1, 0))  # (N, D, h + 1, w + 1), [0] rows 0

    def at(y: Tensor, x: Tensor) -> Tensor:
        return gather_at_cells(table, y * (w + 1) + x)  # (N, K, D)

    total = at(y2, x2) - at(y1, x2) - at(y2, x1) + at(y1, x1)
    return total / ((x2 - x1) * (y2 - y1)).clamp(min=1)[..., None].float()


def gather_at_cells(maps: Tensor, ind: Tensor) -> Tensor:
    """Read maps at flat cell indices: (N, Ch, h, w) and (N, K) int64 y*w+x -> (N, K, Ch)."""
    n, ch = maps.shape[:2]
    flat = maps.flatten(2)  # (N, Ch, h*w); copies if the maps are channels-last
    picked = flat.gather(2, ind[:, None, :].expand(n, ch, ind.shape[1]))  # (N, Ch, K)
    return picked.transpose(1, 2)  # (N, K, Ch)
