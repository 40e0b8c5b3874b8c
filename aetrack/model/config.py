"""Detector configuration: which backbone, how many classes and tag dimensions, input size."""

from __future__ import annotations

from dataclasses import dataclass

BACKBONES = ("small", "hourglass")

# Output stride of every predicted map: one cell covers STRIDE x STRIDE input pixels.
STRIDE = 4


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a :class:`aetrack.model.Detector` (stored in checkpoints)."""

    # "small": compact encoder-decoder for CPU real time (about 0.7 M parameters, ~2.9 GFLOP per
    # 640x352 frame); "hourglass": the stacked hourglass of Newell et al. (AE paper) for GPUs.
    backbone: str = "small"
    # Number of object classes: one heatmap channel each (pedestrians only: 1).
    num_classes: int = 1
    # Name of each class, in heatmap-channel order (what MOT text, JSON lines, annotated videos
    # and ``--classes`` use); empty: "person" for a one-class model, "class1", "class2", ... else.
    class_names: tuple[str, ...] = ()
    # D, dimension of the per-pixel tag (embedding) map; the AE paper used 1 for poses, tracking
    # many objects over time needs a few more so that tags of distinct objects can stay apart.
    tag_dim: int = 8
    # small: channel count at stride 4; strides 8/16/32 use 2x, 4x, 4x this.
    width: int = 32
    # hourglass: number of stacked hourglass modules; each one is supervised (the loss sums them).
    stacks: int = 2
    # hourglass: feature channels inside every hourglass and residual module.
    hourglass_channels: int = 128
    # Hidden channels of every head's 3x3 conv (heads are 3x3 conv -> ReLU -> 1x1 conv).
    head_channels: int = 32
    # Network input size in pixels (the letterbox target); multiples of 32 so that every
    # downsampling level of the small backbone divides evenly.
    input_width: int = 640
    input_height: int = 352

    def __post_init__(self) -> None:
        if self.backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {', '.join(BACKBONES)}, got {self.backbone!r}")
        for name in ("num_classes", "tag_dim", "width", "stacks", "hourglass_channels", "head_channels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.class_names and len(self.class_names) != self.num_classes:
            raise ValueError(
                f"class_names must name each of the {self.num_classes} classes, got {list(self.class_names)}"
            )
        if len(set(self.class_names)) != len(self.class_names) or not all(
            isinstance(n, str) and n and "," not in n for n in self.class_names
        ):
            raise ValueError(f"class_names must be distinct non-empty names without commas, got {list(self.class_names)}")
        if self.width % 2:
            raise ValueError(f"width must be even (the stem uses width/2 channels), got {self.width}")
        if self.hourglass_channels % 4:
            raise ValueError(
                f"hourglass_channels must be a multiple of 4 (the stem starts at a quarter), "
                f"got {self.hourglass_channels}"
            )
        for name in ("input_width", "input_height"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 32 or value % 32:
                raise ValueError(f"{name} must be a positive multiple of 32, got {value!r}")

    @property
    def names(self) -> tuple[str, ...]:
        """Class names in channel order (``class_names`` or the defaults described there)."""
        if self.class_names:
            return self.class_names
        return ("person",) if self.num_classes == 1 else tuple(f"class{i + 1}" for i in range(self.num_classes))

    @property
    def input_size(self) -> tuple[int, int]:
        """(width, height) of the network input in pixels, as the letterbox expects it."""
        return (self.input_width, self.input_height)
