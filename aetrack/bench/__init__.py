"""Benchmarking: track every sequence of a data root, evaluate, time each stage, report.

Example (what ``aetrack benchmark ROOT --dets det/det.txt --linker iou --linker motion --out b`` does)::

    from aetrack.bench import SweepSettings, run_benchmark
    from aetrack.linker import LinkerConfig

    result = run_benchmark(data_root="MOT17-train", out_dir="b", dets="det/det.txt",
                           linkers=[LinkerConfig(mode="iou"), LinkerConfig(mode="motion")],
                           sweep=SweepSettings())
    result.summary["linkers"]["motion"]["combined"]["IDF1"]     # percent
    result.summary["speed"]["stages_ms"]                         # read ... write, ms per frame

Modules: :mod:`~aetrack.bench.runner` (the run), :mod:`~aetrack.bench.speed` (model sweep,
matmul peak, machine), :mod:`~aetrack.bench.report` and :mod:`~aetrack.bench.plots` (files).
"""

from __future__ import annotations

from aetrack.bench.runner import BenchmarkResult as BenchmarkResult
from aetrack.bench.runner import run_benchmark as run_benchmark
from aetrack.bench.speed import SweepSettings as SweepSettings
