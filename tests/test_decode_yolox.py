"""Decoding YOLOX rows (the yolox_nano model's ``cells``) and reading tags at boxes, derived by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from aetrack.data.letterbox import Letterbox
from aetrack.decode import DecodeConfig, decode
from aetrack.model.coco import COCO_NAMES
from aetrack.model.targets import read_tags

# A 64 x 64 input: 8x8 cells at stride 8 (rows 0-63), 4x4 at 16 (64-79), 2x2 at 32 (80-83).
ROWS = 84


def _cells() -> dict[str, torch.Tensor]:
    """Three objects and a duplicate, 80 classes, tags D = 2 on the 8 x 8 stride-8 map.

    Person A at stride-8 cell (x=3, y=2), row 2*8 + 3 = 19: offsets (0.5, 0.5) -> centre
        (3.5 * 8, 2.5 * 8) = (28, 20); ln w = ln 2, ln h = ln 4 -> 16 x 32 px: box (20, 4, 36, 36);
        objectness 0.9, person 0.8 -> score 0.72.
    Its duplicate at row 20 (x=4): offsets (-0.5, 0.5) -> the same centre and size, score 0.5 x
        0.8 = 0.4: IoU 1 with A, removed by class-wise NMS.
    Car B at stride-16 cell (x=1, y=2), row 64 + 2*4 + 1 = 73: offsets (0.5, 0.5) -> centre
        (24, 40); ln w = ln ln 2 -> w = 2 * 16 = 32, h = 16: box (8, 32, 40, 48); 1.0 x 0.6 = 0.6.
    Truck C at stride-32 cell (1, 1), row 80 + 3 = 83: centre (48, 48), 32 x 32 -> box
        (32, 32, 64, 64); 0.5 x 0.5 = 0.25; truck's second class, car, is 0.4: the cell's peak
        class is truck (YOLOX's rule: one class per cell).
    A weak person at row 0: 0.3 x 0.2 = 0.06 < 0.1, dropped.
    """
    rows = torch.zeros(1, ROWS, 85)
    rows[0, :, 2:4] = 0.0  # exp(0) * stride: unit cells for the rows left empty
    person, car, truck = 5 + COCO_NAMES.index("person"), 5 + COCO_NAMES.index("car"), 5 + COCO_NAMES.index("truck")
    rows[0, 19, :5] = torch.tensor([0.5, 0.5, math.log(2), math.log(4), 0.9])
    rows[0, 19, person] = 0.8
    rows[0, 20, :5] = torch.tensor([-0.5, 0.5, math.log(2), math.log(4), 0.5])
    rows[0, 20, person] = 0.8
    rows[0, 73, :5] = torch.tensor([0.5, 0.5, math.log(2), 0.0, 1.0])
    rows[0, 73, car] = 0.6
    rows[0, 83, :5] = torch.tensor([0.5, 0.5, 0.0, 0.0, 0.5])
    rows[0, 83, truck], rows[0, 83, car] = 0.5, 0.4
    rows[0, 0, 4], rows[0, 0, person] = 0.3, 0.2
    tags = torch.zeros(1, 2, 8, 8)
    tags[0, :, 0:4, 2:4] = torch.tensor([1.0, -1.0])[:, None, None]  # A's box covers cells x 2-4, y 0-4
    tags[0, :, 2, 3] = torch.tensor([3.0, 3.0])  # A's centre cell
    return {"cells": rows, "tags": tags}


def test_rows_become_boxes_scores_and_classes() -> None:
    (det,) = decode(_cells(), cfg=DecodeConfig(), stride=8, class_names=COCO_NAMES)
    np.testing.assert_allclose(det.boxes, [[20, 4, 36, 36], [8, 32, 40, 48], [32, 32, 64, 64]], atol=1e-4)
    np.testing.assert_allclose(det.scores, [0.72, 0.6, 0.25], rtol=1e-6)
    assert [COCO_NAMES[c] for c in det.classes] == ["person", "car", "truck"]
    assert det.boxes.dtype == np.float32 and det.classes.dtype == np.int64


def test_class_filter_top_k_and_letterbox() -> None:
    cfg = DecodeConfig(classes=("person", "car"), top_k=1)
    (det,) = decode(_cells(), cfg=cfg, stride=8, class_names=COCO_NAMES,
                    letterboxes=[Letterbox(scale=0.5, pad_x=4, pad_y=0)])
    # Only A survives top-1; in the frame: ((20 - 4) / 0.5, 4 / 0.5, (36 - 4) / 0.5, 36 / 0.5).
    np.testing.assert_allclose(det.boxes, [[32, 8, 64, 72]], atol=1e-4)
    with pytest.raises(ValueError, match="unknown class 'lorry'"):
        decode(_cells(), cfg=DecodeConfig(classes=("lorry",)), stride=8, class_names=COCO_NAMES)


def test_a_lower_nms_threshold_merges_more() -> None:
    # A and its duplicate overlap by IoU 1: any threshold removes it. B and C (car, truck) are of
    # different classes: class-wise NMS never merges them, whatever they overlap.
    (det,) = decode(_cells(), cfg=DecodeConfig(nms_iou=0.01), stride=8, class_names=COCO_NAMES)
    assert len(det) == 3


def test_tags_at_the_centre_or_pooled_in_the_box() -> None:
    out = _cells()
    (centre,) = decode(out, cfg=DecodeConfig(), stride=8, class_names=COCO_NAMES, tag_readout="centre")
    np.testing.assert_allclose(centre.tags[0], [3, 3])  # cell (3, 2)
    (box,) = decode(out, cfg=DecodeConfig(), stride=8, class_names=COCO_NAMES, tag_readout="box")
    # A's box (20, 4, 36, 36) covers cells x 2..4 (20 / 8 = 2.5 -> 2, 36 / 8 = 4.5 -> up to 5),
    # y 0..4 (4 / 8 -> 0, 36 / 8 = 4.5 -> up to 5): 3 x 5 = 15 cells; 8 of them (x 2-3, y 0-3) hold
    # (1, -1) except (3, 2) holding (3, 3): sum (7 + 3, -7 + 3) = (10, -4), mean (10/15, -4/15).
    np.testing.assert_allclose(box.tags[0], [10 / 15, -4 / 15], rtol=1e-6)
    (halves,) = decode(out, cfg=DecodeConfig(), stride=8, class_names=COCO_NAMES, tag_readout="halves")
    # Upper half (20, 4, 36, 20): cells x 2-4, y 0-2 (20 / 8 = 2.5 -> up to 3): 9 cells, 6 of them
    # (x 2-3, y 0-2) hold (1, -1) but (3, 2) holds (3, 3): (5 + 3, -5 + 3) / 9. Lower half (20, 20,
    # 36, 36): y 2-4, 9 cells, 4 hold (1, -1) (x 2-3, y 2-3) with (3, 2) as (3, 3): (3 + 3, -3 + 3) / 9.
    np.testing.assert_allclose(halves.tags[0], [8 / 9, -2 / 9, 6 / 9, 0.0], rtol=1e-6, atol=1e-7)


def test_read_tags_is_differentiable_and_clamps_to_the_map() -> None:
    maps = torch.arange(16.0).reshape(1, 1, 4, 4).requires_grad_(True)
    boxes = torch.tensor([[[0.0, 0.0, 8.0, 8.0], [-50.0, -50.0, -40.0, -40.0]]])  # stride 4
    got = read_tags(maps, boxes, stride=4, readout="box")
    # Box 1: cells x 0-1, y 0-1 = values 0, 1, 4, 5, mean 2.5. Box 2 lies outside: its one border
    # cell (0, 0), value 0.
    assert got[0, :, 0].tolist() == [2.5, 0.0]
    got.sum().backward()
    assert maps.grad[0, 0, 0, 0] == 0.25 + 1.0 and maps.grad[0, 0, 1, 1] == 0.25
