"""Weights files: checkpoints (reading, checking, writing atomically), the embedded weights by
name, and the metadata that makes an exported ONNX file describe itself.

The tracker, the engines (:mod:`aetrack.backend`), the ONNX export and training all read and
write weights through this module, and it imports nothing of training: a checkpoint's stored
config is a plain mapping here. Inference reads its ``model`` section (:func:`load_weights`;
:func:`aetrack.backend.load_detector` also its ``decode`` and ``linker`` sections); training
reads it whole as an experiment (:func:`aetrack.train.checkpoint.load_checkpoint`).

A checkpoint is a dict saved with ``torch.save`` (written to a temp file and renamed, so a crash
never leaves half a file)::

    format     "aetrack-checkpoint"      version   1
    config     to_dict(ExperimentConfig) step      optimizer steps taken
    model      state_dict                metrics   last validation metrics (may be empty)
    optimizer  state_dict (training checkpoints only)
    rng        python / numpy / torch (/ cuda) generator states (training checkpoints only)

Loading uses ``torch.load(weights_only=True)``: a checkpoint holds tensors, numbers, strings and
lists only, never pickled code. torch is imported when a file is read or written, not with this
module (naming the embedded weights costs nothing).

    w = load_weights(resolve_weights("synthetic"))   # model rebuilt from its own stored config
    w.model(images)                                   # eval mode, on CPU
"""

from __future__ import annotations

import dataclasses
import json
import pickle
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aetrack.config import from_dict
from aetrack.errors import AetrackError
from aetrack.io.atomic import atomic_write
from aetrack.model.config import ModelConfig

if TYPE_CHECKING:
    import torch

    from aetrack.model.detector import Detector

# Embedded weights by name (files in aetrack/weights/; README says how each is reproduced):
# "default" tracks real people and vehicles (YOLOX-nano features, configs/real_yolox_nano.yaml,
# `make weights`); "synthetic" is the small model trained on synthetic sequences only
# (configs/synth_small.yaml, `make weights-synthetic`), for tests and the synthetic benchmarks.
EMBEDDED = {"default": "real_yolox_nano.pt", "synthetic": "synth_small.pt"}

FORMAT = "aetrack-checkpoint"
VERSION = 1
# Model fields that do not change the weights: a checkpoint runs at any input size, and the
# pretrained file only initialises a fresh run. Class names are compared as ModelConfig.names.
_SIZE_FIELDS = ("input_width", "input_height", "fit_aspect", "input_scale", "input_long_min", "input_long_max",
                "pretrained", "class_names")

# The metadata entry of an exported ONNX file (aetrack.model.onnx_export writes it,
# aetrack.model.onnx_runtime reads it).
ONNX_FORMAT = "aetrack-onnx"
ONNX_VERSION = 1
ONNX_METADATA_KEY = "aetrack"
# Config sections stored with the graph: what inference needs (the model's shape and classes,
# peak decoding, linking); training sections say how the weights were made and stay behind.
INFERENCE_SECTIONS = ("model", "decode", "linker")


def pretrained_path(name: str = "default") -> Path:
    """Path of an embedded checkpoint (``"default"`` or ``"synthetic"``) inside the package."""
    if name not in EMBEDDED:
        raise AetrackError(f"unknown embedded weights {name!r}; choose one of {', '.join(EMBEDDED)} "
                           f"or give a checkpoint path")
    p = Path(str(resources.files("aetrack") / "weights" / EMBEDDED[name]))
    if not p.is_file():
        raise AetrackError(f"embedded weights missing: {p} (reinstall aetrack or pass --weights)")
    return p


def resolve_weights(weights: str | Path | None) -> Path:
    """A checkpoint path for ``weights``: None is the embedded default, an embedded name
    (``default``, ``synthetic``) that is not an existing file is that embedded checkpoint."""
    if weights is None:
        return pretrained_path("default")
    if str(weights) in EMBEDDED and not Path(weights).exists():
        return pretrained_path(str(weights))
    return Path(weights)


# -- checkpoints ----------------------------------------------------------------------------------
@dataclass
class Weights:
    """A loaded weights file: the rebuilt model (eval mode) plus everything stored with it."""

    model: Detector
    model_cfg: ModelConfig  # the stored model section (at the input size asked for, if any)
    config: dict[str, Any]  # the stored config as written (an experiment's to_dict)
    step: int
    metrics: dict[str, Any]
    state: dict[str, Any]  # the raw dict (optimizer and rng states of training checkpoints)
    path: Path


def cpu_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Detached CPU copies of ``model``'s state (unwrapped from DistributedDataParallel)."""
    net = model.module if hasattr(model, "module") else model
    return {k: v.detach().cpu() for k, v in net.state_dict().items()}


def save_weights(
    path: str | Path,
    *,
    model: torch.nn.Module,
    config: dict[str, Any],
    step: int,
    metrics: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint atomically: ``model``'s weights, the ``config`` mapping they were made
    with, ``step`` and ``metrics``, plus the entries of ``extra`` (training's optimizer and RNG
    states, :func:`aetrack.train.checkpoint.save_checkpoint`)."""
    import torch

    state: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "config": config,
        "step": int(step),
        "model": cpu_state_dict(model),
        "metrics": dict(metrics or {}),
    }
    state.update(extra or {})
    p = Path(path)
    with atomic_write(p, "wb") as f:
        torch.save(state, f)
    return p


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The raw checkpoint dict, validated by :func:`check_checkpoint`; unreadable or foreign
    files raise :class:`AetrackError`."""
    import torch

    p = Path(path)
    if not p.is_file():
        raise AetrackError(f"checkpoint not found: {p}")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "Unsupported global" in str(err):
            raise AetrackError(f"{p}: holds Python objects besides tensors, numbers, strings and lists; "
                               "not an aetrack checkpoint (code in a checkpoint is never run)") from None
        raise AetrackError(f"{p}: not a checkpoint (not a file written by torch.save)") from None
    except OSError as err:
        raise AetrackError(f"{p}: cannot read ({err.strerror or err})") from None
    except Exception:  # noqa: BLE001 - torch.load on arbitrary bytes raises anything (EOFError,
        # KeyError, IndexError, RuntimeError, ...), and none of them says more than this line.
        raise AetrackError(f"{p}: not a checkpoint (not a file written by torch.save)") from None
    check_checkpoint(state, path=p)
    return state


def check_checkpoint(state: object, *, path: str | Path) -> None:
    """Refuse anything but the dict :func:`save_weights` writes: the format marker and
    version, a ``config`` mapping, ``model`` mapping names to tensors, a whole ``step`` >= 0,
    and mappings for the optional ``metrics``, ``optimizer`` and ``rng``. Raises
    :class:`AetrackError` naming the file and the first entry that is wrong."""
    import torch

    p = Path(path)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise AetrackError(f"{p}: not an aetrack checkpoint (no '{FORMAT}' marker)")
    version = state.get("version")
    if type(version) is not int or version != VERSION:
        raise AetrackError(f"{p}: checkpoint version {version!r} is not supported (expected {VERSION})")
    for key in ("config", "model", "step"):
        if key not in state:
            raise AetrackError(f"{p}: checkpoint has no '{key}' entry")
    for key in ("config", "model", "metrics", "optimizer", "rng"):
        if key in state and not isinstance(state[key], dict):
            raise AetrackError(f"{p}: checkpoint entry '{key}' is of type {type(state[key]).__name__}, "
                               "not a mapping")
    bad = [k for k, v in state["model"].items() if not (isinstance(k, str) and isinstance(v, torch.Tensor))]
    if bad:
        raise AetrackError(f"{p}: checkpoint entry 'model' holds {bad[0]!r} of type "
                           f"{type(state['model'][bad[0]]).__name__}, not a tensor")
    step = state["step"]
    if type(step) is not int or step < 0:
        raise AetrackError(f"{p}: checkpoint entry 'step' must be a whole number >= 0, got {step!r}")


def check_fits(state: dict[str, Any], cfg: ModelConfig, *, path: str | Path) -> None:
    """Refuse a checkpoint whose architecture differs from ``cfg`` (input size may differ)."""
    # Rebuilt like any config: fields newer than the checkpoint take their defaults, lists
    # become tuples.
    stored = from_dict(ModelConfig, state["config"].get("model", {}), where=f"{path}: model")
    names = [f.name for f in dataclasses.fields(ModelConfig) if f.name not in _SIZE_FIELDS] + ["names"]
    diffs = [f"model.{k} is {getattr(stored, k)!r} in the checkpoint but {getattr(cfg, k)!r} in the config"
             for k in names if getattr(stored, k) != getattr(cfg, k)]
    if diffs:
        raise AetrackError(f"{path}: checkpoint does not fit the config: {'; '.join(diffs)}")


def stored_model_config(state: dict[str, Any], *, path: str | Path, cfg: ModelConfig | None = None) -> ModelConfig:
    """The model section of a read checkpoint. With ``cfg``, the checkpoint must have the same
    architecture (:func:`check_fits`) and the section takes ``cfg``'s input size."""
    model_cfg = from_dict(ModelConfig, state["config"].get("model"), where=f"{path} (stored config).model")
    if cfg is not None:
        check_fits(state, cfg, path=path)
        model_cfg = dataclasses.replace(model_cfg, input_width=cfg.input_width, input_height=cfg.input_height)
    return model_cfg


def build_model(state: dict[str, Any], model_cfg: ModelConfig, *, path: str | Path,
                device: str | torch.device = "cpu") -> Detector:
    """The detector of ``model_cfg`` with a read checkpoint's weights, in eval mode on ``device``."""
    from aetrack.model.detector import build_detector

    model = build_detector(model_cfg)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as err:
        first = str(err).splitlines()[1].strip() if len(str(err).splitlines()) > 1 else str(err)
        raise AetrackError(f"{path}: weights do not fit the stored model config ({first[:160]})") from None
    return model.to(device).eval()


def load_weights(
    path: str | Path, *, cfg: ModelConfig | None = None, device: str | torch.device = "cpu"
) -> Weights:
    """Load a checkpoint and rebuild its model from the checkpoint's own model section.

    With ``cfg``, the checkpoint must have the same architecture (backbone, classes, tag_dim,
    widths, stacks); otherwise :class:`AetrackError` names every differing field. The model is
    returned in eval mode on ``device``; its input size is the checkpoint's (or ``cfg``'s, when
    given).
    """
    state = read_checkpoint(path)
    model_cfg = stored_model_config(state, path=path, cfg=cfg)
    model = build_model(state, model_cfg, path=path, device=device)
    return Weights(model=model, model_cfg=model_cfg, config=state["config"], step=int(state["step"]),
                   metrics=dict(state.get("metrics", {})), state=state, path=Path(path))


def export_weights(
    src: str | Path, dst: str | Path, *, settings: dict[str, Any] | None = None, half: bool = False
) -> Path:
    """Write an inference-only copy of checkpoint ``src`` (model, config, step, metrics; no
    optimizer or RNG state) to ``dst`` atomically — how the embedded weights are made.

    ``settings``: config sections (``decode`` and ``linker``, as mappings) that replace the
    stored ones, so tracker settings tuned after training travel with the weights (the model,
    loss, data and train sections, which say how the weights were made, stay as trained).

    ``half`` stores floating-point tensors as float16 (half the file; loading casts them back
    to float32, a relative change of at most 2^-11 per weight).
    """
    import torch

    state = read_checkpoint(src)
    keep = {k: state[k] for k in ("format", "version", "config", "step", "model", "metrics") if k in state}
    if half:
        keep["model"] = {k: v.half() if v.is_floating_point() else v for k, v in keep["model"].items()}
    if settings is not None:
        keep["config"] = {**keep["config"], **settings}
    p = Path(dst)
    with atomic_write(p, "wb") as f:
        torch.save(keep, f)
    return p


# -- exported ONNX files --------------------------------------------------------------------------
def onnx_metadata(*, input_name: str, outputs: list[str], size_multiple: int, config: dict[str, Any],
                  source: dict[str, Any]) -> str:
    """The JSON an exported ONNX file carries under :data:`ONNX_METADATA_KEY`: the format marker
    and version, the input and output names, the input size multiple, the
    :data:`INFERENCE_SECTIONS` of ``config`` and ``source`` (where the weights came from)."""
    meta = {
        "format": ONNX_FORMAT,
        "version": ONNX_VERSION,
        "input": input_name,
        "outputs": list(outputs),
        "size_multiple": size_multiple,
        "config": {k: config[k] for k in INFERENCE_SECTIONS},
        "source": source,
    }
    return json.dumps(meta, sort_keys=True)


def check_onnx_metadata(raw: str | None, *, path: str | Path) -> dict[str, Any]:
    """The metadata :func:`onnx_metadata` wrote (``raw``: None when the file has none), checked;
    AetrackError for a foreign file."""
    if raw is None:
        raise AetrackError(f"{path}: an ONNX model without aetrack metadata (write it with `aetrack export`)")
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError:
        raise AetrackError(f"{path}: its aetrack metadata is not JSON") from None
    if not isinstance(meta, dict) or meta.get("format") != ONNX_FORMAT:
        raise AetrackError(f"{path}: its metadata has no '{ONNX_FORMAT}' marker")
    if meta.get("version") != ONNX_VERSION:
        raise AetrackError(f"{path}: aetrack ONNX version {meta.get('version')!r} is not supported "
                           f"(expected {ONNX_VERSION})")
    config = meta.get("config")
    if not isinstance(config, dict) or not all(isinstance(config.get(k), dict) for k in INFERENCE_SECTIONS):
        raise AetrackError(f"{path}: its aetrack metadata lacks the model, decode and linker configs")
    return meta
