"""The real-world network: YOLOX-nano whole, with an associative-embedding tag branch beside its head.

YOLOX-nano (:mod:`aetrack.model.yolox`: CSPDarknet backbone, PAFPN neck and the COCO-trained
decoupled head, weights read from the authors' ONNX file by :mod:`aetrack.model.pretrained`) is
the detection branch, unchanged: its objectness x class probability at every cell of strides
8, 16 and 32 is the per-class centre heatmap, its regression the boxes. Beside the head sits the
tag branch, reading maps of the same trunk (``ModelConfig.tag_stages``)::

    image (3 @ /1) ----avg pool---> 1x1 --+
    dark2 (32 @ /4) ---avg pool---> 1x1 --+
    dark3 (64 @ /8) --------------> 1x1 --+-- sum, ReLU -> [dw 3x3 + 1x1, ReLU] x depth -> 1x1 -> tags (D @ /s)
    p3 (64 @ /8) -----------------> 1x1 --+
    p4 (128 @ /16) ---1x1--> repeat up x2 +

A map finer than the tag stride s is averaged down to it and a coarser one repeated up; each
stage's 1x1 projection commutes with both, so :meth:`YoloxTagNet.tag_inputs` (the maps already
at or below the tag resolution) is all a feature cache has to store to train the branch
without running the trunk again. The early stages and the image keep colour and texture,
which identity needs and YOLOX's late features were trained to drop.

Input: the :class:`~aetrack.model.Detector` convention, BGR in [0, 1]; this network scales it
to YOLOX's 0-255 BGR itself. Output: ``[{"cells": (B, N, 4 + 1 + C), "tags": (B, D, H/s, W/s)}]``
(``cells`` as :meth:`YoloxNano.forward` returns them, see :mod:`aetrack.model.yolox`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aetrack.model.config import TAG_STAGES, ModelConfig
from aetrack.model.yolox import YoloxNano


class TagBranch(nn.Module):
    """Tag maps from trunk maps: ``{stage: (B, c, h_s, w_s)}`` -> (B, D, H/s, W/s).

    The inputs are what :meth:`YoloxTagNet.tag_inputs` returns: stages finer than ``stride``
    already averaged down to it, coarser ones at their own resolution.
    """

    def __init__(self, *, stages: tuple[str, ...], stride: int, channels: int, depth: int, tag_dim: int) -> None:
        super().__init__()
        self.stages = stages
        self.stride = stride
        self.project = nn.ModuleDict({s: nn.Conv2d(TAG_STAGES[s][0], channels, 1) for s in stages})
        blocks: list[nn.Module] = []
        for _ in range(depth):
            blocks += [nn.Conv2d(channels, channels, 3, padding=1, groups=channels), nn.Conv2d(channels, channels, 1),
                       nn.ReLU(inplace=True)]
        self.blocks = nn.Sequential(*blocks)
        self.out = nn.Conv2d(channels, tag_dim, 1)

    def forward(self, inputs: dict[str, Tensor]) -> Tensor:
        size = None  # (h, w) of the tag map: that of a stage at the tag stride
        for s in self.stages:
            if TAG_STAGES[s][1] <= self.stride:
                size = inputs[s].shape[-2:]
                break
        x = None
        for s in self.stages:
            y = self.project[s](inputs[s])  # (B, C, h_s, w_s)
            if size is not None and y.shape[-2:] != size:
                y = F.interpolate(y, size=size, mode="nearest")  # coarser stage: repeat up
            x = y if x is None else x + y
        return self.out(self.blocks(F.relu(x)))


class YoloxTagNet(nn.Module):
    """(B, 3, H, W) BGR in [0, 1], H and W multiples of 32 -> [{"cells", "tags"}] (module docstring)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.stride = cfg.stride
        self.stages = cfg.tag_stages
        self.yolox = YoloxNano(num_classes=cfg.num_classes)
        self.tags = TagBranch(stages=cfg.tag_stages, stride=cfg.stride, channels=cfg.head_channels,
                              depth=cfg.tag_depth, tag_dim=cfg.tag_dim)
        # True: the detection branch runs without gradients (train.backbone_lr 0: only tags train).
        self.frozen_backbone = False

    def pretrained_modules(self) -> dict[str, nn.Module]:
        """The detection branch (trunk and COCO head): what YOLOX-nano's weights fill and a
        frozen training run leaves alone."""
        return {"yolox": self.yolox}

    def trunk(self, x: Tensor, stages: tuple[str, ...] | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        """BGR in [0, 1] -> (detection rows (B, N, 4 + 1 + C), the maps of ``stages`` (default:
        those the tag branch reads) at the tag stride or coarser)."""
        x = x * 255.0  # YOLOX takes BGR 0-255
        b = self.yolox.backbone
        maps: dict[str, Tensor] = {"image": x / 255.0 - 0.5}
        maps["stem"] = b.stem(x)  # (B, 16, H/2, W/2)
        maps["dark2"] = b.dark2(maps["stem"])  # (B, 32, H/4, W/4)
        maps["dark3"] = b.dark3(maps["dark2"])  # (B, 64, H/8, W/8)
        maps["dark4"] = b.dark4(maps["dark3"])  # (B, 128, H/16, W/16)
        maps["dark5"] = b.dark5(maps["dark4"])  # (B, 256, H/32, W/32)
        p3, p4, p5 = self.yolox.neck((maps["dark3"], maps["dark4"], maps["dark5"]))
        maps.update(p3=p3, p4=p4, p5=p5)
        rows = self.yolox.forward_head((p3, p4, p5))
        return rows, {s: self._to_tag_stride(s, maps[s]) for s in (stages or self.stages)}

    def _to_tag_stride(self, stage: str, m: Tensor) -> Tensor:
        ratio = self.stride // TAG_STAGES[stage][1]
        return F.avg_pool2d(m, ratio) if ratio > 1 else m

    def tag_inputs(self, x: Tensor, stages: tuple[str, ...] | None = None) -> dict[str, Tensor]:
        """The maps of ``stages`` (default: those the tag branch reads) as the branch takes them,
        for BGR in [0, 1]: what a feature cache stores."""
        return self.trunk(x, stages)[1]

    def forward(self, x: Tensor) -> list[dict[str, Tensor]]:
        if x.ndim != 4 or x.shape[1] != 3 or x.shape[2] % 32 or x.shape[3] % 32:
            raise ValueError(f"expected (B, 3, H, W) with H and W multiples of 32, got {tuple(x.shape)}")
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen_backbone):
            rows, inputs = self.trunk(x)
        return [{"cells": rows, "tags": self.tags(inputs)}]

