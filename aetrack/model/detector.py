"""The detector: normalisation, a backbone, heads; returns raw maps per stack.

Loss (:mod:`aetrack.losses`) and decoding (:mod:`aetrack.decode`) live outside the model.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from aetrack.model.config import ModelConfig
from aetrack.model.heads import Heads
from aetrack.model.hourglass import StackedHourglass
from aetrack.model.small import SmallBackbone
from aetrack.model.yolox_ae import YoloxAENet

# Per-channel input normalisation in BGR order (the ImageNet statistics, reordered): inputs are
# OpenCV frames / 255, so channel 0 is blue. No pretrained weights are used; any fixed
# normalisation would do, these keep the first layer's inputs near zero mean and unit spread.
BGR_MEAN = (0.406, 0.456, 0.485)
BGR_STD = (0.225, 0.224, 0.229)


class Detector(nn.Module):
    """Associative-embedding detector; see :mod:`aetrack.model.heads` for what the maps mean.

    ``forward(images)`` takes (B, 3, H, W) float32 in [0, 1], BGR channel order (OpenCV frames
    / 255), H and W multiples of 4 (yolox_nano: 32; the configured input size or any other),
    and returns one dict per stack (small and yolox_nano: a list of one; the last is the final
    prediction), maps at the output stride s (``cfg.stride``):

    - ``"heatmap"`` (B, C, H/s, W/s): centre logits (bias initialised to -2.19);
    - ``"size"``    (B, 2, H/s, W/s): ln of the box (w, h) in input pixels;
    - ``"offset"``  (B, 2, H/s, W/s): centre offset (dx, dy) from the cell corner, in cells;
    - ``"tags"``    (B, D, H/s, W/s): associative-embedding tags.

    Inputs are converted to channels-last memory layout inside: PyTorch's CPU convolutions are
    about 1.3-1.5x faster that way; shapes and values do not change.
    """

    def __init__(self, *, cfg: ModelConfig) -> None:
        super().__init__()
        if not isinstance(cfg, ModelConfig):
            raise ValueError(f"cfg must be a ModelConfig, got {type(cfg).__name__}")
        self.cfg = cfg
        self.register_buffer("mean", torch.tensor(BGR_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(BGR_STD).view(1, 3, 1, 1), persistent=False)
        self.net: nn.Module
        if cfg.backbone == "small":
            self.net = _SmallNet(cfg)
        elif cfg.backbone == "yolox_nano":
            self.net = YoloxAENet(cfg)
        else:
            self.net = StackedHourglass(
                channels=cfg.hourglass_channels,
                stacks=cfg.stacks,
                head_channels=cfg.head_channels,
                num_classes=cfg.num_classes,
                tag_dim=cfg.tag_dim,
            )

    def init_pretrained(self) -> None:
        """Load ``cfg.pretrained`` (YOLOX-nano's ONNX file) into the yolox_nano backbone; a
        missing or wrong file is an :class:`~aetrack.errors.AetrackError`."""
        from aetrack.errors import AetrackError
        from aetrack.model.pretrained import load_yolox_nano

        if self.cfg.backbone != "yolox_nano":
            raise AetrackError(f"model.pretrained is for the yolox_nano backbone, not {self.cfg.backbone}")
        if not self.cfg.pretrained:
            raise AetrackError("model.pretrained: the yolox_nano backbone needs the path of yolox_nano.onnx "
                               "(YOLOX release 0.1.1rc0) to start training")
        yolox = load_yolox_nano(self.cfg.pretrained)
        for name, module in self.net.pretrained_modules().items():
            module.load_state_dict(getattr(yolox, name).state_dict())

    @property
    def num_stacks(self) -> int:
        """Number of prediction dicts ``forward`` returns (1 for the small backbone)."""
        return self.cfg.stacks if self.cfg.backbone == "hourglass" else 1

    def forward(self, images: Tensor) -> list[dict[str, Tensor]]:
        self.cfg.check_images(tuple(images.shape))
        if self.cfg.backbone == "yolox_nano":  # pretrained on raw BGR; the net scales it itself
            return self.net(images.contiguous(memory_format=torch.channels_last))
        x = ((images - self.mean) / self.std).contiguous(memory_format=torch.channels_last)
        return self.net(x)


class _SmallNet(nn.Module):
    """Small backbone plus one set of heads: (B, 3, H, W) -> [dict of (B, ., H/4, W/4) maps]."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.backbone = SmallBackbone(width=cfg.width)
        self.heads = Heads(
            in_channels=self.backbone.out_channels,
            head_channels=cfg.head_channels,
            num_classes=cfg.num_classes,
            tag_dim=cfg.tag_dim,
        )

    def forward(self, x: Tensor) -> list[dict[str, Tensor]]:
        return [self.heads(self.backbone(x))]


def build_detector(cfg: ModelConfig) -> Detector:
    """A freshly initialised detector for ``cfg`` (no pretrained weights are downloaded)."""
    return Detector(cfg=cfg)
