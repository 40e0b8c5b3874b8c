"""Training targets checked against values derived by hand (derivations in the comments)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from aetrack.model import ModelConfig
from aetrack.model.targets import (
    STRIDE,
    build_targets,
    decode_size,
    draw_gaussian,
    encode_size,
    gather_at_cells,
    gaussian_radius,
)

CFG = ModelConfig(num_classes=1, input_width=128, input_height=128)


def _one(boxes: list[list[float]], ids: list[int] | None = None, classes: list[int] | None = None, **kw):
    n = len(boxes)
    return build_targets(
        boxes=[np.array(boxes, dtype=np.float64).reshape(-1, 4)],
        ids=[np.array(ids if ids is not None else range(n), dtype=np.int64)],
        classes=[np.array(classes if classes is not None else [0] * n, dtype=np.int64)],
        cfg=kw.pop("cfg", CFG),
        **kw,
    )


def test_stride_is_four() -> None:
    assert STRIDE == 4


def test_gaussian_radius_by_hand() -> None:
    # 8x8-cell box, overlap o = 0.7 (CenterNet's three quadratics, root (b + sqrt(b^2 - 4ac)) / 2):
    #   1: b = 16, c = 64 * 0.3 / 1.7 = 11.2941, sqrt(256 - 45.1765) = 14.5198 -> 15.2599
    #   2: b = 32, c = 0.3 * 64 = 19.2,          sqrt(1024 - 307.2)  = 26.7731 -> 29.3866
    #   3: a = 2.8, b = -22.4, c = -19.2,        sqrt(501.76 + 215.04) = 26.7731 -> 2.18656
    assert gaussian_radius(8, 8) == pytest.approx(2.18656, abs=1e-5)


def test_single_object_targets_by_hand() -> None:
    # Box (10, 14)-(42, 46) in a 128x128 input: centre (26, 30) px = (6.5, 7.5) cells, so cell
    # (x=6, y=7), offset (0.5, 0.5), ind = 7 * 32 + 6 = 230, size ln 32 = 3.4657359 for w and h.
    # Radius int(2.18656) = 2 (32 px = 8 cells, see above), sigma = 5 / 6, 2 sigma^2 = 25 / 18:
    #   (dx, dy) = (1, 0): exp(-18/25) = exp(-0.72) = 0.4867523
    #   (2, 0): exp(-2.88) = 0.0561348;  (1, 1): exp(-1.44) = 0.2369278;  (3, 0): outside radius -> 0
    t = _one([[10, 14, 42, 46]], ids=[5], max_objects=4)
    assert t["heatmap"].shape == (1, 1, 32, 32)
    assert t["ind"].shape == (1, 4) and t["ind"].dtype == torch.int64
    assert t["ind"][0].tolist() == [230, 0, 0, 0]
    assert t["mask"][0].tolist() == [True, False, False, False]
    assert t["ident"][0].tolist() == [5, -1, -1, -1]
    assert t["offset"][0, 0].tolist() == pytest.approx([0.5, 0.5])
    assert t["size"][0, 0].tolist() == pytest.approx([math.log(32), math.log(32)], rel=1e-6)
    hm = t["heatmap"][0, 0]
    assert hm[7, 6].item() == 1.0
    assert hm[7, 7].item() == pytest.approx(math.exp(-0.72), rel=1e-6)
    assert hm[7, 5].item() == pytest.approx(math.exp(-0.72), rel=1e-6)
    assert hm[7, 8].item() == pytest.approx(math.exp(-2.88), rel=1e-6)
    assert hm[8, 7].item() == pytest.approx(math.exp(-1.44), rel=1e-6)
    assert hm[7, 9].item() == 0.0 and hm[10, 6].item() == 0.0
    assert int((hm > 0).sum()) == 25  # the full 5x5 kernel fits inside the map
    assert int((hm == 1.0).sum()) == 1


def test_ignore_cells_are_where_the_hidden_bump_exceeds_the_targets() -> None:
    # Target box (10, 14)-(42, 46): cell (6, 7), radius 2 (see above). Ignored box of the same
    # size 12 px to the right, (22, 14)-(54, 46): centre (38, 30) px, cell (9, 7), radius 2.
    # Both bumps span rows 5..9; the hidden one columns 7..11, the target's 4..8. A cell is
    # ignored where the hidden bump is strictly higher:
    #   columns 9..11: target 0, hidden > 0                           -> 3 x 5 = 15 cells
    #   column 8: 1 cell from the hidden centre, 2 from the target's:
    #             exp(-(1 + dy^2) 0.72) > exp(-(4 + dy^2) 0.72)        -> 5 cells
    #   column 7: 2 cells from the hidden centre, 1 from the target's  -> 0 cells
    t = _one([[10, 14, 42, 46]], ignore=[np.array([[22, 14, 54, 46]], dtype=np.float64)])
    ign = t["ignore"][0, 0]
    assert t["ignore"].shape == (1, 1, 32, 32) and t["ignore"].dtype == torch.bool
    assert int(ign.sum()) == 20
    assert ign[5:10, 8:12].all() and not ign[:, 7].any() and not ign[:, :7].any()
    assert not ign[7, 6]  # the target's centre
    # The heatmap itself is unchanged by ignore boxes.
    assert torch.equal(t["heatmap"], _one([[10, 14, 42, 46]])["heatmap"])


def test_ignore_box_on_a_target_or_outside_ignores_nothing() -> None:
    # Same box as the target: the bumps are equal everywhere, never strictly higher. A box
    # whose centre (130, 20) lies outside the 128-px input, and a zero-width one, draw nothing.
    boxes = np.array([[10, 14, 42, 46], [120, 10, 140, 30], [50, 50, 50, 70]], dtype=np.float64)
    t = _one([[10, 14, 42, 46]], ignore=[boxes])
    assert not t["ignore"].any()
    assert not _one([[10, 14, 42, 46]])["ignore"].any()  # no ignore boxes given


def test_gaussian_is_clipped_at_the_border() -> None:
    # Peak at cell (0, 0) with radius 2: only the 3x3 quadrant (dx, dy in 0..2) lies inside.
    hm = np.zeros((5, 5), dtype=np.float32)
    draw_gaussian(hm, center=(0, 0), radius=2)
    assert int((hm > 0).sum()) == 9
    assert hm[0, 1] == pytest.approx(math.exp(-0.72), rel=1e-6)


def test_overlapping_peaks_take_the_maximum() -> None:
    # Two radius-2 peaks 2 cells apart on a row: between them (1 cell from each) the value is
    # max(exp(-0.72), exp(-0.72)) = exp(-0.72), not the sum.
    hm = np.zeros((5, 9), dtype=np.float32)
    draw_gaussian(hm, center=(3, 2), radius=2)
    draw_gaussian(hm, center=(5, 2), radius=2)
    assert hm[2, 4] == pytest.approx(math.exp(-0.72), rel=1e-6)
    assert hm[2, 3] == 1.0 and hm[2, 5] == 1.0


def test_centres_outside_the_input_are_skipped() -> None:
    # Centre x = -5 and centre x = 130 (>= 128) are skipped; the box sticking out on the left
    # with centre x = 5 is kept with its full (unclipped) width 30 -> ln 30.
    t = _one([[-20, 10, 10, 30], [120, 10, 140, 30], [-10, 10, 20, 30]], ids=[0, 1, 2], max_objects=4)
    assert t["mask"][0].tolist() == [True, False, False, False]
    assert t["ident"][0, 0].item() == 2
    assert t["size"][0, 0, 0].item() == pytest.approx(math.log(30), rel=1e-6)
    # centre (5, 20) px -> cell (1, 5), ind = 5 * 32 + 1 = 161, offset (0.25, 0)
    assert t["ind"][0, 0].item() == 161
    assert t["offset"][0, 0].tolist() == pytest.approx([0.25, 0.0])
    assert int((t["heatmap"] == 1.0).sum()) == 1


def test_degenerate_boxes_are_skipped() -> None:
    t = _one([[10, 10, 10, 30], [10, 30, 20, 10]], max_objects=2)
    assert not t["mask"].any()
    assert t["heatmap"].max().item() == 0.0


def test_clip_of_frames_and_classes() -> None:
    # T = 2 frames, two classes; class 1 object's peak goes to channel 1; padding ident -1.
    cfg = ModelConfig(num_classes=2, input_width=64, input_height=32)
    t = build_targets(
        boxes=[np.array([[0, 0, 8, 8], [16, 8, 24, 16]]), np.zeros((0, 4))],
        ids=[np.array([3, 1]), np.zeros(0, dtype=np.int64)],
        classes=[np.array([0, 1]), np.zeros(0, dtype=np.int64)],
        cfg=cfg,
        max_objects=3,
    )
    assert t["heatmap"].shape == (2, 2, 8, 16)
    assert t["ind"].shape == (2, 3) and t["size"].shape == (2, 3, 2) and t["offset"].shape == (2, 3, 2)
    # centres (4, 4) -> cell (1, 1) = 1 * 16 + 1 = 17; (20, 12) -> cell (5, 3) = 3 * 16 + 5 = 53
    assert t["ind"][0, :2].tolist() == [17, 53]
    assert t["heatmap"][0, 0, 1, 1].item() == 1.0 and t["heatmap"][0, 1, 1, 1].item() < 1.0
    assert t["heatmap"][0, 1, 3, 5].item() == 1.0 and t["heatmap"][0, 0, 3, 5].item() < 1.0
    assert t["ident"].tolist() == [[3, 1, -1], [-1, -1, -1]]
    assert t["mask"].tolist() == [[True, True, False], [False, False, False]]
    assert t["heatmap"][1].max().item() == 0.0


def test_objects_beyond_max_objects_stay_in_the_heatmap() -> None:
    t = _one([[0, 0, 8, 8], [40, 40, 48, 48], [80, 80, 88, 88]], max_objects=2)
    assert t["mask"][0].tolist() == [True, True]
    assert t["ident"][0].tolist() == [0, 1]
    assert int((t["heatmap"] == 1.0).sum()) == 3


def test_input_size_override() -> None:
    t = _one([[0, 0, 8, 8]], input_size=(96, 64))
    assert t["heatmap"].shape == (1, 1, 16, 24)
    with pytest.raises(ValueError, match="input_size"):
        _one([[0, 0, 8, 8]], input_size=(95, 64))


def test_bad_inputs_raise() -> None:
    with pytest.raises(ValueError, match="classes"):
        _one([[0, 0, 8, 8]], classes=[1])
    with pytest.raises(ValueError, match="ids"):
        _one([[0, 0, 8, 8]], ids=[-2])
    with pytest.raises(ValueError, match="equal length"):
        build_targets(boxes=[np.zeros((0, 4))], ids=[], classes=[], cfg=CFG)
    with pytest.raises(ValueError, match=r"\(n, 4\)"):
        build_targets(boxes=[np.zeros((2, 3))], ids=[np.zeros(2)], classes=[np.zeros(2)], cfg=CFG)


def test_size_round_trip_and_gather() -> None:
    wh = np.array([[32.0, 80.0]])
    assert decode_size(torch.from_numpy(encode_size(wh))).flatten().tolist() == pytest.approx([32.0, 80.0])
    maps = torch.arange(2 * 3 * 4, dtype=torch.float32).view(1, 2, 3, 4)  # value = c * 12 + y * 4 + x
    picked = gather_at_cells(maps, torch.tensor([[5, 11]]))  # cells (1, 1) and (3, 2)
    assert picked.tolist() == [[[5.0, 17.0], [11.0, 23.0]]]
