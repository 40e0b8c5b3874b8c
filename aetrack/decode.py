"""Decoding detector outputs into detections: peaks, boxes and tags in original frame pixels.

YOLOX rows (the yolox_nano model's ``cells``), as YOLOX's own post-processing: each cell's
score is its objectness times its best class probability (the per-class centre heatmap read at
its peak class); cells under ``score_threshold`` or of a class not in ``classes`` go; class-wise
NMS at ``nms_iou`` merges the rest across cells and strides; the ``top_k`` best stay; boxes
come from the cells' regression (:func:`aetrack.model.yolox.decode_boxes`) and the tags are
read at the boxes from the tag map (:func:`aetrack.model.targets.read_tags`).

Heatmap maps (the small and hourglass models), for each image of a batch (CenterNet's decoding
plus tags): sigmoid of the heatmap
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
    # At most this many peaks per image (over all classes): heatmap models before the score
    # threshold, YOLOX rows after NMS.
    top_k: int = 100
    # Heatmap models: side of the max-pool window for peak NMS, in cells (odd; 3 = the
    # 8-neighbourhood).
    nms_kernel: int = 3
    # YOLOX rows: class-wise NMS merges boxes of one class overlapping by IoU above this
    # (0.45, the YOLOX authors' default).
    nms_iou: float = 0.45
    # Names of the classes to report (others are dropped before NMS); empty: every class of the
    # model. The default model stores the road users (aetrack.model.coco.TRAFFIC_CLASSES).
    classes: tuple[str, ...] = ()
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
        if not 0.0 < self.nms_iou <= 1.0:
            raise ValueError(f"nms_iou must be in (0, 1], got {self.nms_iou}")
        if len(set(self.classes)) != len(self.classes):
            raise ValueError(f"classes must be distinct names, got {list(self.classes)}")
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
    stride: int = STRIDE, class_names: Sequence[str] | None = None, tag_readout: str = "centre",
) -> list[Detections]:
    """Detections for each image of a batch.

    Args:
        outputs: the LAST stack's dict of a :class:`aetrack.model.Detector` forward: heatmap
            (B, C, h, w), size (B, 2, h, w), offset (B, 2, h, w), tags (B, D, h, w); or YOLOX's
            cells (B, N, 4 + 1 + C) and tags (B, D, h, w).
        cfg: peak selection parameters.
        letterboxes: one per image to return original frame pixels; None keeps input pixels.
        stride: input pixels per map cell (``ModelConfig.stride``; for YOLOX rows, of the tag map).
        class_names: the model's class names in channel order; required when ``cfg`` names
            classes (``classes``, ``class_score_gain``: ValueError for a name not among them).
        tag_readout: where tags are read (``ModelConfig.tag_readout``): "centre" or "box".
    """
    if not isinstance(outputs, dict):
        raise ValueError(f"outputs must be one stack's dict (the model's outputs[-1]), got {type(outputs).__name__}")
    import torch

    with torch.no_grad():
        find = _cell_candidates if "cells" in outputs else _heatmap_peaks
        candidates = find(outputs, cfg=cfg, stride=stride, class_names=class_names)
        if letterboxes is not None and len(letterboxes) != len(candidates):
            raise ValueError(f"letterboxes must have one entry per image ({len(candidates)}), got {len(letterboxes)}")
        result = []
        for i, (b, sc, c, cells) in enumerate(candidates):
            if cfg.cross_class_iou is not None:
                keep = ~cross_class_duplicates(b, sc, c, iou=cfg.cross_class_iou)
                b, sc, c, cells = b[keep], sc[keep], c[keep], None if cells is None else cells[keep]
            if tag_readout == "centre" and cells is not None:  # the peak's own cell
                tags = _gather(outputs["tags"][i], cells)
            else:
                tags = read_tags(outputs["tags"][i:i + 1], b, stride=stride, readout=tag_readout)
            box_np = letterboxes[i].boxes_to_original(b) if letterboxes is not None else b
            result.append(Detections(boxes=box_np.astype(np.float32).reshape(-1, 4), scores=sc.astype(np.float32),
                                     classes=c.astype(np.int64), tags=tags))
    return result


def _class_mask(cfg: DecodeConfig, names: Sequence[str] | None, num_classes: int) -> np.ndarray | None:
    """(C,) bool of the classes ``cfg.classes`` keeps, or None for all."""
    if not cfg.classes:
        return None
    if names is None:
        raise ValueError("decode.classes names classes, so decode needs the model's class_names")
    if len(names) != num_classes:
        raise ValueError(f"class_names has {len(names)} names for an output of {num_classes} classes")
    unknown = [c for c in cfg.classes if c not in names]
    if unknown:
        raise ValueError(f"decode.classes names unknown class {unknown[0]!r}; this model's classes are "
                         f"{', '.join(names)}")
    return np.isin(np.asarray(names, dtype=object), np.asarray(cfg.classes, dtype=object))


# Per image: boxes (n, 4) float64 xyxy input pixels, scores (n,), classes (n,) int64 and the
# flat tag-map cells of heatmap peaks (n,) int64 (None for YOLOX rows: tags are read at boxes).
_Candidates = list[tuple[np.ndarray, np.ndarray, np.ndarray, "np.ndarray | None"]]


def _gather(tag_map: Tensor, cells: np.ndarray) -> np.ndarray:
    """(n, D) float32 of a (D, h, w) map at flat cells."""
    return tag_map.flatten(1)[:, cells].T.float().cpu().numpy().astype(np.float32)


def _cell_candidates(
    outputs: dict[str, Tensor], *, cfg: DecodeConfig, stride: int, class_names: Sequence[str] | None,
) -> _Candidates:
    """YOLOX rows -> per image candidates after class-wise NMS and top-k (numpy: the rows are
    few thousand, and only the cells above the score floor get a box)."""
    from aetrack.model.yolox import STRIDES

    rows_t = outputs["cells"]
    if rows_t.ndim != 3 or rows_t.shape[-1] < 6:
        raise ValueError(f"outputs['cells'] must be (B, N, 4 + 1 + C), got {tuple(rows_t.shape)}")
    if cfg.class_score_gain:
        raise ValueError("decode.class_score_gain is for heatmap models; YOLOX's COCO head needs none")
    rows = rows_t.detach().float().cpu().numpy()  # (B, N, 85)
    height, width = (n * stride for n in outputs["tags"].shape[-2:])  # the input's size in pixels
    # Each level's cells in row-major order: first flat row, columns, stride.
    levels, first = [], 0
    for s in STRIDES:
        levels.append((first, width // s, s))
        first += (height // s) * (width // s)
    if first != rows.shape[1]:
        raise ValueError(f"{rows.shape[1]} YOLOX rows do not fit a {width}x{height} input ({first} cells)")
    starts = np.array([f for f, _, _ in levels])
    allowed = _class_mask(cfg, class_names, rows.shape[-1] - 5)
    out: _Candidates = []
    for r in rows:
        cls = r[:, 5:].argmax(axis=1)  # (N,): the peak class of each cell
        score = r[:, 4] * r[np.arange(len(r)), 5 + cls]
        keep = score >= cfg.score_threshold
        if allowed is not None:
            keep &= allowed[cls]
        idx = np.flatnonzero(keep)
        level = np.searchsorted(starts, idx, side="right") - 1
        local = idx - starts[level]
        cols = np.array([c for _, c, _ in levels])[level]
        s = np.array([st for _, _, st in levels], dtype=np.float64)[level]
        cxy = (r[idx, 0:2] + np.stack([local % cols, local // cols], axis=1)) * s[:, None]  # centres, input px
        half = np.exp(r[idx, 2:4].astype(np.float64)) * s[:, None] / 2
        b = np.concatenate([cxy - half, cxy + half], axis=1)
        kept = nms_classwise(b, score[idx], cls[idx], iou=cfg.nms_iou)[: cfg.top_k]
        out.append((b[kept], score[idx][kept], cls[idx][kept].astype(np.int64), None))
    return out


def _heatmap_peaks(
    outputs: dict[str, Tensor], *, cfg: DecodeConfig, stride: int, class_names: Sequence[str] | None,
) -> _Candidates:
    """CenterNet maps -> per image candidates: the top-k peaks above the score threshold."""
    import torch
    import torch.nn.functional as F

    from aetrack.model.targets import decode_size, gather_at_cells

    heatmap = outputs["heatmap"]
    if heatmap.ndim != 4:
        raise ValueError(f"outputs['heatmap'] must be (B, C, h, w), got {tuple(heatmap.shape)}")
    batch, num_classes, h, w = heatmap.shape
    scores = torch.sigmoid(heatmap.float())  # (B, C, h, w)
    if cfg.class_score_gain:
        gain = _class_gains(cfg.class_score_gain, class_names, num_classes).to(scores.device)
        scores = (scores * gain[None, :, None, None]).clamp_(max=1.0)
    allowed = _class_mask(cfg, class_names, num_classes)
    if allowed is not None:
        scores = scores * torch.from_numpy(allowed).to(scores)[None, :, None, None]
    k = cfg.nms_kernel
    peaks = F.max_pool2d(scores, kernel_size=k, stride=1, padding=k // 2)
    scores = scores * (peaks == scores)  # non-maxima -> 0
    top_scores, top_idx = scores.flatten(1).topk(min(cfg.top_k, num_classes * h * w), dim=1)  # (B, K)
    classes = top_idx // (h * w)  # (B, K)
    cells = top_idx % (h * w)  # (B, K) flat y*w + x
    offset = gather_at_cells(outputs["offset"].float(), cells)  # (B, K, 2) cells
    size = decode_size(gather_at_cells(outputs["size"].float(), cells))  # (B, K, 2) input px
    cx = ((cells % w).to(offset.dtype) + offset[..., 0]) * stride  # (B, K) input px
    cy = ((cells // w).to(offset.dtype) + offset[..., 1]) * stride
    half_w, half_h = size[..., 0] / 2, size[..., 1] / 2
    boxes = torch.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], dim=-1)  # (B, K, 4)
    keep = top_scores >= cfg.score_threshold  # (B, K); topk is sorted, so kept rows stay sorted
    return [(boxes[i][keep[i]].cpu().numpy().astype(np.float64), top_scores[i][keep[i]].cpu().numpy(),
             classes[i][keep[i]].cpu().numpy().astype(np.int64), cells[i][keep[i]].cpu().numpy())
            for i in range(batch)]


def read_tags(tag_map: Tensor, boxes: np.ndarray, *, stride: int, readout: str) -> np.ndarray:
    """(n, D) float32 tags of one image's (1, D, h, w) map at (n, 4) xyxy input-pixel boxes
    (:func:`aetrack.model.targets.read_tags`)."""
    import torch

    from aetrack.model.targets import read_tags as read

    dim = tag_map.shape[1]
    if len(boxes) == 0:
        return np.zeros((0, dim), dtype=np.float32)
    b = torch.as_tensor(np.asarray(boxes, np.float32), device=tag_map.device)[None]  # (1, n, 4)
    with torch.no_grad():
        return read(tag_map.float(), b, stride=stride, readout=readout)[0].cpu().numpy().astype(np.float32)


def nms_classwise(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, *, iou: float) -> np.ndarray:
    """Indices kept by class-wise NMS of ``(n, 4)`` xyxy boxes, by descending score."""
    import cv2

    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1).astype(np.float64)
    keep = cv2.dnn.NMSBoxesBatched(xywh.tolist(), scores.astype(float).tolist(), classes.astype(int).tolist(), 0.0, iou)
    keep = np.asarray(keep, np.int64).reshape(-1)
    return keep[np.argsort(-scores[keep], kind="stable")]


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
    outputs: dict[str, Tensor], boxes: np.ndarray, *, letterbox: Letterbox, stride: int = STRIDE,
    readout: str = "centre",
) -> np.ndarray:
    """(n, D) float32 tags read at given boxes (``readout`` as :func:`read_tags`), for one image.

    ``boxes`` are (n, 4) xyxy in ORIGINAL frame pixels (e.g. public detections); ``outputs``
    holds maps with batch size 1. A box outside the input is read at the nearest border cell.
    """
    tag_map = outputs["tags"]
    if tag_map.ndim != 4 or tag_map.shape[0] != 1:
        raise ValueError(f"outputs['tags'] must be (1, D, h, w) for one image, got {tuple(tag_map.shape)}")
    b = np.asarray(boxes, dtype=np.float64)
    if b.size and (b.ndim != 2 or b.shape[1] != 4):
        raise ValueError(f"boxes must have shape (n, 4), got {b.shape}")
    return read_tags(tag_map, letterbox.boxes_to_input(b.reshape(-1, 4)), stride=stride, readout=readout)
