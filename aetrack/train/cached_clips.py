"""Training clips read from the feature cache (:mod:`aetrack.train.feature_cache`).

The counterpart of :class:`aetrack.data.clips.ClipDataset` for a frozen trunk: an item is a clip
of T cached views instead of T rendered images. Clip ``i`` is a function of ``(seed, i)``:

- a source is drawn in proportion to its frames x weight;
- a moving clip takes T frames with gaps in 1..max_gap, all in one view (one camera) and one
  crop; identities are the ground truth's;
- a static clip takes one frame T times, each time in a view and crop of its own (the views
  differ by zoom, shift, flip and colour): every object is its own identity by construction;
- the crop is a ``crop`` window of the canvas at whole cells of the coarsest stored stage.

An item holds ``features`` {stage: (T, C, h, w) float32} for the stages the model reads, and
the tag targets (T, K): ``boxes`` (xyxy crop pixels), ``ind`` (centre cell at the tag stride),
``mask``, ``ident`` (clip-local, -1 for padding) and ``global_ident`` (identity across the
dataset, for the loss's batch push: moving sources ``folder << 32 | gt id``; a static clip's
objects are the frame's own, ``(folders + source) << 32 | frame << 16 | index``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from aetrack.data.clips import ClipSource
from aetrack.errors import AetrackError
from aetrack.train.feature_cache import CacheIndex

GLOBAL_ID_BITS = 32


class CachedClipDataset(torch.utils.data.Dataset):
    """Clips from a :class:`CacheIndex`; see the module docstring.

    Args:
        index: the opened cache.
        sources: one (cache sequence index, first frame, last frame, ClipSource) per training source.
        folders: per cache sequence, the number of its folder (sources of one folder share people).
        stages: the stages the tag branch reads.
        stride: the tag stride (cells of ``ind``).
        crop: (width, height) of the training window in canvas pixels (multiples of 32).
    """

    def __init__(self, *, index: CacheIndex, sources: Sequence[tuple[int, int, int, ClipSource]],
                 folders: Sequence[int], stages: Sequence[str], stride: int, canvas: tuple[int, int],
                 crop: tuple[int, int], clip_len: int, max_gap: int, max_objects: int, seed: int) -> None:
        if not sources:
            raise AetrackError("no training sources for the feature cache")
        cw, ch = crop
        if cw % 32 or ch % 32 or not (0 < cw <= canvas[0] and 0 < ch <= canvas[1]):
            raise AetrackError(f"crop {cw}x{ch} must be multiples of 32 within the canvas {canvas[0]}x{canvas[1]}")
        self.index, self.sources, self.folders = index, list(sources), list(folders)
        self.stages, self.stride, self.canvas, self.crop = tuple(stages), stride, canvas, crop
        self.clip_len, self.max_gap, self.max_objects, self.seed = clip_len, max_gap, max_objects, seed
        for _, first, last, src in self.sources:
            if not src.static and last - first + 1 < clip_len:
                raise AetrackError(f"a cached source has {last - first + 1} frames, fewer than clip_len={clip_len}")
        counts = np.array([(last - first + 1) * src.weight for _, first, last, src in self.sources])
        self._weights = counts / counts.sum()

    def __len__(self) -> int:
        return int(sum(last - first + 1 for _, first, last, _ in self.sources))

    def _draw(self, index: int) -> tuple[int, list[int], list[tuple[int, int]], bool]:
        """(source, cache items of the clip's frames, crop offsets (x, y) in pixels, static)."""
        rng = np.random.default_rng([self.seed, int(index)])
        k = int(rng.choice(len(self.sources), p=self._weights))
        seq, first, last, src = self.sources[k]
        t = self.clip_len
        w, h = self.canvas
        cw, ch = self.crop

        def offset() -> tuple[int, int]:
            return 32 * int(rng.integers(0, (w - cw) // 32 + 1)), 32 * int(rng.integers(0, (h - ch) // 32 + 1))

        if src.static:
            frame = int(rng.integers(first, last + 1))
            views = rng.integers(0, self.index.views, size=t)
            items = [self.index.lookup[(seq, frame, int(v))] for v in views]
            return k, items, [offset() for _ in range(t)], True
        max_gap = min(self.max_gap, (last - first) // max(t - 1, 1)) if t > 1 else 1
        gaps = rng.integers(1, max(max_gap, 1) + 1, size=t - 1)
        start = int(rng.integers(first, last - int(gaps.sum()) + 1))
        frames = start + np.concatenate([[0], np.cumsum(gaps)]).astype(np.int64)
        view = int(rng.integers(0, self.index.views))
        o = offset()
        return k, [self.index.lookup[(seq, int(f), view)] for f in frames], [o] * t, False

    def __getitem__(self, index: int) -> dict:
        k, items, offsets, static = self._draw(index)
        seq = self.sources[k][0]
        cw, ch = self.crop
        t, kmax = self.clip_len, self.max_objects
        feats = {}
        for s in self.stages:
            m = self.index.maps[s]
            sw = self.canvas[0] // m.shape[-1]  # this stage's stride in the cache
            feats[s] = torch.from_numpy(np.stack([
                np.asarray(m[i, :, oy // sw:(oy + ch) // sw, ox // sw:(ox + cw) // sw], dtype=np.float32)
                for i, (ox, oy) in zip(items, offsets)]))
        boxes = np.zeros((t, kmax, 4), np.float32)
        ind = np.zeros((t, kmax), np.int64)
        mask = np.zeros((t, kmax), bool)
        raw = np.full((t, kmax), -1, np.int64)
        gid = np.full((t, kmax), -1, np.int64)
        w_cells = cw // self.stride
        for j, (i, (ox, oy)) in enumerate(zip(items, offsets)):
            b, ids, _ = self.index.objects(i)
            b = b - np.array([ox, oy, ox, oy], np.float32)
            cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
            keep = np.flatnonzero((cx >= 0) & (cx < cw) & (cy >= 0) & (cy < ch) & (b[:, 2] > b[:, 0]))[:kmax]
            n = len(keep)
            boxes[j, :n] = b[keep]
            ind[j, :n] = (cy[keep] // self.stride).astype(np.int64) * w_cells + (cx[keep] // self.stride).astype(np.int64)
            mask[j, :n] = True
            if static:  # each object of the frame is its own identity
                raw[j, :n] = keep
                gid[j, :n] = ((len(self.folders) + k) << GLOBAL_ID_BITS) | (int(self.index.frame[i]) << 16) | keep
            else:
                raw[j, :n] = ids[keep]
                gid[j, :n] = (self.folders[seq] << GLOBAL_ID_BITS) | ids[keep]
        uniq = np.unique(raw[mask])
        ident = np.where(mask, np.searchsorted(uniq, raw), -1)
        return {"features": feats, "boxes": torch.from_numpy(boxes), "ind": torch.from_numpy(ind),
                "mask": torch.from_numpy(mask), "ident": torch.from_numpy(ident), "global_ident": torch.from_numpy(gid)}
