"""Training figures: the loss curves and the tag-over-time plot of the AE paper.

Both write PNGs with matplotlib's Agg backend (no display needed), atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after selecting the backend)
import numpy as np  # noqa: E402

from aetrack.io.atomic import atomic_write  # noqa: E402

LOSS_TERMS = ("total", "heatmap", "size", "offset", "pull", "push", "batch_push")
VAL_METRICS = (("val_ap50", "detection AP50"), ("val_tag_auc", "tag ROC-AUC"))


def plot_losses(records: Sequence[dict[str, Any]], path: str | Path, *, title: str = "") -> Path:
    """Loss terms (log scale) over steps, and the validation metrics when present.

    ``records`` are metrics.jsonl rows: training rows carry ``step`` and ``loss/<term>``,
    validation rows ``step`` and ``val_ap50`` / ``val_tag_auc``.
    """
    train = [r for r in records if "loss/total" in r]
    val = [r for r in records if any(k in r for k, _ in VAL_METRICS)]
    fig, axes = plt.subplots(1, 2 if val else 1, figsize=(11 if val else 6.5, 4), squeeze=False)
    ax = axes[0, 0]
    for term in LOSS_TERMS:
        pts = [(r["step"], r[f"loss/{term}"]) for r in train if r.get(f"loss/{term}", 0) > 0]
        if pts:
            s, v = zip(*pts)
            ax.plot(s, v, label=term, lw=2.0 if term == "total" else 1.2)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (unweighted terms, weighted total)")
    ax.grid(alpha=0.3)
    if train:
        ax.legend(fontsize=8)
    if val:
        vx = axes[0, 1]
        for key, label in VAL_METRICS:
            pts = [(r["step"], r[key]) for r in val if key in r and np.isfinite(r[key])]
            if pts:
                s, v = zip(*pts)
                vx.plot(s, v, marker="o", label=label)
        vx.set_ylim(0, 1.02)
        vx.set_xlabel("step")
        vx.set_ylabel("held-out validation")
        vx.grid(alpha=0.3)
        vx.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_tags(*, frames: np.ndarray, ids: np.ndarray, tags: np.ndarray, path: str | Path,
              title: str = "") -> Path:
    """Tag value per identity over time (the AE paper's figure, one line per object).

    Args:
        frames: (n,) frame numbers; ids: (n,) identities; tags: (n, D) tags read at the
            objects' centre cells. D > 1 is projected on the first principal component of all
            tags, the single direction along which they spread most.
    """
    t = np.asarray(tags, dtype=np.float64).reshape(len(frames), -1)
    frames = np.asarray(frames)
    ids = np.asarray(ids)
    if t.shape[1] > 1 and len(t) > 1:
        centred = t - t.mean(axis=0)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        value, ylabel = centred @ vt[0], "tag (projection on 1st principal component)"
    else:
        value, ylabel = t[:, 0] if t.size else np.zeros(0), "tag"
    fig, ax = plt.subplots(figsize=(8, 4.5))
    cmap = plt.get_cmap("tab20")
    for k, ident in enumerate(np.unique(ids)):
        sel = ids == ident
        order = np.argsort(frames[sel])
        ax.plot(frames[sel][order], value[sel][order], ".-", ms=3, lw=1, color=cmap(k % 20))
    ax.set_xlabel("frame")
    ax.set_ylabel(ylabel)
    ax.set_title(title or "tags per identity over time (one colour per object)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def _save(fig: plt.Figure, path: str | Path) -> Path:
    p = Path(path)
    with atomic_write(p, "wb") as f:
        fig.savefig(f, format="png", dpi=110)
    plt.close(fig)
    return p
