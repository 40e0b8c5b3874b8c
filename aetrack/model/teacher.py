"""A COCO detector used as a teacher: YOLOX-nano boxes in original frame pixels, with tiling.

The teacher pseudo-labels real video. Each frame is letterboxed into the top-left of a square
``input_size`` canvas padded with 114 (the authors' preprocessing); YOLOX rows are decoded
(score = objectness * class probability, class = the best of the 80 COCO classes), rows whose
class is not in ``classes`` or whose score is under ``score_threshold`` are dropped, and
class-wise NMS at ``nms_iou`` merges the rest.

Tiling, for frames much larger than the input (see :class:`Tiling`): at 416 input a 1920x1080
frame is shrunk 4.6x and most people are only a few cells tall. Besides the whole frame, the
teacher then runs a grid of overlapping square tiles of ``tile_factor * input_size`` frame
pixels each (shrunk only ``tile_factor`` x), all in one batch. A box from a tile that touches
one of the tile's inner edges (an edge that is not the frame's border) is a cut-off part of a
larger object and is dropped; that object is whole in the full-frame pass or a neighbouring
tile. The surviving boxes of all passes go through one class-wise NMS.

Example::

    from aetrack.model.pretrained import load_yolox_nano
    from aetrack.model.teacher import YoloxTeacher

    teacher = YoloxTeacher(model=load_yolox_nano("yolox_nano.onnx"), score_threshold=0.3)
    dets = teacher.detect(frame)  # frame: (H, W, 3) BGR uint8
    dets.boxes, dets.scores, dets.classes  # (n, 4) xyxy frame pixels, (n,), (n,) COCO ids
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from aetrack.data.letterbox import Letterbox
from aetrack.device import denormals_flushed
from aetrack.model.yolox import YoloxNano, decode_boxes

COCO_TRAFFIC = (0, 1, 2, 3, 5, 7)  # person, bicycle, car, motorcycle, bus, truck


@dataclass(frozen=True)
class Tiling:
    """When and how the teacher adds overlapping tiles to the full-frame pass."""

    # Side of a square tile in frame pixels, as a multiple of the input size: 2 shrinks a tile by
    # 2x into the canvas, so a 60-pixel-tall person is 30 input pixels (about 4 stride-8 cells).
    # On the MOT17 first frames (1920x1080, 416 input) 2.0 found more people than 1.5 or 2.5
    # (person recall 0.71 against 0.69 and 0.59) with the fewest tiles (3 x 2).
    tile_factor: float = 2.0
    # Tile only when the full-frame pass shrinks the frame at least this many times more than a
    # tile does (longer side / (tile_factor * input_size)): at 416 input 1920x1080 frames are
    # tiled (gain 2.3), 768x576 (0.92) and 640x480 frames are not.
    min_gain: float = 1.5
    # Fraction of a tile shared with its neighbour (at least): an object up to this fraction of a
    # tile wide lies whole inside some tile.
    overlap: float = 0.2
    # A tile box within this many input pixels of an inner tile edge counts as cut by it.
    edge_margin: float = 2.0

    def __post_init__(self) -> None:
        for name in ("tile_factor", "min_gain"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and value > 0):
                raise ValueError(f"Tiling.{name} must be a positive number, got {value!r}")
        if not (isinstance(self.overlap, (int, float)) and 0 <= self.overlap < 1):
            raise ValueError(f"Tiling.overlap must be in [0, 1), got {self.overlap!r}")
        if not (isinstance(self.edge_margin, (int, float)) and self.edge_margin >= 0):
            raise ValueError(f"Tiling.edge_margin must be >= 0, got {self.edge_margin!r}")


@dataclass(frozen=True)
class TeacherDetections:
    """Detections of one frame: boxes ``(n, 4)`` float32 xyxy frame pixels, scores ``(n,)`` float32, classes ``(n,)`` int64 COCO ids."""

    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray


@dataclass(frozen=True)
class View:
    """One pass: the frame window ``(x0, y0, x1, y1)`` (pixels) and which of its edges are inner tile edges."""

    window: tuple[int, int, int, int]
    inner_edges: tuple[bool, bool, bool, bool]  # left, top, right, bottom


def tile_windows(*, width: int, height: int, side: int, overlap: float) -> list[tuple[int, int, int, int]]:
    """Square windows ``side`` x ``side`` (clipped to the frame) covering it with at least ``overlap`` shared.

    Along each axis ``n = ceil((L - side) / (side * (1 - overlap))) + 1`` windows are spread
    evenly from 0 to ``L - side``; an axis no longer than ``side`` gets one window of length L.
    """

    def starts(length: int) -> list[int]:
        if length <= side:
            return [0]
        n = math.ceil((length - side) / (side * (1 - overlap))) + 1
        return [round(i * (length - side) / (n - 1)) for i in range(n)]

    return [
        (x, y, min(x + side, width), min(y + side, height)) for y in starts(height) for x in starts(width)
    ]


def nms_classwise(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, *, iou: float) -> np.ndarray:
    """Indices kept by class-wise NMS of ``(n, 4)`` xyxy boxes, by descending score."""
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1).astype(np.float64)
    keep = cv2.dnn.NMSBoxesBatched(xywh.tolist(), scores.astype(float).tolist(), classes.astype(int).tolist(), 0.0, iou)
    keep = np.asarray(keep, np.int64).reshape(-1)
    return keep[np.argsort(-scores[keep], kind="stable")]


class YoloxTeacher:
    """COCO detector over whole frames, optionally tiled (see the module docstring)."""

    def __init__(
        self,
        *,
        model: YoloxNano,
        score_threshold: float,
        input_size: int = 416,
        nms_iou: float = 0.45,
        classes: tuple[int, ...] = COCO_TRAFFIC,
        tiling: Tiling | None = Tiling(),
    ) -> None:
        if not isinstance(model, YoloxNano):
            raise ValueError(f"model must be a YoloxNano, got {type(model).__name__}")
        if isinstance(input_size, bool) or not isinstance(input_size, int) or input_size < 32 or input_size % 32:
            raise ValueError(f"input_size must be a positive multiple of 32, got {input_size!r}")
        if not (isinstance(score_threshold, (int, float)) and 0 <= score_threshold <= 1):
            raise ValueError(f"score_threshold must be in [0, 1], got {score_threshold!r}")
        if not (isinstance(nms_iou, (int, float)) and 0 < nms_iou <= 1):
            raise ValueError(f"nms_iou must be in (0, 1], got {nms_iou!r}")
        bad = [c for c in classes if isinstance(c, bool) or not isinstance(c, int) or not 0 <= c < model.num_classes]
        if not classes or bad:
            raise ValueError(f"classes must be non-empty ids in [0, {model.num_classes}), got {classes!r}")
        if tiling is not None and not isinstance(tiling, Tiling):
            raise ValueError(f"tiling must be a Tiling or None, got {tiling!r}")
        self.model = model.eval()
        self.input_size = input_size
        self.score_threshold = float(score_threshold)
        self.nms_iou = float(nms_iou)
        self.classes = tuple(classes)
        self.tiling = tiling

    def views(self, width: int, height: int) -> list[View]:
        """The passes for a ``width`` x ``height`` frame: the whole frame first, then any tiles."""
        views = [View((0, 0, width, height), (False, False, False, False))]
        t = self.tiling
        if t is None:
            return views
        side = round(t.tile_factor * self.input_size)
        if max(width, height) < t.min_gain * side:
            return views
        for x0, y0, x1, y1 in tile_windows(width=width, height=height, side=side, overlap=t.overlap):
            views.append(View((x0, y0, x1, y1), (x0 > 0, y0 > 0, x1 < width, y1 < height)))
        return views

    def letterbox(self, frame: np.ndarray, view: View) -> tuple[np.ndarray, Letterbox]:
        """The view's window of ``frame`` in the top-left of an ``input_size`` canvas padded with 114 (as YOLOX)."""
        x0, y0, x1, y1 = view.window
        lb = Letterbox(scale=min(self.input_size / (x1 - x0), self.input_size / (y1 - y0)), pad_x=0, pad_y=0)
        return lb.apply(frame[y0:y1, x0:x1], (self.input_size, self.input_size)), lb

    @torch.inference_mode()
    def detect(self, frame: np.ndarray) -> TeacherDetections:
        """Detections in one ``(H, W, 3)`` BGR uint8 frame, in its pixels."""
        if not (isinstance(frame, np.ndarray) and frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8):
            raise ValueError(f"frame must be an (H, W, 3) uint8 array, got {getattr(frame, 'shape', frame)!r}")
        h, w = frame.shape[:2]
        s = self.input_size
        views = self.views(w, h)
        canvases, transforms = zip(*(self.letterbox(frame, v) for v in views))
        batch = torch.from_numpy(np.stack(canvases)).permute(0, 3, 1, 2).float()  # (V, 3, s, s) BGR 0-255
        param = next(self.model.parameters())
        with denormals_flushed():  # SiLU's denormal outputs slow CPU convolutions ~10x
            raw = self.model(batch.to(param.device, param.dtype))  # (V, N, 85)
        xyxy = decode_boxes(raw, height=s, width=s).float().cpu().numpy()  # (V, N, 4) input pixels
        prob = raw[..., 5:].float().cpu().numpy()  # (V, N, C)
        obj = raw[..., 4].float().cpu().numpy()  # (V, N)

        keep_class = np.zeros(prob.shape[-1], bool)
        keep_class[list(self.classes)] = True
        all_boxes, all_scores, all_classes = [], [], []
        for v, lb, b, p, o in zip(views, transforms, xyxy, prob, obj):
            cls = p.argmax(axis=1)  # (N,)
            score = o * p[np.arange(len(cls)), cls]
            keep = keep_class[cls] & (score >= self.score_threshold)
            b = b[keep]
            x0, y0, x1, y1 = v.window
            # Inner tile edges in input pixels: the window's sides sit at (x1 - x0) * scale etc.
            edges = np.array([0.0, 0.0, (x1 - x0) * lb.scale, (y1 - y0) * lb.scale])
            m = self.tiling.edge_margin if self.tiling is not None else 0.0
            cut = np.zeros(len(b), bool)
            for k, inner in enumerate(v.inner_edges):
                if inner:
                    cut |= (b[:, k] <= edges[k] + m) if k < 2 else (b[:, k] >= edges[k] - m)
            b = lb.boxes_to_original(b[~cut]) + np.array([x0, y0, x0, y0])
            all_boxes.append(np.clip(b, 0, [w, h, w, h]))
            all_scores.append(score[keep][~cut])
            all_classes.append(cls[keep][~cut])
        boxes = np.concatenate(all_boxes).astype(np.float32)
        scores = np.concatenate(all_scores).astype(np.float32)
        classes = np.concatenate(all_classes).astype(np.int64)
        kept = nms_classwise(boxes, scores, classes, iou=self.nms_iou)
        return TeacherDetections(boxes=boxes[kept], scores=scores[kept], classes=classes[kept])
