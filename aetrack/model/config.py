"""Detector configuration: which backbone, how many classes and tag dimensions, input size."""

from __future__ import annotations

from dataclasses import dataclass

BACKBONES = ("small", "hourglass", "yolox_nano")

# Default output stride of the predicted maps: one cell covers STRIDE x STRIDE input pixels.
# The small and hourglass backbones predict at 4; yolox_nano at 4 or 8 (ModelConfig.stride).
STRIDE = 4
STRIDES = (4, 8)


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a :class:`aetrack.model.Detector` (stored in checkpoints)."""

    # "small": compact encoder-decoder for CPU real time (about 0.7 M parameters, ~2.9 GFLOP per
    # 640x352 frame); "hourglass": the stacked hourglass of Newell et al. (AE paper) for GPUs;
    # "yolox_nano": YOLOX-nano's CSPDarknet + PAFPN (COCO-pretrained, see ``pretrained``).
    backbone: str = "small"
    # yolox_nano: path of YOLOX-nano's COCO-trained ONNX file (YOLOX release 0.1.1rc0, asset
    # yolox_nano.onnx) whose weights initialise the backbone when training starts from
    # scratch. Never downloaded; a checkpoint holds all weights, so tracking needs no file.
    pretrained: str = ""
    # Output stride of the heads' maps in input pixels: 4 for small and hourglass; yolox_nano
    # predicts at 8 (its finest PAFPN level) or 4 (that level upsampled and fused with the
    # stride-4 backbone stage: finer for small objects, about 4x the head cost).
    stride: int = STRIDE
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
    # At inference, shrink the canvas to the frame's aspect ratio: the frame is fitted into
    # input_width x input_height and the canvas is its size rounded up to multiples of 32
    # (a 640x360 video runs at 512x288 in a 512x384 box, a 4:3 one at 512x384), instead
    # of padding every frame to the full box.
    fit_aspect: bool = False

    def __post_init__(self) -> None:
        if self.backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {', '.join(BACKBONES)}, got {self.backbone!r}")
        for name in ("num_classes", "tag_dim", "width", "stacks", "hourglass_channels", "head_channels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.stride not in STRIDES or (self.backbone != "yolox_nano" and self.stride != STRIDE):
            raise ValueError(
                f"stride must be {STRIDE} for the {self.backbone} backbone and one of {STRIDES} for yolox_nano, "
                f"got {self.stride!r}"
            )
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

    def canvas_size(self, frame_size: tuple[int, int]) -> tuple[int, int]:
        """(width, height) of the network input for a frame of ``frame_size`` = (width, height):
        the configured input, or with ``fit_aspect`` the fitted frame rounded up to 32."""
        if not self.fit_aspect:
            return self.input_size
        fw, fh = frame_size
        scale = min(self.input_width / fw, self.input_height / fh)
        w = min(self.input_width, -(-round(fw * scale) // 32) * 32)
        h = min(self.input_height, -(-round(fh * scale) // 32) * 32)
        return (max(w, 32), max(h, 32))

    @property
    def size_multiple(self) -> int:
        """Input height and width must be multiples of this: 32 for yolox_nano (its coarsest
        level is stride 32), the output stride (4) for the others."""
        return 32 if self.backbone == "yolox_nano" else STRIDE

    def check_images(self, shape: tuple[int, ...]) -> None:
        """ValueError unless ``shape`` is an image batch this model takes: (B, 3, H, W) with H and
        W multiples of :attr:`size_multiple` (one contract for the torch and onnxruntime engines)."""
        if len(shape) != 4 or shape[1] != 3:
            raise ValueError(f"images must be (B, 3, H, W), got {tuple(shape)}")
        h, w = shape[-2:]
        m = self.size_multiple
        if h % m or w % m:
            raise ValueError(f"image height and width must be multiples of {m}, got {h}x{w}")

    @property
    def input_size(self) -> tuple[int, int]:
        """(width, height) of the network input in pixels, as the letterbox expects it."""
        return (self.input_width, self.input_height)
