"""Device choice and torch.distributed setup, read from the environment ``torchrun`` sets.

One process per device. ``torchrun`` (``python -m torch.distributed.run``) exports
``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK`` (plus the rendezvous address); a plain
``python``/``aetrack`` start has none of them and runs as a single process. Backend: NCCL for
CUDA devices, gloo for CPU. Rank 0 does all file I/O; every rank computes on its own share
of each step's clips.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from aetrack.device import resolve_device
from aetrack.errors import AetrackError


@dataclass(frozen=True)
class DistInfo:
    """Where this process runs and its place among ``world_size`` processes."""

    device: torch.device
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that logs, validates and writes files."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise AetrackError(f"environment variable {name}={raw!r} is not an integer") from None


def setup(device: str) -> DistInfo:
    """Initialise the process group when started by torchrun (WORLD_SIZE > 1)."""
    world = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", 0)
    dev = resolve_device(device, local_rank=local_rank)
    if world > 1:
        if dev.type == "mps":
            raise AetrackError("distributed training on MPS is not supported; use cpu or cuda")
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return DistInfo(device=dev, rank=rank, local_rank=local_rank, world_size=world)


def cleanup(info: DistInfo) -> None:
    """Tear down the process group started by :func:`setup` (no-op for one process)."""
    if info.distributed and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    """Wait for every rank (no-op for one process)."""
    if info.distributed:
        dist.barrier()


def mean_across_ranks(values: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Element-wise mean of a tensor over ranks (returned as-is for one process)."""
    if not info.distributed:
        return values
    out = values.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out / info.world_size


def broadcast_object(obj: object, info: DistInfo) -> object:
    """Rank 0's ``obj`` on every rank (e.g. a validation result or an error message)."""
    if not info.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]
