"""Which engine runs the detector: torch or onnxruntime (``auto``, the default of the CLI and of the
Python API: onnxruntime on the CPU when installed, else torch).

``load_detector`` turns what a user names (None, an embedded name, a checkpoint or weights file,
or an exported ``.onnx`` file) and a backend into the detector, its model config and the decode
and linker settings that travel with the weights:

- ``torch``: the weights file's :class:`aetrack.model.Detector`.
- ``onnxruntime``: an :class:`aetrack.model.onnx_runtime.OnnxDetector`; an ``.onnx`` file is
  used as it is, any other weights are exported once to the user cache
  (:func:`aetrack.model.onnx_export.cached_onnx`: ``~/.cache/aetrack/onnx/``, or
  ``$AETRACK_CACHE_DIR``) and that export is used from then on. CPU only. An ``.onnx`` file
  always runs on onnxruntime.

Both return maps the same decoder reads; on a real frame their outputs differ by at most 3.3e-5
(tests/test_onnx.py asserts 1e-4 for both embedded models at two input sizes each).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aetrack.config import from_dict
from aetrack.decode import DecodeConfig
from aetrack.errors import AetrackError
from aetrack.linker import LinkerConfig
from aetrack.linker.config import upgrade_stored
from aetrack.model.config import ModelConfig

BACKENDS = ("auto", "torch", "onnxruntime")


@dataclass
class LoadedDetector:
    """A detector ready to run, with the settings stored beside its weights."""

    model: Any  # aetrack.model.Detector (torch) or aetrack.model.onnx_runtime.OnnxDetector
    model_cfg: ModelConfig
    decode: DecodeConfig
    linker: LinkerConfig
    backend: str


def is_onnx_file(weights: str | Path | None) -> bool:
    """Whether ``weights`` names an exported ONNX file (by its suffix)."""
    return weights is not None and str(weights).lower().endswith(".onnx")


def check_backend(backend: str, *, device: str = "cpu") -> None:
    """Refuse an unknown backend, or onnxruntime on another device than the CPU."""
    if backend not in BACKENDS:
        raise AetrackError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend == "onnxruntime" and str(device) != "cpu":
        raise AetrackError(f"the onnxruntime backend runs on the CPU only, not on device {device!r} "
                           f"(use --backend torch for {device})")


def resolve_backend(backend: str, *, weights: str | Path | None = None, device: str = "cpu",
                    multiscale: bool = False) -> str:
    """The engine ``backend`` means: an .onnx ``weights`` file runs on onnxruntime; ``auto`` is
    onnxruntime on the CPU when it is installed (1.6-2.4x faster end to end than torch here,
    BENCHMARKS.md "Speed"), else torch, and torch for the multi-scale test (``multiscale``: it
    resizes torch tensors). Refuses an unknown backend in one line."""
    check_backend(backend, device=device)
    if is_onnx_file(weights):
        return "onnxruntime"
    if backend != "auto":
        return backend
    if str(device) != "cpu" or multiscale:
        return "torch"
    import importlib.util

    return "onnxruntime" if importlib.util.find_spec("onnxruntime") is not None else "torch"


def load_detector(
    weights: str | Path | None = None,
    *,
    backend: str = "torch",
    input_size: tuple[int, int] | None = None,
    threads: int | None = None,
    device: str = "cpu",
) -> LoadedDetector:
    """The detector of ``weights`` (None: the embedded default) on ``backend``.

    ``input_size`` = (width, height) replaces the stored network input size; ``threads`` sets
    onnxruntime's intra-op threads (torch's come from ``torch.set_num_threads``).
    """
    from aetrack.tracker import resolve_weights

    backend = resolve_backend(backend, weights=weights, device=device)
    if backend == "torch":
        from aetrack.train.checkpoint import load_checkpoint

        ckpt = load_checkpoint(resolve_weights(weights))
        model, cfg = ckpt.model, ckpt.config.model
        decode, linker = ckpt.config.decode, ckpt.config.linker
    else:
        from aetrack.model.onnx_export import cached_onnx
        from aetrack.model.onnx_runtime import OnnxDetector, OrtSettings

        settings = OrtSettings(threads=threads)  # checked before anything is exported
        path = Path(weights) if is_onnx_file(weights) else cached_onnx(resolve_weights(weights))
        model = OnnxDetector(path=path, settings=settings)
        stored = model.meta["config"]
        cfg = model.cfg
        decode = from_dict(DecodeConfig, stored["decode"], where=f"{path}: decode")
        linker = from_dict(LinkerConfig, upgrade_stored(stored["linker"]), where=f"{path}: linker")
    if input_size is not None:
        cfg = cfg.with_input_size(*input_size)
    return LoadedDetector(model=model, model_cfg=cfg, decode=decode, linker=linker, backend=backend)


def apply_threads(threads: int | None, *, backend: str = "torch") -> int | None:
    """Apply a ``--threads`` option: torch's CPU threads, left alone when not given; returns
    the threads the model runs with (None: torch's own default, untouched).

    With ``backend="onnxruntime"`` the model runs in onnxruntime's own threads (its session
    takes ``threads``), and torch, which then only decodes small maps, gets one thread whatever
    ``threads`` says: torch's idle OpenMP threads spin after each parallel op and took the cores
    from onnxruntime's (on the crowded 2-core machine decoding took 14-37 ms a frame instead of
    1.5, `git show 7df07a7:notes/BENCH_onnx.md`).
    """
    if threads is not None and threads < 1:
        raise AetrackError(f"--threads must be >= 1, got {threads}")
    if threads is None and backend == "torch":
        return None
    import torch

    if backend == "torch":
        torch.set_num_threads(threads)
        return threads
    # Not given: torch's default count (one per physical core, onnxruntime's own rule too).
    model_threads = threads if threads is not None else torch.get_num_threads()
    torch.set_num_threads(1)
    return model_threads
