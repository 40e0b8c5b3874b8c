"""Writing the detector as ONNX, self-described, and the cache of exports made on first use.

    aetrack export default detector.onnx        # an embedded name, a weights file or a checkpoint

The file holds the detector only (letterboxing, decoding and linking stay in Python) with:

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
  weights' config, so that :mod:`aetrack.model.onnx_runtime` rebuilds the whole tracker from the
  .onnx file alone (no weights file needed).

The graph is written by torch's TorchScript-based exporter (``dynamo=False``): torch's newer
exporter needs the ``onnxscript`` package, which aetrack does not otherwise use. Opset 17.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from aetrack.errors import AetrackError
from aetrack.io.atomic import atomic_write
from aetrack.model.detector import Detector

FORMAT = "aetrack-onnx"
VERSION = 1
METADATA_KEY = "aetrack"
INPUT_NAME = "images"
OPSET = 17
# Config sections stored with the graph: what inference needs (the model's shape and classes,
# peak decoding, linking); training sections say how the weights were made and stay behind.
INFERENCE_SECTIONS = ("model", "decode", "linker")


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
    in the module docstring; ``config`` holds at least :data:`INFERENCE_SECTIONS`, ``source``
    says where the weights came from (stored as is)."""
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
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "input": INPUT_NAME,
        "outputs": list(names),
        "size_multiple": cfg.size_multiple,
        "config": {k: config[k] for k in INFERENCE_SECTIONS},
        "source": source,
    }
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(meta, sort_keys=True)
    proto.producer_name = "aetrack"
    proto.doc_string = ("aetrack associative-embedding detector: images (B, 3, H, W) BGR in [0, 1] -> heatmap, "
                        "size, offset, tags; see metadata 'aetrack'")
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def export_onnx(weights: str | Path, out: str | Path) -> Path:
    """Write the detector of ``weights`` (a checkpoint or weights file path) to ``out`` as ONNX,
    atomically; the folder of ``out`` must exist. Returns ``out``."""
    from aetrack.experiment import experiment_to_dict
    from aetrack.train.checkpoint import load_checkpoint

    dst = Path(out)
    if not dst.parent.is_dir():
        raise AetrackError(f"output folder does not exist: {dst.parent}")
    src = Path(weights)
    ckpt = load_checkpoint(src)
    data = onnx_bytes(detector=ckpt.model, config=experiment_to_dict(ckpt.config),
                      source={"weights": src.name, "sha256": file_sha256(src), "step": ckpt.step})
    try:
        with atomic_write(dst, "wb") as f:
            f.write(data)
    except OSError as err:
        raise AetrackError(f"{dst}: cannot write ({err.strerror or err})") from None
    return dst


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_dir() -> Path:
    """Where exports made on first use go: ``$AETRACK_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/aetrack``, else ``~/.cache/aetrack``."""
    if os.environ.get("AETRACK_CACHE_DIR"):
        return Path(os.environ["AETRACK_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "aetrack"


def cached_onnx(weights: str | Path) -> Path:
    """The ONNX export of ``weights`` in :func:`cache_dir`, made now if it is not there yet.

    The file is named by the weights' content (``onnx/<stem>-<sha256 prefix>-v<VERSION>.onnx``),
    so retrained weights under the same name get a new export and a stale one is never used.
    """
    from aetrack.train.checkpoint import read_checkpoint

    src = Path(weights)
    read_checkpoint(src)  # a missing or foreign file says so before anything is written
    target = cache_dir() / "onnx" / f"{src.stem}-{file_sha256(src)[:16]}-v{VERSION}.onnx"
    if target.is_file():
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise AetrackError(f"cannot create the ONNX cache folder {target.parent} ({err.strerror or err}); "
                           f"set AETRACK_CACHE_DIR or pass an exported .onnx file") from None
    return export_onnx(src, target)
