"""Loss values derived by hand (derivations in the comments) and gradient directions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from aetrack.errors import AetrackError
from aetrack.config import from_dict
from aetrack.losses import LossConfig, ae_loss, batch_push, compute_losses, focal_loss, masked_l1
from aetrack.model import ModelConfig, build_targets


def _clip_t3() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One clip, T=3 frames, K=3 slots per frame, D=1; identities 0, 1, 2, padding = 100.

    frame 0: id0 -> 1, id1 -> 4, pad
    frame 1: id2 -> 0, id0 -> 2, pad
    frame 2: id1 -> 6, id0 -> 3, pad
    """
    tags = torch.tensor([1.0, 4.0, 100.0, 0.0, 2.0, 100.0, 6.0, 3.0, 100.0]).view(1, 9, 1)
    ident = torch.tensor([[0, 1, -1, 2, 0, -1, 1, 0, -1]])
    mask = ident >= 0
    return tags, ident, mask


def test_pull_is_zero_for_identical_tags() -> None:
    # Each identity has the same tag in every frame: every h[t,n] == hbar[n], so pull = 0.
    tags = torch.tensor([[1.0, 2.0], [-1.0, 0.0], [1.0, 2.0], [-1.0, 0.0]]).view(1, 4, 2)
    ident = torch.tensor([[0, 1, 0, 1]])
    pull, _ = ae_loss(tags, ident, ident >= 0)
    assert pull.item() == 0.0


def test_push_of_two_identities_at_distance_d() -> None:
    # hbar = (0, 0) and (3, 4): d = 5. With N = 2 the two ordered pairs each give
    # exp(-d^2 / (2 sigma^2)); 1/(N(N-1)) = 1/2, so push = exp(-25 / 8) for sigma = 2.
    tags = torch.tensor([[0.0, 0.0], [3.0, 4.0]]).view(1, 2, 2)
    ident = torch.tensor([[0, 1]])
    pull, push = ae_loss(tags, ident, ident >= 0, sigma=2.0)
    assert pull.item() == 0.0
    assert push.item() == pytest.approx(math.exp(-25 / 8), rel=1e-6)  # 0.0439369


def test_temporal_clip_by_hand() -> None:
    # From _clip_t3:
    #   id0 tags 1, 2, 3 -> hbar 2, squared deviations 1 + 0 + 1 = 2, / |S| = 3 -> 2/3
    #   id1 tags 4, 6    -> hbar 5, deviations 1 + 1 = 2, / 2                   -> 1
    #   id2 tag 0        -> hbar 0, -> 0
    #   pull = 1/3 * (2/3 + 1 + 0) = 5/9 = 0.5556
    # push (sigma 1): distances |2-5| = 3, |2-0| = 2, |5-0| = 5; each unordered pair twice,
    #   push = 2 * (e^-4.5 + e^-2 + e^-12.5) / (3 * 2)
    #        = (0.0111090 + 0.1353353 + 0.0000037) / 3 = 0.0488160
    tags, ident, mask = _clip_t3()
    pull, push = ae_loss(tags, ident, mask)
    assert pull.item() == pytest.approx(5 / 9, rel=1e-6)
    assert push.item() == pytest.approx((math.exp(-4.5) + math.exp(-2) + math.exp(-12.5)) / 3, rel=1e-6)
    assert push.item() == pytest.approx(0.0488160, abs=1e-7)


def test_margin_push_by_hand() -> None:
    # Same clip, margin 4: max(0, 4 - 3) = 1, max(0, 4 - 2) = 2, max(0, 4 - 5) = 0;
    # ordered pairs sum to 2 * 3 = 6, / (N(N-1) = 6) -> push = 1.0.
    tags, ident, mask = _clip_t3()
    _, push = ae_loss(tags, ident, mask, push="margin", margin=4.0)
    assert push.item() == pytest.approx(1.0, rel=1e-6)
    # CornerNet's margin 1: all distances >= 2, so nothing pushes.
    _, push1 = ae_loss(tags, ident, mask, push="margin", margin=1.0)
    assert push1.item() == 0.0


def test_batch_averages_over_clips_with_enough_identities() -> None:
    # Clip 0 as in test_temporal_clip_by_hand (pull 5/9, push 0.0488160).
    # Clip 1: one identity with tags 0 and 2 -> hbar 1, pull = (1 + 1) / 2 / N(=1) = 1; no push.
    # pull = (5/9 + 1) / 2 = 7/9 (both clips have >= 1 identity); push = clip 0's only.
    tags0, ident0, mask0 = _clip_t3()
    tags1 = torch.tensor([0.0, 2.0, 7.0, 7.0, 7.0, 7.0, 7.0, 7.0, 7.0]).view(1, 9, 1)
    ident1 = torch.tensor([[0, 0, -1, -1, -1, -1, -1, -1, -1]])
    tags, ident = torch.cat([tags0, tags1]), torch.cat([ident0, ident1])
    pull, push = ae_loss(tags, ident, torch.cat([mask0, ident1 >= 0]))
    assert pull.item() == pytest.approx(7 / 9, rel=1e-6)
    assert push.item() == pytest.approx(0.0488160, abs=1e-7)


def test_padding_has_no_effect() -> None:
    tags, ident, mask = _clip_t3()
    pull, push = ae_loss(tags, ident, mask)
    # Padding with a valid-looking identity but mask False, and huge tag values anywhere padded.
    tags2 = tags.clone()
    tags2[0, [2, 5, 8]] = -1e3
    ident2 = ident.clone()
    ident2[0, 2] = 0  # would join id0 if the mask were ignored
    pull2, push2 = ae_loss(tags2, ident2, mask)
    assert pull2.item() == pytest.approx(pull.item(), rel=1e-7)
    assert push2.item() == pytest.approx(push.item(), rel=1e-7)


def test_identity_values_need_not_be_contiguous() -> None:
    # Renaming identities 0, 1, 2 to 7, 30, 5 changes nothing.
    tags, ident, mask = _clip_t3()
    renamed = ident.clone()
    for old, new in ((0, 7), (1, 30), (2, 5)):
        renamed[ident == old] = new
    pull, push = ae_loss(tags, renamed, mask)
    assert pull.item() == pytest.approx(5 / 9, rel=1e-6)
    assert push.item() == pytest.approx(0.0488160, abs=1e-7)


def test_no_identities_gives_zero_with_graph() -> None:
    tags = torch.ones(2, 4, 3, requires_grad=True)
    ident = torch.full((2, 4), -1)
    pull, push = ae_loss(tags, ident, ident >= 0)
    assert pull.item() == 0.0 and push.item() == 0.0
    (pull + push).backward()
    assert tags.grad is not None and torch.all(tags.grad == 0)


def test_pull_gradient_points_to_the_mean() -> None:
    # One identity, tags 0 and 2 (D = 1): hbar = 1, pull = ((0-1)^2 + (2-1)^2) / 2 = 1.
    # d pull / d h_t = (h_t - hbar) (the path through hbar adds sum_t (h_t - hbar) = 0):
    # -1 for h=0 and +1 for h=2, so gradient descent moves both towards 1.
    tags = torch.tensor([[[0.0], [2.0]]], requires_grad=True)
    ident = torch.tensor([[0, 0]])
    pull, _ = ae_loss(tags, ident, ident >= 0)
    assert pull.item() == pytest.approx(1.0)
    pull.backward()
    assert tags.grad is not None
    assert tags.grad.flatten().tolist() == pytest.approx([-1.0, 1.0])


def test_push_gradient_pushes_apart() -> None:
    # Two identities at 0 and 1 (sigma 1): push = exp(-1/2).
    # d/dh0 exp(-(h0 - h1)^2 / 2) = -(h0 - h1) exp(-1/2) = +0.60653: descent lowers h0, away from h1;
    # the gradient for h1 is -0.60653.
    tags = torch.tensor([[[0.0], [1.0]]], requires_grad=True)
    ident = torch.tensor([[0, 1]])
    _, push = ae_loss(tags, ident, ident >= 0)
    assert push.item() == pytest.approx(math.exp(-0.5))
    push.backward()
    assert tags.grad is not None
    assert tags.grad.flatten().tolist() == pytest.approx([math.exp(-0.5), -math.exp(-0.5)])


def test_margin_push_gradient_is_finite_for_equal_tags() -> None:
    tags = torch.zeros(1, 2, 3, requires_grad=True)
    ident = torch.tensor([[0, 1]])
    _, push = ae_loss(tags, ident, ident >= 0, push="margin", margin=1.0)
    assert push.item() == pytest.approx(1.0, abs=1e-5)  # max(0, 1 - 0)
    push.backward()
    assert tags.grad is not None and torch.isfinite(tags.grad).all()


def test_focal_loss_by_hand() -> None:
    # logits 0 -> p = 0.5 in all three cells; target (1, 0.5, 0):
    #   positive:      -(1 - 0.5)^2 ln 0.5               = 0.25   * ln 2 = 0.1732868
    #   y = 0.5 cell:  -(1 - 0.5)^4 * 0.5^2 * ln(1 - 0.5) = 0.015625 * ln 2 = 0.0108304
    #   y = 0 cell:    -(1 - 0)^4 * 0.5^2 * ln 0.5       = 0.25   * ln 2 = 0.1732868
    # sum = 0.515625 * ln 2 = 0.3574040; divided by 2 objects -> 0.1787020
    logits = torch.zeros(1, 1, 1, 3)
    target = torch.tensor([1.0, 0.5, 0.0]).view(1, 1, 1, 3)
    value = focal_loss(logits, target, num_objects=2)
    assert value.item() == pytest.approx(0.515625 * math.log(2) / 2, rel=1e-6)


def test_focal_loss_ignore_drops_negative_cells_only() -> None:
    # As above; ignoring the y = 0 cell removes its 0.25 ln 2: (0.25 + 0.015625) ln 2 / 2.
    # Ignoring the positive cell changes nothing: positives always count.
    logits = torch.zeros(1, 1, 1, 3)
    target = torch.tensor([1.0, 0.5, 0.0]).view(1, 1, 1, 3)
    ignore = torch.tensor([False, False, True]).view(1, 1, 1, 3)
    value = focal_loss(logits, target, num_objects=2, ignore=ignore)
    assert value.item() == pytest.approx(0.265625 * math.log(2) / 2, rel=1e-6)
    on_positive = focal_loss(logits, target, num_objects=2, ignore=torch.tensor([True, False, False]).view(1, 1, 1, 3))
    assert on_positive.item() == pytest.approx(0.515625 * math.log(2) / 2, rel=1e-6)


def test_masked_l1_by_hand() -> None:
    # Only object 0 counts: (|1 - 0| + |2 - 0|) / 2 coordinates = 1.5.
    pred = torch.tensor([[[1.0, 2.0], [30.0, 40.0]]])
    target = torch.zeros(1, 2, 2)
    mask = torch.tensor([[True, False]])
    assert masked_l1(pred, target, mask).item() == pytest.approx(1.5)


def _tiny_clip() -> tuple[list[dict[str, torch.Tensor]], dict[str, torch.Tensor]]:
    """B=1 clip of T=2 frames at input 8x8 (maps 2x2), D=1, two identities of 2x2-pixel boxes.

    Frame 0: id0 centre (2, 2) -> cell 0, id1 centre (6, 6) -> cell 3.
    Frame 1: id0 centre (6, 2) -> cell 1, id1 centre (2, 6) -> cell 2.
    Tag maps: frame 0: cell0 = 0, cell3 = 3; frame 1: cell1 = 1, cell2 = 3.
    Size maps ln 2 and offsets 0.5 everywhere equal the targets (2x2 boxes centred at cell + 0.5).
    Heatmap logits 0 everywhere.
    """
    cfg = ModelConfig(num_classes=1, tag_dim=1)
    targets = build_targets(
        boxes=[np.array([[1, 1, 3, 3], [5, 5, 7, 7]]), np.array([[5, 1, 7, 3], [1, 5, 3, 7]])],
        ids=[np.array([0, 1]), np.array([0, 1])],
        classes=[np.array([0, 0]), np.array([0, 0])],
        cfg=cfg,
        max_objects=2,
        input_size=(8, 8),
    )
    batch = {k: v[None] for k, v in targets.items()}  # (B=1, T=2, ...)
    tags = torch.tensor([[0.0, 9.0], [9.0, 3.0], [9.0, 1.0], [3.0, 9.0]]).view(2, 1, 2, 2)
    out = {
        "heatmap": torch.zeros(2, 1, 2, 2),
        "size": torch.full((2, 2, 2, 2), math.log(2.0)),
        "offset": torch.full((2, 2, 2, 2), 0.5),
        "tags": tags,
    }
    return [out], batch


def test_compute_losses_temporal_by_hand() -> None:
    # Heatmap: radius for a 0.5x0.5-cell box is int(0.137) = 0, so targets are 1 at the 4 centre
    # cells and 0 at the other 4; with p = 0.5 every cell contributes 0.25 ln 2 (see focal test):
    # 8 * 0.25 ln 2 / 4 objects = ln 2 / 2 = 0.3465736.
    # Temporal AE: id0 tags 0, 1 -> hbar 0.5, pull_0 = (0.25 + 0.25) / 2 = 0.25; id1 tags 3, 3 ->
    # pull_1 = 0; pull = 0.25 / 2 = 0.125. push = exp(-(3 - 0.5)^2 / 2) = exp(-3.125).
    outputs, targets = _tiny_clip()
    losses = compute_losses(outputs, targets, cfg=LossConfig())
    assert losses["heatmap"].item() == pytest.approx(math.log(2) / 2, rel=1e-6)
    assert losses["size"].item() == pytest.approx(0.0, abs=1e-6)
    assert losses["offset"].item() == pytest.approx(0.0, abs=1e-6)
    assert losses["pull"].item() == pytest.approx(0.125, rel=1e-6)
    assert losses["push"].item() == pytest.approx(math.exp(-3.125), rel=1e-6)
    expected_total = math.log(2) / 2 + 0.125 + math.exp(-3.125)  # weights 1 for these terms
    assert losses["total"].item() == pytest.approx(expected_total, rel=1e-5)


def test_compute_losses_spatial_only_by_hand() -> None:
    # temporal=False: each frame is its own group set, one appearance per identity -> pull 0.
    # push: frame 0 tags 0 and 3 -> exp(-4.5); frame 1 tags 1 and 3 -> exp(-2); mean of the two.
    outputs, targets = _tiny_clip()
    losses = compute_losses(outputs, targets, cfg=LossConfig(temporal=False))
    assert losses["pull"].item() == 0.0
    assert losses["push"].item() == pytest.approx((math.exp(-4.5) + math.exp(-2)) / 2, rel=1e-6)


def test_compute_losses_sums_stacks_and_weights() -> None:
    # Two identical stacks double every term; total = sum of weight * term.
    outputs, targets = _tiny_clip()
    cfg = LossConfig(heatmap_weight=2.0, size_weight=0.1, offset_weight=1.0, pull_weight=3.0, push_weight=0.5)
    one = compute_losses(outputs, targets, cfg=cfg)
    two = compute_losses(outputs * 2, targets, cfg=cfg)
    for name in ("heatmap", "size", "offset", "pull", "push"):
        assert two[name].item() == pytest.approx(2 * one[name].item(), rel=1e-6)
    expected = (
        2.0 * two["heatmap"] + 0.1 * two["size"] + two["offset"] + 3.0 * two["pull"] + 0.5 * two["push"]
    )
    assert two["total"].item() == pytest.approx(expected.item(), rel=1e-6)


def test_compute_losses_rejects_mismatched_batch() -> None:
    outputs, targets = _tiny_clip()
    bad = [{k: v[:1] for k, v in outputs[0].items()}]
    with pytest.raises(ValueError, match="clip-major"):
        compute_losses(bad, targets, cfg=LossConfig())


def test_loss_config_validation() -> None:
    with pytest.raises(ValueError, match="push"):
        LossConfig(push="hinge")
    with pytest.raises(ValueError, match="sigma"):
        LossConfig(sigma=0.0)
    with pytest.raises(ValueError, match="size_weight"):
        LossConfig(size_weight=-1.0)
    with pytest.raises(AetrackError, match="unknown key"):
        from_dict(LossConfig, {"pull_wieght": 1.0})


def _two_clips() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two clips (B=2), L=3 slots, D=1; clip-local identities 0 and 1 in each, slot 2 padding.

    clip 0: id0 tags 0, 0 -> hbar 0;       id1 tag 3   -> hbar 3
    clip 1: id0 tags 0.25, 0.75 -> hbar 0.5; id1 tag 3.5 -> hbar 3.5
    (slots: clip 0 = [id0 0, id0 0, id1 3] and clip 1 = [id0 0.25, id1 3.5, id0 0.75])
    """
    tags = torch.tensor([[0.0, 0.0, 3.0], [0.25, 3.5, 0.75]]).view(2, 3, 1)
    ident = torch.tensor([[0, 0, 1], [0, 1, 0]])
    return tags, ident, ident >= 0


def test_batch_push_by_hand_and_shared_identity_is_not_pushed() -> None:
    # Margin 1. Within each clip the two means are 3 apart: clip push 0 (ae_loss unchanged).
    # Cross-clip distances: c0id0-c1id0 |0 - 0.5| = 0.5 -> 1 - 0.5 = 0.5; c0id0-c1id1 3.5 -> 0;
    # c0id1-c1id0 2.5 -> 0; c0id1-c1id1 |3 - 3.5| = 0.5 -> 0.5.
    # Four different global identities: 4 unordered pairs = 8 ordered, sum 2 * (0.5 + 0.5) = 2,
    # batch push = 2 / 8 = 0.25.
    tags, ident, mask = _two_clips()
    _, clip_push = ae_loss(tags, ident, mask, push="margin", margin=1.0)
    assert clip_push.item() == 0.0
    distinct = torch.tensor([[10, 10, 11], [20, 21, 20]])
    assert batch_push(tags, ident, mask, distinct, push="margin", margin=1.0).item() == pytest.approx(0.25)
    # Clip 1's id1 is clip 0's id1 (one sequence, one person, global 11): that pair is not
    # pushed; 3 unordered pairs = 6 ordered remain, sum 2 * 0.5 = 1, batch push = 1 / 6.
    shared = torch.tensor([[10, 10, 11], [20, 11, 20]])
    value = batch_push(tags, ident, mask, shared, push="margin", margin=1.0)
    assert value.item() == pytest.approx(1 / 6)
    # Its gradient moves only the pushed pair (c0id0 at 0, c1id0 at 0.5): each ordered pair adds
    # (1 - (b - a)) / 6, so d/da = +1/6 and d/db = -1/6 per ordered pair, 2/6 on each mean, split
    # over its 2 tags: +1/6 on clip 0's id0 tags, -1/6 on clip 1's (descent moves them apart).
    tags.requires_grad_(True)
    batch_push(tags, ident, mask, shared, push="margin", margin=1.0).backward()
    assert tags.grad.flatten().tolist() == pytest.approx([1 / 6, 1 / 6, 0.0, -1 / 6, 0.0, -1 / 6])


def test_batch_push_exp_form_and_padding() -> None:
    # exp push, sigma 1: cross pairs d^2 = 0.25, 12.25, 6.25, 0.25 ->
    # mean of exp(-d^2 / 2) over 4 unordered pairs (ordered pairs double numerator and count).
    tags, ident, mask = _two_clips()
    distinct = torch.tensor([[10, 10, 11], [20, 21, 20]])
    expected = (2 * math.exp(-0.125) + math.exp(-6.125) + math.exp(-3.125)) / 4
    assert batch_push(tags, ident, mask, distinct).item() == pytest.approx(expected, rel=1e-6)
    # A padded slot (ident -1) changes nothing whatever its tag and global id.
    padded_tags = torch.cat([tags, torch.full((2, 1, 1), 99.0)], dim=1)
    padded_ident = torch.cat([ident, torch.full((2, 1), -1)], dim=1)
    padded_gid = torch.cat([distinct, torch.full((2, 1), -1)], dim=1)
    value = batch_push(padded_tags, padded_ident, padded_ident >= 0, padded_gid)
    assert value.item() == pytest.approx(expected, rel=1e-6)


def test_batch_push_single_clip_is_zero_and_rejects_inconsistent_ids() -> None:
    tags, ident, mask = _two_clips()
    one = batch_push(tags[:1].requires_grad_(True), ident[:1], mask[:1], torch.tensor([[10, 10, 11]]))
    assert one.item() == 0.0 and one.requires_grad  # no pair from two clips: 0 with a graph
    with pytest.raises(ValueError, match="several global"):
        batch_push(tags, ident, mask, torch.tensor([[10, 12, 11], [20, 21, 20]]))


def _two_tiny_clips(weight: float) -> dict[str, torch.Tensor]:
    """_tiny_clip's targets for two clips; clip 1's tag maps hold id0 at 1 and id1 at 5.
    Global identities: clip 0 ids 0, 1 -> 10, 11; clip 1 ids 0, 1 -> 20, 11 (id1 shared)."""
    (out0,), targets = _tiny_clip()
    out1 = dict(out0, tags=torch.tensor([[1.0, 9.0], [9.0, 5.0], [9.0, 1.0], [5.0, 9.0]]).view(2, 1, 2, 2))
    outputs = [{k: torch.cat([out0[k], out1[k]]) for k in out0}]
    batch = {k: torch.cat([v, v]) for k, v in targets.items()}  # (B=2, T=2, ...)
    lut = torch.tensor([[10, 11], [20, 11]])
    ident = batch["ident"]
    batch["global_ident"] = torch.where(ident >= 0, torch.gather(lut, 1, ident.clamp(min=0).flatten(1)).view_as(ident), -1)
    return compute_losses(outputs, batch, cfg=LossConfig(batch_push_weight=weight))


def test_compute_losses_batch_push_by_hand() -> None:
    # Clip means: clip 0 id0 0.5, id1 3 (as _tiny_clip); clip 1 id0 1, id1 5 (pull 0).
    # Clip push (exp, sigma 1): (exp(-2.5^2 / 2) + exp(-4^2 / 2)) / 2 clips.
    # Batch push: cross pairs 0.5-1 (d^2 0.25), 0.5-5 (20.25), 3-1 (4); 3-5 share global id 11.
    clip_push = (math.exp(-3.125) + math.exp(-8.0)) / 2
    cross = (math.exp(-0.125) + math.exp(-10.125) + math.exp(-2.0)) / 3
    off, on = _two_tiny_clips(0.0), _two_tiny_clips(0.5)
    for losses in (off, on):
        assert losses["push"].item() == pytest.approx(clip_push, rel=1e-6)
        assert losses["batch_push"].item() == pytest.approx(cross, rel=1e-6)  # measured either way
        assert losses["pull"].item() == pytest.approx(0.125 / 2, rel=1e-6)  # clip 0's 0.125, clip 1's 0
    # Off: the total is the clip-local loss; on: plus 0.5 * the batch push.
    assert not off["batch_push"].requires_grad
    assert on["total"].item() == pytest.approx(off["total"].item() + 0.5 * cross, rel=1e-6)
