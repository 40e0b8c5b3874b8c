"""Teacher pseudo-labels: conservative pseudo-tracks, and the command end to end on a real clip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from aetrack.data.clips import SequenceData
from aetrack.data.mot import MotSequence
from aetrack.model.coco import COCO_NAMES, TRAFFIC_CLASSES
from aetrack.train.pseudolabel import PseudoLabelConfig, link_pseudo_tracks
from cli.main import app

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
ONNX = SHARED / "models" / "yolox_nano.onnx"
CLIP = SHARED / "data" / "real-unlabelled" / "person-bicycle-car-detection.mp4"


def _frames(*per_frame):
    return [(np.array(b, dtype=np.float64).reshape(-1, 4), np.full(len(b), 0.9)) for b in per_frame]


def test_separate_objects_keep_one_trusted_id_each():
    # Two people 40 px apart walking right 2 px a frame: IoU with the last box 18/22 = 0.82.
    frames = _frames(*[[[2 * t, 0, 20 + 2 * t, 40], [60 + 2 * t, 0, 80 + 2 * t, 40]] for t in range(5)])
    links = link_pseudo_tracks(frames, cfg=PseudoLabelConfig(), frame_rate=10)
    assert [ids.tolist() for ids, _ in links] == [[1, 2]] * 5
    assert all(trusted.all() for _, trusted in links)


def test_overlapping_boxes_are_not_trusted_and_split_their_tracks():
    a, b = [0, 0, 20, 40], [40, 0, 60, 40]
    # Frame 3: A (10..30) and B (20..40) overlap by 10 x 40 = 400 px, IoU 400 / 1200 = 0.33 > 0.3.
    frames = _frames([a, b], [a, b], [[10, 0, 30, 40], [20, 0, 40, 40]], [[10, 0, 30, 40], [30, 0, 50, 40]])
    links = link_pseudo_tracks(frames, cfg=PseudoLabelConfig(crowd_iou=0.3), frame_rate=10)
    assert links[0][0].tolist() == links[1][0].tolist() == [1, 2]
    assert links[2][1].tolist() == [False, False]  # the crossing: ignore regions, no identity
    assert links[3][1].tolist() == [True, True]
    # A's track went through the doubtful frame: a new identity from there on. B's box in
    # frame 3 started a track of its own (its prediction, 40..60, missed 20..40); in frame 4
    # B's first track takes 30..50 back, overlapping its frame-2 box by 10 x 40 / 1200 = 0.33
    # >= link_iou: a trusted link, so B keeps id 2.
    new_a, b_id = links[3][0].tolist()
    assert new_a not in {1, 2, *links[2][0].tolist()} and b_id == 2


@pytest.mark.slow
def test_pseudolabel_command_writes_a_training_sequence(tmp_path):
    if not CLIP.is_file():
        pytest.skip("needs ../shared/data/real-unlabelled")
    res = CliRunner().invoke(app, ["pseudolabel", str(CLIP), str(tmp_path), "--frames", "30:34", "--name", "cyclist",
                                   "--threads", "1"])
    assert res.exit_code == 0, res.output
    seq = MotSequence.open(tmp_path / "cyclist")
    assert seq.info.length == 5 and (seq.info.width, seq.info.height) == (480, 270)
    assert seq.info.classes == TRAFFIC_CLASSES  # the default model's reported classes
    assert len(list((tmp_path / "cyclist" / "img1").glob("*.jpg"))) == 5
    gt = seq.gt()
    assert set(np.unique(gt.conf).tolist()) <= {0.0, 1.0} and set(np.unique(gt.cls).tolist()) <= set(range(1, 7))
    # The training reader takes it as it is: targets carry the model's class indices.
    data = SequenceData(seq=seq, frames=None, min_visibility=0.25, class_names=COCO_NAMES)
    wanted = {COCO_NAMES.index(c) for c in TRAFFIC_CLASSES}
    assert all(set(data.classes(f).tolist()) <= wanted for f in range(1, 6))
    # det/det.txt: the same person boxes as gt.txt's person rows (targets and ignore regions,
    # both >= ignore_score), with their teacher scores.
    det = seq.det()
    person = gt.cls == 1
    assert len(det.frame) == int(person.sum()) > 0
    key = lambda frames, boxes: sorted(zip(frames.tolist(), np.round(boxes, 2).tolist()))  # noqa: E731
    assert key(det.frame, det.boxes) == key(gt.frame[person], gt.boxes[person])
    assert det.conf.min() >= PseudoLabelConfig().ignore_score and det.conf.max() <= 1.0


def test_pseudolabel_refuses_a_missing_teacher_file(tmp_path):
    cv2 = pytest.importorskip("cv2")
    (tmp_path / "frames").mkdir()
    cv2.imwrite(str(tmp_path / "frames" / "000001.jpg"), np.zeros((32, 32, 3), np.uint8))
    res = CliRunner().invoke(app, ["pseudolabel", str(tmp_path / "frames"), str(tmp_path), "--weights",
                                   str(tmp_path / "missing.pt")])
    assert res.exit_code == 2 and "checkpoint not found" in res.output


def test_pseudolabel_takes_the_detection_branch_from_a_yolox_file(tmp_path):
    if not ONNX.is_file() or not CLIP.is_file():
        pytest.skip("needs ../shared/models/yolox_nano.onnx and ../shared/data/real-unlabelled")
    res = CliRunner().invoke(app, ["pseudolabel", str(CLIP), str(tmp_path), "--pretrained", str(ONNX),
                                   "--frames", "30:31", "--classes", "person", "--no-tile"])
    assert res.exit_code == 0, res.output
    assert "--tile/--no-tile is retired" in res.output
    assert MotSequence.open(tmp_path / CLIP.stem).info.classes == ("person",)
