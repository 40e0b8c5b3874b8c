"""YOLOX's loss and SimOTA assignment on cases worked out by hand, and a fine-tune that learns."""

from __future__ import annotations

import math

import torch

from aetrack.model.yolox import YoloxNano
from aetrack.yolox_loss import box_iou_pairs, simota_assign, yolox_loss


def test_simota_gives_a_gt_its_dynamic_k_cheapest_cells() -> None:
    # One gt (0, 0, 20, 20), centre (10, 10). Four cells of stride 8 (centre radius 2.5 * 8 = 20):
    # cells 0-2 at the centre with boxes of IoU 1, 0.64 (16 x 16 inside) and 0.25 (10 x 10);
    # cell 3 at (60, 60): outside box and radius, never a candidate.
    gt = torch.tensor([[0.0, 0.0, 20.0, 20.0]])
    boxes = torch.tensor([[0.0, 0.0, 20.0, 20.0], [2.0, 2.0, 18.0, 18.0], [5.0, 5.0, 15.0, 15.0],
                          [50.0, 50.0, 70.0, 70.0]])
    assert torch.allclose(box_iou_pairs(gt, boxes)[0], torch.tensor([1.0, 0.64, 0.25, 0.0]))
    centres = torch.tensor([[10.0, 10.0]] * 3 + [[60.0, 60.0]])
    obj = torch.full((4,), 0.5)
    cls = torch.full((4, 2), 0.5)
    gt_of, iou_of = simota_assign(boxes=boxes, obj=obj, cls=cls, centres=centres, strides=torch.full((4,), 8.0),
                                  gt_boxes=gt, gt_classes=torch.tensor([0]))
    # k = floor(1 + 0.64 + 0.25) = 1: the single cheapest cell, the one with IoU 1 (same class cost).
    assert gt_of.tolist() == [0, -1, -1, -1]
    assert iou_of.tolist() == [1.0, 0.0, 0.0, 0.0]


def test_a_cell_claimed_by_two_gts_goes_to_the_cheaper() -> None:
    # Two identical gts of classes 0 and 1; one cell whose class probabilities favour class 1.
    gt = torch.tensor([[0.0, 0.0, 20.0, 20.0]] * 2)
    boxes = torch.tensor([[0.0, 0.0, 20.0, 20.0]])
    cls = torch.tensor([[0.1, 0.9]])
    gt_of, _ = simota_assign(boxes=boxes, obj=torch.tensor([0.9]), cls=cls, centres=torch.tensor([[10.0, 10.0]]),
                             strides=torch.tensor([8.0]), gt_boxes=gt, gt_classes=torch.tensor([0, 1]))
    assert gt_of.tolist() == [1]


def test_an_image_without_objects_only_pushes_objectness_down() -> None:
    cells = torch.zeros(1, 84, 85)  # 64 x 64 input
    cells[..., 4] = 0.5
    out = yolox_loss(cells, gt_boxes=torch.zeros(1, 1, 4), gt_classes=torch.zeros(1, 1, dtype=torch.long),
                     gt_mask=torch.zeros(1, 1, dtype=torch.bool), height=64, width=64)
    # 84 cells of BCE(0.5, 0) = ln 2 each, divided by max(0 assigned, 1) = 1.
    assert math.isclose(float(out["obj"]), 84 * math.log(2), rel_tol=1e-5)
    assert float(out["box"]) == 0 and float(out["cls"]) == 0


def test_fine_tuning_yolox_learns_a_box() -> None:
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a 64 x 64 image: one thread is fastest, and immune to a busy machine
    model = YoloxNano(num_classes=2)
    x = torch.rand(1, 3, 64, 64) * 255
    gt = dict(gt_boxes=torch.tensor([[[16.0, 8.0, 40.0, 56.0]]]), gt_classes=torch.tensor([[1]]),
              gt_mask=torch.tensor([[True]]), height=64, width=64)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    first = None
    try:
        for _ in range(25):
            terms = yolox_loss(model(x), **gt)
            total = 5 * terms["box"] + terms["obj"] + terms["cls"]
            first = float(total.detach()) if first is None else first
            opt.zero_grad()
            total.backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)
    assert float(total.detach()) < 0.5 * first  # measured: 0.19x after 25 steps
