"""The detector: normalisation, a backbone, heads; returns raw maps per stack.

Loss (:mod:`aetrack.losses`) and decoding (:mod:`aetrack.decode`) live outside the model.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from aetrack.model.config import SMALL_TAG_INPUT, ModelConfig
from aetrack.model.heads import HEAD_NAMES, Heads
from aetrack.model.hourglass import StackedHourglass
from aetrack.model.small import SmallBackbone
from aetrack.model.yolox_tags import YoloxTagNet

# Per-channel input normalisation in BGR order (the ImageNet statistics, reordered): inputs are
# OpenCV frames / 255, so channel 0 is blue. No pretrained weights are used; any fixed
# normalisation would do, these keep the first layer's inputs near zero mean and unit spread.
BGR_MEAN = (0.406, 0.456, 0.485)
BGR_STD = (0.225, 0.224, 0.229)

# What each stack's dict holds, by backbone (Detector.forward): heatmap models and YOLOX.
OUTPUT_NAMES = {"small": HEAD_NAMES, "hourglass": HEAD_NAMES, "yolox_nano": ("cells", "tags")}


class Detector(nn.Module):
    """Associative-embedding detector; see :mod:`aetrack.model.heads` for what the maps mean.

    ``forward(images)`` takes (B, 3, H, W) float32 in [0, 1], BGR channel order (OpenCV frames
    / 255), H and W multiples of 4 (yolox_nano: 32; the configured input size or any other),
    and returns one dict per stack (small and yolox_nano: a list of one; the last is the final
    prediction). The small and hourglass backbones give maps at the output stride s
    (``cfg.stride``):

    - ``"heatmap"`` (B, C, H/s, W/s): centre logits (bias initialised to -2.19);
    - ``"size"``    (B, 2, H/s, W/s): ln of the box (w, h) in input pixels;
    - ``"offset"``  (B, 2, H/s, W/s): centre offset (dx, dy) from the cell corner, in cells;
    - ``"tags"``    (B, D, H/s, W/s): associative-embedding tags.

    yolox_nano gives YOLOX-nano's own detection rows and the tags (:mod:`aetrack.model.yolox_tags`):

    - ``"cells"``   (B, N, 4 + 1 + C): per cell of strides 8, 16, 32 (levels in that order, each
      row-major) x, y offsets, ln w, ln h (in cells), objectness and class probabilities;
    - ``"tags"``    (B, D, H/s, W/s).

    Inputs are converted to channels-last memory layout inside: PyTorch's CPU convolutions are
    about 1.3-1.5x faster that way; shapes and values do not change.

    Training the tags on a frozen detector (``train.backbone_lr`` 0, ``data.feature_cache``)
    goes through the same interface for every backbone that supports it (small, yolox_nano), so
    the feature cache and the training loop never ask which backbone they hold:
    :meth:`pretrained_modules` (the detection branch that stays frozen), :meth:`freeze_detector`,
    :meth:`tag_inputs` (the maps the tag head reads, computed from images with this model's own
    input normalisation) and :meth:`tag_map` (the tag head on such maps). Their names and shapes
    are :attr:`ModelConfig.tag_input_shapes`.
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
            self.net = YoloxTagNet(cfg)
        else:
            self.net = StackedHourglass(
                channels=cfg.hourglass_channels,
                stacks=cfg.stacks,
                head_channels=cfg.head_channels,
                num_classes=cfg.num_classes,
                tag_dim=cfg.tag_dim,
            )

    @property
    def output_names(self) -> tuple[str, ...]:
        """Keys of each stack's dict, in the order an ONNX export lists them."""
        return OUTPUT_NAMES[self.cfg.backbone]

    def init_pretrained(self) -> None:
        """Load ``cfg.pretrained`` (YOLOX-nano's ONNX file) into the yolox_nano detection branch
        (trunk and COCO head); a missing or wrong file is an :class:`~aetrack.errors.AetrackError`."""
        from aetrack.errors import AetrackError
        from aetrack.model.pretrained import load_yolox_nano

        if self.cfg.backbone != "yolox_nano":
            raise AetrackError(f"model.pretrained is for the yolox_nano backbone, not {self.cfg.backbone}")
        if not self.cfg.pretrained:
            raise AetrackError("model.pretrained: the yolox_nano backbone needs the path of yolox_nano.onnx "
                               "(YOLOX release 0.1.1rc0) to start training")
        if self.cfg.num_classes != 80:
            raise AetrackError(f"model.num_classes must be 80 (YOLOX-nano's COCO head), got {self.cfg.num_classes}")
        self.net.yolox.load_state_dict(load_yolox_nano(self.cfg.pretrained).state_dict())

    @property
    def num_stacks(self) -> int:
        """Number of prediction dicts ``forward`` returns (1 for the small backbone)."""
        return self.cfg.stacks if self.cfg.backbone == "hourglass" else 1

    def _net_input(self, images: Tensor) -> Tensor:
        """(B, 3, H, W) BGR in [0, 1] -> what ``self.net`` takes: mean/std-normalised for the small
        and hourglass backbones, unchanged for yolox_nano (pretrained on raw BGR; its net scales
        it itself); channels-last either way."""
        self.cfg.check_images(tuple(images.shape))
        if self.cfg.backbone != "yolox_nano":
            images = (images - self.mean) / self.std
        return images.contiguous(memory_format=torch.channels_last)

    def forward(self, images: Tensor) -> list[dict[str, Tensor]]:
        return self.net(self._net_input(images))

    # -- the tags on a frozen detector -----------------------------------------------------------
    def pretrained_modules(self) -> dict[str, nn.Module]:
        """The detection branch, by name: what ``train.init_from`` or YOLOX-nano's file fills and
        a frozen run (``train.backbone_lr`` 0) leaves alone. small: backbone and the heatmap, size
        and offset heads; yolox_nano: YOLOX-nano whole. The hourglass backbone has none."""
        modules = getattr(self.net, "pretrained_modules", None)
        if modules is None:
            from aetrack.errors import AetrackError

            raise AetrackError(f"the {self.cfg.backbone} backbone cannot train its tags on a frozen detector "
                               "(train.backbone_lr 0, data.feature_cache): use model.backbone small or yolox_nano")
        return modules()

    @property
    def detector_frozen(self) -> bool:
        """Whether :meth:`freeze_detector` was called."""
        return bool(getattr(self.net, "frozen_backbone", False))

    def freeze_detector(self) -> None:
        """No gradients through the detection branch, which also stays in eval mode (its
        BatchNorm statistics never move) whatever ``train()`` is called with."""
        for module in self.pretrained_modules().values():
            module.requires_grad_(False)
        self.net.frozen_backbone = True
        self.train(self.training)

    def train(self, mode: bool = True) -> "Detector":
        super().train(mode)
        if self.detector_frozen:
            for module in self.pretrained_modules().values():
                module.train(False)
        return self

    def tag_inputs(self, images: Tensor, stages: tuple[str, ...] | None = None) -> dict[str, Tensor]:
        """The maps the tag head reads (``stages``, names of :attr:`ModelConfig.tag_input_shapes`;
        default :attr:`ModelConfig.tag_head_inputs`) for (B, 3, H, W) BGR in [0, 1]: each
        (B, C, H/s, W/s) at its own stride s, what a feature cache stores."""
        self.pretrained_modules()  # the hourglass backbone has none: refused in one line
        return self.net.tag_inputs(self._net_input(images), stages)

    def tag_map(self, inputs: dict[str, Tensor]) -> Tensor:
        """The tag head on :meth:`tag_inputs`' maps: (B, D, H/s, W/s) at the output stride s."""
        return self.net.tag_map(inputs)


class _SmallNet(nn.Module):
    """Small backbone plus one set of heads: (B, 3, H, W) normalised -> [dict of (B, ., H/4, W/4) maps].

    Its detection branch is the backbone with the heatmap, size and offset heads; the tags head
    reads the backbone's stride-4 map (``SMALL_TAG_INPUT``), so that map is all a feature cache
    needs to train the tags on a frozen detector.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.backbone = SmallBackbone(width=cfg.width)
        self.heads = Heads(
            in_channels=self.backbone.out_channels,
            head_channels=cfg.head_channels,
            num_classes=cfg.num_classes,
            tag_dim=cfg.tag_dim,
        )
        # True: the detection branch runs without gradients (train.backbone_lr 0: only tags train).
        self.frozen_backbone = False

    def pretrained_modules(self) -> dict[str, nn.Module]:
        """Backbone and the heatmap, size and offset heads (everything but the tags head)."""
        return {"backbone": self.backbone, **{k: h for k, h in self.heads.heads.items() if k != "tags"}}

    def tag_inputs(self, x: Tensor, stages: tuple[str, ...] | None = None) -> dict[str, Tensor]:
        """{"backbone": (B, width, H/4, W/4)} for a normalised image batch."""
        bad = [s for s in (stages or ()) if s != SMALL_TAG_INPUT]
        if bad:
            raise ValueError(f"the small backbone's tag head reads only {SMALL_TAG_INPUT!r}, not {bad[0]!r}")
        return {SMALL_TAG_INPUT: self.backbone(x)}

    def tag_map(self, inputs: dict[str, Tensor]) -> Tensor:
        """The tags head on the backbone's map: (B, D, H/4, W/4)."""
        return self.heads.heads["tags"](inputs[SMALL_TAG_INPUT])

    def forward(self, x: Tensor) -> list[dict[str, Tensor]]:
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen_backbone):
            features = self.backbone(x)  # (B, width, H/4, W/4)
            maps = {name: head(features) for name, head in self.heads.heads.items() if name != "tags"}
        maps["tags"] = self.tag_map({SMALL_TAG_INPUT: features})
        return [maps]  # keys in HEAD_NAMES order


def build_detector(cfg: ModelConfig) -> Detector:
    """A freshly initialised detector for ``cfg`` (no pretrained weights are downloaded)."""
    return Detector(cfg=cfg)
