"""The associative-embedding detector: config, networks, heads and training targets.

Example::

    import torch
    from aetrack.model import ModelConfig, build_detector

    model = build_detector(ModelConfig(backbone="small"))
    outputs = model(torch.rand(1, 3, 352, 640))   # BGR in [0, 1]
    outputs[-1]["heatmap"].shape                   # (1, 1, 88, 160): stride 4
"""

from __future__ import annotations

from aetrack.model.config import STRIDE as STRIDE
from aetrack.model.config import ModelConfig as ModelConfig
from aetrack.model.detector import Detector as Detector
from aetrack.model.detector import build_detector as build_detector
from aetrack.model.targets import build_targets as build_targets
