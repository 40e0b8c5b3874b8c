"""The associative-embedding detector: config, networks, heads, training targets, and its weights
files (:mod:`aetrack.model.weights`: checkpoints, the embedded weights by name, ONNX metadata).

Example::

    import torch
    from aetrack.model import ModelConfig, build_detector

    model = build_detector(ModelConfig(backbone="small"))
    outputs = model(torch.rand(1, 3, 352, 640))   # BGR in [0, 1]
    outputs[-1]["heatmap"].shape                   # (1, 1, 88, 160): stride 4
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aetrack.lazy import lazy_attributes
from aetrack.model.config import STRIDE as STRIDE
from aetrack.model.config import ModelConfig as ModelConfig

if TYPE_CHECKING:
    from aetrack.model.detector import Detector as Detector
    from aetrack.model.detector import build_detector as build_detector
    from aetrack.model.targets import build_targets as build_targets

# The torch-backed names load on first use (PEP 562): the config alone (read by the CLI, the
# decode settings, checkpoint metadata) must not import torch.
_LAZY = {"Detector": "aetrack.model.detector", "build_detector": "aetrack.model.detector",
         "build_targets": "aetrack.model.targets"}
__all__ = ["STRIDE", "ModelConfig", *_LAZY]

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
