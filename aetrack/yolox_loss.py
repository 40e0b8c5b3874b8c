"""YOLOX's detection loss with SimOTA label assignment, for fine-tuning the COCO head.

Ge et al., "YOLOX: Exceeding YOLO Series in 2021", section 2.1 (decoupled head, anchor-free,
SimOTA). For one image with G ground-truth boxes and N cells (strides 8, 16, 32):

1. Candidates: cells whose centre lies in a gt box or within ``center_radius`` cells (of their
   own stride) of its centre.
2. Cost of giving cell j to gt i: ``BCE(sqrt(obj_j * cls_j), onehot_i) + 3 * -ln IoU(box_j,
   gt_i)``, plus 1e5 unless the cell is both in the box and near its centre.
3. Dynamic k: gt i takes its ``k_i = max(1, floor(sum of its 10 best IoUs))`` cheapest cells;
   a cell claimed by several gts goes to the cheapest.
4. Losses: ``1 - IoU^2`` over the assigned cells (box), BCE of objectness against 1 on assigned
   and 0 on every other cell, BCE of the class probabilities against IoU x one-hot on assigned
   cells; each summed over the batch and divided by the number of assigned cells. YOLOX's total
   is ``5 box + obj + cls``.

The head applies the sigmoids itself (as the authors' ONNX graph does), so the BCE terms take
probabilities, clamped away from 0 and 1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from aetrack.model.yolox import decode_boxes, grid_cells

# Probabilities are clamped into [EPS, 1 - EPS] before a log.
EPS = 1e-6
# Weight of the IoU cost against the class cost in SimOTA (YOLOX: 3).
IOU_COST_WEIGHT = 3.0
# Cost added to a cell outside the box-and-centre region: effectively never chosen.
OUTSIDE_COST = 1e5
# YOLOX's weight of the box (IoU) loss in its total.
BOX_WEIGHT = 5.0


def _bce(p: Tensor, target: Tensor) -> Tensor:
    p = p.clamp(EPS, 1 - EPS)
    return -(target * p.log() + (1 - target) * (1 - p).log())


def box_iou_pairs(a: Tensor, b: Tensor, *, aligned: bool = False) -> Tensor:
    """IoU of xyxy boxes (n, 4) and (m, 4): the (n, m) matrix, or with ``aligned`` (n == m)
    the (n,) IoUs of a[i] with b[i]."""
    if not aligned:
        a, b = a[:, None], b[None]
    lt = torch.maximum(a[..., :2], b[..., :2])
    rb = torch.minimum(a[..., 2:], b[..., 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area_a = (a[..., 2:] - a[..., :2]).clamp(min=0).prod(-1)
    area_b = (b[..., 2:] - b[..., :2]).clamp(min=0).prod(-1)
    return inter / (area_a + area_b - inter).clamp(min=1e-9)


@torch.no_grad()
def simota_assign(*, boxes: Tensor, obj: Tensor, cls: Tensor, centres: Tensor, strides: Tensor, gt_boxes: Tensor,
                  gt_classes: Tensor, center_radius: float = 2.5, candidates: int = 10) -> tuple[Tensor, Tensor]:
    """SimOTA for one image (module docstring, steps 1-3).

    Args: predicted ``boxes`` (N, 4) xyxy input px, ``obj`` (N,) and ``cls`` (N, C)
    probabilities, cell ``centres`` (N, 2) input px and ``strides`` (N,), ``gt_boxes`` (G, 4)
    xyxy and ``gt_classes`` (G,) int64.

    Returns ``(gt_of_cell (N,) int64, -1 for background, iou_of_cell (N,))``.
    """
    n, g = boxes.shape[0], gt_boxes.shape[0]
    gt_of = torch.full((n,), -1, dtype=torch.long, device=boxes.device)
    iou_of = torch.zeros(n, device=boxes.device)
    if g == 0:
        return gt_of, iou_of
    cx, cy = centres[:, 0], centres[:, 1]
    in_box = ((cx[None] > gt_boxes[:, None, 0]) & (cx[None] < gt_boxes[:, None, 2])
              & (cy[None] > gt_boxes[:, None, 1]) & (cy[None] < gt_boxes[:, None, 3]))  # (G, N)
    gcx, gcy = (gt_boxes[:, 0] + gt_boxes[:, 2]) / 2, (gt_boxes[:, 1] + gt_boxes[:, 3]) / 2
    r = center_radius * strides[None]  # (1, N)
    in_centre = ((cx[None] - gcx[:, None]).abs() < r) & ((cy[None] - gcy[:, None]).abs() < r)  # (G, N)
    cand = (in_box | in_centre).any(0)  # (N,)
    if not bool(cand.any()):
        return gt_of, iou_of
    idx = cand.nonzero().squeeze(1)  # (M,)
    ious = box_iou_pairs(gt_boxes, boxes[idx])  # (G, M)
    onehot = F.one_hot(gt_classes, cls.shape[1]).float()  # (G, C)
    joint = (cls[idx] * obj[idx, None]).sqrt()  # (M, C)
    cls_cost = _bce(joint[None].expand(g, -1, -1), onehot[:, None].expand(-1, idx.numel(), -1)).sum(-1)  # (G, M)
    cost = cls_cost + IOU_COST_WEIGHT * -torch.log(ious + 1e-8)
    cost = cost + OUTSIDE_COST * ~(in_box[:, idx] & in_centre[:, idx])
    k = torch.topk(ious, min(candidates, idx.numel()), dim=1).values.sum(1).int().clamp(min=1)  # (G,)
    matching = torch.zeros_like(cost, dtype=torch.bool)  # (G, M)
    order = cost.argsort(dim=1)
    for i in range(g):  # G is small (objects in one image); each row picks its k cheapest cells
        matching[i, order[i, : int(k[i])]] = True
    multi = matching.sum(0) > 1
    if bool(multi.any()):  # a cell claimed twice goes to its cheapest gt
        cheapest = cost[:, multi].argmin(0)
        matching[:, multi] = False
        matching[cheapest, multi.nonzero().squeeze(1)] = True
    fg = matching.any(0)  # (M,)
    gt_idx = matching.float().argmax(0)  # (M,)
    gt_of[idx[fg]] = gt_idx[fg]
    iou_of[idx[fg]] = ious[gt_idx[fg], fg.nonzero().squeeze(1)]
    return gt_of, iou_of


def yolox_loss(cells: Tensor, *, gt_boxes: Tensor, gt_classes: Tensor, gt_mask: Tensor, height: int,
               width: int) -> dict[str, Tensor]:
    """YOLOX's loss terms for a batch (module docstring, step 4).

    Args:
        cells: (B, N, 4 + 1 + C) rows of :meth:`aetrack.model.yolox.YoloxNano.forward` for
            ``height`` x ``width`` inputs.
        gt_boxes: (B, K, 4) xyxy input px; gt_classes (B, K) int64; gt_mask (B, K) bool.

    Returns scalars ``box`` (1 - IoU^2), ``obj`` and ``cls`` (BCE), each divided by the number
    of assigned cells (at least 1).
    """
    boxes = decode_boxes(cells, height=height, width=width)  # (B, N, 4)
    obj, cls = cells[..., 4], cells[..., 5:]
    centres, strides = grid_cells(height, width, device=cells.device)
    strides = strides.to(cells.dtype)
    centres = (centres.to(cells.dtype) + 0.5) * strides[:, None]  # (N, 2) input px
    box_loss = cells.new_zeros(())
    obj_loss = cells.new_zeros(())
    cls_loss = cells.new_zeros(())
    num_fg = 0
    for b in range(cells.shape[0]):
        m = gt_mask[b]
        gt_b, gt_c = gt_boxes[b][m].to(cells.dtype), gt_classes[b][m]
        gt_of, iou_of = simota_assign(boxes=boxes[b].detach(), obj=obj[b].detach(), cls=cls[b].detach(),
                                      centres=centres, strides=strides, gt_boxes=gt_b, gt_classes=gt_c)
        fg = gt_of >= 0
        obj_loss = obj_loss + _bce(obj[b], fg.to(cells.dtype)).sum()
        if bool(fg.any()):
            matched = gt_of[fg]
            iou = box_iou_pairs(boxes[b][fg], gt_b[matched], aligned=True)  # (F,) with gradients
            box_loss = box_loss + (1 - iou.pow(2)).sum()
            target = F.one_hot(gt_c[matched], cls.shape[-1]).to(cells.dtype) * iou_of[fg, None]
            cls_loss = cls_loss + _bce(cls[b][fg], target).sum()
            num_fg += int(fg.sum())
    denom = max(num_fg, 1)
    return {"box": box_loss / denom, "obj": obj_loss / denom, "cls": cls_loss / denom}
