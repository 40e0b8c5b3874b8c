"""Decoding detector maps into detections: peaks, boxes and tags in original frame pixels.

Steps for each image of a batch (CenterNet's decoding plus tags): sigmoid of the heatmap
logits; max-pool non-maximum suppression (a cell survives only if it is the maximum of its
``nms_kernel`` x ``nms_kernel`` neighbourhood in its class channel); the ``top_k`` highest
cells over all classes; drop those below ``score_threshold``; read size, offset and tags at the
kept cells; centre ``((x + dx) * s, (y + dy) * s)`` (s the model's output stride) and size
``exp(size)`` give an xyxy box in
network-input pixels, which the image's :class:`~aetrack.data.letterbox.Letterbox` maps back to
original frame pixels.

Importing this module does not import torch (the configs and :class:`Detections` serve the
model-free path too); :func:`decode` and :func:`tags_at_boxes` load it when first called.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from aetrack.model.config import STRIDE

if TYPE_CHECKING:
    from torch import Tensor

    from aetrack.data.letterbox import Letterbox


@dataclass(frozen=True)
class DecodeConfig:
    """How peaks become detections (part of the tracker config)."""

    # Keep peaks with sigmoid score >= this. Low on purpose: the linker splits detections into
    # high and low scores itself (ByteTrack), so weak detections must survive decoding: it
    # must not exceed the linker's low_score (0.1), or the low-score stage never sees any.
    score_threshold: float = 0.1
    # At most this many peaks per image (over all classes), before the score threshold.
    top_k: int = 100
    # Side of the max-pool window for peak NMS, in cells (odd; 3 = the 8-neighbourhood).
    nms_kernel: int = 3
    # Per-class score gains by class name, e.g. {car: 2.0}: that class's heatmap scores are
    # multiplied by its gain (capped at 1) before peaks are picked, so the linker's score
    # thresholds act on the class as if divided by the gain. For classes a model scores lower
    # than people because its training data held few of them. Empty: scores as the model gives.
    class_score_gain: dict[str, float] = field(default_factory=dict)
    # Peaks of different classes whose boxes overlap by IoU >= this are one object read twice
    # (a car also read as a bus): a peak goes when a higher one of another class overlaps it
    # that much (decode.cross_class_duplicates, which pseudo-labelling shares). None: classes never
    # suppress each other (peaks are only suppressed within a class, by the max-pool above).
    cross_class_iou: float | None = None

    def __post_init__(self) -> None:
        for name, gain in self.class_score_gain.items():
            if isinstance(gain, bool) or not isinstance(gain, (int, float)) or not 0 < gain < float("inf"):
                raise ValueError(f"class_score_gain[{name!r}] must be a positive number, got {gain!r}")
        if self.cross_class_iou is not None and not 0.0 < self.cross_class_iou <= 1.0:
            raise ValueError(f"cross_class_iou must be in (0, 1] or None, got {self.cross_class_iou}")
        if not 0.0 <= self.score_threshold <= 1.0:
            raise ValueError(f"score_threshold must be in [0, 1], got {self.score_threshold}")
        if isinstance(self.top_k, bool) or not isinstance(self.top_k, int) or self.top_k < 1:
            raise ValueError(f"top_k must be a positive integer, got {self.top_k!r}")
        if (
            isinstance(self.nms_kernel, bool)
            or not isinstance(self.nms_kernel, int)
            or self.nms_kernel < 1
            or self.nms_kernel % 2 == 0
        ):
            raise ValueError(f"nms_kernel must be a positive odd integer, got {self.nms_kernel!r}")


@dataclass(frozen=True)
class Detections:
    """Detections of one image, in ORIGINAL frame pixels (after undoing the letterbox).

    Sorted by descending score. With no detections the arrays have shapes (0, 4), (0,), (0,)
    and (0, D).
    """

    boxes: np.ndarray  # (n, 4) float32 x1, y1, x2, y2, pixels
    scores: np.ndarray  # (n,) float32 sigmoid heatmap score in [0, 1]
    classes: np.ndarray  # (n,) int64 0-based class
    tags: np.ndarray  # (n, D) float32 associative-embedding tags

    def __len__(self) -> int:
        return len(self.scores)


def decode(
    outputs: dict[str, Tensor], *, cfg: DecodeConfig, letterboxes: list[Letterbox] | None = None,
    stride: int = STRIDE, class_names: Sequence[str] | None = None,
) -> list[Detections]:
    """Detections for each image of a batch.

    Args:
        outputs: the LAST stack's dict of a :class:`aetrack.model.Detector` forward: heatmap
            (B, C, h, w), size (B, 2, h, w), offset (B, 2, h, w), tags (B, D, h, w).
        cfg: peak selection parameters.
        letterboxes: one per image to return original frame pixels; None keeps input pixels.
        stride: input pixels per map cell (``ModelConfig.stride``).
        class_names: the model's class names in channel order; required when
            ``cfg.class_score_gain`` names classes (ValueError for a name not among them).
    """
    if not isinstance(outputs, dict):
        raise ValueError(f"outputs must be one stack's dict (the model's outputs[-1]), got {type(outputs).__name__}")
    heatmap = outputs["heatmap"]
    if heatmap.ndim != 4:
        raise ValueError(f"outputs['heatmap'] must be (B, C, h, w), got {tuple(heatmap.shape)}")
    batch, num_classes, h, w = heatmap.shape
    if letterboxes is not None and len(letterboxes) != batch:
        raise ValueError(f"letterboxes must have one entry per image ({batch}), got {len(letterboxes)}")
    import torch
    import torch.nn.functional as F

    from aetrack.model.targets import decode_size, gather_at_cells

    with torch.no_grad():
        scores = torch.sigmoid(heatmap.float())  # (B, C, h, w)
        if cfg.class_score_gain:
            gain = _class_gains(cfg.class_score_gain, class_names, num_classes).to(scores.device)
            scores = (scores * gain[None, :, None, None]).clamp_(max=1.0)
        k = cfg.nms_kernel
        peaks = F.max_pool2d(scores, kernel_size=k, stride=1, padding=k // 2)
        scores = scores * (peaks == scores)  # non-maxima -> 0
        top_scores, top_idx = scores.flatten(1).topk(min(cfg.top_k, num_classes * h * w), dim=1)  # (B, K)
        classes = top_idx // (h * w)  # (B, K)
        cells = top_idx % (h * w)  # (B, K) flat y*w + x
        offset = gather_at_cells(outputs["offset"].float(), cells)  # (B, K, 2) cells
        size = decode_size(gather_at_cells(outputs["size"].float(), cells))  # (B, K, 2) input px
        tags = gather_at_cells(outputs["tags"].float(), cells)  # (B, K, D)
        cx = ((cells % w).to(offset.dtype) + offset[..., 0]) * stride  # (B, K) input px
        cy = ((cells // w).to(offset.dtype) + offset[..., 1]) * stride
        half_w, half_h = size[..., 0] / 2, size[..., 1] / 2
        boxes = torch.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], dim=-1)  # (B, K, 4)
        keep = top_scores >= cfg.score_threshold  # (B, K); topk is sorted, so kept rows stay sorted

    result = []
    for i in range(batch):
        sel = keep[i]
        if cfg.cross_class_iou is not None:
            k = sel.cpu().numpy()
            dup = cross_class_duplicates(boxes[i][sel].cpu().numpy(), top_scores[i][sel].cpu().numpy(),
                                         classes[i][sel].cpu().numpy(), iou=cfg.cross_class_iou)
            k[np.flatnonzero(k)[dup]] = False
            sel = torch.from_numpy(k).to(sel.device)
        box_np = boxes[i][sel].cpu().numpy().astype(np.float64)
        if letterboxes is not None:
            box_np = letterboxes[i].boxes_to_original(box_np)
        result.append(
            Detections(
                boxes=box_np.astype(np.float32).reshape(-1, 4),
                scores=top_scores[i][sel].cpu().numpy().astype(np.float32),
                classes=classes[i][sel].cpu().numpy().astype(np.int64),
                tags=tags[i][sel].cpu().numpy().astype(np.float32).reshape(-1, tags.shape[-1]),
            )
        )
    return result


def _class_gains(gains: dict[str, float], names: Sequence[str] | None, num_classes: int) -> Tensor:
    """(C,) float32 score multipliers in channel order from ``{name: gain}``."""
    import torch

    if names is None:
        raise ValueError("decode.class_score_gain names classes, so decode needs the model's class_names")
    if len(names) != num_classes:
        raise ValueError(f"class_names has {len(names)} names for a heatmap of {num_classes} classes")
    unknown = sorted(set(gains) - set(names))
    if unknown:
        raise ValueError(f"decode.class_score_gain names unknown class {unknown[0]!r}; "
                         f"this model's classes are {', '.join(names)}")
    return torch.tensor([float(gains.get(n, 1.0)) for n in names], dtype=torch.float32)


def cross_class_duplicates(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, *, iou: float) -> np.ndarray:
    """(n,) bool: boxes that overlap a higher-scoring box of ANOTHER class by IoU >= ``iou``:
    one object read as two classes (a car also read as a bus). Used by decoding
    (``DecodeConfig.cross_class_iou``) and by pseudo-labelling the teacher's boxes."""
    from aetrack.linker.matching import iou_matrix

    if len(boxes) < 2:
        return np.zeros(len(boxes), bool)
    overlap = iou_matrix(boxes, boxes)
    higher = scores[None, :] > scores[:, None]  # [i, j]: j scores higher than i
    other = classes[None, :] != classes[:, None]
    return ((overlap >= iou) & higher & other).any(axis=1)


def tags_at_boxes(
    outputs: dict[str, Tensor], boxes: np.ndarray, *, letterbox: Letterbox, stride: int = STRIDE
) -> np.ndarray:
    """(n, D) float32 tags read at the centre cells of given boxes, for one image.

    ``boxes`` are (n, 4) xyxy in ORIGINAL frame pixels (e.g. public detections); ``outputs``
    holds maps with batch size 1. A centre outside the input is read at the nearest border cell.
    """
    tag_map = outputs["tags"]
    if tag_map.ndim != 4 or tag_map.shape[0] != 1:
        raise ValueError(f"outputs['tags'] must be (1, D, h, w) for one image, got {tuple(tag_map.shape)}")
    _, dim, h, w = tag_map.shape
    b = np.asarray(boxes, dtype=np.float64)
    if b.size == 0:
        return np.zeros((0, dim), dtype=np.float32)
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"boxes must have shape (n, 4), got {b.shape}")
    b_in = letterbox.boxes_to_input(b)  # (n, 4) input pixels
    cx = np.floor((b_in[:, 0] + b_in[:, 2]) / 2 / stride).clip(0, w - 1).astype(np.int64)  # cells
    cy = np.floor((b_in[:, 1] + b_in[:, 3]) / 2 / stride).clip(0, h - 1).astype(np.int64)
    import torch

    from aetrack.model.targets import gather_at_cells

    cells = torch.as_tensor(cy * w + cx, device=tag_map.device)[None]  # (1, n)
    with torch.no_grad():
        picked = gather_at_cells(tag_map.float(), cells)[0]  # (n, D)
    return picked.cpu().numpy().astype(np.float32)
