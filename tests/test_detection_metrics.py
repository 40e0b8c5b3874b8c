"""Validation metrics on hand-built cases: VOC AP50 and the ROC-AUC of tag distance."""

from __future__ import annotations

import math

import numpy as np
import pytest

from aetrack.eval.detection import average_precision, box_iou, mean_average_precision
from aetrack.eval.tag_quality import roc_auc, tag_auc, tag_pair_distances

GT_A = [0, 0, 10, 10]
GT_B = [20, 0, 30, 10]


def test_box_iou_of_half_overlap():
    # [0,10]x[0,10] vs [5,15]x[0,10]: intersection 5*10 = 50, union 100 + 100 - 50 = 150.
    assert box_iou(np.array([GT_A]), np.array([[5, 0, 15, 10]]))[0, 0] == pytest.approx(50 / 150)


def test_ap_two_gt_three_detections():
    # Scores 0.9 (on A, IoU 1), 0.8 (IoU 50/150 = 1/3 with A: a false positive), 0.7 (on B, IoU 1).
    # Ranked: TP, FP, TP -> (recall, precision) = (1/2, 1), (1/2, 1/2), (1, 2/3).
    # Envelope: precision 1 up to recall 1/2, 2/3 from 1/2 to 1 -> AP = 0.5 * 1 + 0.5 * 2/3 = 5/6.
    ap = average_precision(
        det_boxes=[np.array([GT_A, [5, 0, 15, 10], GT_B])],
        det_scores=[np.array([0.9, 0.8, 0.7])],
        gt_boxes=[np.array([GT_A, GT_B])],
    )
    assert ap == pytest.approx(5 / 6)


def test_ap_duplicate_is_a_false_positive_and_order_is_by_score():
    # Same boxes given in scrambled order: 0.7 on B, 0.95 on A, 0.8 duplicate of A (IoU 1).
    # Ranked: A (TP), dup (FP), B (TP) -> same curve as above, AP = 5/6.
    ap = average_precision(
        det_boxes=[np.array([GT_B, GT_A, GT_A])],
        det_scores=[np.array([0.7, 0.95, 0.8])],
        gt_boxes=[np.array([GT_A, GT_B])],
    )
    assert ap == pytest.approx(5 / 6)


def test_ap_across_frames_and_a_missed_object():
    # Frame 0: gt A, det on A (0.6). Frame 1: gt A and B, det on B (0.9), nothing on A.
    # Ranked: 0.9 TP, 0.6 TP over 3 gt -> recall 1/3, 2/3 at precision 1 -> AP = 2/3.
    ap = average_precision(
        det_boxes=[np.array([GT_A]), np.array([GT_B])],
        det_scores=[np.array([0.6]), np.array([0.9])],
        gt_boxes=[np.array([GT_A]), np.array([GT_A, GT_B])],
    )
    assert ap == pytest.approx(2 / 3)


def test_ap_ignored_gt_counts_neither_way():
    # Dets: 0.9 on B, 0.8 on empty ground (FP), 0.5 on A.
    # B ignored: the 0.9 det counts neither way; ranked FP, TP over 1 gt -> (0, 0), (1, 1/2) -> AP 1/2.
    # B counted: ranked TP, FP, TP over 2 gt -> (1/2, 1), (1/2, 1/2), (1, 2/3) -> AP 5/6.
    kwargs = dict(
        det_boxes=[np.array([GT_B, [50, 50, 60, 60], GT_A])],
        det_scores=[np.array([0.9, 0.8, 0.5])],
        gt_boxes=[np.array([GT_A, GT_B])],
    )
    assert average_precision(**kwargs, gt_ignore=[np.array([False, True])]) == pytest.approx(0.5)
    assert average_precision(**kwargs) == pytest.approx(5 / 6)


def test_ap_without_ground_truth_is_nan_and_without_detections_zero():
    assert math.isnan(average_precision(det_boxes=[np.zeros((1, 4))], det_scores=[np.ones(1)],
                                        gt_boxes=[np.zeros((0, 4))]))
    assert average_precision(det_boxes=[np.zeros((0, 4))], det_scores=[np.zeros(0)],
                             gt_boxes=[np.array([GT_A])]) == 0.0


def test_map_averages_classes_present_in_gt():
    # Class 0: perfect (AP 1). Class 1: its one gt is missed, the det is on the wrong place (AP 0).
    m = mean_average_precision(
        det_boxes=[np.array([GT_A, [40, 40, 50, 50]])], det_scores=[np.array([0.9, 0.9])],
        det_classes=[np.array([0, 1])],
        gt_boxes=[np.array([GT_A, GT_B])], gt_classes=[np.array([0, 1])],
    )
    assert m == pytest.approx(0.5)


def test_tag_auc_perfect_separation_is_one():
    tags = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.0, 5.1]])
    ids = np.array([1, 1, 2, 2])
    frames = np.array([1, 2, 1, 2])
    assert tag_auc([(tags, ids, frames)]) == 1.0


def test_tag_auc_intermediate_value():
    # 1-D tags. A: frame 1 -> 0.0, frame 2 -> 0.25. B: frame 1 -> 1.0, frame 2 -> 0.125.
    # Positives: |0 - 0.25| = 0.25, |1 - 0.125| = 0.875.
    # Negatives: A1B1 1.0, A1B2 0.125, A2B1 0.75, A2B2 0.125.
    # 0.25 beats 1.0 and 0.75 (2 wins); 0.875 beats 1.0 (1 win) -> AUC = 3 / (2 * 4) = 0.375.
    tags = np.array([[0.0], [0.25], [1.0], [0.125]])
    ids = np.array([0, 0, 1, 1])
    frames = np.array([1, 2, 1, 2])
    pos, neg = tag_pair_distances(tags=tags, ids=ids, frames=frames)
    assert sorted(pos) == [0.25, 0.875]
    assert sorted(neg) == [0.125, 0.125, 0.75, 1.0]
    assert tag_auc([(tags, ids, frames)]) == pytest.approx(0.375)


def test_roc_auc_ties_count_half():
    # One positive at 1.0 against negatives 1.0 (tie, 1/2) and 2.0 (win) -> 1.5 / 2 = 0.75.
    assert roc_auc(np.array([1.0]), np.array([1.0, 2.0])) == pytest.approx(0.75)


def test_tag_pairs_respect_max_gap_and_sequences_do_not_mix():
    # Object 0 in frames 1 and 10 (far apart), object 1 in frame 1. With max_gap=2 only the
    # frame-1 negative pair remains, so there is no positive pair and the AUC is undefined.
    tags = np.array([[0.0], [3.0], [1.0]])
    ids = np.array([0, 0, 1])
    frames = np.array([1, 10, 1])
    pos, neg = tag_pair_distances(tags=tags, ids=ids, frames=frames, max_gap=2)
    assert len(pos) == 0 and neg.tolist() == [1.0]
    assert math.isnan(tag_auc([(tags, ids, frames)], max_gap=2))
    # Two sequences that each separate perfectly stay at 1.0 even though their tags overlap.
    seq = (np.array([[0.0], [0.0], [1.0]]), np.array([0, 0, 1]), np.array([1, 2, 1]))
    shifted = (seq[0] + 0.5, seq[1], seq[2])
    assert tag_auc([seq, shifted]) == 1.0
