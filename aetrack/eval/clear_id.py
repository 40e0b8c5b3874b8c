"""CLEAR MOT and identity metrics from ``motmetrics``, fed with the devkit's IoU distances.

motmetrics 1.4.0's own ``iou_matrix`` calls ``np.asfarray`` (removed in NumPy 2), so each
frame's accumulator update gets distances built here from :class:`PreparedSequence`:
``1 - IoU`` where IoU >= 0.5 (the devkit's inclusive threshold), NaN (do not pair) elsewhere.
Per-sequence numbers come from ``MetricsHost.compute`` and the combined row from
``compute_many(..., generate_overall=True)``, i.e. motmetrics' official combination (counts
summed over sequences, ratios recomputed from the sums).

MOTP is reported as the mean IoU of matched pairs in percent (the devkit's convention);
motmetrics' ``motp`` is the mean distance ``1 - IoU``, so ``MOTP = 100 * (1 - motp)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import motmetrics as mm
import numpy as np

from aetrack.eval.preprocess import PreparedSequence, is_match

#: motmetrics metric -> reported name. Ratios become percentages, counts integers.
_RATIOS = {"mota": "MOTA", "idf1": "IDF1", "idp": "IDP", "idr": "IDR"}
_COUNTS = {
    "num_switches": "IDSW",
    "num_false_positives": "FP",
    "num_misses": "FN",
    "mostly_tracked": "MT",
    "mostly_lost": "ML",
    "num_fragmentations": "Frag",
}
_MM_METRICS = [*_RATIOS, "motp", "num_detections", *_COUNTS]

#: Reported names, in table order.
CLEAR_ID_NAMES = ("MOTA", "MOTP", "IDF1", "IDP", "IDR", "IDSW", "FP", "FN", "MT", "ML", "Frag")


def iou_distances(iou: np.ndarray) -> np.ndarray:
    """motmetrics distances for a (G, H) IoU matrix: ``1 - IoU``, NaN where IoU is below 0.5."""
    return np.where(is_match(iou), 1.0 - iou, np.nan)


def accumulate(seq: PreparedSequence) -> mm.MOTAccumulator:
    """A motmetrics accumulator with one update per frame of ``seq`` (frame ids 1-based)."""
    acc = mm.MOTAccumulator(auto_id=False)
    for frame, oids, hids, iou in zip(seq.frames, seq.gt_ids, seq.tracker_ids, seq.iou):
        if len(oids) == 0 and len(hids) == 0:
            continue
        acc.update(oids, hids, iou_distances(iou), frameid=int(frame))
    return acc


def _report(raw: dict[str, float]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, name in _RATIOS.items():
        out[name] = 100.0 * float(raw[key])
    motp = float(raw["motp"])
    out["MOTP"] = 100.0 * (1.0 - motp) if math.isfinite(motp) else float("nan")
    for key, name in _COUNTS.items():
        out[name] = int(raw[key])
    return {name: out[name] for name in CLEAR_ID_NAMES}


def clear_id_metrics(
    seqs: Sequence[PreparedSequence],
) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """Per-sequence and combined CLEAR / identity metrics (percentages; counts as ints)."""
    host = mm.metrics.create()
    accs = [accumulate(s) for s in seqs]
    # Row labels are positions, so no sequence name can collide with motmetrics' "OVERALL".
    summary = host.compute_many(accs, metrics=_MM_METRICS, names=list(range(len(seqs))), generate_overall=True)
    rows = summary.to_dict(orient="index")
    per_seq = {s.name: _report(rows[i]) for i, s in enumerate(seqs)}
    overall = dict(rows["OVERALL"])
    overall["motp"] = _combined_motp([rows[i] for i in range(len(seqs))])
    return per_seq, _report(overall)


def _combined_motp(partials: Sequence[dict[str, float]]) -> float:
    """Mean match distance over all sequences, as motmetrics' ``motp_m`` but skipping sequences
    without matches: their ``motp`` is NaN (0/0) and ``NaN * 0`` would poison the sum."""
    matched = [p for p in partials if p["num_detections"] > 0]
    total = sum(p["num_detections"] for p in matched)
    if total == 0:
        return float("nan")
    return sum(p["motp"] * p["num_detections"] for p in matched) / total
