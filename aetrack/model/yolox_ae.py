"""The real-world network: YOLOX-nano's COCO-pretrained features under associative-embedding heads.

YOLOX-nano's CSPDarknet backbone and PAFPN neck (:mod:`aetrack.model.yolox`, weights read from
the authors' ONNX file by :mod:`aetrack.model.pretrained`) give three maps at strides 8, 16
and 32. A small fusion neck brings them to one map at the output stride and the usual heads
(:mod:`aetrack.model.heads`: per-class centre heatmap, size, offset, tags) read it::

    p3 (64 @ /8) ---1x1--+
    p4 (128 @ /16) -1x1--+ up, sum -> (C @ /8) [-> up x2 + 1x1(dark2, 32 @ /4)] -> dw 3x3 + 1x1 -> heads
    p5 (256 @ /32) -1x1--+

C is ``ModelConfig.width``. YOLOX's own detection head is not part of this network (the
teacher, :mod:`aetrack.model.teacher`, uses it to pseudo-label). With ``stride`` 4 the map is
also fused with the backbone's stride-4 stage, so that two people a few pixels apart keep
separate centre cells; 8 costs about a quarter in the neck and heads.

Input: the :class:`~aetrack.model.Detector` convention, BGR in [0, 1]; this network scales it
to YOLOX's 0-255 BGR itself.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aetrack.model.config import ModelConfig
from aetrack.model.heads import Heads
from aetrack.model.yolox import NECK_CHANNELS, PAFPN, CSPDarknetNano

DARK2_CHANNELS = 32  # channels of CSPDarknet-nano's stride-4 stage


def _conv_bn_relu(c_in: int, c_out: int, *, kernel: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class YoloxAENet(nn.Module):
    """(B, 3, H, W) BGR in [0, 1] -> [one dict of (B, ., H/s, W/s) maps], s = ``cfg.stride``.

    ``frozen_backbone``: when True the YOLOX backbone and PAFPN run without gradients (their
    weights stay the pretrained ones and training skips their backward pass).
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        c = cfg.width
        self.stride = cfg.stride
        self.backbone = CSPDarknetNano()
        self.pafpn = PAFPN()
        self.frozen_backbone = False
        self.lateral = nn.ModuleList(_conv_bn_relu(n, c) for n in NECK_CHANNELS)
        self.lateral2 = _conv_bn_relu(DARK2_CHANNELS, c) if cfg.stride == 4 else None
        self.smooth = nn.Sequential(_conv_bn_relu(c, c, kernel=3, groups=c), _conv_bn_relu(c, c))
        self.heads = Heads(in_channels=c, head_channels=cfg.head_channels, num_classes=cfg.num_classes,
                           tag_dim=cfg.tag_dim, depthwise=True)

    def pretrained_modules(self) -> dict[str, nn.Module]:
        """The parts that carry YOLOX-nano's weights, by their name in :class:`YoloxNano`."""
        return {"backbone": self.backbone, "neck": self.pafpn}

    def forward(self, x: Tensor) -> list[dict[str, Tensor]]:
        x = x * 255.0  # YOLOX takes BGR 0-255
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen_backbone):
            b = self.backbone
            c2 = b.dark2(b.stem(x))  # (B, 32, H/4, W/4)
            c3 = b.dark3(c2)  # (B, 64, H/8, W/8)
            c4 = b.dark4(c3)  # (B, 128, H/16, W/16)
            p3, p4, p5 = self.pafpn((c3, c4, b.dark5(c4)))  # 64 @ /8, 128 @ /16, 256 @ /32
        f = self.lateral[0](p3)  # (B, C, H/8, W/8)
        for lat, p in zip(self.lateral[1:], (p4, p5)):
            f = f + F.interpolate(lat(p), size=f.shape[-2:], mode="nearest")
        if self.lateral2 is not None:  # stride 4: (B, C, H/4, W/4)
            f = F.interpolate(f, size=c2.shape[-2:], mode="nearest") + self.lateral2(c2)
        return [self.heads(self.smooth(f))]
