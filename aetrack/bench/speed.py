"""Speed measurements beside the tracking benchmark: model sweep, matmul peak, linker, machine.

* :func:`model_sweep`: detector forward milliseconds at a few input sizes (warm-up, then the
  median of ``repeats`` timed forwards) and the FLOPs of one forward at each size, counted by
  ``torch.utils.flop_counter.FlopCounterMode``. Its convention: a multiply-accumulate is 2 FLOPs
  (a matmul (m, k) @ (k, n) counts 2mkn), and only convolutions and matrix products are
  counted (activations, normalisation, pooling and upsampling are not), so the count is a
  slight underestimate of the arithmetic the CPU does.
* :func:`matmul_peak`: FLOP/s of ``torch.mm`` on two n x n float32 matrices (2 n^3 FLOPs per
  product), the usual practical ceiling of dense arithmetic with these threads.
* :func:`conv_peak`: FLOP/s of one large dense 3x3 convolution, run by the same convolution
  library (oneDNN on CPUs) as the model. It is measured beside the matmul because the two
  libraries can disagree about the machine: on AMD CPUs MKL's sgemm may take its AVX2 code
  path while oneDNN uses AVX-512, and the model then "beats" the matmul. The limit is the
  larger of the two; the model's achieved FLOP/s over it is the "distance to the limit".
* :func:`machine_info`: what the numbers were measured on (CPU model, threads, versions).

The linker micro-benchmark itself lives in :func:`aetrack.linker.time_linker`.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from aetrack.linker import MODES, time_linker

FLOP_CONVENTION = ("FlopCounterMode: 1 multiply-accumulate = 2 FLOPs; convolutions and matrix products only "
                   "(activations, normalisation, pooling, upsampling not counted)")


@dataclass(frozen=True)
class SweepSettings:
    """What the speed sweep measures and how many repeats it takes."""

    # Network input sizes (width, height) in pixels, multiples of 32 (letterbox targets).
    sizes: tuple[tuple[int, int], ...] = ((320, 192), (448, 256), (640, 352))
    # Timed forwards per size; the median is reported (>= 20 makes it robust to a noisy neighbour).
    repeats: int = 20
    # Untimed forwards per size first: allocator, caches and oneDNN kernel selection settle.
    warmup: int = 3
    # Side of the square float32 matrices of the matmul peak measurement.
    matmul_size: int = 2048
    # Timed products (and convolutions) of the peak measurements (median reported), after one untimed.
    peak_repeats: int = 10
    # Channels and square spatial side of the conv peak measurement (256 channels on 64 x 64:
    # 4.8 GFLOP, big enough to run at the library's best, small enough to stay in a few ms).
    conv_channels: int = 256
    conv_size: int = 64
    # Linker micro-benchmark: objects in the synthetic scene and frames timed per mode.
    linker_objects: int = 30
    linker_frames: int = 300

    def __post_init__(self) -> None:
        if not self.sizes:
            raise ValueError("SweepSettings.sizes must name at least one input size")
        for w, h in self.sizes:
            if min(w, h) < 32 or w % 32 or h % 32:
                raise ValueError(f"SweepSettings.sizes must be multiples of 32, got {w}x{h}")
        for name, low in (("repeats", 1), ("warmup", 0), ("matmul_size", 1), ("peak_repeats", 1),
                          ("conv_channels", 1), ("conv_size", 1), ("linker_objects", 1), ("linker_frames", 2)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"SweepSettings.{name} must be an integer >= {low}, got {value!r}")


def _sync(device: torch.device) -> None:
    """Wait for queued kernels, so that wall-clock time covers the work (GPU launches are async)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), with its family and model numbers when
    present (virtual machines often report only "AMD EPYC"), else what ``platform`` knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        fields: dict[str, str] = {}
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if not line.strip():
                break  # the first processor's block is enough
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
        if "model name" in fields:
            ids = [f"{k} {fields[k]}" for k in ("cpu family", "model") if k in fields]
            return fields["model name"] + (f" ({', '.join(ids)})" if ids else "")
    return platform.processor() or platform.machine() or "unknown"


def machine_info(*, device: torch.device) -> dict[str, object]:
    """CPU model, logical cores, torch threads, accelerator name and library versions."""
    info: dict[str, object] = {
        "cpu": cpu_model(),
        "logical_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),  # vector ISA torch dispatches to
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "opencv": cv2.__version__,
    }
    if device.type == "cuda":
        info["accelerator"] = torch.cuda.get_device_name(device)
    return info


def forward_flops(*, model: torch.nn.Module, size: tuple[int, int], device: torch.device) -> int:
    """FLOPs of one forward of a (1, 3, height, width) input (see :data:`FLOP_CONVENTION`)."""
    x = torch.rand(1, 3, size[1], size[0], device=device)
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model(x)
    return int(counter.get_total_flops())


def time_forward(
    *, model: Callable[[torch.Tensor], object], size: tuple[int, int], repeats: int, warmup: int, device: torch.device
) -> np.ndarray:
    """Milliseconds of each of ``repeats`` forwards of a (1, 3, height, width) input, after ``warmup``."""
    x = torch.rand(1, 3, size[1], size[0], device=device)
    times = np.zeros(repeats)
    with torch.inference_mode():
        for _ in range(warmup):
            model(x)
        _sync(device)
        for i in range(repeats):
            t0 = time.perf_counter()
            model(x)
            _sync(device)
            times[i] = (time.perf_counter() - t0) * 1e3
    return times


def _median_seconds(fn: Callable[[], object], *, repeats: int, device: torch.device) -> float:
    """Median wall seconds of ``fn()`` over ``repeats`` calls, after one untimed call."""
    fn()
    _sync(device)
    times = np.zeros(repeats)
    for i in range(repeats):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times[i] = time.perf_counter() - t0
    return float(np.median(times))


def matmul_peak(*, n: int, repeats: int, device: torch.device) -> dict[str, float]:
    """Median milliseconds and GFLOP/s of ``torch.mm`` of two n x n float32 matrices (2 n^3 FLOPs)."""
    gen = torch.Generator().manual_seed(0)
    a = torch.rand(n, n, generator=gen).to(device)
    b = torch.rand(n, n, generator=gen).to(device)
    out = torch.empty(n, n, device=device)
    seconds = _median_seconds(lambda: torch.mm(a, b, out=out), repeats=repeats, device=device)
    flops = 2.0 * n**3
    return {"n": n, "flops": flops, "median_ms": seconds * 1e3, "gflops_per_s": flops / seconds / 1e9}


def conv_peak(*, channels: int, size: int, repeats: int, device: torch.device) -> dict[str, float]:
    """Median ms and GFLOP/s of a channels -> channels 3x3 float32 convolution on size x size.

    FLOPs = 2 * channels^2 * 9 * size^2 (padding 1 keeps the output size; no bias).
    """
    conv = torch.nn.Conv2d(channels, channels, 3, padding=1, bias=False).to(device).eval()
    x = torch.rand(1, channels, size, size, generator=torch.Generator().manual_seed(0)).to(device)
    with torch.inference_mode():
        seconds = _median_seconds(lambda: conv(x), repeats=repeats, device=device)
    flops = 2.0 * channels**2 * 9 * size**2
    return {"channels": channels, "size": size, "flops": flops, "median_ms": seconds * 1e3,
            "gflops_per_s": flops / seconds / 1e9}


def model_sweep(
    *, model: Callable[[torch.Tensor], object], settings: SweepSettings, device: torch.device, model_label: str,
    flops_model: torch.nn.Module | None = None, threads: int | None = None,
) -> dict[str, object]:
    """Forward time and FLOPs of ``model`` at each size, the matmul peak, and the linker micro-benchmark.

    ``model`` is a torch module or any callable on a (1, 3, H, W) tensor (the onnxruntime
    detector); FLOPs are counted on ``flops_model`` (default ``model``), which must be a torch
    module of the same architecture: the count does not depend on the engine or the weights.
    ``threads``: the threads ``model`` runs with when they are not torch's (onnxruntime):
    the peaks are then measured with as many torch threads, so that the fractions compare
    like with like. None: torch's current threads.

    Returns ``{"model", "flop_convention", "threads", "device", "sizes": [...], "matmul": {...},
    "conv": {...}, "limit_gflops_per_s", "linker": {...}}``; each size entry holds ``input_size``
    [w, h], ``median_ms``, ``p90_ms``, ``gflop`` (per frame), ``gflops_per_s`` (achieved),
    ``fraction_of_matmul_peak`` and ``fraction_of_limit`` (the larger of matmul and conv peaks).
    """
    if isinstance(model, torch.nn.Module):
        model = model.to(device).eval()
    counted = flops_model if flops_model is not None else model
    if not isinstance(counted, torch.nn.Module):
        raise ValueError("model_sweep needs a torch flops_model to count the FLOPs of a non-torch model")
    counted = counted.to(device).eval()
    saved = torch.get_num_threads()
    threads = saved if threads is None else threads
    torch.set_num_threads(threads)
    try:
        peak = matmul_peak(n=settings.matmul_size, repeats=settings.peak_repeats, device=device)
        conv = conv_peak(channels=settings.conv_channels, size=settings.conv_size, repeats=settings.peak_repeats,
                         device=device)
    finally:
        torch.set_num_threads(saved)
    limit = max(peak["gflops_per_s"], conv["gflops_per_s"])
    sizes = []
    for size in settings.sizes:
        flops = forward_flops(model=counted, size=size, device=device)
        ms = time_forward(model=model, size=size, repeats=settings.repeats, warmup=settings.warmup, device=device)
        median_ms = float(np.median(ms))
        achieved = flops / (median_ms / 1e3) / 1e9
        sizes.append({
            "input_size": [size[0], size[1]],
            "median_ms": median_ms,
            "p90_ms": float(np.percentile(ms, 90)),
            "repeats": settings.repeats,
            "gflop": flops / 1e9,
            "gflops_per_s": achieved,
            "fraction_of_matmul_peak": achieved / peak["gflops_per_s"],
            "fraction_of_limit": achieved / limit,
        })
    linker = time_linker(n_objects=settings.linker_objects, frames=settings.linker_frames, modes=MODES,
                         warmup=min(20, settings.linker_frames // 2))
    return {
        "model": model_label,
        "flop_convention": FLOP_CONVENTION,
        "threads": threads,
        "device": str(device),
        "sizes": sizes,
        "matmul": peak,
        "conv": conv,
        "limit_gflops_per_s": limit,
        "linker": linker,
    }
