"""YOLOX-nano in PyTorch: CSPDarknet-nano backbone, PAFPN neck and the decoupled YOLOX head.

A re-implementation of the network of Ge et al., "YOLOX: Exceeding YOLO Series in 2021"
(https://github.com/Megvii-BaseDetection/YOLOX, Apache-2.0, Megvii Inc.), at the nano setting
(depth 0.33, width 0.25, depthwise convolutions), with BatchNorm already folded into each
convolution (every ``Conv2d`` has a bias), as in the authors' ONNX export. The layers are laid
out so that their registration order is the order of the Conv nodes in that ONNX graph:
:func:`aetrack.model.pretrained.load_yolox_nano` relies on it to read the COCO weights.

Weights: YOLOX's release 0.1.1rc0 on GitHub, asset ``yolox_nano.onnx`` (3,659,407 bytes); the
project never downloads it. Anything shipped that is derived from those weights must carry the
Apache-2.0 notice and name YOLOX by Megvii as the source.

Input: ``(B, 3, H, W)`` float BGR in 0-255 (no normalisation), H and W multiples of 32; the
authors letterbox into the top-left of the canvas and pad with 114. Output of
:meth:`YoloxNano.forward`: ``(B, N, 4 + 1 + C)`` with ``N = sum(H/s * W/s for s in (8, 16, 32))``
rows, levels in stride order, each row-major; columns x, y offsets (centre = (offset + cell
index) * stride, input pixels), log w, log h (size = exp(.) * stride), objectness probability,
C class probabilities (sigmoid applied, as in the ONNX graph).

Example::

    from aetrack.model.pretrained import load_yolox_nano

    model = load_yolox_nano("yolox_nano.onnx")
    p3, p4, p5 = model.forward_features(images)  # (B, 64, H/8, W/8), (B, 128, H/16, W/16), (B, 256, H/32, W/32)
    raw = model.forward_head((p3, p4, p5))       # (B, N, 85)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

STRIDES = (8, 16, 32)  # output strides of the three pyramid levels, input pixels per cell
NECK_CHANNELS = (64, 128, 256)  # channels of the PAFPN outputs at strides 8, 16, 32
HEAD_CHANNELS = 64  # width of the head's branches (256 * width 0.25)


class ConvAct(nn.Module):
    """Conv2d (BN folded in, so with bias) followed by SiLU; ``groups=c_in`` makes it depthwise."""

    def __init__(self, c_in: int, c_out: int, *, kernel: int = 1, stride: int = 1, groups: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=True)

    def forward(self, x: Tensor) -> Tensor:
        return F.silu(self.conv(x))


class DWConv(nn.Module):
    """Depthwise k x k ConvAct, then pointwise 1x1 ConvAct (YOLOX's ``DWConv``)."""

    def __init__(self, c_in: int, c_out: int, *, kernel: int = 3, stride: int = 1) -> None:
        super().__init__()
        self.dconv = ConvAct(c_in, c_in, kernel=kernel, stride=stride, groups=c_in)
        self.pconv = ConvAct(c_in, c_out)

    def forward(self, x: Tensor) -> Tensor:
        return self.pconv(self.dconv(x))


class Bottleneck(nn.Module):
    """1x1 ConvAct then 3x3 DWConv, same width, plus the input when ``shortcut``."""

    def __init__(self, channels: int, *, shortcut: bool) -> None:
        super().__init__()
        self.conv1 = ConvAct(channels, channels)
        self.conv2 = DWConv(channels, channels)
        self.shortcut = shortcut

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv2(self.conv1(x))
        return y + x if self.shortcut else y


class CSPLayer(nn.Module):
    """Cross-stage partial block: half the channels through ``n`` bottlenecks, half straight."""

    def __init__(self, c_in: int, c_out: int, *, n: int, shortcut: bool) -> None:
        super().__init__()
        hidden = c_out // 2
        self.conv1 = ConvAct(c_in, hidden)  # main path
        self.conv2 = ConvAct(c_in, hidden)  # bypass
        self.m = nn.Sequential(*(Bottleneck(hidden, shortcut=shortcut) for _ in range(n)))
        self.conv3 = ConvAct(2 * hidden, c_out)

    def forward(self, x: Tensor) -> Tensor:
        # (B, c_in, h, w) -> 2 x (B, c_out/2, h, w) -> cat (main first) -> (B, c_out, h, w)
        return self.conv3(torch.cat([self.m(self.conv1(x)), self.conv2(x)], dim=1))


class SPPBottleneck(nn.Module):
    """Spatial pyramid pooling: 1x1 to half width, max-pools 5/9/13 (stride 1), concat, 1x1."""

    POOL_SIZES = (5, 9, 13)

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        hidden = c_in // 2
        self.conv1 = ConvAct(c_in, hidden)
        self.conv2 = ConvAct(hidden * (len(self.POOL_SIZES) + 1), c_out)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv1(x)  # (B, c_in/2, h, w)
        pooled = [F.max_pool2d(x, k, stride=1, padding=k // 2) for k in self.POOL_SIZES]
        return self.conv2(torch.cat([x, *pooled], dim=1))  # (B, 2 * c_in, h, w) -> (B, c_out, h, w)


class Focus(nn.Module):
    """Space-to-depth by 2 (order: top-left, bottom-left, top-right, bottom-right), then 3x3 ConvAct."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv = ConvAct(4 * c_in, c_out, kernel=3)

    def forward(self, x: Tensor) -> Tensor:
        # (B, 3, H, W) -> (B, 12, H/2, W/2) -> (B, 16, H/2, W/2)
        x = torch.cat([x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2], x[..., 1::2, 1::2]], dim=1)
        return self.conv(x)


class CSPDarknetNano(nn.Module):
    """Backbone; returns dark3, dark4, dark5: (B, 64, H/8, W/8), (B, 128, H/16, W/16), (B, 256, H/32, W/32)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = Focus(3, 16)  # (B, 16, H/2, W/2)
        self.dark2 = nn.Sequential(DWConv(16, 32, stride=2), CSPLayer(32, 32, n=1, shortcut=True))  # H/4
        self.dark3 = nn.Sequential(DWConv(32, 64, stride=2), CSPLayer(64, 64, n=3, shortcut=True))  # H/8
        self.dark4 = nn.Sequential(DWConv(64, 128, stride=2), CSPLayer(128, 128, n=3, shortcut=True))  # H/16
        self.dark5 = nn.Sequential(
            DWConv(128, 256, stride=2), SPPBottleneck(256, 256), CSPLayer(256, 256, n=1, shortcut=False)
        )  # H/32

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        c3 = self.dark3(self.dark2(self.stem(x)))
        c4 = self.dark4(c3)
        return c3, c4, self.dark5(c4)


class PAFPN(nn.Module):
    """Top-down then bottom-up path aggregation over the backbone's three levels (same shapes out)."""

    def __init__(self) -> None:
        super().__init__()
        self.lateral_conv0 = ConvAct(256, 128)
        self.C3_p4 = CSPLayer(256, 128, n=1, shortcut=False)
        self.reduce_conv1 = ConvAct(128, 64)
        self.C3_p3 = CSPLayer(128, 64, n=1, shortcut=False)
        self.bu_conv2 = DWConv(64, 64, stride=2)
        self.C3_n3 = CSPLayer(128, 128, n=1, shortcut=False)
        self.bu_conv1 = DWConv(128, 128, stride=2)
        self.C3_n4 = CSPLayer(256, 256, n=1, shortcut=False)

    def forward(self, feats: tuple[Tensor, Tensor, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        c3, c4, c5 = feats  # 64 @ H/8, 128 @ H/16, 256 @ H/32
        top5 = self.lateral_conv0(c5)  # (B, 128, H/32, W/32)
        p4 = self.C3_p4(torch.cat([F.interpolate(top5, scale_factor=2.0, mode="nearest"), c4], dim=1))  # 128 @ H/16
        top4 = self.reduce_conv1(p4)  # (B, 64, H/16, W/16)
        out3 = self.C3_p3(torch.cat([F.interpolate(top4, scale_factor=2.0, mode="nearest"), c3], dim=1))  # 64 @ H/8
        out4 = self.C3_n3(torch.cat([self.bu_conv2(out3), top4], dim=1))  # (B, 128, H/16, W/16)
        out5 = self.C3_n4(torch.cat([self.bu_conv1(out4), top5], dim=1))  # (B, 256, H/32, W/32)
        return out3, out4, out5


class HeadLevel(nn.Module):
    """Decoupled head of one level: 1x1 stem, two DWConvs each for class and box/objectness."""

    def __init__(self, c_in: int, *, num_classes: int) -> None:
        super().__init__()
        w = HEAD_CHANNELS
        self.stem = ConvAct(c_in, w)
        self.cls_convs = nn.Sequential(DWConv(w, w), DWConv(w, w))
        self.cls_pred = nn.Conv2d(w, num_classes, 1)
        self.reg_convs = nn.Sequential(DWConv(w, w), DWConv(w, w))
        self.reg_pred = nn.Conv2d(w, 4, 1)
        self.obj_pred = nn.Conv2d(w, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(x)  # (B, 64, h, w)
        reg_feat = self.reg_convs(x)
        cls = torch.sigmoid(self.cls_pred(self.cls_convs(x)))  # (B, C, h, w)
        obj = torch.sigmoid(self.obj_pred(reg_feat))  # (B, 1, h, w)
        return torch.cat([self.reg_pred(reg_feat), obj, cls], dim=1)  # (B, 4 + 1 + C, h, w)


class YoloxNano(nn.Module):
    """YOLOX-nano; see the module docstring for the input and output conventions."""

    def __init__(self, *, num_classes: int = 80) -> None:
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
        self.num_classes = num_classes
        self.backbone = CSPDarknetNano()
        self.neck = PAFPN()
        self.head = nn.ModuleList(HeadLevel(c, num_classes=num_classes) for c in NECK_CHANNELS)

    def forward_features(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(B, 3, H, W)`` BGR 0-255 -> PAFPN outputs (B, 64, H/8, W/8), (B, 128, H/16, W/16), (B, 256, H/32, W/32)."""
        if x.ndim != 4 or x.shape[1] != 3 or x.shape[2] % 32 or x.shape[3] % 32:
            raise ValueError(f"expected (B, 3, H, W) with H and W multiples of 32, got {tuple(x.shape)}")
        return self.neck(self.backbone(x))

    def forward_head(self, feats: tuple[Tensor, Tensor, Tensor]) -> Tensor:
        """PAFPN outputs -> ``(B, N, 4 + 1 + C)`` raw rows, levels in stride order, each row-major."""
        # per level (B, 85, h, w) -> (B, 85, h*w); cat over levels -> (B, 85, N) -> (B, N, 85)
        rows = [level(f).flatten(2) for level, f in zip(self.head, feats)]
        return torch.cat(rows, dim=2).transpose(1, 2)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


def grid_cells(height: int, width: int, *, device: torch.device | None = None) -> tuple[Tensor, Tensor]:
    """Cell indices ``(N, 2)`` (x, y) and strides ``(N,)`` of the rows of a ``height`` x ``width`` input."""
    cells, strides = [], []
    for s in STRIDES:
        ys, xs = torch.meshgrid(
            torch.arange(height // s, device=device), torch.arange(width // s, device=device), indexing="ij"
        )
        cells.append(torch.stack([xs, ys], dim=-1).reshape(-1, 2))  # row-major, like forward_head
        strides.append(torch.full((cells[-1].shape[0],), s, device=device))
    return torch.cat(cells), torch.cat(strides)


def decode_boxes(raw: Tensor, *, height: int, width: int) -> Tensor:
    """Raw rows ``(B, N, 85)`` of a ``height`` x ``width`` input -> xyxy boxes ``(B, N, 4)``, input pixels."""
    cells, strides = grid_cells(height, width, device=raw.device)  # (N, 2), (N,)
    if cells.shape[0] != raw.shape[1]:
        raise ValueError(f"{raw.shape[1]} rows do not fit a {height}x{width} input ({cells.shape[0]} cells)")
    s = strides[:, None].to(raw.dtype)
    centre = (raw[..., 0:2] + cells) * s  # (B, N, 2)
    half = torch.exp(raw[..., 2:4]) * s / 2  # (B, N, 2)
    return torch.cat([centre - half, centre + half], dim=-1)
