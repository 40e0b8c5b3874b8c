"""Model smoke tests: shapes, no NaN, every parameter gets a gradient, config validation."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from aetrack.config import from_dict
from aetrack.errors import AetrackError
from aetrack.losses import LossConfig, compute_losses
from aetrack.model import Detector, ModelConfig, build_detector, build_targets
from aetrack.model.heads import HEATMAP_BIAS_INIT

# Input 64x96 (H x W) -> maps 16x24. Hourglass with 2 stacks of 16 channels keeps it tiny.
SMALL = ModelConfig(
    backbone="small", width=8, head_channels=8, tag_dim=4, num_classes=2, input_width=96, input_height=64
)
HOURGLASS = ModelConfig(
    backbone="hourglass", stacks=2, hourglass_channels=16, head_channels=8, tag_dim=4, num_classes=2,
    input_width=96, input_height=64,
)


def _clip_targets(cfg: ModelConfig) -> dict[str, torch.Tensor]:
    """One clip of T=2 frames: objects 0 and 1 in both frames, object 2 only in frame 1."""
    t = build_targets(
        boxes=[
            np.array([[4.0, 6.0, 20.0, 40.0], [50.0, 10.0, 70.0, 50.0]]),
            np.array([[6.0, 6.0, 22.0, 40.0], [52.0, 12.0, 72.0, 52.0], [30.0, 30.0, 40.0, 60.0]]),
        ],
        ids=[np.array([0, 1]), np.array([0, 1, 2])],
        classes=[np.array([0, 1]), np.array([0, 1, 0])],
        cfg=cfg,
        max_objects=8,
    )
    return {k: v[None] for k, v in t.items()}  # (B=1, T=2, ...)


@pytest.mark.parametrize("cfg", [SMALL, HOURGLASS], ids=["small", "hourglass"])
def test_output_shapes_and_finite(cfg: ModelConfig) -> None:
    torch.manual_seed(0)
    model = build_detector(cfg).eval()
    with torch.no_grad():
        outputs = model(torch.rand(2, 3, 64, 96))
    assert len(outputs) == (cfg.stacks if cfg.backbone == "hourglass" else 1) == model.num_stacks
    for out in outputs:
        assert set(out) == {"heatmap", "size", "offset", "tags"}
        assert out["heatmap"].shape == (2, 2, 16, 24)
        assert out["size"].shape == (2, 2, 16, 24)
        assert out["offset"].shape == (2, 2, 16, 24)
        assert out["tags"].shape == (2, 4, 16, 24)
        assert all(torch.isfinite(v).all() for v in out.values())


@pytest.mark.parametrize("cfg", [SMALL, HOURGLASS], ids=["small", "hourglass"])
def test_every_parameter_gets_a_gradient(cfg: ModelConfig) -> None:
    torch.manual_seed(0)
    model = build_detector(cfg).train()
    outputs = model(torch.rand(2, 3, 64, 96))  # B*T = 1 clip * 2 frames
    losses = compute_losses(outputs, _clip_targets(cfg), cfg=LossConfig())
    assert all(torch.isfinite(v) for v in losses.values())
    losses["total"].backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, f"no or non-finite gradient: {missing}"
    zero = [n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() == 0]
    assert not zero, f"all-zero gradient: {zero}"


@pytest.mark.parametrize("cfg", [SMALL, HOURGLASS], ids=["small", "hourglass"])
def test_heatmap_bias_initialisation(cfg: ModelConfig) -> None:
    model = build_detector(cfg)
    biases = [m.bias for n, m in model.named_modules() if n.endswith("heads.heatmap.2")]
    assert len(biases) == model.num_stacks
    for b in biases:
        assert torch.all(b == HEATMAP_BIAS_INIT)


def test_small_default_size_budget() -> None:
    # width w = 32, head_channels 32, 1 class, D = 8 (3x3 conv weights + 2 BN params per channel):
    #   stem   27*16+32 + 144*32+64 + 288*32+64                    =  14,416
    #   down8  288*64+128 + 576*64+128                             =  55,552
    #   down16 576*128+256 + 1152*128+256                          = 221,696
    #   down32 2 * (1152*128+256)                                  = 295,424
    #   up     1152*64+128 + 576*32+64 + 288*32+64                 = 101,632
    #   heads  4 * (288*32+32) + 33 * (1+2+2+8)                    =  37,421
    # total 726,141 parameters -> 2.9 MB as float32.
    model = build_detector(ModelConfig())
    assert sum(p.numel() for p in model.parameters()) == 726_141
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    assert buffer.tell() < 4 * 1024 * 1024


def test_bad_inputs_and_configs() -> None:
    model = build_detector(SMALL)
    with pytest.raises(ValueError, match="multiples of 4"):
        model(torch.rand(1, 3, 30, 32))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        model(torch.rand(1, 1, 32, 32))
    with pytest.raises(ValueError, match="backbone"):
        ModelConfig(backbone="resnet")
    with pytest.raises(ValueError, match="input_width"):
        ModelConfig(input_width=100)
    with pytest.raises(ValueError, match="tag_dim"):
        ModelConfig(tag_dim=0)
    with pytest.raises(ValueError, match="hourglass_channels"):
        ModelConfig(hourglass_channels=18)
    with pytest.raises(ValueError, match="cfg"):
        Detector(cfg={"backbone": "small"})  # type: ignore[arg-type]
    with pytest.raises(AetrackError, match="unknown key"):
        from_dict(ModelConfig, {"backbone": "small", "widht": 16})
    assert from_dict(ModelConfig, {"backbone": "hourglass", "stacks": 1}).stacks == 1
