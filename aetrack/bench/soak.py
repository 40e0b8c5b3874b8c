"""Memory soak: stream many frames through one Tracker and watch resident memory.

    python -m aetrack.bench.soak --frames 20000          # embedded weights, medium synthetic clip

A synthetic clip is generated once in memory and replayed in a loop (objects jump at every
loop boundary, so tracks are continually lost, removed and started: the case where a leak
would show). Resident memory (RSS, from /proc/self/statm) is sampled after a warm-up and at
the end; the linker's live track count shows removed tracks really are dropped.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import asdict, dataclass

import torch

from aetrack.data.synth import SynthConfig, generate
from aetrack.tracker import Tracker

WARMUP_FRAMES = 200  # allocator pools and lazy inits settle within the first frames


def rss_mib() -> float:
    """Current resident set size of this process, MiB (Linux /proc)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


@dataclass(frozen=True)
class SoakResult:
    frames: int
    rss_start_mib: float  # after WARMUP_FRAMES
    rss_end_mib: float
    rss_peak_mib: float
    live_tracks_end: int
    ids_issued: int
    seconds: float


def soak(*, frames: int, clip_frames: int = 300, threads: int = 2, seed: int = 4242) -> SoakResult:
    """Track ``frames`` frames of a replayed synthetic clip with the embedded weights."""
    if frames <= WARMUP_FRAMES:
        raise ValueError(f"frames must exceed the warm-up ({WARMUP_FRAMES}), got {frames}")
    torch.set_num_threads(threads)
    clip = [f.image for f in generate(SynthConfig.preset("medium", frames=clip_frames), seed=seed)]
    tracker = Tracker.from_pretrained("synthetic", backend="torch")  # torch: its threads, as recorded
    start_rss, peak, max_id = 0.0, 0.0, 0
    t0 = time.perf_counter()
    for k in range(frames):
        for t in tracker.update(clip[k % len(clip)]):
            max_id = max(max_id, t.track_id)
        if k + 1 == WARMUP_FRAMES:
            start_rss = rss_mib()
        if k % 100 == 0:
            peak = max(peak, rss_mib())
    end = rss_mib()
    return SoakResult(frames=frames, rss_start_mib=round(start_rss, 1), rss_end_mib=round(end, 1),
                      rss_peak_mib=round(max(peak, end), 1), live_tracks_end=len(tracker.linker.live_tracks()),
                      ids_issued=max_id, seconds=round(time.perf_counter() - t0, 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20000)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    print(json.dumps(asdict(soak(frames=args.frames, threads=args.threads))))


if __name__ == "__main__":
    main()
