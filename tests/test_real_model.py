"""The real-world model's pieces: YOLOX-nano whole plus a tag branch, its input rule, frozen training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from aetrack.errors import AetrackError
from aetrack.losses import LossConfig, compute_losses
from aetrack.model import ModelConfig, build_detector, build_targets
from aetrack.model.coco import COCO_NAMES
from aetrack.train.loop import freeze_backbone, param_groups

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"


def _cfg(stride: int = 8, readout: str = "centre") -> ModelConfig:
    return ModelConfig(backbone="yolox_nano", stride=stride, head_channels=8, tag_dim=4, num_classes=80,
                       tag_readout=readout, input_width=128, input_height=96)


@pytest.mark.parametrize("stride", [8, 4])
def test_yolox_detector_gives_coco_cells_and_a_tag_map(stride):
    model = build_detector(_cfg(stride)).eval()
    with torch.no_grad():
        (out,) = model(torch.rand(2, 3, 96, 128))
    # Cells of strides 8, 16, 32 on 96 x 128: 12*16 + 6*8 + 3*4 = 192 + 48 + 12 = 252 rows of 4 + 1 + 80.
    assert out["cells"].shape == (2, 252, 85)
    assert out["tags"].shape == (2, 4, 96 // stride, 128 // stride)
    assert all(torch.isfinite(v).all() for v in out.values())
    assert model.output_names == ("cells", "tags")


def test_the_default_class_names_are_cocos_80():
    assert _cfg().names == COCO_NAMES and len(COCO_NAMES) == 80
    assert COCO_NAMES[0] == "person" and COCO_NAMES[5] == "bus" and COCO_NAMES[7] == "truck"


@pytest.mark.parametrize("readout", ["centre", "box"])
def test_frozen_detection_branch_gets_no_gradient_and_the_tag_branch_all(readout):
    cfg = _cfg(8, readout)
    model = build_detector(cfg).train()
    freeze_backbone(model)
    t = build_targets(boxes=[np.array([[10.0, 10.0, 40.0, 80.0], [60.0, 20.0, 120.0, 60.0]])] * 2,
                      ids=[np.array([0, 1])] * 2, classes=[np.array([0, 2])] * 2, cfg=cfg, max_objects=4)
    losses = compute_losses(model(torch.rand(2, 3, 96, 128)), {k: v[None] for k, v in t.items()}, cfg=LossConfig(),
                            stride=8, tag_readout=readout)
    assert losses["heatmap"] == 0 and losses["size"] == 0  # frozen: no detection terms
    losses["total"].backward()
    frozen = {id(p) for m in model.net.pretrained_modules().values() for p in m.parameters()}
    for name, p in model.named_parameters():
        if id(p) in frozen:
            assert not p.requires_grad and p.grad is None, name
        else:
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
    groups = param_groups(model, 1e-4, backbone_lr=0.0)
    assert {g["lr_scale"] for g in groups} == {1.0}
    assert sum(len(g["params"]) for g in groups) == sum(1 for p in model.parameters() if p.requires_grad)


def test_fine_tuning_trains_the_detection_branch_too():
    """With backbone_lr > 0 the YOLOX loss reaches every parameter of trunk and head."""
    cfg = _cfg(8)
    model = build_detector(cfg).train()
    t = build_targets(boxes=[np.array([[10.0, 10.0, 40.0, 80.0], [60.0, 20.0, 120.0, 60.0]])] * 2,
                      ids=[np.array([0, 1])] * 2, classes=[np.array([0, 2])] * 2, cfg=cfg, max_objects=4)
    losses = compute_losses(model(torch.rand(2, 3, 96, 128)), {k: v[None] for k, v in t.items()}, cfg=LossConfig(),
                            stride=8)
    assert losses["heatmap"] > 0 and losses["size"] > 0
    losses["total"].backward()
    assert all(p.grad is not None for p in model.net.yolox.parameters())
    groups = param_groups(model, 1e-4, backbone_lr=0.1)
    slow = sum(p.numel() for g in groups if g["lr_scale"] == 0.1 for p in g["params"])
    assert slow == sum(p.numel() for p in model.net.yolox.parameters()) > 0


def test_freezing_the_hourglass_detector_is_refused():
    """The small and yolox_nano detectors freeze (tests/test_feature_cache.py); the hourglass's
    tags come out of every stack's heads, so it has no detection branch to freeze."""
    model = build_detector(ModelConfig(backbone="hourglass", stacks=1, hourglass_channels=8, head_channels=8,
                                       input_width=64, input_height=64))
    with pytest.raises(AetrackError, match="the hourglass backbone cannot train its tags on a frozen detector"):
        freeze_backbone(model)


def test_stride_8_is_only_for_yolox_nano():
    with pytest.raises(ValueError, match="stride must be 4 for the small backbone"):
        ModelConfig(backbone="small", stride=8)
    with pytest.raises(ValueError, match="one of"):
        ModelConfig(backbone="yolox_nano", stride=16)


@pytest.mark.parametrize(
    "frame, canvas",
    [
        # 0.7 x 640 = 448 long; 360 x 0.7 = 252 -> 256.
        ((640, 360), (448, 256)),
        # 0.7 x 768 = 537.6 -> 544; 576 x 0.7 = 403.2 -> 416.
        ((768, 576), (544, 416)),
        # 0.7 x 1920 = 1344, clamped to 1280 (scale 2/3): 1080 x 2/3 = 720 -> 736.
        ((1920, 1080), (1280, 736)),
        # 0.7 x 480 = 336, raised to 416 (scale 0.8667): 270 x 0.8667 = 234 -> 256.
        ((480, 270), (416, 256)),
        # A tall 100x1000 frame: 700 long; 100 x 0.7 = 70 -> 96.
        ((100, 1000), (96, 704)),
    ],
)
def test_input_follows_the_frame(frame, canvas):
    cfg = ModelConfig(backbone="yolox_nano", stride=8, num_classes=80, input_scale=0.7, input_long_min=416,
                      input_long_max=1280)
    assert cfg.canvas_size(frame) == canvas
    # --input-size: a fixed box the frame is fitted into (640x360 at 0.8 = 512 x 288).
    assert cfg.with_input_size(512, 384).canvas_size((640, 360)) == (512, 288)


@pytest.mark.parametrize(
    "frame, canvas",
    [
        ((640, 360), (512, 288)),  # scale min(0.8, 1.067) = 0.8
        ((768, 576), (512, 384)),  # scale 2/3: the whole box
        ((100, 1000), (64, 384)),  # scale 0.384 -> 38.4 px wide, rounded up to 64
    ],
)
def test_fit_aspect_canvas(frame, canvas):
    cfg = ModelConfig(backbone="yolox_nano", stride=8, input_width=512, input_height=384, fit_aspect=True)
    assert cfg.canvas_size(frame) == canvas
    assert ModelConfig(input_width=512, input_height=384).canvas_size(frame) == (512, 384)  # off: the box


def test_input_rule_settings_are_checked():
    with pytest.raises(ValueError, match="input_long_min and input_long_max"):
        ModelConfig(input_long_min=1300, input_long_max=1280)
    with pytest.raises(ValueError, match="input_scale"):
        ModelConfig(input_scale=0.0)
    with pytest.raises(ValueError, match="tag_stages"):
        ModelConfig(backbone="yolox_nano", stride=8, tag_stages=("dark9",))


def test_class_names_must_match_the_class_count():
    assert ModelConfig().names == ("person",)
    assert ModelConfig(num_classes=2).names == ("class1", "class2")
    with pytest.raises(ValueError, match="must name each of the 2 classes"):
        ModelConfig(num_classes=2, class_names=("person",))
    with pytest.raises(ValueError, match="distinct"):
        ModelConfig(num_classes=2, class_names=("person", "person"))


def test_training_a_yolox_model_needs_the_pretrained_file(tmp_path):
    model = build_detector(_cfg(8))
    with pytest.raises(AetrackError, match="needs the path of yolox_nano.onnx"):
        model.init_pretrained()
    missing = build_detector(ModelConfig(backbone="yolox_nano", stride=8, num_classes=80,
                                         pretrained=str(tmp_path / "nope.onnx")))
    with pytest.raises(AetrackError):
        missing.init_pretrained()
