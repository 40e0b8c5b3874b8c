"""Synthetic sequences: determinism, exact ground truth, MOT layout, detections and the CLI."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from aetrack.config import from_dict
from aetrack.data.mot import MotSequence, read_mot_file, read_seqinfo
from aetrack.data.sources import open_source
from aetrack.data.synth import SynthConfig, SynthFrame, generate, simulate_detections, write_sequence
from aetrack.errors import AetrackError
from cli.main import app

# Small frames keep every test fast; sizes are relative to the frame, so the scene is the same.
SMALL = dict(width=192, height=108, frames=12)


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_writes_identical_bytes(tmp_path: Path) -> None:
    cfg = SynthConfig.preset("hard", **SMALL)
    a = write_sequence(tmp_path / "a", cfg=cfg, seed=7)
    b = write_sequence(tmp_path / "b", cfg=cfg, seed=7)
    ha, hb = _hashes(a), _hashes(b)
    # 12 frames + gt + det + seqinfo + synth.yaml
    assert len(ha) == 12 + 4
    assert ha == hb


def test_different_seeds_differ(tmp_path: Path) -> None:
    cfg = SynthConfig.preset("medium", **SMALL)
    a = write_sequence(tmp_path, cfg=cfg, seed=1)
    b = write_sequence(tmp_path, cfg=cfg, seed=2)
    assert a.name == "synth-medium-1" and b.name == "synth-medium-2"
    ha, hb = _hashes(a), _hashes(b)
    for rel in ("img1/000001.jpg", "gt/gt.txt", "det/det.txt"):
        assert ha[rel] != hb[rel], rel


def test_gt_visibility_is_the_visible_fraction_of_rendered_pixels(tmp_path: Path) -> None:
    # Hard preset: 15 objects and 3-4 occluders, so many rows are partly hidden.
    cfg = SynthConfig.preset("hard", width=320, height=180, frames=30)
    seq = write_sequence(tmp_path, cfg=cfg, seed=3)
    gt = read_mot_file(seq / "gt" / "gt.txt")
    file_vis = {(int(f), int(i)): v for f, i, v in zip(gt.frame, gt.ids, gt.vis)}
    partial = 0
    for f in generate(cfg, seed=3):
        for gid, box, area in zip(f.ids, f.boxes, f.mask_area):
            pix = f.owner == gid
            # visibility = visible pixels / full-mask pixels. The file rounds to 4 decimals, so
            # it can differ from the exact ratio by at most half a unit there: 5e-5.
            exact = np.count_nonzero(pix) / area
            assert abs(file_vis[(f.frame, int(gid))] - exact) <= 5e-5 + 1e-12
            partial += 0.0 < exact < 0.9
            # Every drawn pixel of an object lies inside its full-extent box.
            ys, xs = np.nonzero(pix)
            if len(xs):
                x, y, w, h = box
                assert x <= xs.min() and xs.max() < x + w and y <= ys.min() and ys.max() < y + h
    assert partial >= 20  # the check above really covered occluded rows


def test_unoccluded_objects_are_fully_visible_with_exact_boxes() -> None:
    # Without occluders, an object inside the frame whose box overlaps no other box shows every
    # pixel of its mask: visibility 1 and the drawn pixels span exactly the gt box.
    cfg = SynthConfig.preset("medium", width=320, height=180, frames=20, occluders=(0, 0))
    checked = 0
    for f in generate(cfg, seed=5):
        x1, y1 = f.boxes[:, 0], f.boxes[:, 1]
        x2, y2 = x1 + f.boxes[:, 2], y1 + f.boxes[:, 3]
        overlap = (np.minimum(x2[:, None], x2[None]) > np.maximum(x1[:, None], x1[None])) & \
                  (np.minimum(y2[:, None], y2[None]) > np.maximum(y1[:, None], y1[None]))
        alone = overlap.sum(axis=1) == 1  # overlaps only itself
        inside = (x1 >= 0) & (y1 >= 0) & (x2 <= cfg.width) & (y2 <= cfg.height)
        for k in np.flatnonzero(alone & inside):
            ys, xs = np.nonzero(f.owner == f.ids[k])
            assert f.visibility[k] == 1.0
            assert len(xs) == f.mask_area[k]
            assert (xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1) == tuple(f.boxes[k])
            checked += 1
    assert checked >= 50


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**32), difficulty=st.sampled_from(["easy", "medium", "hard"]),
       width=st.integers(64, 200), height=st.integers(64, 160))
def test_frames_are_consistent_for_any_seed_and_size(seed: int, difficulty: str, width: int, height: int) -> None:
    cfg = SynthConfig.preset(difficulty, width=width, height=height, frames=4)
    for f in generate(cfg, seed=seed):
        assert f.image.shape == (height, width, 3) and f.image.dtype == np.uint8
        assert len(np.unique(f.ids)) == len(f.ids) and (f.ids >= 1).all()
        x, y, w, h = f.boxes.T
        assert np.isfinite(f.boxes).all() and (w > 0).all() and (h > 0).all()
        assert ((x < width) & (y < height) & (x + w > 0) & (y + h > 0)).all()  # overlaps the frame
        assert ((f.visibility >= 0) & (f.visibility <= 1)).all() and (f.mask_area > 0).all()
        assert set(np.unique(f.owner)) - {0} <= set(f.ids.tolist())


def test_output_reads_back_through_the_mot_reader(tmp_path: Path) -> None:
    cfg = SynthConfig.preset("medium", **SMALL)
    seq = write_sequence(tmp_path, cfg=cfg, seed=1000)
    info = read_seqinfo(seq / "seqinfo.ini")
    assert (info.name, info.length, info.frame_rate) == ("synth-medium-1000", 12, 30.0)
    assert (info.width, info.height) == (192, 108)
    assert (info.im_dir, info.im_ext) == ("img1", ".jpg")
    ms = MotSequence.open(seq)
    gt = ms.gt()
    assert gt.fmt == "mot16" and len(gt) > 0
    assert set(np.unique(gt.frame)) <= set(range(1, 13))
    assert np.isfinite(gt.boxes).all() and (gt.boxes[:, 2:] > 0).all()
    assert (gt.conf == 1).all() and (gt.cls == 1).all()
    assert ((gt.vis >= 0) & (gt.vis <= 1)).all()
    for rows in gt.by_frame().values():
        assert len(np.unique(gt.ids[rows])) == len(rows)  # ids unique per frame
    # ids are 1..N in order of first appearance, none skipped
    first_seen = [int(i) for i in dict.fromkeys(gt.ids[np.argsort(gt.frame, kind="stable")])]
    assert first_seen == list(range(1, len(first_seen) + 1))
    det = ms.det()
    assert len(det) > 0 and (det.ids == -1).all() and ((det.conf > 0) & (det.conf <= 1)).all()
    # synth.yaml records what made the sequence: the same config and seed come back.
    record = yaml.safe_load((seq / "synth.yaml").read_text())
    assert record["seed"] == 1000 and from_dict(SynthConfig, record["config"]) == cfg
    src = open_source(seq)
    frames = list(src)
    assert src.length == 12 and [k for k, _ in frames] == list(range(1, 13))
    assert all(img.shape == (108, 192, 3) for _, img in frames)


def test_video_sequence_reads_back(tmp_path: Path) -> None:
    cfg = SynthConfig.preset("easy", **SMALL)
    seq = write_sequence(tmp_path, cfg=cfg, seed=4, video=True)
    assert (seq / "synth-easy-4.mp4").is_file() and not (seq / "img1").exists()
    frames = list(open_source(seq))
    assert len(frames) == 12 and frames[0][1].shape == (108, 192, 3)


def test_perspective_heights_are_person_like() -> None:
    cfg = SynthConfig.preset("medium")
    # Foot on the bottom row (360): near_height * 360 = 0.33 * 360 = 118.8 px.
    assert cfg.height_at(360.0) == pytest.approx(118.8)
    # Foot on the top of the walking band (0.36 * 360 = 129.6): far_height * 360 = 32.4 px.
    assert cfg.height_at(129.6) == pytest.approx(32.4)
    # Drawn boxes: identity scale 0.85-1.15 and feet down to 1.03 * 360 give 0.85 * 32.4 = 27.5
    # to 1.15 * (32.4 + 86.4 * (370.8 - 129.6) / 230.4) = 141.3 px (+1 px rounding).
    small = SynthConfig.preset("medium", frames=30, occluders=(0, 0))
    heights = np.concatenate([f.boxes[:, 3] for f in generate(small, seed=11)])
    assert heights.min() >= 26.5 and heights.max() <= 142.3


def _frame_of(vis: float, n: int) -> SynthFrame:
    """A frame of n identical 20x50 boxes at (100, 100), all of visibility ``vis``."""
    return SynthFrame(frame=1, image=np.zeros((360, 640, 3), np.uint8), ids=np.arange(1, n + 1),
                      boxes=np.tile([100.0, 100.0, 20.0, 50.0], (n, 1)), visibility=np.full(n, vis),
                      mask_area=np.full(n, 700), owner=np.zeros((360, 640), np.int32))


def test_detections_miss_more_when_hidden() -> None:
    cfg = SynthConfig.preset("medium", det_fp_rate=0.0)
    rng = np.random.default_rng(0)
    n = 1000
    full, half, hidden = (simulate_detections(_frame_of(v, n), cfg=cfg, rng=rng) for v in (1.0, 0.5, 0.0))
    # Miss prob = 0.03 + 0.97 * (1 - vis) ** 2: vis 1 -> 0.03, kept 970 +- 5.4 (binomial std);
    # vis 0.5 -> 0.2725, kept 727.5 +- 14.1; vis 0 -> 1, kept none. Bounds at ~5 std.
    assert 943 <= len(full) <= 997
    assert 657 <= len(half) <= 798
    assert len(hidden) == 0
    assert full.shape[1] == 10 and (full[:, 0] == 1).all() and (full[:, 1] == -1).all()
    # Jittered copies: centre noise std 4 % of the size (0.8 px in x, 2 px in y) around (110, 125).
    cx, cy = full[:, 2] + full[:, 4] / 2, full[:, 3] + full[:, 5] / 2
    assert abs(cx.mean() - 110) < 0.2 and abs(cy.mean() - 125) < 0.5
    assert np.abs(cx - 110).max() < 5 and np.abs(cy - 125).max() < 12
    # conf = clip(0.3 + 0.65 * vis + N(0, 0.08)): means 0.95 (slightly less, clipped at 1) and 0.625.
    assert 0.90 < full[:, 6].mean() < 0.95 and abs(half[:, 6].mean() - 0.625) < 0.01


def test_false_positives_follow_the_rate() -> None:
    # Poisson(det_fp_rate = 2) per frame on empty frames: 400 frames -> 800 +- 28 boxes.
    cfg = SynthConfig.preset("medium", det_fp_rate=2.0)
    rng = np.random.default_rng(1)
    n = sum(len(simulate_detections(_frame_of(1.0, 0), cfg=cfg, rng=rng)) for _ in range(400))
    assert 700 <= n <= 900


def test_interrupted_write_leaves_nothing(tmp_path: Path) -> None:
    cfg = SynthConfig.preset("medium", **SMALL)

    def boom(t: int) -> None:
        if t == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_sequence(tmp_path, cfg=cfg, seed=9, on_frame=boom)
    assert list(tmp_path.iterdir()) == []


def test_existing_sequence_needs_overwrite(tmp_path: Path) -> None:
    cfg = SynthConfig.preset("medium", **SMALL)
    seq = write_sequence(tmp_path, cfg=cfg, seed=9)
    (seq / "stale.txt").write_text("x")
    with pytest.raises(AetrackError, match="already exists"):
        write_sequence(tmp_path, cfg=cfg, seed=9)
    write_sequence(tmp_path, cfg=cfg, seed=9, overwrite=True)
    assert not (seq / "stale.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["synth-medium-9"]


def test_config_rejects_bad_input() -> None:
    with pytest.raises(AetrackError, match="unknown difficulty 'extreme'"):
        SynthConfig.preset("extreme")
    with pytest.raises(AetrackError, match="unknown key"):
        SynthConfig.preset("easy", colour=3)
    with pytest.raises(AetrackError, match="jpeg_quality"):
        SynthConfig.preset("easy", jpeg_quality=0)
    with pytest.raises(AetrackError, match="below 64x64"):
        SynthConfig.preset("easy", width=32)


def test_cli_writes_sequences_that_depend_only_on_their_seed(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["--frames", "4", "--width", "128", "--height", "72"]
    r = runner.invoke(app, ["synth", str(tmp_path / "many"), "--sequences", "2", "--seed", "1000", *args])
    assert r.exit_code == 0, r.output
    names = sorted(p.name for p in (tmp_path / "many").iterdir())
    assert names == ["synth-medium-1000", "synth-medium-1001"]
    assert read_seqinfo(tmp_path / "many" / names[1] / "seqinfo.ini").length == 4
    # Sequence k of a call with seed S is the sequence of seed S + k on its own.
    r = runner.invoke(app, ["synth", str(tmp_path / "one"), "--seed", "1001", *args])
    assert r.exit_code == 0, r.output
    assert _hashes(tmp_path / "many" / "synth-medium-1001") == _hashes(tmp_path / "one" / "synth-medium-1001")
    # Again without --overwrite: refused, one line, exit 2.
    r = runner.invoke(app, ["synth", str(tmp_path / "one"), "--seed", "1001", *args])
    assert r.exit_code == 2 and "already exists" in r.output


def test_cli_bad_difficulty_is_one_line_exit_2(tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["synth", str(tmp_path), "--difficulty", "extreme", "--length", "2"])
    assert r.exit_code == 2
    expected = "error: unknown difficulty 'extreme'; choose one of easy, medium, hard"
    assert r.output.strip().splitlines() == [expected]
    assert list(tmp_path.iterdir()) == []
