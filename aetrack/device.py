"""Choosing the torch device: ``"auto"`` or an explicit name, checked against this machine."""

from __future__ import annotations

import torch

from aetrack.errors import AetrackError


def resolve_device(name: str, *, local_rank: int = 0) -> torch.device:
    """``"auto"`` -> cuda:local_rank if available, else mps, else cpu; explicit names are checked."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank % torch.cuda.device_count())
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise AetrackError(f"unknown device {name!r} (auto, cpu, cuda, cuda:N, mps)") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise AetrackError(f"device {name}: CUDA is not available on this machine")
        index = dev.index if dev.index is not None else local_rank
        if index >= torch.cuda.device_count():
            raise AetrackError(f"device {name}: only {torch.cuda.device_count()} CUDA device(s)")
        return torch.device("cuda", index)
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise AetrackError(f"device {name}: MPS is not available on this machine")
    return dev
