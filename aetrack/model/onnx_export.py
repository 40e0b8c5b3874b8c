"""Writing the detector as ONNX, self-described.

    aetrack export default detector.onnx        # an embedded name, a weights file or a checkpoint

From a weights file to an .onnx file (and the cache of exports the onnxruntime engine makes on
first use) is :func:`aetrack.backend.export_onnx`, which reads the weights' settings; this
module writes the graph. The file holds the detector only (letterboxing, decoding and linking stay in Python) with:

* input ``images``: (B, 3, H, W) float32, BGR in [0, 1] (OpenCV frames / 255), the
  :class:`~aetrack.model.Detector` convention; B, H and W are dynamic, H and W multiples of
  ``ModelConfig.size_multiple`` (32 for yolox_nano, 4 for the others);
* outputs: the last stack's dict of ``Detector.forward`` in ``Detector.output_names`` order,
  raw values: ``heatmap`` (B, C, H/s, W/s), ``size`` (B, 2, ., .), ``offset`` (B, 2, ., .) and
  ``tags`` (B, D, ., .) for the heatmap models (s = ``ModelConfig.stride``,
  :mod:`aetrack.model.heads`), ``cells`` (B, N, 4 + 1 + C) and ``tags`` for yolox_nano
  (:mod:`aetrack.model.yolox_tags`);
* weights in float32 (float16 weights files are widened on loading), BatchNorm folded into
  the convolutions by the exporter;
* metadata ``aetrack`` (in the model's ``metadata_props``): JSON with the format marker and
  version, the names above, and the ``model``, ``decode`` and ``linker`` sections of the
  weights' config (:func:`aetrack.model.weights.onnx_metadata`), so that
  :mod:`aetrack.model.onnx_runtime` rebuilds the whole tracker from the .onnx file alone (no
  weights file needed).

The graph is written by torch's TorchScript-based exporter (``dynamo=False``): torch's newer
exporter needs the ``onnxscript`` package, which aetrack does not otherwise use. Opset 17.
"""

from __future__ import annotations

import io
import warnings
from typing import Any

import torch
from torch import Tensor, nn

from aetrack.model.detector import Detector
from aetrack.model.weights import ONNX_METADATA_KEY, onnx_metadata

INPUT_NAME = "images"
OPSET = 17


class _LastStack(nn.Module):
    """``Detector`` -> a tuple of the last stack's outputs in ``Detector.output_names`` order
    (ONNX outputs are positional)."""

    def __init__(self, detector: Detector) -> None:
        super().__init__()
        self.detector = detector

    def forward(self, images: Tensor) -> tuple[Tensor, ...]:
        last = self.detector(images)[-1]
        return tuple(last[name] for name in self.detector.output_names)


def onnx_bytes(*, detector: Detector, config: dict[str, Any], source: dict[str, Any]) -> bytes:
    """The serialised ONNX model of ``detector`` (float32, eval mode) with the metadata described
    in the module docstring; ``config`` holds at least the sections of
    :data:`aetrack.model.weights.INFERENCE_SECTIONS`, ``source`` says where the weights came from
    (stored as is)."""
    import onnx

    cfg = detector.cfg
    wrapper = _LastStack(detector.float().eval()).eval()
    example = torch.zeros(1, 3, cfg.input_height, cfg.input_width)
    names = detector.output_names
    # Maps (B, ., h, w) vary in batch and size; YOLOX's cell rows (B, N, 85) in batch and N.
    axes = {n: {0: "batch", 1: "cells"} if n == "cells" else {0: "batch", 2: "map_height", 3: "map_width"}
            for n in names}
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript exporter announces its deprecation, and tracing notes that the input
        # checks of Detector.forward (Python conditions on the shape) are not part of the graph:
        # both expected, neither the user's business.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper, (example,), buffer, dynamo=False, opset_version=OPSET, input_names=[INPUT_NAME],
            output_names=list(names),
            dynamic_axes={INPUT_NAME: {0: "batch", 2: "height", 3: "width"}, **axes},
        )
    proto = onnx.load_from_string(buffer.getvalue())
    entry = proto.metadata_props.add()
    entry.key = ONNX_METADATA_KEY
    entry.value = onnx_metadata(input_name=INPUT_NAME, outputs=list(names), size_multiple=cfg.size_multiple,
                                config=config, source=source)
    proto.producer_name = "aetrack"
    proto.doc_string = ("aetrack associative-embedding detector: images (B, 3, H, W) BGR in [0, 1] -> heatmap, "
                        "size, offset, tags; see metadata 'aetrack'")
    onnx.checker.check_model(proto)
    return proto.SerializeToString()
