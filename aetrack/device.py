"""Choosing the torch device: ``"auto"`` or an explicit name, checked against this machine."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

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


@contextlib.contextmanager
def denormals_flushed() -> Iterator[None]:
    """Within the block the CPU treats denormal floats as zero; afterwards it does not.

    SiLU (YOLOX-nano's activation) of a strongly negative input is a denormal float (x e^x for
    x = -100 is ~4e-42), and x86 CPUs handle denormals in microcode: measured here, the default
    model's forward took 2052 ms a frame with them and 163 ms without, on the same loaded
    machine. Values below 1.2e-38 never change a detection. The flag is processor state, so it
    is set only around our own forward passes and cleared after them (flush-to-zero left on
    would change every later float computation of the process).
    """
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)
