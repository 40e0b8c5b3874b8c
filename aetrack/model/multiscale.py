"""Multi-scale test (the associative-embedding paper's): run the detector on the input resized
by several factors, average the heatmaps over scales and concatenate the tags.

Each scale ``s`` resizes the letterboxed input (1, 3, H, W) to ``(round32(H s), round32(W s))``
(bilinear) and resizes every output map back to the size of the scale-1 maps, so all maps are
aligned cell for cell. Heatmaps: the mean of the per-scale sigmoid scores, returned as logits
(what :func:`aetrack.decode.decode` expects). Size and offset: those of the scale closest to 1
(they are in that input's pixels). Tags: the per-scale tags concatenated and divided by
sqrt(number of scales), so that a squared tag distance is the mean over scales of the per-scale
squared distances and the linker's tag thresholds keep their meaning.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported where a pass runs: parse_scales serves model-free trackers too
    from torch import Tensor


def parse_scales(text: str | Sequence[float] | None) -> tuple[float, ...]:
    """``"0.75,1,1.25"`` (or a sequence) -> (0.75, 1.0, 1.25); None -> (1.0,). ValueError for a
    non-number, a factor outside (0, 4], or none at all."""
    if text is None:
        return (1.0,)
    parts = [p for p in text.split(",") if p.strip()] if isinstance(text, str) else list(text)
    try:
        scales = tuple(float(p) for p in parts)
    except (TypeError, ValueError):
        raise ValueError(f"scales must be numbers, e.g. 0.75,1,1.25; got {text!r}") from None
    if not scales or any(not (0 < s <= 4) or not math.isfinite(s) for s in scales):
        raise ValueError(f"scales must be one or more factors in (0, 4], got {text!r}")
    return scales


def _round32(v: float) -> int:
    return max(32, int(round(v / 32)) * 32)


def multiscale_outputs(
    model: Callable[[Tensor], list[dict[str, Tensor]]], x: Tensor, scales: Sequence[float]
) -> dict[str, Tensor]:
    """The last stack's output dict of ``model`` on ``x`` (1, 3, H, W), merged over ``scales``."""
    import torch
    import torch.nn.functional as F

    base_i = min(range(len(scales)), key=lambda i: abs(math.log(scales[i])))
    _, _, h, w = x.shape
    outs: list[dict[str, Tensor]] = []
    for s in scales:
        xs = x if s == 1.0 else F.interpolate(x, size=(_round32(h * s), _round32(w * s)), mode="bilinear",
                                              align_corners=False)
        outs.append(model(xs)[-1])
    size = outs[base_i]["heatmap"].shape[-2:]

    def at_base(t: Tensor) -> Tensor:
        return t if t.shape[-2:] == size else F.interpolate(t.float(), size=size, mode="bilinear", align_corners=False)

    prob = torch.stack([torch.sigmoid(at_base(o["heatmap"]).float()) for o in outs]).mean(0)
    prob = prob.clamp(1e-6, 1 - 1e-6)
    tags = torch.cat([at_base(o["tags"]).float() for o in outs], dim=1) / math.sqrt(len(scales))
    merged = dict(outs[base_i])
    merged["heatmap"] = torch.log(prob) - torch.log1p(-prob)
    merged["tags"] = tags
    return merged
