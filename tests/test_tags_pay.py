"""Issue 16: tag ROC-AUC by frame gap, the appearance module (gallery, BoT-SORT min cost, tag
margin), the tags-only revival stage of the linker, the multi-scale test and their CLI options.

Every expected number is derived in a comment from the inputs written next to it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from aetrack.data.synth import SynthConfig, write_sequence
from aetrack.eval.tag_quality import LabelledTags, label_detections, tag_auc_at_gap
from aetrack.linker import Linker, LinkerConfig
from aetrack.linker.appearance import TagGallery, margins, min_cost
from aetrack.model.multiscale import multiscale_outputs, parse_scales
from cli.main import app


# -- ROC-AUC by gap ------------------------------------------------------------------------------
def _drifting_pair() -> LabelledTags:
    # Objects A (id 1) and B (id 2) in frames 1-4 at 10 fps. B's tag stays (1, 0); A's is (0, 0)
    # in frames 1-2 and (2, 0) in frames 3-4 (it drifts by 2 between frames 2 and 3).
    tags = np.array([[0, 0], [1, 0], [0, 0], [1, 0], [2, 0], [1, 0], [2, 0], [1, 0]], dtype=float)
    ids = np.array([1, 2] * 4)
    frames = np.repeat([1, 2, 3, 4], 2)
    return LabelledTags(tags=tags, ids=ids, frames=frames, fps=10.0)


def test_auc_at_gap_counts_only_pairs_that_far_apart() -> None:
    seq = _drifting_pair()
    # 0.1 s = 1 frame: same-id pairs A1-A2 0, A2-A3 2, A3-A4 0, B 0 0 0 -> six positives, five at
    # 0 and one at 2; different-id pairs (A_f, B_f+1) and (B_f, A_f+1) are all 1 apart: six
    # negatives. Five positives beat all six negatives: AUC = 30 / 36.
    r = tag_auc_at_gap([seq], gap_s=0.1)
    assert (r["positives"], r["negatives"]) == (6, 6)
    assert r["auc"] == pytest.approx(30 / 36)
    # 0.2 s = 2 frames: positives A1-A3 2, A2-A4 2, B1-B3 0, B2-B4 0; negatives four at 1:
    # two positives win against all four negatives: 8 / 16.
    r = tag_auc_at_gap([seq], gap_s=0.2)
    assert (r["positives"], r["negatives"]) == (4, 4)
    assert r["auc"] == pytest.approx(0.5)


def test_label_detections_matches_one_to_one_at_iou_half() -> None:
    gt = np.array([[0, 0, 10, 10], [20, 0, 30, 10]], dtype=float)
    # Detection 0 covers gt 0 exactly; detection 1 is gt 1 shifted by 5 px: IoU 50 / 150 = 1/3 < 0.5.
    dets = np.array([[0, 0, 10, 10], [25, 0, 35, 10]], dtype=float)
    assert label_detections(det_boxes=dets, gt_boxes=gt, gt_ids=np.array([7, 8])).tolist() == [7, -1]


# -- appearance module ---------------------------------------------------------------------------
def test_gallery_keeps_the_last_tags_and_returns_the_smallest_distance() -> None:
    g = TagGallery(size=2)
    g.add_rows(1, 1)
    for v in (0.0, 5.0, 9.0):  # size 2: 0.0 is overwritten, 5.0 and 9.0 stay
        g.push(np.array([0]), np.array([[v]]))
    # detection at 6: distances to 5 and 9 are 1 and 3 -> 1; at 0: 5 (the 0.0 entry is gone).
    assert g.distance(np.array([0]), np.array([[6.0], [0.0]])).tolist() == [[1.0, 5.0]]
    assert TagGallery(size=0).distance(np.array([0]), np.array([[0.0]])) is None


def test_margins_are_distance_to_the_nearest_other_track_minus_own() -> None:
    # One detection at distances 0.1, 0.5, 0.9 from tracks 0, 1, 2: track 0's nearest other is
    # track 1 (0.5 - 0.1 = 0.4); for tracks 1 and 2 it is track 0 (0.1 - 0.5, 0.1 - 0.9).
    d = np.array([[0.1], [0.5], [0.9]])
    assert margins(d, d, np.arange(3))[:, 0] == pytest.approx([0.4, -0.4, -0.8])


def test_min_cost_uses_tags_only_within_both_thresholds() -> None:
    iou = np.array([[0.3, 0.3, 0.6]])
    tag = np.array([[0.2, 0.9, 0.2]])
    # pair 0: min(0.3, 0.5 * 0.2) = 0.1; pair 1: tag 0.9 > 0.8, IoU alone 0.3; pair 2: 1 - IoU =
    # 0.6 > proximity 0.5, IoU alone 0.6.
    got = min_cost(iou, tag, max_distance=0.8, proximity=0.5, scale=0.5)
    assert got[0] == pytest.approx([0.1, 0.3, 0.6])


# -- tags-only revival -------------------------------------------------------------------------
def _box(x: float) -> np.ndarray:
    return np.array([[x, 100.0, x + 40.0, 200.0]])


def _revive_run(cfg: LinkerConfig, far_tag: np.ndarray, *, other_tag: np.ndarray, x: float = 120.0) -> tuple[int, int]:
    """Track A (tag (0, 0)) and B (``other_tag``) for 3 frames, 8 empty frames, then one
    detection with ``far_tag`` ``x`` px right of A's last box: (A's id, the id of that detection).
    The boxes are 100 px tall, so A's reach in frame 12 (lost 9 frames, 0.9 s at 10 fps) is
    (lost_reach 0.5 + 1.0 / s x 0.9 s) x 100 = 140 px: 120 px is within it, 400 px is not."""
    lk = Linker(cfg=cfg, frame_rate=10.0)
    tags = np.array([[0.0, 0.0], other_tag])
    for _ in range(3):
        out = lk.update(boxes=np.concatenate([_box(0.0), _box(600.0)]), scores=np.array([0.9, 0.9]), tags=tags)
    a = out[0].track_id
    for _ in range(8):
        lk.update(boxes=np.zeros((0, 4)), scores=np.zeros(0), tags=np.zeros((0, 2)))
    lk.update(boxes=_box(x), scores=np.array([0.9]), tags=far_tag[None])
    # The track that took the detection: a revived one is reported, a new one is tentative.
    (taker,) = [t for t in lk.live_tracks() if abs(t.box[0] - x) < 20.0]
    return a, taker.track_id


def test_revival_gives_a_long_lost_track_back_its_id_by_tag() -> None:
    # 10 fps: revival_after_s 0.5 -> 5 frames; A lost for 8 frames, kept for 5 s = 50 frames.
    # The detection's tag is 0.1 from A's and 2.9 from B's (3, 0): margin 2.8 >= 0.2.
    cfg = LinkerConfig(tag_cost="min", tag_revival=True, revival_max_distance=0.6, revival_margin=0.2,
                       revival_after_s=0.5)
    a, got = _revive_run(cfg, np.array([0.1, 0.0]), other_tag=np.array([3.0, 0.0]))
    assert got == a
    # Without the stage the box does not overlap A's (the "min" cost needs IoU >= 0.5): a new id.
    off = LinkerConfig(tag_cost="min", tag_revival=False)
    a, got = _revive_run(off, np.array([0.1, 0.0]), other_tag=np.array([3.0, 0.0]))
    assert got != a
    # 400 px (4 heights in 0.9 s) is beyond A's reach: the same tag does not revive it.
    a, got = _revive_run(cfg, np.array([0.1, 0.0]), other_tag=np.array([3.0, 0.0]), x=400.0)
    assert got != a


def test_revival_refuses_a_look_alike() -> None:
    # B's tag (0.2, 0) is a look-alike of A's: the detection (0.1, 0) is 0.1 from both, margin 0
    # < 0.2, so neither lost track takes it.
    cfg = LinkerConfig(tag_cost="min", tag_revival=True, revival_max_distance=0.6, revival_margin=0.2,
                       revival_after_s=0.5)
    a, got = _revive_run(cfg, np.array([0.1, 0.0]), other_tag=np.array([0.2, 0.0]))
    assert got not in (a, a + 1)


def test_revival_keeps_lost_tracks_longer_only_in_tags_motion() -> None:
    # lost_time_s 3 s, revival_lost_time_s 5 s at 10 fps: 50 frames with revival in tags_motion,
    # 30 otherwise.
    assert LinkerConfig(tag_revival=True, lost_time_s=3.0).lost_frames(10.0) == 50
    assert LinkerConfig(mode="motion", tag_revival=True, lost_time_s=3.0).lost_frames(10.0) == 30
    assert LinkerConfig(tag_revival=False, lost_time_s=3.0).lost_frames(10.0) == 30


@pytest.mark.parametrize("bad", [{"tag_cost": "max"}, {"tag_gallery_size": -1}, {"revival_margin": -0.1},
                                 {"tag_proximity": 1.5}, {"tag_revival": 1},
                                 {"lost_reach": -0.5}, {"lost_reach_speed": float("inf")}])
def test_bad_appearance_settings_are_refused(bad: dict) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        LinkerConfig(**bad)


# -- multi-scale test ------------------------------------------------------------------------------
def test_parse_scales() -> None:
    assert parse_scales("0.75,1,1.25") == (0.75, 1.0, 1.25)
    assert parse_scales(None) == (1.0,)
    for bad in ("0", "a,1", "", "-1"):
        with pytest.raises(ValueError):
            parse_scales(bad)


def test_two_identical_scales_keep_heatmap_and_tag_distances() -> None:
    from aetrack.backend import load_detector

    loaded = load_detector("synthetic")
    model, cfg = loaded.model.eval(), loaded.model_cfg
    x = torch.rand(1, 3, 96, 160, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        one = model(x)[-1]
        two = multiscale_outputs(model, x, (1.0, 1.0))
    # The mean of two equal probabilities is that probability: the same logits (up to the clamp).
    assert torch.allclose(two["heatmap"], one["heatmap"].clamp(-13, 13), atol=1e-3)
    # Tags (t, t) / sqrt(2): squared distance (2 d^2) / 2 = d^2, so distances are unchanged.
    t1, t2 = one["tags"][0, :, 0, 0], one["tags"][0, :, 5, 7]
    m1, m2 = two["tags"][0, :, 0, 0], two["tags"][0, :, 5, 7]
    assert two["tags"].shape[1] == 2 * cfg.tag_dim
    assert torch.dist(m1, m2).item() == pytest.approx(torch.dist(t1, t2).item(), rel=1e-5)


# -- CLI -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tags") / "data"
    write_sequence(root, cfg=SynthConfig.preset("easy", frames=12, width=320, height=180), seed=3)
    return root


def test_benchmark_writes_tag_auc_by_gap(tiny: Path, tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["benchmark", str(tiny), "--weights", "synthetic", "--no-speed", "--out",
                                 str(tmp_path), "--tag-gaps", "0.1,0.2"])
    assert r.exit_code == 0, r.output
    rows = json.loads((tmp_path / "summary.json").read_text())["tag_auc_by_gap"]["gaps"]
    assert [row["gap_s"] for row in rows] == [0.1, 0.2]
    assert all(0.0 <= row["auc"] <= 1.0 and row["positives"] > 0 for row in rows)
    assert "tag ROC-AUC at gap 0.1 s" in r.output


@pytest.mark.parametrize("args", [["--tag-gaps", "a"], ["--tag-gaps", "0"], ["--scales", "0"],
                                  ["--dets", "--scales", "1,2"]])
def test_benchmark_refuses_bad_gaps_and_scales(tiny: Path, tmp_path: Path, args: list[str]) -> None:
    r = CliRunner().invoke(app, ["benchmark", str(tiny), "--no-speed", "--out", str(tmp_path), *args])
    assert r.exit_code == 2
    assert "Traceback" not in r.output


def test_benchmark_multiscale_runs_on_torch_under_the_default_engine(tiny: Path, tmp_path: Path) -> None:
    # --backend auto picks onnxruntime on a CPU, but the multi-scale test resizes torch tensors:
    # with --scales, auto means torch (an explicit --backend onnxruntime is refused in one line).
    r = CliRunner().invoke(app, ["benchmark", str(tiny), "--weights", "synthetic", "--no-speed", "--out",
                                 str(tmp_path), "--scales", "0.75,1"])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "summary.json").read_text())["config"]["scales"] == [0.75, 1.0]
    r = CliRunner().invoke(app, ["benchmark", str(tiny), "--weights", "synthetic", "--no-speed", "--out",
                                 str(tmp_path / "b"), "--scales", "0.75,1", "--backend", "onnxruntime"])
    assert r.exit_code == 2 and "torch backend only" in r.output
