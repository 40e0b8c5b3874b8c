"""Benchmark figures: per-sequence metrics by linker, and where the time per frame goes.

Drawn on ``matplotlib.figure.Figure`` with the Agg canvas directly (no pyplot, so no global
backend switch and no figure registry); written atomically as PNG.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from aetrack.io.atomic import atomic_write
from aetrack.pipeline import ALL_STAGES

PLOT_METRICS = ("HOTA", "IDF1", "MOTA")
_STAGE_COLOURS = dict(zip(ALL_STAGES, ("#8c8c8c", "#f2b134", "#d1495b", "#66a182", "#00798c", "#30638e")))


def _save(*, fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)
    fig.tight_layout()
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png", dpi=110)
    return path


def plot_metrics(*, summary: dict[str, Any], path: str | Path) -> Path:
    """HOTA, IDF1 and MOTA per sequence (and combined), one bar per linker."""
    modes = summary["config"]["linker_modes"]
    linkers = summary["linkers"]
    groups = [*summary["sequences"], "COMBINED"]
    fig = Figure(figsize=(max(7.0, 0.55 * len(groups) * (len(modes) + 1)), 8.0))
    axes = fig.subplots(len(PLOT_METRICS), 1, sharex=True, squeeze=False)[:, 0]
    x = np.arange(len(groups))
    width = 0.8 / len(modes)
    for ax, metric in zip(axes, PLOT_METRICS):
        for k, mode in enumerate(modes):
            rows = [linkers[mode]["sequences"][g]["metrics"] for g in groups[:-1]] + [linkers[mode]["combined"]]
            values = [np.nan if r[metric] is None else r[metric] for r in rows]
            ax.bar(x - 0.4 + (k + 0.5) * width, values, width, label=mode)
        ax.set_ylabel(f"{metric} (%)")
        ax.set_ylim(top=118)  # headroom for the legend above 100 %
        ax.axhline(0, color="black", lw=0.6)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8, ncols=len(modes))
    axes[-1].set_xticks(x, groups, rotation=30, ha="right")
    return _save(fig=fig, path=Path(path))


def plot_speed(*, summary: dict[str, Any], path: str | Path) -> Path:
    """Stacked median ms per stage per sequence (default linker); link ms per linker; model sweep."""
    speed = summary["speed"]
    sweep = speed.get("sweep")
    modes = summary["config"]["linker_modes"]
    panels = 1 + (len(modes) > 1) + (sweep is not None)
    fig = Figure(figsize=(6.0 * panels, 4.5))
    axes = fig.subplots(1, panels, squeeze=False)[0]
    ax = axes[0]
    names = [*summary["sequences"], "all"]
    rows = [summary["sequences"][n]["speed"]["stages_ms"] for n in names[:-1]] + [speed["stages_ms"]]
    y = np.arange(len(names))
    left = np.zeros(len(names))
    for stage in ALL_STAGES:
        values = np.array([r[stage] for r in rows])
        ax.barh(y, values, left=left, color=_STAGE_COLOURS[stage], label=stage)
        left += values
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set_xlabel("median ms per frame")
    ax.set_title(f"stages, linker {modes[0]}: {speed['fps']:.1f} frames/s end to end", fontsize=10)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncols=len(ALL_STAGES))
    ax.grid(axis="x", alpha=0.3)
    k = 1
    if len(modes) > 1:
        ax = axes[k]
        k += 1
        link = [speed["linkers_ms"][m]["link_ms"] for m in modes]
        ax.bar(modes, link, color=_STAGE_COLOURS["link"])
        ax.set_ylabel("median link ms per frame")
        ax.set_title("linkers on the same detections", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    if sweep is not None:
        ax = axes[k]
        labels = [f"{e['input_size'][0]}x{e['input_size'][1]}" for e in sweep["sizes"]]
        achieved = [e["gflops_per_s"] for e in sweep["sizes"]]
        bars = ax.bar(labels, achieved, color=_STAGE_COLOURS["model"])
        for bar, e in zip(bars, sweep["sizes"]):
            ax.annotate(f"{e['median_ms']:.1f} ms", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                        ha="center", va="bottom", fontsize=8)
        for key, style in (("matmul", "--"), ("conv", ":")):
            peak = sweep[key]["gflops_per_s"]
            ax.axhline(peak, color="black", ls=style, lw=1.0, label=f"{key} peak {peak:.0f} GFLOP/s")
        ax.set_ylim(top=1.15 * max(*achieved, sweep["limit_gflops_per_s"]))  # room for the legend
        ax.set_ylabel("model GFLOP/s achieved")
        ax.set_title(f"model forward, {sweep['threads']} threads", fontsize=10)
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    return _save(fig=fig, path=Path(path))


def plot_tag_auc(*, summary: dict[str, Any], path: str | Path) -> Path:
    """Tag ROC-AUC against the gap in seconds (``--tag-gaps``), beside the colour-histogram
    reference on the same pairs when measured."""
    data = summary["tag_auc_by_gap"]
    fig = Figure(figsize=(5.5, 4.0))
    ax = fig.subplots()
    for key, label, style in (("gaps", "learned tags", "o-"), ("colour_histogram", "colour histogram", "s--")):
        rows = data.get(key) or []
        if rows:
            ax.plot([r["gap_s"] for r in rows], [r["auc"] for r in rows], style, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("gap between the two detections (s)")
    ax.set_ylabel("ROC-AUC, same vs different identity")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig=fig, path=Path(path))
