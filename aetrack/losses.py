"""Training losses: focal heatmap loss, L1 size/offset, and the temporal associative embedding.

The associative-embedding (AE) loss follows DESIGN.md. For one clip, let ``h[t, n]`` be the
D-dim tag at identity n's centre cell in frame t, ``S_n`` the frames where n is present and N
the number of identities in the clip:

    hbar[n] = 1/|S_n| sum_{t in S_n} h[t, n]
    pull    = 1/N sum_n 1/|S_n| sum_{t in S_n} ||h[t, n] - hbar[n]||^2
    push    = 1/(N(N-1)) sum_{n != m} exp(-||hbar[n] - hbar[m]||^2 / (2 sigma^2))        ("exp")
            = 1/(N(N-1)) sum_{n != m} max(0, margin - ||hbar[n] - hbar[m]||)              ("margin")

Pull is averaged over the clips with at least one identity, push over the clips with at least
two.

Hard negatives across the batch (``LossConfig.batch_push_weight`` > 0, :func:`batch_push`):
two look-alikes that never share a clip are never pushed apart by the push above. The batch
push compares the mean tags of identities of *different* clips of the batch, with the same
push form:

    batch push = 1/P sum_{(c, n), (c', m): c != c', g(c, n) != g(c', m)} push(hbar_c[n], hbar_c'[m])

where ``hbar_c[n]`` is the mean tag of identity n over clip c (as above), ``g`` its global
identity (sequence and object id, :class:`aetrack.data.clips.ClipDataset`) and P the number of
such ordered pairs. Clips of one sequence show the same people: a pair with one global identity
is never pushed. Pull stays within each clip: the clips of a batch have different augmentations
(zoom, flip, colour), and the linker compares tags within one video, so asking one person's
tags to agree across clips would train an invariance tracking does not use, and it would change
two things at once in the measurement of what hard negatives buy. The within-clip push keeps its
own average and weight, so turning the batch push on adds the cross-clip pairs rather than
diluting the within-clip ones (in a batch of 4 clips most pairs are cross-clip ones).

With ``LossConfig.temporal = False`` every (clip, frame) is its own group set (the
spatial-only loss of the AE paper with one appearance per object): each identity then appears
once per group, so pull is exactly 0 and push only separates objects within one frame; this is
the ablation that shows what the temporal grouping adds.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from aetrack.model.targets import gather_at_cells, read_tags

PUSH_KINDS = ("exp", "margin")

# Smallest squared tag distance passed to sqrt in the margin push: keeps the gradient finite
# when two identities have identical mean tags (sqrt'(0) is infinite).
_MIN_SQ_DIST = 1e-12


@dataclass(frozen=True)
class LossConfig:
    """Weights and shape parameters of the training loss (stored with the training config)."""

    # Weight of the penalty-reduced focal loss on the centre heatmap.
    heatmap_weight: float = 1.0
    # Weight of the L1 loss on ln(w), ln(h) at centres. CenterNet's 0.1 is for sizes in pixels
    # (errors of several units); on ln(size) the error is ~0.1, so 0.1 left boxes loose. 3.0
    # measured best of 0.1 / 1 / 3 (and 5 with offset 2) in 1200-step runs (history: `git show edcde83:BENCHMARKS.md`).
    size_weight: float = 3.0
    # Weight of the L1 loss on the sub-cell centre offset at centres (cells).
    offset_weight: float = 1.0
    # Weight of the AE pull term (one object's tags agree across the clip).
    pull_weight: float = 1.0
    # Weight of the AE push term (different objects' mean tags differ).
    push_weight: float = 1.0
    # Push form: "exp" (DESIGN.md, bounded, smooth) or "margin" (CornerNet's hinge).
    push: str = "exp"
    # Bandwidth of the exp push, in tag units: pairs much farther than sigma stop pushing.
    sigma: float = 1.0
    # Margin of the hinge push, in tag units (CornerNet uses 1).
    margin: float = 1.0
    # True: one group set per clip (temporal AE); False: one per frame (spatial-only ablation).
    temporal: bool = True
    # Weight of the batch push (module docstring): the push between identities of different
    # clips of the batch, hard negatives that never meet in one clip. 0 = off (DESIGN.md's
    # clip-local loss); its value is still logged when the batch carries global identities.
    batch_push_weight: float = 0.0
    # Focal loss exponent on (1 - p) for positives and p for negatives (CornerNet/CenterNet: 2).
    focal_alpha: float = 2.0
    # Focal loss exponent of the penalty reduction (1 - y)^beta near centres (CenterNet: 4).
    focal_beta: float = 4.0

    def __post_init__(self) -> None:
        for name in (
            "heatmap_weight",
            "size_weight",
            "offset_weight",
            "pull_weight",
            "push_weight",
            "batch_push_weight",
            "focal_alpha",
            "focal_beta",
        ):
            value = getattr(self, name)
            if not value >= 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        if self.push not in PUSH_KINDS:
            raise ValueError(f"push must be one of {', '.join(PUSH_KINDS)}, got {self.push!r}")
        if not self.sigma > 0:
            raise ValueError(f"sigma must be > 0, got {self.sigma}")
        if not self.margin > 0:
            raise ValueError(f"margin must be > 0, got {self.margin}")


def focal_loss(
    logits: Tensor,
    target: Tensor,
    *,
    num_objects: Tensor | float,
    alpha: float = 2.0,
    beta: float = 4.0,
    ignore: Tensor | None = None,
) -> Tensor:
    """Penalty-reduced pixel-wise focal loss (CornerNet/CenterNet), summed and divided by objects.

    logits, target: (N, C, h, w); target is 1 exactly at centres and a Gaussian bump around.
    With p = sigmoid(logits): positives add -(1 - p)^alpha log p, every other cell adds
    -(1 - y)^beta p^alpha log(1 - p), except cells where ``ignore`` (bool, broadcast to the
    logits, e.g. (N, 1, h, w)) is set: they add nothing. The sum is divided by
    ``num_objects`` (at least 1).
    """
    x = logits.float()
    y = target.float()
    pos = y.eq(1.0)
    p = torch.sigmoid(x)
    pos_term = (1 - p).pow(alpha) * F.logsigmoid(x)
    neg_term = (1 - y).pow(beta) * p.pow(alpha) * F.logsigmoid(-x)
    if ignore is not None:
        neg_term = neg_term.masked_fill(ignore.bool(), 0.0)
    total = torch.where(pos, pos_term, neg_term).sum()
    denom = torch.as_tensor(num_objects, dtype=total.dtype, device=total.device).clamp(min=1.0)
    return -total / denom


def masked_l1(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Mean absolute error over the masked entries: pred, target (N, K, 2), mask (N, K) bool.

    Divided by the number of masked scalars (2 per object), so it is the mean per coordinate.
    """
    m = mask[..., None].to(pred.dtype)  # (N, K, 1)
    total = ((pred.float() - target.float()).abs() * m).sum()
    return total / (m.sum() * pred.shape[-1]).clamp(min=1.0)


def _check_ae_args(tags: Tensor, ident: Tensor, mask: Tensor, *, push: str, sigma: float, margin: float) -> None:
    if push not in PUSH_KINDS:
        raise ValueError(f"push must be one of {', '.join(PUSH_KINDS)}, got {push!r}")
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    if not margin > 0:
        raise ValueError(f"margin must be > 0, got {margin}")
    if tags.ndim != 3 or ident.shape != tags.shape[:2] or mask.shape != tags.shape[:2]:
        raise ValueError(
            f"expected tags (B, L, D), ident (B, L), mask (B, L); got {tuple(tags.shape)}, "
            f"{tuple(ident.shape)}, {tuple(mask.shape)}"
        )


def _clip_means(x: Tensor, ident: Tensor, valid: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Per-clip identity slots and mean tags.

    x (B, L, D) float, ident (B, L), valid (B, L) bool with at least one True. Identity values
    are compacted to slots 0..M-1 shared by the batch (a slot is one identity per clip).
    Returns ``onehot`` (B, L, M) (0 on invalid entries), ``slot`` (B, L) int64 (0 on invalid
    entries), ``counts`` (B, M) = |S_n| (0 for identities absent from the clip) and ``hbar``
    (B, M, D) mean tags (0 where absent).
    """
    _, compact = torch.unique(ident[valid], return_inverse=True)
    num_slots = int(compact.max()) + 1
    slot = torch.zeros_like(ident)
    slot[valid] = compact
    onehot = F.one_hot(slot, num_slots).to(x.dtype) * valid[..., None].to(x.dtype)  # (B, L, M)
    counts = onehot.sum(dim=1)  # (B, M)
    hbar = torch.einsum("blm,bld->bmd", onehot, x) * (1.0 / counts.clamp(min=1.0))[..., None]  # (B, M, D)
    return onehot, slot, counts, hbar


def _push_value(d2: Tensor, *, push: str, sigma: float, margin: float) -> Tensor:
    """Push of each pair from its squared mean-tag distance ``d2`` (any shape)."""
    if push == "exp":
        return torch.exp(-d2 / (2.0 * sigma * sigma))
    return F.relu(margin - d2.clamp(min=_MIN_SQ_DIST).sqrt())


def ae_loss(
    tags: Tensor, ident: Tensor, mask: Tensor, *, push: str = "exp", sigma: float = 1.0, margin: float = 1.0
) -> tuple[Tensor, Tensor]:
    """(pull, push) of the associative-embedding loss, per group set then averaged (see module).

    Args:
        tags: (B, L, D) tags gathered at object centres; for the temporal loss L = T*K (all
            frames of one clip in one group set), for the spatial loss L = K (one frame).
        ident: (B, L) int64 identity within the group set; entries < 0 are ignored.
        mask: (B, L) bool, False entries are ignored.

    Vectorised over identities with a one-hot over the distinct identity values of the batch
    (at most L of them): no Python loop. Returns two scalars; both are 0 (with a graph to
    ``tags``) when no group set has enough identities.
    """
    _check_ae_args(tags, ident, mask, push=push, sigma=sigma, margin=margin)
    x = tags.float()
    valid = mask.bool() & (ident >= 0)  # (B, L)
    zero = x.sum() * 0.0
    if not bool(valid.any()):
        return zero, zero
    onehot, _, counts, hbar = _clip_means(x, ident, valid)
    present = counts > 0  # (B, M)
    n_ids = present.sum(dim=1)  # (B,) N per clip
    inv_counts = 1.0 / counts.clamp(min=1.0)  # (B, M)

    # Pull: each appearance's squared distance to its identity's mean, weighted 1/|S_n|.
    own_mean = torch.einsum("blm,bmd->bld", onehot, hbar)  # (B, L, D), 0 where invalid
    own_weight = torch.einsum("blm,bm->bl", onehot, inv_counts)  # (B, L), 0 where invalid
    sq = (x - own_mean).pow(2).sum(dim=-1)  # (B, L)
    pull_per_clip = (sq * own_weight).sum(dim=1) / n_ids.clamp(min=1)  # (B,)
    has_one = n_ids >= 1
    pull = (pull_per_clip * has_one).sum() / has_one.sum().clamp(min=1)

    # Push: all ordered pairs n != m of identities present in the clip.
    d2 = (hbar[:, :, None, :] - hbar[:, None, :, :]).pow(2).sum(dim=-1)  # (B, M, M)
    eye = torch.eye(hbar.shape[1], dtype=torch.bool, device=x.device)
    pairs = present[:, :, None] & present[:, None, :] & ~eye  # (B, M, M)
    value = _push_value(d2, push=push, sigma=sigma, margin=margin)
    num_pairs = (n_ids * (n_ids - 1)).clamp(min=1)  # (B,) N(N-1)
    push_per_clip = (value * pairs).sum(dim=(1, 2)) / num_pairs  # (B,)
    has_two = n_ids >= 2
    push_value = (push_per_clip * has_two).sum() / has_two.sum().clamp(min=1)
    return pull, push_value


def batch_push(
    tags: Tensor, ident: Tensor, mask: Tensor, global_ident: Tensor, *, push: str = "exp", sigma: float = 1.0,
    margin: float = 1.0,
) -> Tensor:
    """Push between identities of different clips of the batch (hard negatives; see module).

    Args:
        tags, ident, mask: as :func:`ae_loss` (B group sets, one per clip, L = T*K).
        global_ident: (B, L) int64 identity across the whole dataset (sequence and object id,
            :class:`aetrack.data.clips.ClipDataset`); within one clip, one ``ident`` value must
            have one ``global_ident`` value.

    Every ordered pair of (clip, identity) mean tags from two different clips whose global
    identities differ is pushed with the same form as :func:`ae_loss`; the value is the mean
    over those pairs (0, with a graph to ``tags``, when there are none). Pairs within one clip
    are :func:`ae_loss`'s and are not repeated here.
    """
    _check_ae_args(tags, ident, mask, push=push, sigma=sigma, margin=margin)
    if global_ident.shape != ident.shape:
        raise ValueError(f"global_ident {tuple(global_ident.shape)} must have the shape of ident {tuple(ident.shape)}")
    x = tags.float()
    valid = mask.bool() & (ident >= 0)  # (B, L)
    zero = x.sum() * 0.0
    if not bool(valid.any()):
        return zero
    _, slot, counts, hbar = _clip_means(x, ident, valid)
    b, m = counts.shape
    # Global identity of each (clip, slot): every appearance writes it; they must agree.
    clip_index = torch.arange(b, device=x.device)[:, None].expand_as(ident)  # (B, L)
    flat = (clip_index * m + slot)[valid]  # (V,) index into B*M
    gid = global_ident[valid].to(torch.int64)
    lo = torch.full((b * m,), torch.iinfo(torch.int64).max, dtype=torch.int64, device=x.device)
    hi = torch.full((b * m,), torch.iinfo(torch.int64).min, dtype=torch.int64, device=x.device)
    lo = lo.scatter_reduce(0, flat, gid, reduce="amin")
    hi = hi.scatter_reduce(0, flat, gid, reduce="amax")
    present = counts.reshape(-1) > 0  # (B*M,)
    if bool((lo[present] != hi[present]).any()):
        raise ValueError("global_ident: one identity of a clip has several global identities")
    means = hbar.reshape(b * m, -1)[present]  # (P, D), P = identities over all clips
    g = lo[present]  # (P,)
    c = torch.arange(b, device=x.device).repeat_interleave(m)[present]  # (P,) clip of each
    d2 = (means[:, None, :] - means[None, :, :]).pow(2).sum(dim=-1)  # (P, P)
    pairs = (c[:, None] != c[None, :]) & (g[:, None] != g[None, :])  # (P, P)
    value = _push_value(d2, push=push, sigma=sigma, margin=margin)
    return (value * pairs).sum() / pairs.sum().clamp(min=1)


def compute_losses(
    outputs: list[dict[str, Tensor]], targets: dict[str, Tensor], *, cfg: LossConfig, stride: int = 4,
    tag_readout: str = "centre",
) -> dict[str, Tensor]:
    """All loss terms, summed over stacks (intermediate supervision), and their weighted total.

    Args:
        outputs: one dict per stack from :class:`aetrack.model.Detector` for B*T images in
            clip-major order (image b*T + t is frame t of clip b). A dict holds heatmap maps,
            or YOLOX's ``cells`` (yolox_nano); a dict of ``tags`` alone (the tag branch run on
            cached trunk features) adds only the tag terms. YOLOX's terms
            (:func:`aetrack.yolox_loss.yolox_loss`) are computed when ``cells`` carries
            gradients (the detection branch trains) and reported as "heatmap" (objectness and
            class: the per-class centre heatmap), "size" (box IoU) and "offset" (0).
        stride: input pixels per cell of the maps (``ModelConfig.stride``).
        tag_readout: where an object's tag is read (``ModelConfig.tag_readout``).
        targets: collated :func:`aetrack.model.build_targets` tensors with leading (B, T):
            heatmap (B, T, C, h, w), ind/mask/ident (B, T, K), size/offset (B, T, K, 2), and
            optionally ignore (B, T, 1, h, w): heatmap cells without negative loss, and
            global_ident (B, T, K) int64: identities across the dataset (needed when
            ``cfg.batch_push_weight`` > 0).

    Returns scalars "total", "heatmap", "size", "offset", "pull", "push", "batch_push" (each
    term unweighted and summed over stacks; "total" is the weighted sum). "batch_push" is
    measured whenever the targets hold global_ident (a detached 0 otherwise) and is part of
    "total" only with its weight.
    """
    if not outputs:
        raise ValueError("outputs must hold at least one stack")
    ind = targets["ind"]
    if ind.ndim != 3:
        raise ValueError(f"targets['ind'] must be (B, T, K), got {tuple(ind.shape)}")
    b, t, k = ind.shape
    heat_t = targets["heatmap"].flatten(0, 1) if "heatmap" in targets else None  # (B*T, C, h, w)
    ind_f = ind.reshape(b * t, k)
    mask_f = targets["mask"].reshape(b * t, k).bool()
    ident_f = targets["ident"].reshape(b * t, k)
    num_objects = mask_f.sum()
    ignore_t = targets["ignore"].flatten(0, 1) if "ignore" in targets else None  # (B*T, 1, h, w)
    gident_f = targets["global_ident"].reshape(b * t, k) if "global_ident" in targets else None
    if cfg.batch_push_weight > 0 and gident_f is None:
        raise ValueError("loss.batch_push_weight > 0 needs targets['global_ident'] (from ClipDataset)")

    names = ("heatmap", "size", "offset", "pull", "push", "batch_push")
    terms = {name: torch.zeros((), device=ind.device) for name in names}
    for i, out in enumerate(outputs):
        if "heatmap" in out:
            if heat_t is None or out["heatmap"].shape != heat_t.shape:
                raise ValueError(
                    f"stack {i}: heatmap {tuple(out['heatmap'].shape)} does not match targets "
                    f"{None if heat_t is None else tuple(heat_t.shape)} (outputs must be B*T images in clip-major order)"
                )
            terms["heatmap"] = terms["heatmap"] + focal_loss(
                out["heatmap"], heat_t, num_objects=num_objects, alpha=cfg.focal_alpha, beta=cfg.focal_beta,
                ignore=ignore_t,
            )
            size_t, offset_t = targets["size"].reshape(b * t, k, 2), targets["offset"].reshape(b * t, k, 2)
            terms["size"] = terms["size"] + masked_l1(gather_at_cells(out["size"], ind_f), size_t, mask_f)
            terms["offset"] = terms["offset"] + masked_l1(gather_at_cells(out["offset"], ind_f), offset_t, mask_f)
        elif "cells" in out and out["cells"].requires_grad:
            from aetrack.yolox_loss import BOX_WEIGHT, yolox_loss

            h, w = out["tags"].shape[-2:]
            det = yolox_loss(out["cells"], gt_boxes=targets["boxes"].reshape(b * t, k, 4),
                             gt_classes=targets["classes"].reshape(b * t, k), gt_mask=mask_f,
                             height=h * stride, width=w * stride)
            terms["heatmap"] = terms["heatmap"] + det["obj"] + det["cls"]
            terms["size"] = terms["size"] + BOX_WEIGHT * det["box"]
        if tag_readout == "centre":
            tags = gather_at_cells(out["tags"], ind_f)  # (B*T, K, D)
        else:
            tags = read_tags(out["tags"], targets["boxes"].reshape(b * t, k, 4), stride=stride, readout=tag_readout)
        # Group sets: (B, T*K) one per clip, or (B*T, K) one per frame (spatial-only).
        shape = (b, t * k) if cfg.temporal else (b * t, k)
        groups = (tags.reshape(*shape, -1), ident_f.reshape(shape), mask_f.reshape(shape))
        pull, push = ae_loss(*groups, push=cfg.push, sigma=cfg.sigma, margin=cfg.margin)
        terms["pull"] = terms["pull"] + pull
        terms["push"] = terms["push"] + push
        if gident_f is not None:
            cross = batch_push(*groups, gident_f.reshape(shape), push=cfg.push, sigma=cfg.sigma, margin=cfg.margin)
            terms["batch_push"] = terms["batch_push"] + (cross if cfg.batch_push_weight > 0 else cross.detach())
    terms["total"] = (
        cfg.heatmap_weight * terms["heatmap"]
        + cfg.size_weight * terms["size"]
        + cfg.offset_weight * terms["offset"]
        + cfg.pull_weight * terms["pull"]
        + cfg.push_weight * terms["push"]
    )
    if cfg.batch_push_weight > 0:
        terms["total"] = terms["total"] + cfg.batch_push_weight * terms["batch_push"]
    return terms
