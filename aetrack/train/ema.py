"""Exponential moving average of the weights during training (inference uses the average).

A torch :class:`~torch.optim.swa_utils.AveragedModel` with an EMA update whose decay ramps up
as ``min(decay, (1 + n) / (10 + n))`` after n updates (as in TensorFlow's
ExponentialMovingAverage with num_updates), so early validations are not dominated by the
random initial weights. Floating-point buffers (BatchNorm running statistics) are averaged
too; integer buffers (batch counters) follow the trained model.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.optim.swa_utils import AveragedModel

__all__ = ["WeightAverage", "ramped_decay"]


def ramped_decay(decay: float, updates: int) -> float:
    """The decay used for update number ``updates`` + 1 (0 before any): min(decay, (1+n)/(10+n))."""
    return min(decay, (1.0 + updates) / (10.0 + updates))


class WeightAverage:
    """EMA copy of a model: ``update(model)`` after every optimizer step, ``module`` to use it."""

    def __init__(self, *, model: torch.nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")

        def average(avgs: list[Tensor], news: list[Tensor], count: Tensor) -> None:
            # Called once per (device, dtype) group, so the decay is computed once per group.
            if not avgs[0].is_floating_point():
                for avg, new in zip(avgs, news):
                    avg.copy_(new)
                return
            torch._foreach_lerp_(avgs, news, 1.0 - ramped_decay(decay, int(count)))

        self._avg = AveragedModel(model, multi_avg_fn=average, use_buffers=True)

    @property
    def module(self) -> torch.nn.Module:
        """The averaged model (same architecture as the trained one)."""
        return self._avg.module

    @property
    def updates(self) -> int:
        return int(self._avg.n_averaged)

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        """Fold the current weights of ``model`` (unwrapped from DDP) into the average."""
        self._avg.update_parameters(model.module if hasattr(model, "module") else model)

    def load(self, weights: dict[str, Tensor], *, updates: int) -> None:
        """Restore an average saved as ``module.state_dict()`` after ``updates`` updates (resume)."""
        self._avg.module.load_state_dict(weights)
        self._avg.n_averaged.fill_(updates)
