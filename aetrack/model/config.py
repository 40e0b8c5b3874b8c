"""Detector configuration: which backbone, how many classes and tag dimensions, input size."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from aetrack.model.coco import COCO_NAMES

BACKBONES = ("small", "hourglass", "yolox_nano")

# Default output stride of the predicted maps: one cell covers STRIDE x STRIDE input pixels.
# The small and hourglass backbones predict at 4; yolox_nano's tag map at 4 or 8 (ModelConfig.stride).
STRIDE = 4
STRIDES = (4, 8)

# Maps of YOLOX-nano's trunk a yolox_nano tag branch may read (ModelConfig.tag_stages), with
# their channels and strides: the input image (BGR in [-0.5, 0.5], averaged 2 x 2), the
# backbone's stages, the PAFPN's outputs.
TAG_STAGES: dict[str, tuple[int, int]] = {
    "image": (3, 2), "stem": (16, 2), "dark2": (32, 4), "dark3": (64, 8), "dark4": (128, 16), "dark5": (256, 32),
    "p3": (64, 8), "p4": (128, 16), "p5": (256, 32),
}
TAG_READOUTS = ("centre", "box", "halves")
# The small backbone's one map a tag head reads: its stride-4 output (channels: ModelConfig.width).
SMALL_TAG_INPUT = "backbone"


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a :class:`aetrack.model.Detector` (stored in checkpoints)."""

    # "small": compact encoder-decoder for CPU real time (about 0.7 M parameters, ~2.9 GFLOP per
    # 640x352 frame); "hourglass": the stacked hourglass of Newell et al. (AE paper) for GPUs;
    # both predict CenterNet-style heatmap, size, offset and tag maps. "yolox_nano": YOLOX-nano
    # whole (CSPDarknet, PAFPN and its COCO-trained detection head, whose objectness x class
    # probability is the per-class centre heatmap at strides 8, 16, 32) plus a tag branch on
    # its trunk (aetrack.model.yolox_tags).
    backbone: str = "small"
    # yolox_nano: path of YOLOX-nano's COCO-trained ONNX file (YOLOX release 0.1.1rc0, asset
    # yolox_nano.onnx) whose weights initialise trunk and detection head when training starts
    # from scratch. Never downloaded; a checkpoint holds all weights, so tracking needs no file.
    pretrained: str = ""
    # Output stride of the predicted maps in input pixels: 4 for small and hourglass; for
    # yolox_nano the stride of the tag map (8: YOLOX's finest level, or 4).
    stride: int = STRIDE
    # Number of object classes: one heatmap channel each (pedestrians only: 1).
    num_classes: int = 1
    # Name of each class, in heatmap-channel order (what MOT text, JSON lines, annotated videos
    # and ``--classes`` use); empty: "person" for a one-class model, COCO's names for yolox_nano's
    # 80 classes (aetrack.model.coco), "class1", "class2", ... else.
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
    # Hidden channels of every head's 3x3 conv (heads are 3x3 conv -> ReLU -> 1x1 conv);
    # yolox_nano: the tag branch's channels.
    head_channels: int = 32
    # yolox_nano: the trunk maps the tag branch reads (names of TAG_STAGES; the small backbone's
    # tag head reads its one output map, see tag_head_inputs). Each gets a 1x1
    # projection; maps finer than the tag stride then a ReLU and an average down to it (a learned
    # soft histogram of colour and texture over each cell), coarser ones are repeated up.
    tag_stages: tuple[str, ...] = ("image", "dark2", "dark3", "p3")
    # yolox_nano: depthwise-3x3 + 1x1 blocks of the tag branch after the stages are summed.
    tag_depth: int = 2
    # Where a detection's tag is read: "centre", the cell under the box centre (the AE paper's
    # way); "box", the mean of the tag map over the cells the box covers; "halves", the means
    # over its upper and its lower half, one after the other (2 x tag_dim values: clothing
    # above and below the waist).
    tag_readout: str = "centre"
    # Network input size in pixels (the letterbox target); multiples of 32 so that every
    # downsampling level of the small backbone divides evenly.
    input_width: int = 640
    input_height: int = 352
    # At inference, shrink the canvas to the frame's aspect ratio: the frame is fitted into
    # input_width x input_height and the canvas is its size rounded up to multiples of 32
    # (a 640x360 video runs at 512x288 in a 512x384 box, a 4:3 one at 512x384), instead
    # of padding every frame to the full box.
    fit_aspect: bool = False
    # At inference, let the input follow the frame (input_long_max 0 = off: the fixed or fitted
    # box above): the canvas's longer side is input_scale x the frame's, clamped to
    # [input_long_min, input_long_max] pixels; the shorter side keeps the aspect; both are
    # rounded up to 32. 1080p crowds then keep small people several cells tall, while small
    # frames do not pay for pixels that find nothing more (BENCHMARKS.md, "Detector").
    input_scale: float = 1.0
    input_long_min: int = 0
    input_long_max: int = 0

    def __post_init__(self) -> None:
        if self.backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {', '.join(BACKBONES)}, got {self.backbone!r}")
        for name in ("num_classes", "tag_dim", "width", "stacks", "hourglass_channels", "head_channels", "tag_depth"):
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
        bad = [s for s in self.tag_stages if s not in TAG_STAGES]
        if bad or not self.tag_stages or len(set(self.tag_stages)) != len(self.tag_stages):
            raise ValueError(f"tag_stages must be distinct names among {', '.join(TAG_STAGES)}, "
                             f"got {list(self.tag_stages)}")
        if self.tag_readout not in TAG_READOUTS:
            raise ValueError(f"tag_readout must be one of {', '.join(TAG_READOUTS)}, got {self.tag_readout!r}")
        lo, hi = self.input_long_min, self.input_long_max
        if any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in (lo, hi)) \
                or (hi and (hi < 32 or lo > hi)) or (lo and not hi):
            raise ValueError(f"input_long_min and input_long_max must be 0 (off) or 0 <= min <= max with "
                             f"max >= 32, got {lo} and {hi}")
        if isinstance(self.input_scale, bool) or not isinstance(self.input_scale, (int, float)) \
                or not 0 < self.input_scale <= 8:
            raise ValueError(f"input_scale must be in (0, 8], got {self.input_scale!r}")

    @property
    def names(self) -> tuple[str, ...]:
        """Class names in channel order: ``class_names``, else COCO's for yolox_nano's 80
        classes, else the defaults described at ``class_names``."""
        if self.class_names:
            return self.class_names
        if self.backbone == "yolox_nano" and self.num_classes == len(COCO_NAMES):
            return COCO_NAMES
        return ("person",) if self.num_classes == 1 else tuple(f"class{i + 1}" for i in range(self.num_classes))

    @property
    def tag_input_shapes(self) -> dict[str, tuple[int, int]]:
        """Every map the tag head can read, name -> (channels, stride in input pixels): what a
        frozen detector's feature cache may store (aetrack.train.feature_cache). yolox_nano:
        TAG_STAGES; small: its backbone's output; hourglass: none (its tags come out of each
        stack's heads, not from a frozen detector's maps)."""
        if self.backbone == "yolox_nano":
            return dict(TAG_STAGES)
        if self.backbone == "small":
            return {SMALL_TAG_INPUT: (self.width, STRIDE)}
        return {}

    @property
    def tag_head_inputs(self) -> tuple[str, ...]:
        """The maps (names of :attr:`tag_input_shapes`) the tag head reads: ``tag_stages`` for
        yolox_nano, the backbone's output for small, none for hourglass."""
        if self.backbone == "yolox_nano":
            return self.tag_stages
        return (SMALL_TAG_INPUT,) if self.backbone == "small" else ()

    @property
    def tag_size(self) -> int:
        """Values in one detection's tag: tag_dim, twice that for the "halves" readout."""
        return self.tag_dim * (2 if self.tag_readout == "halves" else 1)

    @property
    def follows_frame(self) -> bool:
        """Whether the input size follows the frame (``input_long_max`` set)."""
        return self.input_long_max > 0

    def canvas_size(self, frame_size: tuple[int, int]) -> tuple[int, int]:
        """(width, height) of the network input for a frame of ``frame_size`` = (width, height):
        the configured input, with ``fit_aspect`` the fitted frame rounded up to 32, or with
        ``input_long_max`` the frame scaled by ``input_scale``, its longer side clamped to
        [input_long_min, input_long_max], rounded up to 32."""
        fw, fh = frame_size
        if self.follows_frame:
            long_side = min(max(max(fw, fh) * self.input_scale, self.input_long_min), self.input_long_max)
            scale = long_side / max(fw, fh)
            return (max(32, -(-round(fw * scale) // 32) * 32), max(32, -(-round(fh * scale) // 32) * 32))
        if not self.fit_aspect:
            return self.input_size
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

    def with_input_size(self, width: int, height: int) -> "ModelConfig":
        """This config with a fixed ``width`` x ``height`` input box (``--input-size``): the frame is
        fitted into it (keeping ``fit_aspect`` as stored, on where the input followed the frame)."""
        return dataclasses.replace(self, input_width=width, input_height=height, input_long_min=0, input_long_max=0,
                                   fit_aspect=self.fit_aspect or self.follows_frame)

    @property
    def input_size(self) -> tuple[int, int]:
        """(width, height) of the network input in pixels, as the letterbox expects it."""
        return (self.input_width, self.input_height)
