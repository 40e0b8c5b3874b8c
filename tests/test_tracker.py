"""The streaming Tracker, ``aetrack track`` and ``aetrack demo`` end to end.

Quality with the embedded weights is checked on a held-out synthetic sequence (seed 1000, never
trained on); the mechanics (frame formats, size changes, empty frames, independence, given
detections, errors) on the same short sequence.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from aetrack.assets import demo_clip_path
from aetrack.data.mot import MotSequence, read_mot_file
from aetrack.data.sources import open_source
from aetrack.data.synth import SynthConfig, write_sequence
from aetrack.eval import evaluate_tables
from aetrack.decode import Detections
from aetrack.linker import LinkerConfig
from aetrack.model import ModelConfig
from aetrack.tracker import Tracker
from cli.main import app

FRAMES = 60


@pytest.fixture(scope="module")
def seq(tmp_path_factory: pytest.TempPathFactory) -> MotSequence:
    root = tmp_path_factory.mktemp("trk")
    return MotSequence.open(write_sequence(root, cfg=SynthConfig.preset("medium", frames=FRAMES), seed=1000))


@pytest.fixture(scope="module")
def frames(seq: MotSequence) -> list[np.ndarray]:
    return [img for _, img in open_source(seq.root)]


def test_embedded_weights_track_held_out_sequence(seq: MotSequence, frames: list[np.ndarray]) -> None:
    tracker = Tracker.from_pretrained("synthetic", frame_rate=seq.info.frame_rate)
    rows = []
    for k, img in enumerate(frames, start=1):
        for t in tracker.update(img):
            x1, y1, x2, y2 = t.box
            rows.append([k, t.track_id, x1, y1, x2 - x1, y2 - y1, t.score, -1, -1, -1])
    out = seq.root.parent / "res.txt"
    out.write_text("".join(",".join(str(v) for v in r) + "\n" for r in rows))
    report = evaluate_tables(gt={seq.name: seq.gt()}, results={seq.name: read_mot_file(out, kind="results")})
    # Regression floor, well under what the shipped weights measure on the full 300-frame
    # sequences (BENCHMARKS.md): a broken decoder, letterbox or linker drops far below it.
    assert report.combined["IDF1"] >= 80.0
    assert report.combined["MOTA"] >= 70.0


def test_frame_formats_size_changes_and_empty_frames(frames: list[np.ndarray]) -> None:
    tracker = Tracker.from_pretrained("synthetic")
    img = frames[0]
    bgr = tracker.update(img)
    assert bgr and all(t.track_id >= 1 for t in bgr)
    # The same picture as grey, as BGRA, at half size and as an empty frame: no crash, and
    # the same scene at another size still yields tracks in that frame's pixels.
    assert isinstance(tracker.update(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)), list)
    assert isinstance(tracker.update(cv2.cvtColor(img, cv2.COLOR_BGR2BGRA)), list)
    half = tracker.update(cv2.resize(img, (320, 180)))
    assert half and all(t.box[2] <= 320 * 1.2 and t.box[3] <= 180 * 1.2 for t in half)
    # An empty frame has no detections: only the tracks just lost are reported (report_lost_s).
    empty = tracker.update(np.zeros((0, 0, 3), np.uint8))
    assert {t.state for t in empty} <= {"lost"}
    assert {t.track_id for t in empty} <= {t.track_id for t in half}


def test_two_trackers_count_ids_independently(frames: list[np.ndarray]) -> None:
    a, b = Tracker.from_pretrained("synthetic"), Tracker.from_pretrained("synthetic")
    ids_a = [t.track_id for t in a.update(frames[0])]
    for img in frames[1:5]:
        a.update(img)
    ids_b = [t.track_id for t in b.update(frames[0])]
    assert ids_a == ids_b == list(range(1, len(ids_a) + 1))  # frame 1 confirms at once, ids 1..n
    a.reset()
    assert [t.track_id for t in a.update(frames[0])] == ids_a


def test_given_detections_with_and_without_tags(seq: MotSequence, frames: list[np.ndarray]) -> None:
    det = seq.det()
    by_frame = det.by_frame()
    plain, tagged = Tracker.for_detections(), Tracker.from_pretrained("synthetic")
    for k in range(1, 6):
        idx = by_frame.get(k, np.zeros(0, np.int64))
        xywh = det.boxes[idx]
        boxes = np.column_stack([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]])
        got_plain = plain.update_detections(boxes=boxes, scores=det.conf[idx])
        got_tagged = tagged.update_detections(boxes=boxes, scores=det.conf[idx], frame=frames[k - 1])
    assert got_plain and all(t.tag is None for t in got_plain)
    assert got_tagged and all(t.tag is not None and t.tag.shape == (8,) for t in got_tagged)


def test_track_cli_writes_results_video_and_reports_bad_input(seq: MotSequence, tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["track", str(seq.root), "--out", str(tmp_path), "--frames", "1:20", "--save-video",
                              "--weights", "synthetic"])
    assert res.exit_code == 0, res.output
    table = read_mot_file(tmp_path / f"{seq.name}.txt", kind="results")
    assert table.frame.min() >= 1 and table.frame.max() <= 20
    assert (table.cls == 1).all()  # one-class model: every row is person, column 8 = 1
    first = json.loads((tmp_path / f"{seq.name}.jsonl").read_text().splitlines()[0])
    assert first["class"] == "person"
    cap = cv2.VideoCapture(str(tmp_path / f"{seq.name}.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 20
    assert "IDF1" in res.output  # a sequence folder with gt is evaluated
    junk = tmp_path / "broken.mp4"
    junk.write_bytes(b"\x00garbage" * 64)
    for source in (str(junk), str(tmp_path / "missing.mp4")):
        res = runner.invoke(app, ["track", source, "--out", str(tmp_path / "x")])
        assert res.exit_code == 2 and res.output.strip().startswith("error:"), res.output
        assert len(res.output.strip().splitlines()) == 1
    res = runner.invoke(app, ["track", str(seq.root), "--out", str(tmp_path), "--linker", "nope", "--weights",
                              "synthetic"])
    assert res.exit_code == 2 and "tags_motion" in res.output


def test_synthetic_demo_runs_end_to_end(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["demo", "--synthetic", "--out", str(tmp_path), "--frames", "1:30"])
    assert res.exit_code == 0, res.output
    assert "COMBINED" in res.output
    assert len(list(tmp_path.glob("*.mp4"))) == 1 and len(list(tmp_path.glob("*.txt"))) == 1


def test_real_demo_tracks_the_person_walking_in(tmp_path: Path) -> None:
    # The shipped clip's first 60 frames: an empty corridor until one woman walks in at about
    # frame 27 (the teacher's first confident box) and stays in view past frame 60 (frames
    # 41-100 of the source clip): one person track, none before she enters. The shipped
    # model reports her from frame 47 at default thresholds (measured); 50 is the bound this
    # test holds it to.
    res = CliRunner().invoke(app, ["demo", "--out", str(tmp_path), "--frames", "1:60"])
    assert res.exit_code == 0, res.output
    assert "1 track (1 person) over 60 frames" in res.output
    rows = [json.loads(line) for line in (tmp_path / "demo_corridor.jsonl").read_text().splitlines()]
    assert {r["class"] for r in rows} == {"person"} and {r["id"] for r in rows} == {1}
    assert 27 <= min(r["frame"] for r in rows) <= 50
    assert len(list(tmp_path.glob("demo_corridor.mp4"))) == 1
    # `aetrack track` on the same frames says what the demo says: tracks, not only boxes.
    res = CliRunner().invoke(app, ["track", str(demo_clip_path()), "--frames", "1:60", "--out", str(tmp_path / "t")])
    assert res.exit_code == 0, res.output
    assert f"demo_corridor: 60 frames, 1 track (1 person), {len(rows)} boxes," in res.output


def test_default_model_finds_the_people_of_a_real_frame(shared_data: Path) -> None:
    # PETS09-S2L1 frame 1 (a training frame: this checks the shipped weights load and detect,
    # not held-out accuracy): its ground truth has every walker; each must be matched by a
    # person detection at IoU >= 0.5.
    from aetrack.linker.matching import iou_matrix

    seq = MotSequence.open(shared_data / "PETS09-S2L1")
    gt = seq.gt()
    rows = (gt.frame == 1) & (gt.conf == 1)
    gt_boxes = np.concatenate([gt.boxes[rows, :2], gt.boxes[rows, :2] + gt.boxes[rows, 2:]], axis=1)
    frame = next(iter(open_source(str(shared_data / "PETS09-S2L1"))))[1]
    tracker = Tracker.from_pretrained()
    det = tracker.detect(frame)
    person = det.scores >= 0.4
    person &= det.classes == tracker.class_names.index("person")
    assert len(gt_boxes) >= 3
    assert (iou_matrix(gt_boxes, det.boxes[person].astype(np.float64)).max(axis=1) >= 0.5).all()


def test_track_given_detections_covers_frames_without_images(shared_data: Path, tmp_path: Path) -> None:
    # MOT17-05 ships 837 frames of detections but images for only the first few: model-free
    # linking must still walk all 837 frames (seqinfo seqLength), not stop at the last image.
    seq = shared_data / "MOT17-train" / "MOT17-05-FRCNN"
    res = CliRunner().invoke(app, ["track", str(seq), "--dets", str(seq / "det" / "det.txt"), "--linker", "motion",
                                   "--out", str(tmp_path), "--no-evaluate"])
    assert res.exit_code == 0, res.output
    assert "837 frames" in res.output
    assert read_mot_file(tmp_path / "MOT17-05-FRCNN.txt", kind="results").frame.max() > 800


SIX = ("person", "bicycle", "car", "motorcycle", "bus", "truck")


def _box(cx: float) -> list[float]:
    return [cx - 20.0, 100.0, cx + 20.0, 200.0]


def test_class_filter_and_class_of_tracks() -> None:
    # Frame 1 of a six-class stream: a person (class 0) at x 100, a car (2) at 300, a bus (4)
    # at 500. Filtering to person and car drops the bus before linking: tracks 1 (person) and 2
    # (car), confirmed in the first frame.
    six = ModelConfig(num_classes=6, class_names=SIX)
    tracker = Tracker(model=None, model_cfg=six, classes=["person", "car"])
    assert tracker.class_names == SIX
    boxes = np.array([_box(100), _box(300), _box(500)])
    got = tracker.update_detections(boxes=boxes, scores=np.full(3, 0.9), classes=np.array([0, 2, 4]))
    assert [(t.track_id, t.class_id) for t in got] == [(1, 0), (2, 2)]
    # Unfiltered, the bus is track 3; a model-free tracker calls everything person.
    every = Tracker(model=None, model_cfg=six)
    got = every.update_detections(boxes=boxes, scores=np.full(3, 0.9), classes=np.array([0, 2, 4]))
    assert [(t.track_id, t.class_id) for t in got] == [(1, 0), (2, 2), (3, 4)]
    assert Tracker.for_detections().class_names == ("person",)
    with pytest.raises(ValueError, match="unknown class 'car' in classes; this model's classes are person"):
        Tracker.for_detections(classes=["car"])
    with pytest.raises(ValueError, match="person, bicycle, car, motorcycle, bus, truck"):
        Tracker(model=None, model_cfg=six, classes=["truck", "plane"])
    with pytest.raises(ValueError, match="at least one"):
        Tracker(model=None, model_cfg=six, classes=[])
    with pytest.raises(ValueError, match=r"classes must have shape \(3,\)"):
        every.update_detections(boxes=boxes, scores=np.full(3, 0.9), classes=np.array([0, 2]))
    with pytest.raises(ValueError, match="classes must be integer indices into class_names"):
        every.update_detections(boxes=boxes, scores=np.full(3, 0.9), classes=np.array([0, 2, 6]))


def test_update_links_the_decoded_classes(monkeypatch: pytest.MonkeyPatch) -> None:
    # A person and a car detected at the same spot in two frames: two tracks, never merged;
    # the car filter keeps only the car's.
    six = ModelConfig(num_classes=6, class_names=SIX)
    frame = np.zeros((240, 320, 3), np.uint8)
    det = Detections(boxes=np.array([_box(100), _box(100)], np.float32), scores=np.array([0.9, 0.8], np.float32),
                     classes=np.array([0, 2]), tags=np.zeros((2, 8), np.float32))
    for classes, expected in ((None, [(1, 0), (2, 2)]), (["car"], [(1, 2)])):
        tracker = Tracker(model=None, model_cfg=six, linker_cfg=LinkerConfig(mode="motion"), classes=classes)
        monkeypatch.setattr(tracker, "detect", lambda img: det)
        for _ in range(2):
            got = [(t.track_id, t.class_id) for t in tracker.update(frame)]
        assert got == expected


def test_track_cli_classes_option(seq: MotSequence, tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["track", str(seq.root), "--out", str(tmp_path), "--frames", "1:5", "--dets", str(seq.det_path)]
    res = runner.invoke(app, [*args, "--classes", "person"])
    assert res.exit_code == 0, res.output
    assert (read_mot_file(tmp_path / f"{seq.name}.txt", kind="results").cls == 1).all()
    res = runner.invoke(app, [*args, "--classes", "person,car"])
    assert res.exit_code == 2 and res.output.strip().startswith("error:"), res.output
    assert len(res.output.strip().splitlines()) == 1
    assert "unknown class 'car'" in res.output and "person" in res.output


def test_every_output_clips_boxes_to_the_frame(tmp_path: Path) -> None:
    # One given detection per frame, 40 x 100 px, reaching 8 px past the left edge of a 96 x 64
    # frame and 36 px past its bottom (x -8..32, y 0..100): every output says x 0..32, y 0..64.
    # API: with a frame (its size), or frame_size alone (no pixels); files: MOT text (x, y, w, h)
    # and JSON lines of a video tracked with these detections, and of the MOT sequence linked
    # without images (seqinfo's size).
    boxes, scores = np.array([[-8.0, 0.0, 32.0, 100.0]]), np.array([0.9])
    for kwargs in ({"frame": np.zeros((64, 96, 3), np.uint8)}, {"frame_size": (96, 64)}):
        tracker = Tracker.for_detections(linker_cfg=LinkerConfig(min_hits=1))
        (t,) = tracker.update_detections(boxes=boxes, scores=scores, **kwargs)
        assert t.box == pytest.approx((0.0, 0.0, 32.0, 64.0))
    seq = tmp_path / "edge"
    (seq / "det").mkdir(parents=True)
    (seq / "seqinfo.ini").write_text("[Sequence]\nname=edge\nimDir=img1\nframeRate=10\nseqLength=3\n"
                                     "imWidth=96\nimHeight=64\nimExt=.jpg\n")
    (seq / "det" / "det.txt").write_text("".join(f"{f},-1,-8,0,40,100,0.9,-1,-1,-1\n" for f in (1, 2, 3)))
    video = tmp_path / "edge.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (96, 64))
    for _ in range(3):
        writer.write(np.full((64, 96, 3), 60, np.uint8))
    writer.release()
    for source, video_out in ((seq, []), (video, ["--save-video"])):  # a video needs pixels: the video only
        out = tmp_path / f"out_{source.name}"
        res = CliRunner().invoke(app, ["track", str(source), "--dets", str(seq / "det" / "det.txt"), "--out", str(out),
                                       "--set", "linker.min_hits=1", "--no-evaluate", *video_out])
        assert res.exit_code == 0, res.output
        results = read_mot_file(out / "edge.txt", kind="results")
        assert len(results.frame) == 3
        assert results.boxes.tolist() == [[0.0, 0.0, 32.0, 64.0]] * 3
        rows = [json.loads(line) for line in (out / "edge.jsonl").read_text().splitlines()]
        assert [r["box"] for r in rows] == [[0.0, 0.0, 32.0, 64.0]] * 3


def test_api_runs_the_clis_engine_unless_told_and_reset_takes_the_next_frame_rate() -> None:
    import torch

    from aetrack.model.onnx_runtime import OnnxDetector

    # backend="auto" (the CLI's): onnxruntime on the CPU; torch one argument away, and for the
    # multi-scale test, which resizes torch tensors.
    assert isinstance(Tracker.from_pretrained("synthetic").model, OnnxDetector)
    assert isinstance(Tracker.from_pretrained("synthetic", backend="torch").model, torch.nn.Module)
    assert isinstance(Tracker.from_pretrained("synthetic", scales=(0.5, 1.0)).model, torch.nn.Module)
    # lost_time_s 2 and interpolate_s 1 at 30 frames/s: 60 and 30 frames; the next video at
    # 10 frames/s (reset(frame_rate=10)): 20 and 10 frames, and ids start at 1 again.
    tracker = Tracker.for_detections(linker_cfg=LinkerConfig(lost_time_s=2.0, interpolate_s=1.0, min_hits=1))
    box, score = np.array([[10.0, 10.0, 50.0, 110.0]]), np.array([0.9])
    assert [t.track_id for t in tracker.update_detections(boxes=box, scores=score)] == [1]
    assert (tracker.frame_rate, tracker.linker.max_lost_frames, tracker.fill_gap_frames) == (30.0, 60, 30)
    tracker.reset(frame_rate=10)
    assert (tracker.frame_rate, tracker.linker.max_lost_frames, tracker.fill_gap_frames) == (10.0, 20, 10)
    assert [t.track_id for t in tracker.update_detections(boxes=box, scores=score)] == [1]
    tracker.reset()  # no frame rate: the last one stays
    assert tracker.frame_rate == 10.0
    with pytest.raises(ValueError, match="frame_rate must be a finite number > 0"):
        tracker.reset(frame_rate=0)
