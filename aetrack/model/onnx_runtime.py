"""Running an exported detector (:mod:`aetrack.model.onnx_export`) with onnxruntime on the CPU.

    from aetrack.model.onnx_runtime import OnnxDetector, OrtSettings

    detector = OnnxDetector(path="detector.onnx", settings=OrtSettings(threads=2))
    maps = detector(images)[-1]            # images (B, 3, H, W) float tensor, BGR in [0, 1]
    maps["tags"].shape                     # (B, D, H/s, W/s), a torch tensor like Detector's

:class:`OnnxDetector` is called like :class:`aetrack.model.Detector` (a list of one dict of
maps), so decoding and the tracker do not care which one runs. The model config comes from
the file's own metadata (``detector.meta["config"]`` also holds the decode and linker sections,
which :func:`aetrack.backend.load_detector` reads). onnxruntime is optional: ``pip install
'aetrack[onnxruntime]'``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from aetrack.config import from_dict
from aetrack.errors import AetrackError
from aetrack.model.config import ModelConfig
from aetrack.model.weights import ONNX_METADATA_KEY, check_onnx_metadata

INSTALL_HINT = "pip install 'aetrack[onnxruntime]'"


@dataclass(frozen=True)
class OrtSettings:
    """How the onnxruntime session runs (measured in `git show 7df07a7:notes/BENCH_onnx.md`)."""

    # Intra-op threads; None is onnxruntime's default (one per physical core).
    threads: int | None = None
    # Graph optimisation level: "all" (node fusions and layout changes; faster than "basic"
    # for both shipped models) or "basic" or "disable".
    optimization: str = "all"
    # Treat denormal floats as zero in onnxruntime's threads (session.set_denormal_as_zero).
    # YOLOX's SiLU makes denormals, which cost torch 12x (aetrack.device.denormals_flushed); in
    # onnxruntime the flag measured no difference (42.6 vs 42.8 ms, `git show 7df07a7:notes/BENCH_onnx.md`): its
    # kernels do not meet them. On as a guard; values below 1.2e-38 change no detection.
    denormals_as_zero: bool = True
    # Let idle pool threads spin-wait for the next op (onnxruntime's default). Off: on a machine
    # with as many busy processes as cores, spinning threads take the CPU the rest of the
    # pipeline (video decoding, other processes) needs.
    spinning: bool = False

    def __post_init__(self) -> None:
        if self.threads is not None and (isinstance(self.threads, bool) or not isinstance(self.threads, int)
                                         or self.threads < 1):
            raise ValueError(f"threads must be a positive integer or None, got {self.threads!r}")
        if self.optimization not in _LEVELS:
            raise ValueError(f"optimization must be one of {', '.join(_LEVELS)}, got {self.optimization!r}")


_LEVELS = ("all", "basic", "disable")


def _ort() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise AetrackError(f"the onnxruntime backend needs onnxruntime, which is not installed: {INSTALL_HINT}") \
            from None
    return onnxruntime


class OnnxDetector:
    """An exported detector in an onnxruntime CPU session; ``detector(images)`` returns
    ``[{name: tensor}]`` with the exported output names (``heatmap``, ``size``, ``offset``,
    ``tags``, or ``cells`` and ``tags`` for yolox_nano) as torch tensors, like
    :class:`aetrack.model.Detector` (one stack: the exported last one).

    Args:
        path: the .onnx file written by :func:`aetrack.backend.export_onnx`.
        settings: session options.
    """

    def __init__(self, *, path: str | Path, settings: OrtSettings | None = None) -> None:
        ort = _ort()
        self.path = Path(path)
        self.settings = settings or OrtSettings()
        if not self.path.is_file():
            raise AetrackError(f"ONNX model not found: {self.path}")
        opts = ort.SessionOptions()
        if self.settings.threads is not None:
            opts.intra_op_num_threads = self.settings.threads
        opts.inter_op_num_threads = 1  # one image at a time: the graph is a chain
        opts.graph_optimization_level = {
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        }[self.settings.optimization]
        opts.add_session_config_entry("session.set_denormal_as_zero", "1" if self.settings.denormals_as_zero else "0")
        opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if self.settings.spinning else "0")
        opts.log_severity_level = 3  # errors only: no optimiser chatter on the user's terminal
        try:
            self.session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        except Exception as err:  # noqa: BLE001 - onnxruntime raises its own types for any bad file
            raise AetrackError(f"{self.path}: not an ONNX model onnxruntime can load "
                               f"({str(err).splitlines()[0][:160]})") from None
        self.meta = read_metadata(self.session, path=self.path)
        self.cfg = from_dict(ModelConfig, self.meta["config"]["model"], where=f"{self.path}: model")
        self.input_name = self.meta["input"]
        self.output_names = list(self.meta["outputs"])

    def __call__(self, images: Tensor | np.ndarray) -> list[dict[str, Tensor]]:
        """(B, 3, H, W) float tensor on the CPU or array, BGR in [0, 1], H and W multiples of
        ``cfg.size_multiple`` -> [dict of (B, ., H/s, W/s) float32 maps]."""
        self.cfg.check_images(tuple(images.shape))
        x = images.detach().cpu().numpy() if isinstance(images, Tensor) else images
        x = np.ascontiguousarray(x, dtype=np.float32)
        maps = self.session.run(self.output_names, {self.input_name: x})
        return [{name: torch.from_numpy(m) for name, m in zip(self.output_names, maps)}]


def read_metadata(session: Any, *, path: str | Path) -> dict[str, Any]:
    """The ``aetrack`` metadata of a loaded session, checked
    (:func:`aetrack.model.weights.check_onnx_metadata`); AetrackError for a foreign file."""
    return check_onnx_metadata(session.get_modelmeta().custom_metadata_map.get(ONNX_METADATA_KEY), path=path)
