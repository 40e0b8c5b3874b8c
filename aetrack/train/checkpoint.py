"""Checkpoints: model weights with the experiment config they were trained with, and, for
resuming, optimizer state, step and random-number-generator states.

A checkpoint is a dict saved with ``torch.save`` (written to a temp file and renamed, so a crash
never leaves half a file)::

    format     "aetrack-checkpoint"      version   1
    config     to_dict(ExperimentConfig) step      optimizer steps taken
    model      state_dict                metrics   last validation metrics (may be empty)
    optimizer  state_dict (training checkpoints only)
    rng        python / numpy / torch (/ cuda) generator states (training checkpoints only)

The learning-rate schedule is a pure function of the step (:func:`aetrack.train.loop.lr_at`),
so the step is the whole scheduler state. Loading uses ``torch.load(weights_only=True)``:
a checkpoint holds tensors, numbers, strings and lists only, never pickled code.

    ckpt = load_checkpoint("runs/synth_small/best.pt")   # model rebuilt from its own config
    ckpt.model(images)                                   # eval mode, on CPU
"""

from __future__ import annotations

import dataclasses
import pickle
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aetrack.config import from_dict
from aetrack.errors import AetrackError
from aetrack.experiment import ExperimentConfig, experiment_from_dict, experiment_to_dict
from aetrack.io.atomic import atomic_write
from aetrack.model.config import ModelConfig
from aetrack.model.detector import Detector, build_detector

FORMAT = "aetrack-checkpoint"
VERSION = 1
# Model fields that do not change the weights: a checkpoint runs at any input size, and the
# pretrained file only initialises a fresh run. Class names are compared as ModelConfig.names.
_SIZE_FIELDS = ("input_width", "input_height", "fit_aspect", "input_scale", "input_long_min", "input_long_max",
                "pretrained", "class_names")


@dataclass
class Checkpoint:
    """A loaded checkpoint: the rebuilt model (eval mode) plus everything stored with it."""

    model: Detector
    config: ExperimentConfig
    step: int
    metrics: dict[str, Any]
    state: dict[str, Any]  # the raw dict (optimizer and rng states for resuming)
    path: Path


def rng_state() -> dict[str, Any]:
    """States of every generator the training process uses, as checkpoint-safe values."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    python = state["python"]
    random.setstate((python[0], tuple(python[1]), python[2]))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), int(pos), int(has_gauss), float(cached)))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def cpu_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Detached CPU copies of ``model``'s state (unwrapped from DistributedDataParallel)."""
    net = model.module if hasattr(model, "module") else model
    return {k: v.detach().cpu() for k, v in net.state_dict().items()}


def save_checkpoint(
    path: str | Path,
    *,
    model: torch.nn.Module,
    cfg: ExperimentConfig,
    step: int,
    optimizer: torch.optim.Optimizer | None = None,
    metrics: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint atomically; ``optimizer`` given means a resumable training checkpoint."""
    state: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "config": experiment_to_dict(cfg),
        "step": int(step),
        "model": cpu_state_dict(model),
        "metrics": dict(metrics or {}),
    }
    if optimizer is not None:
        state["optimizer"] = optimizer.state_dict()
        state["rng"] = rng_state()
    state.update(extra or {})
    p = Path(path)
    with atomic_write(p, "wb") as f:
        torch.save(state, f)
    return p


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The raw checkpoint dict, validated by :func:`check_checkpoint`; unreadable or foreign
    files raise :class:`AetrackError`."""
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
    """Refuse anything but the dict :func:`save_checkpoint` writes: the format marker and
    version, a ``config`` mapping, ``model`` mapping names to tensors, a whole ``step`` >= 0,
    and mappings for the optional ``metrics``, ``optimizer`` and ``rng``. Raises
    :class:`AetrackError` naming the file and the first entry that is wrong."""
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


def stored_config(state: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint's config mapping with its linker section in today's keys (a checkpoint
    written before issue 27 links as it did then: :func:`aetrack.linker.config.upgrade_stored`)."""
    from aetrack.linker.config import upgrade_stored

    config = state["config"]
    return {**config, "linker": upgrade_stored(config["linker"])} if "linker" in config else config


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


def load_checkpoint(
    path: str | Path, *, cfg: ModelConfig | ExperimentConfig | None = None, device: str | torch.device = "cpu"
) -> Checkpoint:
    """Load a checkpoint and rebuild its model from the checkpoint's own config.

    With ``cfg`` (a model config, or an experiment whose model section is used), the
    checkpoint must have the same architecture (backbone, classes, tag_dim, widths, stacks);
    otherwise :class:`AetrackError` names every differing field. The model is returned in eval
    mode on ``device``; its input size is the checkpoint's (or ``cfg``'s, when given).
    """
    state = read_checkpoint(path)
    config = experiment_from_dict(stored_config(state), where=f"{path} (stored config)")
    model_cfg = config.model
    if cfg is not None:
        wanted = cfg.model if isinstance(cfg, ExperimentConfig) else cfg
        check_fits(state, wanted, path=path)
        model_cfg = dataclasses.replace(model_cfg, input_width=wanted.input_width, input_height=wanted.input_height)
        config = dataclasses.replace(config, model=model_cfg)
    model = build_detector(model_cfg)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as err:
        first = str(err).splitlines()[1].strip() if len(str(err).splitlines()) > 1 else str(err)
        raise AetrackError(f"{path}: weights do not fit the stored model config ({first[:160]})") from None
    model.to(device).eval()
    return Checkpoint(model=model, config=config, step=int(state["step"]), metrics=dict(state.get("metrics", {})),
                      state=state, path=Path(path))


def export_weights(
    src: str | Path, dst: str | Path, *, inference: ExperimentConfig | None = None, half: bool = False
) -> Path:
    """Write an inference-only copy of checkpoint ``src`` (model, config, step, metrics; no
    optimizer or RNG state) to ``dst`` atomically — how the embedded weights are made.

    With ``inference``, the copy's ``decode`` and ``linker`` sections are that experiment's:
    tracker settings tuned after training travel with the weights (the model, loss, data and
    train sections, which say how the weights were made, stay as trained).

    ``half`` stores floating-point tensors as float16 (half the file; loading casts them back
    to float32, a relative change of at most 2^-11 per weight).
    """
    state = read_checkpoint(src)
    keep = {k: state[k] for k in ("format", "version", "config", "step", "model", "metrics") if k in state}
    if half:
        keep["model"] = {k: v.half() if v.is_floating_point() else v for k, v in keep["model"].items()}
    if inference is not None:
        tuned = experiment_to_dict(inference)
        keep["config"] = {**keep["config"], "decode": tuned["decode"], "linker": tuned["linker"]}
    p = Path(dst)
    with atomic_write(p, "wb") as f:
        torch.save(keep, f)
    return p
