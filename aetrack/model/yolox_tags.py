"""The real-world network: YOLOX-nano whole, with an associative-embedding tag branch beside its head.

YOLOX-nano (:mod:`aetrack.model.yolox`: CSPDarknet backbone, PAFPN neck and the COCO-trained
decoupled head, weights read from the authors' ONNX file by :mod:`aetrack.model.pretrained`) is
the detection branch, unchanged: its objectness x class probability at every cell of strides
8, 16 and 32 is the per-class centre heatmap, its regression the boxes. Beside the head sits the
tag branch, reading maps of the same trunk (``ModelConfig.tag_stages``), here at stride 8::

    image (3 @ /2) ---1x1, ReLU, mean 4x4 --+
    dark2 (32 @ /4) --1x1, ReLU, mean 2x2 --+
    dark3 (64 @ /8) --1x1 ------------------+-- sum, ReLU -> [dw 3x3 + 1x1, ReLU] x depth -> 1x1 -> tags (D @ /s)
    p3 (64 @ /8) -----1x1 ------------------+
    p4 (128 @ /16) ---1x1, repeat up x2 ----+

A map finer than the tag stride goes through its projection and a ReLU at its own resolution and
is then averaged over each tag cell: a learned soft histogram of the colours and textures inside
the cell, which identity needs and which YOLOX's late features were trained to drop (an average
first would keep only the cell's mean colour). :meth:`YoloxTagNet.tag_inputs` returns the maps at
their own strides: all a feature cache has to store to train the branch without the trunk.

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
    """Tag maps from trunk maps at their own strides: ``{stage: (B, c, H/s_k, W/s_k)}`` ->
    (B, D, H/s, W/s) (module docstring)."""

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
        x = None
        for s in sorted(self.stages, key=lambda k: TAG_STAGES[k][1]):  # finest first: it sets the size
            y = self.project[s](inputs[s])  # (B, C, H/s_k, W/s_k)
            ratio = self.stride // TAG_STAGES[s][1]
            if ratio > 1:  # finer than the tags: per-pixel features, averaged over each tag cell
                y = F.avg_pool2d(F.relu(y), ratio)
            elif x is not None and y.shape[-2:] != x.shape[-2:]:  # coarser: repeat up
                y = F.interpolate(y, size=x.shape[-2:], mode="nearest")
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
        those the tag branch reads) at their own strides)."""
        b = self.yolox.backbone
        maps: dict[str, Tensor] = {"image": F.avg_pool2d(x - 0.5, 2)}
        x = x * 255.0  # YOLOX takes BGR 0-255
        maps["stem"] = b.stem(x)  # (B, 16, H/2, W/2)
        maps["dark2"] = b.dark2(maps["stem"])  # (B, 32, H/4, W/4)
        maps["dark3"] = b.dark3(maps["dark2"])  # (B, 64, H/8, W/8)
        maps["dark4"] = b.dark4(maps["dark3"])  # (B, 128, H/16, W/16)
        maps["dark5"] = b.dark5(maps["dark4"])  # (B, 256, H/32, W/32)
        p3, p4, p5 = self.yolox.neck((maps["dark3"], maps["dark4"], maps["dark5"]))
        maps.update(p3=p3, p4=p4, p5=p5)
        rows = self.yolox.forward_head((p3, p4, p5))
        return rows, {s: maps[s] for s in (stages or self.stages)}

    def tag_inputs(self, x: Tensor, stages: tuple[str, ...] | None = None) -> dict[str, Tensor]:
        """The maps of ``stages`` (default: those the tag branch reads) as the branch takes them,
        for BGR in [0, 1]: what a feature cache stores."""
        return self.trunk(x, stages)[1]

    def tag_map(self, inputs: dict[str, Tensor]) -> Tensor:
        """The tag branch on :meth:`tag_inputs`' maps: (B, D, H/s, W/s)."""
        return self.tags(inputs)

    def forward(self, x: Tensor) -> list[dict[str, Tensor]]:
        if x.ndim != 4 or x.shape[1] != 3 or x.shape[2] % 32 or x.shape[3] % 32:
            raise ValueError(f"expected (B, 3, H, W) with H and W multiples of 32, got {tuple(x.shape)}")
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen_backbone):
            rows, inputs = self.trunk(x)
        return [{"cells": rows, "tags": self.tags(inputs)}]

