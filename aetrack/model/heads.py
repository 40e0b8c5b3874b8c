"""Prediction heads shared by all backbones: heatmap, size, offset and tags at the output stride.

Each head is 3x3 conv -> ReLU -> 1x1 conv on the output-stride feature map and returns raw values;
losses (:mod:`aetrack.losses`) and decoding (:mod:`aetrack.decode`) interpret them:

- ``heatmap`` (B, C, h, w): centre logits, one channel per class; sigmoid gives the score.
- ``size``    (B, 2, h, w): natural log of the box (w, h) in input pixels, so that
  ``w = exp(size[0])`` (see :func:`aetrack.model.targets.decode_size`). A log scale makes the
  L1 loss a relative error, the same for a 20 px and a 300 px person.
- ``offset``  (B, 2, h, w): (dx, dy) of the exact centre from the cell's top-left corner,
  in cells; trained towards targets in [0, 1), left unbounded (linear) as in CenterNet.
- ``tags``    (B, D, h, w): the associative-embedding tag of each cell.
"""

from __future__ import annotations

from torch import Tensor, nn

# Heatmap bias at initialisation: sigmoid(-2.19) = 0.10, a prior of 10% "centre" everywhere, so
# the focal loss of the many background cells does not swamp the first updates (CenterNet).
HEATMAP_BIAS_INIT = -2.19

HEAD_NAMES = ("heatmap", "size", "offset", "tags")


def _head(
    in_channels: int, hidden: int, out_channels: int, *, bias_init: float = 0.0, depthwise: bool = False
) -> nn.Sequential:
    final = nn.Conv2d(hidden, out_channels, kernel_size=1)
    nn.init.constant_(final.bias, bias_init)
    if depthwise:  # 3x3 per channel, then 1x1 across: ~1/9 of a full 3x3 conv's cost
        first: list[nn.Module] = [
            nn.Conv2d(in_channels, in_channels, kernel_size=3, padding=1, groups=in_channels),
            nn.Conv2d(in_channels, hidden, kernel_size=1),
        ]
    else:
        first = [nn.Conv2d(in_channels, hidden, kernel_size=3, padding=1)]
    return nn.Sequential(*first, nn.ReLU(inplace=True), final)


class Heads(nn.Module):
    """The four heads on one (B, in_channels, h, w) feature map; returns a dict of raw maps.

    ``depthwise``: each head's 3x3 conv is depthwise followed by a 1x1 (the yolox_nano model,
    whose stride-4/8 maps are costly on a CPU); otherwise a full 3x3 conv.
    """

    def __init__(
        self, *, in_channels: int, head_channels: int, num_classes: int, tag_dim: int, depthwise: bool = False
    ) -> None:
        super().__init__()
        for name, value in (
            ("in_channels", in_channels),
            ("head_channels", head_channels),
            ("num_classes", num_classes),
            ("tag_dim", tag_dim),
        ):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        self.out_channels = {"heatmap": num_classes, "size": 2, "offset": 2, "tags": tag_dim}
        self.heads = nn.ModuleDict(
            {
                name: _head(
                    in_channels, head_channels, n, bias_init=HEATMAP_BIAS_INIT if name == "heatmap" else 0.0,
                    depthwise=depthwise,
                )
                for name, n in self.out_channels.items()
            }
        )

    @property
    def total_channels(self) -> int:
        """Channels of all heads' outputs together (C + 2 + 2 + D), for the hourglass remap."""
        return sum(self.out_channels.values())

    def forward(self, features: Tensor) -> dict[str, Tensor]:
        """(B, in_channels, h, w) -> {"heatmap": (B, C, h, w), "size": (B, 2, h, w), ...}."""
        return {name: head(features) for name, head in self.heads.items()}
