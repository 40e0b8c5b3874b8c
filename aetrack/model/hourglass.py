"""The stacked hourglass of the associative-embedding paper (Newell, Huang & Deng 2017).

Layout, following "Stacked Hourglass Networks" (Newell, Yang & Deng 2016) with ``f`` channels
(256 in the papers, ``ModelConfig.hourglass_channels`` here):

- stem to stride 4: 7x7 stride-2 conv (f/4) -> residual (f/2) -> 2x2 max-pool -> residual
  (f/2) -> residual (f);
- ``stacks`` hourglass modules of depth 4 (stride 4 down to stride 64 and back; every level
  keeps a residual skip branch at its own resolution and adds the upsampled lower branch);
- after each hourglass: residual -> 1x1 conv + BN + ReLU gives the stack's features, and the
  shared-design heads (:class:`aetrack.model.heads.Heads`) predict from them;
- between stacks the paper's remap-and-add: ``x_next = x + conv1x1(features) +
  conv1x1(concat(predictions))``, so the next stack refines the previous prediction.

Every stack returns its own prediction dict; the loss sums over all of them (intermediate
supervision) and decoding uses the last one. Odd sizes are handled (max-pool rounds up, the
upsampling matches the skip branch's size), so any input with H, W multiples of 4 works.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aetrack.model.heads import Heads

# Number of downsamplings inside one hourglass (stride 4 -> 64), as in both papers.
HOURGLASS_DEPTH = 4


class Residual(nn.Module):
    """Pre-activation bottleneck residual module: (B, in, h, w) -> (B, out, h, w).

    BN-ReLU-conv1x1(out/2) -> BN-ReLU-conv3x3(out/2) -> BN-ReLU-conv1x1(out), plus the input
    (through a 1x1 conv when the channel count changes).
    """

    def __init__(self, *, in_channels: int, out_channels: int) -> None:
        super().__init__()
        if in_channels < 1 or out_channels < 2:
            raise ValueError(
                f"need in_channels >= 1 and out_channels >= 2, got {in_channels}, {out_channels}"
            )
        mid = out_channels // 2
        self.body = nn.Sequential(
            nn.BatchNorm2d(in_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(in_channels, mid, kernel_size=1, bias=False),
            nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, mid, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, out_channels, kernel_size=1),
        )
        self.skip: nn.Module = (
            nn.Identity()
            if in_channels == out_channels
            else nn.Conv2d(in_channels, out_channels, kernel_size=1)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x) + self.skip(x)


class Hourglass(nn.Module):
    """One hourglass of the given depth: (B, c, h, w) -> (B, c, h, w), recursing at half size."""

    def __init__(self, *, depth: int, channels: int) -> None:
        super().__init__()
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        self.skip = Residual(in_channels=channels, out_channels=channels)
        self.down = Residual(in_channels=channels, out_channels=channels)
        self.inner: nn.Module = (
            Hourglass(depth=depth - 1, channels=channels)
            if depth > 1
            else Residual(in_channels=channels, out_channels=channels)
        )
        self.up = Residual(in_channels=channels, out_channels=channels)

    def forward(self, x: Tensor) -> Tensor:
        skip = self.skip(x)  # (B, c, h, w)
        low = F.max_pool2d(x, kernel_size=2, stride=2, ceil_mode=True)  # (B, c, ceil(h/2), ceil(w/2))
        low = self.up(self.inner(self.down(low)))
        return skip + F.interpolate(low, size=skip.shape[-2:], mode="nearest")


class StackedHourglass(nn.Module):
    """(B, 3, H, W) normalised image -> one prediction dict per stack, maps at (H/4, W/4)."""

    def __init__(
        self, *, channels: int, stacks: int, head_channels: int, num_classes: int, tag_dim: int
    ) -> None:
        super().__init__()
        if channels < 4 or channels % 4:
            raise ValueError(f"channels must be a positive multiple of 4, got {channels}")
        if stacks < 1:
            raise ValueError(f"stacks must be >= 1, got {stacks}")
        f = channels
        self.stem = nn.Sequential(
            nn.Conv2d(3, f // 4, kernel_size=7, stride=2, padding=3, bias=False),  # stride 2
            nn.BatchNorm2d(f // 4),
            nn.ReLU(inplace=True),
            Residual(in_channels=f // 4, out_channels=f // 2),
            nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=True),  # stride 4
            Residual(in_channels=f // 2, out_channels=f // 2),
            Residual(in_channels=f // 2, out_channels=f),
        )
        self.hourglasses = nn.ModuleList(Hourglass(depth=HOURGLASS_DEPTH, channels=f) for _ in range(stacks))
        self.features = nn.ModuleList(
            nn.Sequential(
                Residual(in_channels=f, out_channels=f),
                nn.Conv2d(f, f, kernel_size=1, bias=False),
                nn.BatchNorm2d(f),
                nn.ReLU(inplace=True),
            )
            for _ in range(stacks)
        )
        self.heads = nn.ModuleList(
            Heads(in_channels=f, head_channels=head_channels, num_classes=num_classes, tag_dim=tag_dim)
            for _ in range(stacks)
        )
        pred_channels = self.heads[0].total_channels
        # Remap-and-add between consecutive stacks (none after the last one).
        self.remap_features = nn.ModuleList(nn.Conv2d(f, f, kernel_size=1) for _ in range(stacks - 1))
        self.remap_predictions = nn.ModuleList(
            nn.Conv2d(pred_channels, f, kernel_size=1) for _ in range(stacks - 1)
        )

    def forward(self, x: Tensor) -> list[dict[str, Tensor]]:
        x = self.stem(x)  # (B, f, H/4, W/4)
        outputs: list[dict[str, Tensor]] = []
        for i, (hourglass, features, heads) in enumerate(zip(self.hourglasses, self.features, self.heads)):
            feat = features(hourglass(x))  # (B, f, H/4, W/4)
            preds = heads(feat)
            outputs.append(preds)
            if i < len(self.remap_features):
                stacked = torch.cat([preds[name] for name in heads.out_channels], dim=1)  # (B, C+4+D, ...)
                x = x + self.remap_features[i](feat) + self.remap_predictions[i](stacked)
        return outputs
