"""Decoding synthetic maps whose detections are derived by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from aetrack.data.letterbox import Letterbox
from aetrack.decode import DecodeConfig, Detections, decode, tags_at_boxes
from aetrack.model import ModelConfig, build_targets

# Original frame -> input: x_in = 0.5 x + 2, y_in = 0.5 y + 4; back: x = (x_in - 2) / 0.5.
LB = Letterbox(scale=0.5, pad_x=2, pad_y=4)


def _maps() -> dict[str, torch.Tensor]:
    """One 32x32-input image (8x8 cells), one class, D = 2.

    Peak A at cell (x=2, y=3): logit 2 (score 0.8808), size ln 8 x ln 12, offset (0.25, 0.5),
        tags (1, -1). Centre ((2.25) * 4, (3.5) * 4) = (9, 14) input px -> box (5, 8, 13, 20).
    Neighbour of A at (3, 3): logit 1 (0.7311), not a 3x3 maximum -> suppressed.
    Peak B at (6, 5): logit 0 (0.5), size 4 x 4, offset (0, 0), tags (0.5, 2).
        Centre (24, 20) -> box (22, 18, 26, 22).
    Weak peak at (6, 1): logit -3 (0.0474) < 0.1 -> dropped by the default threshold.
    Background logit -10.
    """
    heat = torch.full((1, 1, 8, 8), -10.0)
    size = torch.zeros(1, 2, 8, 8)
    offset = torch.zeros(1, 2, 8, 8)
    tags = torch.zeros(1, 2, 8, 8)
    heat[0, 0, 3, 2], heat[0, 0, 3, 3], heat[0, 0, 5, 6], heat[0, 0, 1, 6] = 2.0, 1.0, 0.0, -3.0
    size[0, :, 3, 2] = torch.tensor([math.log(8), math.log(12)])
    offset[0, :, 3, 2] = torch.tensor([0.25, 0.5])
    tags[0, :, 3, 2] = torch.tensor([1.0, -1.0])
    size[0, :, 5, 6] = math.log(4)
    tags[0, :, 5, 6] = torch.tensor([0.5, 2.0])
    return {"heatmap": heat, "size": size, "offset": offset, "tags": tags}


def test_two_peaks_in_input_pixels() -> None:
    (det,) = decode(_maps(), cfg=DecodeConfig())
    assert len(det) == 2
    np.testing.assert_allclose(det.boxes, [[5, 8, 13, 20], [22, 18, 26, 22]], atol=1e-5)
    np.testing.assert_allclose(det.scores, [1 / (1 + math.exp(-2)), 0.5], rtol=1e-6)
    assert det.classes.tolist() == [0, 0]
    np.testing.assert_allclose(det.tags, [[1, -1], [0.5, 2]])
    assert det.boxes.dtype == np.float32 and det.scores.dtype == np.float32
    assert det.classes.dtype == np.int64 and det.tags.dtype == np.float32


def test_two_peaks_in_original_pixels() -> None:
    # A: ((5-2)/0.5, (8-4)/0.5, (13-2)/0.5, (20-4)/0.5) = (6, 8, 22, 32)
    # B: ((22-2)/0.5, (18-4)/0.5, (26-2)/0.5, (22-4)/0.5) = (40, 28, 48, 36)
    (det,) = decode(_maps(), cfg=DecodeConfig(), letterboxes=[LB])
    np.testing.assert_allclose(det.boxes, [[6, 8, 22, 32], [40, 28, 48, 36]], atol=1e-5)


def test_nms_threshold_and_top_k() -> None:
    maps = _maps()
    # Without NMS (kernel 1) the neighbour at 0.7311 survives between A and B.
    (det,) = decode(maps, cfg=DecodeConfig(nms_kernel=1))
    np.testing.assert_allclose(det.scores, [0.8807971, 0.7310586, 0.5], rtol=1e-6)
    # A threshold of 0.04 lets the weak peak (0.0474) through.
    (det,) = decode(maps, cfg=DecodeConfig(score_threshold=0.04))
    np.testing.assert_allclose(det.scores, [0.8807971, 0.5, 0.0474259], rtol=1e-5)
    (det,) = decode(maps, cfg=DecodeConfig(top_k=1))
    assert len(det) == 1 and det.scores[0] == pytest.approx(0.8807971)


def test_nms_is_per_class() -> None:
    # The same cell peaks in both classes: both survive, each with its class.
    maps = _maps()
    maps["heatmap"] = torch.cat([maps["heatmap"], maps["heatmap"] - 2.5], dim=1)  # (1, 2, 8, 8)
    (det,) = decode(maps, cfg=DecodeConfig())
    # scores: c0 A sigmoid(2) = 0.881, c0 B 0.5, c1 A sigmoid(-0.5) = 0.378; c1 B sigmoid(-2.5) = 0.076 < 0.1
    assert det.classes.tolist() == [0, 0, 1]
    np.testing.assert_allclose(det.boxes[2], [5, 8, 13, 20], atol=1e-5)


def test_empty_output_has_consistent_shapes() -> None:
    (det,) = decode(_maps(), cfg=DecodeConfig(score_threshold=0.99))
    assert isinstance(det, Detections) and len(det) == 0
    assert det.boxes.shape == (0, 4) and det.scores.shape == (0,)
    assert det.classes.shape == (0,) and det.tags.shape == (0, 2)
    assert det.boxes.dtype == np.float32 and det.classes.dtype == np.int64


def test_batch_and_letterbox_count() -> None:
    maps = {k: torch.cat([v, v]) for k, v in _maps().items()}
    dets = decode(maps, cfg=DecodeConfig(), letterboxes=[LB, Letterbox(scale=1.0, pad_x=0, pad_y=0)])
    assert len(dets) == 2
    np.testing.assert_allclose(dets[1].boxes[0], [5, 8, 13, 20], atol=1e-5)
    with pytest.raises(ValueError, match="letterboxes"):
        decode(maps, cfg=DecodeConfig(), letterboxes=[LB])
    with pytest.raises(ValueError, match=r"outputs\[-1\]"):
        decode([maps], cfg=DecodeConfig())  # type: ignore[arg-type]


def test_targets_decode_round_trip() -> None:
    # Maps built from the targets (logit of the Gaussian heatmap, size and offset at centres)
    # decode back to the input boxes: targets and decoding agree on cells, offsets and sizes.
    boxes = np.array([[10.0, 14.0, 42.0, 46.0], [70.0, 20.0, 90.0, 76.0]])
    cfg = ModelConfig(input_width=128, input_height=96)
    ids, classes = [np.array([0, 1])], [np.array([0, 0])]
    t = build_targets(boxes=[boxes], ids=ids, classes=classes, cfg=cfg, max_objects=4)
    h, w = 24, 32
    heat = torch.logit(t["heatmap"].clamp(1e-4, 1 - 1e-4))  # (1, 1, h, w)
    size = torch.zeros(1, 2, h * w)
    offset = torch.zeros(1, 2, h * w)
    for k in range(2):
        size[0, :, t["ind"][0, k]] = t["size"][0, k]
        offset[0, :, t["ind"][0, k]] = t["offset"][0, k]
    maps = {
        "heatmap": heat,
        "size": size.view(1, 2, h, w),
        "offset": offset.view(1, 2, h, w),
        "tags": torch.zeros(1, 3, h, w),
    }
    (det,) = decode(maps, cfg=DecodeConfig(score_threshold=0.9))
    order = np.argsort(det.boxes[:, 0])
    np.testing.assert_allclose(det.boxes[order], boxes, atol=1e-4)


def test_tags_at_boxes() -> None:
    # tags[d, y, x] = 100 d + 8 y + x. Original box (6, 8, 22, 32) -> input (5, 8, 13, 20),
    # centre (9, 14) px -> cell (2, 3) -> tags (26, 126).
    # A box far to the right (centre x_in = 0.5 * 500 + 2 = 252 px) reads the border column x = 7:
    # original (490, 8, 510, 32) -> input centre (252, 14) -> cell (7, 3) -> (31, 131).
    d, y, x = torch.meshgrid(torch.arange(2), torch.arange(8), torch.arange(8), indexing="ij")
    maps = {"tags": (100 * d + 8 * y + x).float()[None]}
    got = tags_at_boxes(maps, np.array([[6, 8, 22, 32], [490, 8, 510, 32]]), letterbox=LB)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, [[26, 126], [31, 131]])
    empty = tags_at_boxes(maps, np.zeros((0, 4)), letterbox=LB)
    assert empty.shape == (0, 2)


def test_decode_config_validation() -> None:
    with pytest.raises(ValueError, match="nms_kernel"):
        DecodeConfig(nms_kernel=2)
    with pytest.raises(ValueError, match="top_k"):
        DecodeConfig(top_k=0)
    with pytest.raises(ValueError, match="score_threshold"):
        DecodeConfig(score_threshold=1.5)


def _two_class_maps() -> dict[str, torch.Tensor]:
    """Two classes (person, car), one 8x8-cell image, D = 1, every size 4 x 4 input px (ln 4).

    Person peak at cell (2, 2): logit 0 (score 0.5), box centre (8, 8) -> (6, 6, 10, 10).
    Car peak at (2, 2) too: logit ln(0.3 / 0.7) (score 0.3), the same box: one object read twice.
    Car peak at (6, 6): logit ln(0.2 / 0.8) (score 0.2), box (22, 22, 26, 26), alone.
    """
    heat = torch.full((1, 2, 8, 8), -10.0)
    heat[0, 0, 2, 2] = 0.0
    heat[0, 1, 2, 2] = math.log(0.3 / 0.7)
    heat[0, 1, 6, 6] = math.log(0.2 / 0.8)
    return {"heatmap": heat, "size": torch.full((1, 2, 8, 8), math.log(4)), "offset": torch.zeros(1, 2, 8, 8),
            "tags": torch.zeros(1, 1, 8, 8)}


def test_class_score_gain_multiplies_one_class_and_caps_at_one() -> None:
    # car x 2: 0.3 -> 0.6 and 0.2 -> 0.4; person stays 0.5. With gain 4 the first car is
    # 1.2 -> capped at 1.0 and the second 0.8. Sorted by score, as peaks always are.
    cfg = DecodeConfig(class_score_gain={"car": 2.0})
    (det,) = decode(_two_class_maps(), cfg=cfg, class_names=("person", "car"))
    np.testing.assert_allclose(det.scores, [0.6, 0.5, 0.4], rtol=1e-5)
    assert det.classes.tolist() == [1, 0, 1]
    (det,) = decode(_two_class_maps(), cfg=DecodeConfig(class_score_gain={"car": 4.0}), class_names=("person", "car"))
    np.testing.assert_allclose(det.scores, [1.0, 0.8, 0.5], rtol=1e-5)


def test_class_score_gain_needs_known_names() -> None:
    cfg = DecodeConfig(class_score_gain={"lorry": 2.0})
    with pytest.raises(ValueError, match="unknown class 'lorry'.*person, car"):
        decode(_two_class_maps(), cfg=cfg, class_names=("person", "car"))
    with pytest.raises(ValueError, match="needs the model's class_names"):
        decode(_two_class_maps(), cfg=cfg)
    with pytest.raises(ValueError, match="positive"):
        DecodeConfig(class_score_gain={"car": 0.0})


def test_cross_class_suppression_keeps_the_higher_of_one_object() -> None:
    # Person (0.5) and car (0.3) share a box (IoU 1): the car goes; the lone car at 0.2 stays.
    (det,) = decode(_two_class_maps(), cfg=DecodeConfig(cross_class_iou=0.7))
    np.testing.assert_allclose(det.scores, [0.5, 0.2], rtol=1e-5)
    assert det.classes.tolist() == [0, 1]
    # With the car's gain 2 it scores 0.6 and wins: the person is the duplicate now.
    cfg = DecodeConfig(cross_class_iou=0.7, class_score_gain={"car": 2.0})
    (det,) = decode(_two_class_maps(), cfg=cfg, class_names=("person", "car"))
    np.testing.assert_allclose(det.scores, [0.6, 0.4], rtol=1e-5)
    assert det.classes.tolist() == [1, 1]
    # Off (None), both readings of the shared box survive.
    (det,) = decode(_two_class_maps(), cfg=DecodeConfig())
    assert det.classes.tolist() == [0, 1, 1]


def test_gains_from_yaml_and_overrides() -> None:
    from aetrack.config import check_overrides, from_dict
    from aetrack.errors import AetrackError
    from aetrack.experiment import ExperimentConfig

    cfg = from_dict(DecodeConfig, {"class_score_gain": {"car": 2, "bus": 1.5}, "cross_class_iou": 0.7})
    assert cfg.class_score_gain == {"car": 2.0, "bus": 1.5} and cfg.cross_class_iou == 0.7
    check_overrides(ExperimentConfig, ["decode.class_score_gain={car: 2.0}"])
    with pytest.raises(AetrackError, match="expected a mapping"):
        check_overrides(ExperimentConfig, ["decode.class_score_gain=2.0"])
    with pytest.raises(AetrackError, match=r"class_score_gain\.car: expected float"):
        from_dict(DecodeConfig, {"class_score_gain": {"car": "fast"}})
    with pytest.raises(AetrackError, match="positive"):
        from_dict(DecodeConfig, {"class_score_gain": {"car": -1.0}})
