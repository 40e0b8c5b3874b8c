"""HOTA, DetA and AssA from ``trackeval`` (the official MOTChallenge evaluator).

TrackEval's metric classes take a per-sequence data dict (per-frame id arrays relabelled to
0..n-1 and IoU similarity matrices) built here from :class:`PreparedSequence`, which already
carries the devkit's preprocessing. This is what ``MotChallenge2DBox.get_preprocessed_seq_data``
hands the metrics, without writing a temp folder layout or re-parsing text.

HOTA, DetA and AssA are the means over TrackEval's 19 localisation thresholds (alpha = 0.05 ..
0.95), reported in percent; the combined row uses TrackEval's ``combine_sequences``.
:func:`trackeval_clear_id` gives TrackEval's own MOTA / IDF1 for cross-checking motmetrics.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from trackeval.metrics import CLEAR, HOTA, Identity

from aetrack.eval.preprocess import IOU_THRESHOLD, PreparedSequence

HOTA_NAMES = ("HOTA", "DetA", "AssA")


def _relabel(ids: Sequence[np.ndarray]) -> tuple[list[np.ndarray], int]:
    """Map ids over all frames to 0..n-1 (TrackEval's layout); return per-frame arrays and n."""
    if not ids:
        return [], 0
    lengths = [len(a) for a in ids]
    flat = np.concatenate(ids)
    uniq, inverse = np.unique(flat, return_inverse=True)
    splits = np.cumsum(lengths)[:-1]
    return [a.astype(int) for a in np.split(inverse.reshape(-1), splits)], len(uniq)


def trackeval_data(seq: PreparedSequence) -> dict[str, Any]:
    """The data dict TrackEval's metrics expect for one preprocessed sequence."""
    gt_ids, num_gt_ids = _relabel(seq.gt_ids)
    tracker_ids, num_tracker_ids = _relabel(seq.tracker_ids)
    return {
        "seq": seq.name,
        "num_timesteps": len(seq.frames),
        "gt_ids": gt_ids,
        "tracker_ids": tracker_ids,
        "similarity_scores": list(seq.iou),
        "num_gt_ids": num_gt_ids,
        "num_tracker_ids": num_tracker_ids,
        "num_gt_dets": seq.num_gt_dets,
        "num_tracker_dets": seq.num_tracker_dets,
    }


def _run(metric: Any, datas: Sequence[dict[str, Any]]) -> tuple[dict[str, dict], dict]:
    per_seq = {d["seq"]: metric.eval_sequence(d) for d in datas}
    return per_seq, metric.combine_sequences(per_seq)


def _hota_report(res: dict[str, Any]) -> dict[str, float]:
    return {name: 100.0 * float(np.mean(res[name])) for name in HOTA_NAMES}


def hota_metrics(seqs: Sequence[PreparedSequence]) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """Per-sequence and combined HOTA, DetA, AssA in percent."""
    datas = [trackeval_data(s) for s in seqs]
    per_seq, combined = _run(HOTA(), datas)
    return {k: _hota_report(v) for k, v in per_seq.items()}, _hota_report(combined)


def trackeval_clear_id(seqs: Sequence[PreparedSequence]) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """TrackEval's own MOTA, IDF1, IDSW, FP, FN (percent / counts), per sequence and combined.

    A cross-check of the motmetrics numbers: both libraries match frame by frame with slightly
    different tie-breaking, so MOTA and IDF1 agree to about 0.1 points, not bit for bit.
    """
    config = {"THRESHOLD": IOU_THRESHOLD, "PRINT_CONFIG": False}
    datas = [trackeval_data(s) for s in seqs]
    clear_seq, clear_all = _run(CLEAR(dict(config)), datas)
    ident_seq, ident_all = _run(Identity(dict(config)), datas)

    def report(c: dict[str, Any], i: dict[str, Any]) -> dict[str, float]:
        return {
            "MOTA": 100.0 * float(c["MOTA"]),
            "IDF1": 100.0 * float(i["IDF1"]),
            "IDSW": int(c["IDSW"]),
            "FP": int(c["CLR_FP"]),
            "FN": int(c["CLR_FN"]),
        }

    return {k: report(clear_seq[k], ident_seq[k]) for k in clear_seq}, report(clear_all, ident_all)
