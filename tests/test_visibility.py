"""Recall by gt visibility on a hand-built sequence: every box's bin and match derived below."""

from __future__ import annotations

import numpy as np
import pytest

from aetrack.data.mot import FrameRange, MotTable
from aetrack.eval.visibility import recall_by_visibility


def _table(rows: list[tuple], fmt: str) -> MotTable:
    """rows: (frame, id, x, y, w, h, consider, cls, vis)."""
    a = np.array(rows, dtype=np.float64).reshape(-1, 9)
    return MotTable(a[:, 0].astype(np.int64), a[:, 1].astype(np.int64), a[:, 2:6], a[:, 6],
                    a[:, 7].astype(np.int64), a[:, 8], fmt)


# 10x10 boxes. Evaluated gt (class 1, consider 1) and its visibility bin:
GT = _table([
    (1, 1, 0, 0, 10, 10, 1, 1, 1.00),    # bin 0.75-1; result at the same box: IoU 1, found
    (1, 2, 20, 0, 10, 10, 1, 1, 0.20),   # bin 0.1-0.25; result shifted 2 px: IoU 80/120 = 0.67, found
    (1, 3, 40, 0, 10, 10, 1, 1, 0.05),   # bin 0-0.1; no result near: missed
    (1, 4, 60, 0, 10, 10, 1, 7, 0.30),   # class 7 (static person): not evaluated
    (1, 5, 80, 0, 10, 10, 0, 1, 0.60),   # consider flag 0: not evaluated
    (2, 1, 0, 0, 10, 10, 1, 1, 0.75),    # bin 0.75-1 (0.75 opens it); result shifted 5 px: IoU 50/150 = 0.33, missed
    (2, 2, 20, 0, 10, 10, 1, 1, 0.50),   # bin 0.5-0.75; exact result: found
    (3, 1, 0, 0, 10, 10, 1, 1, 0.90),    # bin 0.75-1; the one result box: IoU 1.0 -> this one is found
    (3, 2, 1, 0, 10, 10, 1, 1, 0.30),    # bin 0.25-0.5; same box, IoU 90/110 = 0.82, but taken: missed
    (5, 1, 0, 0, 10, 10, 1, 1, 1.00),    # bin 0.75-1; frame without results: missed
], "mot16")
RESULTS = _table([
    (1, 7, 0, 0, 10, 10, 1, -1, -1),
    (1, 8, 22, 0, 10, 10, 1, -1, -1),
    (1, 9, 60, 0, 10, 10, 1, -1, -1),
    (1, 10, 80, 0, 10, 10, 1, -1, -1),
    (2, 7, 5, 0, 10, 10, 1, -1, -1),
    (2, 8, 20, 0, 10, 10, 1, -1, -1),
    (3, 7, 0, 0, 10, 10, 1, -1, -1),
    (4, 7, 0, 0, 10, 10, 1, -1, -1),
], "mot15")


def test_counts_per_bin() -> None:
    r = recall_by_visibility(gt={"s": GT}, results={"s": RESULTS})
    assert r["bins"] == ["0-0.1", "0.1-0.25", "0.25-0.5", "0.5-0.75", "0.75-1"]
    assert r["total"] == [1, 1, 1, 1, 4]
    assert r["found"] == [0, 1, 0, 1, 2]
    assert r["recall"] == [0.0, 100.0, 0.0, 100.0, 50.0]


def test_frame_range_and_empty_bin() -> None:
    r = recall_by_visibility(gt={"s": GT}, results={"s": RESULTS}, frames=FrameRange(1, 2))
    assert r["total"] == [1, 1, 0, 1, 2]
    assert r["found"] == [0, 1, 0, 1, 1]
    assert r["recall"] == [0.0, 100.0, None, 100.0, 50.0]


def test_missing_results_count_as_misses_and_sequences_pool() -> None:
    r = recall_by_visibility(gt={"s": GT, "t": GT}, results={"s": RESULTS})
    assert r["total"] == [2, 2, 2, 2, 8]
    assert r["found"] == [0, 1, 0, 1, 2]


def test_gt_without_visibility_gives_none() -> None:
    gt15 = _table([(1, 1, 0, 0, 10, 10, 1, 1, 1.0)], "mot15")
    assert recall_by_visibility(gt={"s": gt15}, results={"s": RESULTS}) is None


def test_bad_edges() -> None:
    with pytest.raises(ValueError, match="increase from 0 to 1"):
        recall_by_visibility(gt={"s": GT}, results={}, edges=(0.0, 0.5, 0.5, 1.0))
