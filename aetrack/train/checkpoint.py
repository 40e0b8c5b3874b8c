"""Training checkpoints: the weights file of :mod:`aetrack.model.weights` with the experiment
config they were trained with and, for resuming, optimizer state, step and random-number-
generator states.

The format, reading, checking and writing live in :mod:`aetrack.model.weights` (and the
inference reading of the decode and linker sections in :mod:`aetrack.backend`); this module adds
what only training needs: the whole stored config as an :class:`ExperimentConfig`, and the
optimizer and RNG states.

The learning-rate schedule is a pure function of the step (:func:`aetrack.train.loop.lr_at`),
so the step is the whole scheduler state.

    ckpt = load_checkpoint("runs/synth_small/best.pt")   # model rebuilt from its own config
    ckpt.model(images)                                   # eval mode, on CPU
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aetrack.experiment import ExperimentConfig, experiment_from_dict, experiment_to_dict
from aetrack.model.config import ModelConfig
from aetrack.model.detector import Detector
from aetrack.model.weights import build_model, read_checkpoint, save_weights, stored_model_config


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
    training: dict[str, Any] = {}
    if optimizer is not None:
        training["optimizer"] = optimizer.state_dict()
        training["rng"] = rng_state()
    return save_weights(path, model=model, config=experiment_to_dict(cfg), step=step, metrics=metrics,
                        extra={**training, **(extra or {})})


def stored_config(state: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint's config mapping with its linker section in today's keys (a checkpoint
    written before issue 27 links as it did then: :func:`aetrack.linker.config.upgrade_stored`)."""
    from aetrack.linker.config import upgrade_stored

    config = state["config"]
    return {**config, "linker": upgrade_stored(config["linker"])} if "linker" in config else config


def load_checkpoint(
    path: str | Path, *, cfg: ModelConfig | ExperimentConfig | None = None, device: str | torch.device = "cpu"
) -> Checkpoint:
    """Load a checkpoint and rebuild its model from the checkpoint's own config, read whole as
    an experiment (every section checked, as a config file is).

    With ``cfg`` (a model config, or an experiment whose model section is used), the
    checkpoint must have the same architecture (backbone, classes, tag_dim, widths, stacks);
    otherwise :class:`AetrackError` names every differing field. The model is returned in eval
    mode on ``device``; its input size is the checkpoint's (or ``cfg``'s, when given).
    """
    state = read_checkpoint(path)
    config = experiment_from_dict(stored_config(state), where=f"{path} (stored config)")
    wanted = cfg.model if isinstance(cfg, ExperimentConfig) else cfg
    config = dataclasses.replace(config, model=stored_model_config(state, path=path, cfg=wanted))
    model = build_model(state, config.model, path=path, device=device)
    return Checkpoint(model=model, config=config, step=int(state["step"]), metrics=dict(state.get("metrics", {})),
                      state=state, path=Path(path))
