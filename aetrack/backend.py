"""Which engine runs the detector: torch or onnxruntime (``auto``, the default of the CLI and of the
Python API: onnxruntime on the CPU when installed, else torch).

``load_detector`` turns what a user names (None, an embedded name, a checkpoint or weights file,
or an exported ``.onnx`` file) and a backend into the detector, its model config and the decode
and linker settings that travel with the weights:

- ``torch``: the weights file's :class:`aetrack.model.Detector`
  (:func:`aetrack.model.weights.load_weights`).
- ``onnxruntime``: an :class:`aetrack.model.onnx_runtime.OnnxDetector`; an ``.onnx`` file is
  used as it is, any other weights are exported once to the user cache (:func:`cached_onnx`:
  ``~/.cache/aetrack/onnx/``, or ``$AETRACK_CACHE_DIR``) and that export is used from then on.
  CPU only. An ``.onnx`` file always runs on onnxruntime.

Both return maps the same decoder reads; on a real frame their outputs differ by at most 3.3e-5
(tests/test_onnx.py asserts 1e-4 for both embedded models at two input sizes each).

:func:`export_onnx` writes a weights file's detector with its settings as a self-described ONNX
file (``aetrack export W OUT.onnx``; :mod:`aetrack.model.onnx_export` writes the graph).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aetrack.config import from_dict, to_dict
from aetrack.decode import DecodeConfig
from aetrack.errors import AetrackError
from aetrack.io.atomic import atomic_write
from aetrack.linker import LinkerConfig
from aetrack.linker.config import upgrade_stored
from aetrack.model.config import ModelConfig
from aetrack.model.weights import ONNX_VERSION, Weights, load_weights, read_checkpoint, resolve_weights

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
    aetrack/bench/reports/speed.md), else torch, and torch for the multi-scale test (``multiscale``: it
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
    backend = resolve_backend(backend, weights=weights, device=device)
    if backend == "torch":
        w, decode, linker = _read_weights(resolve_weights(weights))
        model, cfg = w.model, w.model_cfg
    else:
        from aetrack.model.onnx_runtime import OnnxDetector, OrtSettings

        settings = OrtSettings(threads=threads)  # checked before anything is exported
        path = Path(weights) if is_onnx_file(weights) else cached_onnx(resolve_weights(weights))
        model = OnnxDetector(path=path, settings=settings)
        cfg = model.cfg
        decode, linker = _settings(model.meta["config"], where=f"{path}: ")
    if input_size is not None:
        cfg = cfg.with_input_size(*input_size)
    return LoadedDetector(model=model, model_cfg=cfg, decode=decode, linker=linker, backend=backend)


def _settings(config: dict[str, Any], *, where: str) -> tuple[DecodeConfig, LinkerConfig]:
    """The decode and linker sections stored with weights (a checkpoint's config, an .onnx
    file's metadata) as configs; a missing section takes the defaults, a linker section written
    before issue 27 links as it did then (:func:`aetrack.linker.config.upgrade_stored`)."""
    decode = from_dict(DecodeConfig, config.get("decode"), where=f"{where}decode")
    linker = config.get("linker")
    linker = from_dict(LinkerConfig, None if linker is None else upgrade_stored(linker), where=f"{where}linker")
    return decode, linker


def _read_weights(path: Path) -> tuple[Weights, DecodeConfig, LinkerConfig]:
    """The torch detector of a checkpoint or weights file, with its stored settings."""
    w = load_weights(path)
    return (w, *_settings(w.config, where=f"{path} (stored config)."))


def export_onnx(weights: str | Path, out: str | Path) -> Path:
    """Write the detector of ``weights`` (a checkpoint or weights file path) to ``out`` as ONNX,
    atomically, with its model, decode and linker settings in the metadata
    (:mod:`aetrack.model.onnx_export`); the folder of ``out`` must exist. Returns ``out``."""
    from aetrack.model.onnx_export import onnx_bytes

    dst = Path(out)
    if not dst.parent.is_dir():
        raise AetrackError(f"output folder does not exist: {dst.parent}")
    src = Path(weights)
    w, decode, linker = _read_weights(src)
    # The settings as this version reads them (defaults filled in, old linker keys translated).
    config = {"model": to_dict(w.model_cfg), "decode": to_dict(decode), "linker": to_dict(linker)}
    data = onnx_bytes(detector=w.model, config=config,
                      source={"weights": src.name, "sha256": file_sha256(src), "step": w.step})
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

    The file is named by the weights' content (``onnx/<stem>-<sha256 prefix>-v<ONNX_VERSION>.onnx``),
    so retrained weights under the same name get a new export and a stale one is never used.
    """
    src = Path(weights)
    read_checkpoint(src)  # a missing or foreign file says so before anything is written
    target = cache_dir() / "onnx" / f"{src.stem}-{file_sha256(src)[:16]}-v{ONNX_VERSION}.onnx"
    if target.is_file():
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise AetrackError(f"cannot create the ONNX cache folder {target.parent} ({err.strerror or err}); "
                           f"set AETRACK_CACHE_DIR or pass an exported .onnx file") from None
    return export_onnx(src, target)


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
