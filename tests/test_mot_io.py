"""MOT text, seqinfo, frame ranges, frame sources and atomic result writers."""

from __future__ import annotations

import json

from pathlib import Path

import cv2
import numpy as np
import pytest

from aetrack.data.mot import FrameRange, MotSequence, parse_frame_range, read_mot_file, read_seqinfo
from aetrack.data.sources import ImageFolderSource, open_source, to_bgr
from aetrack.errors import AetrackError
from aetrack.io.results import ResultRow, ResultWriter, write_mot

SEQINFO = "[Sequence]\nname=s\nimDir=img1\nframeRate=25\nseqLength=3\nimWidth=64\nimHeight=48\nimExt=.png\n"


def _write(p: Path, text: str) -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def test_frame_range_parsing() -> None:
    assert parse_frame_range("398:795") == FrameRange(398, 795)
    assert parse_frame_range("5:") == FrameRange(5, None)
    assert parse_frame_range(None) is None
    r = parse_frame_range(":3")
    # frames 1..3 inclusive out of 1..5 -> three True
    assert r.mask(np.arange(1, 6)).tolist() == [True, True, True, False, False]
    for bad in ("a:b", "5:2", "0:3", "1:2:3"):
        with pytest.raises(AetrackError):
            parse_frame_range(bad)


def test_seqinfo_reads_and_names_missing_key(tmp_path: Path) -> None:
    info = read_seqinfo(_write(tmp_path / "seqinfo.ini", SEQINFO))
    assert (info.frame_rate, info.length, info.width, info.height, info.im_ext) == (25.0, 3, 64, 48, ".png")
    bad = _write(tmp_path / "b" / "seqinfo.ini", SEQINFO.replace("frameRate=25\n", ""))
    with pytest.raises(AetrackError, match="missing key 'frameRate'"):
        read_seqinfo(bad)


def test_gt_column_sets(tmp_path: Path) -> None:
    mot15 = read_mot_file(_write(tmp_path / "a.txt", "1,1,10,20,30,40,1,-1,-1,-1\n2,1,11,20,30,40,0,-1,-1,-1\n"))
    assert mot15.fmt == "mot15" and mot15.cls.tolist() == [1, 1] and mot15.conf.tolist() == [1.0, 0.0]
    mot17 = read_mot_file(_write(tmp_path / "b.txt", "1,1,10,20,30,40,1,7,0.25\n"))
    assert mot17.fmt == "mot16" and mot17.cls.tolist() == [7] and mot17.vis.tolist() == [0.25]
    np.testing.assert_allclose(mot17.boxes, [[10, 20, 30, 40]])


@pytest.mark.parametrize(
    ("body", "line", "what"),
    [
        ("1,1,10,20,30,40,1,1,1\n1,2,10,20,30\n", 2, "at least 6"),   # a 5-column row
        ("1,1,10,20,30,40,1,1,1\n\n2,1,1,2,3\n", 3, "at least 6"),     # blank line still counts
        ("1,1,10,20,nan,40,1,1,1\n", 1, "NaN"),
        ("1,1,10,20,30,-4,1,1,1\n", 1, "negative"),
        ("1,1,10,20,30,x,1,1,1\n", 1, "non-numeric"),
        ("0,1,10,20,30,40,1,1,1\n", 1, "frame"),
        # Every column that is read is checked, and numbers must fit (they wrapped in int64):
        ("1,-1,1,2,3,4,0.9,-1,-1,-1\n2,-1,1,2,3,4,nan,-1,-1,-1\n", 2, "column 7"),  # NaN score
        ("1,-1,1,2,3,4,inf,-1,-1,-1\n", 1, "column 7"),                           # inf score
        ("9223372036854775807,1,10,20,30,40,1,1,1\n", 1, r"frame must be a whole number in 1\.\.2147483647"),
        ("2147483648,1,10,20,30,40,1,1,1\n", 1, "frame must be"),               # one past int32
        ("1,1e20,10,20,30,40,1,1,1\n", 1, r"id must be a whole number within \+-2147483647"),
        ("1,2.5,10,20,30,40,1,1,1\n", 1, "id must be a whole number"),
        ("1,1,10,20,30,40,1,nan,1\n", 1, "class must be"),
        ("1,1,10,20,30,40,1,1,nan\n", 1, "visibility"),
        ("1,1,10,20,1e300,40,1,1,1\n", 1, r"beyond \+-1e\+07 pixels"),
        # Two bad rows: the first in file order is named, whatever its fault.
        ("1,1,10,20,30,40,1,1,1\n1,2,10,20,30,40,1,nan,1\n0,1,10,20,30,40,1,1,1\n", 2, "class"),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path: Path, body: str, line: int, what: str) -> None:
    p = _write(tmp_path / "gt.txt", body)
    with pytest.raises(AetrackError, match=what) as err:
        read_mot_file(p)
    assert f"gt.txt:{line}:" in str(err.value)


def test_duplicate_ids_in_results_name_line(tmp_path: Path) -> None:
    p = _write(tmp_path / "r.txt", "1,1,0,0,5,5,1,-1,-1,-1\n1,2,0,0,5,5,1,-1,-1,-1\n1,1,9,9,5,5,1,-1,-1,-1\n")
    with pytest.raises(AetrackError, match=r"r\.txt:3: id 1 appears twice in frame 1"):
        read_mot_file(p, kind="results")
    assert len(read_mot_file(p, kind="det")) == 3  # detections may repeat ids (-1)


def test_image_folder_sequence_grey_frames_and_range(tmp_path: Path) -> None:
    seq = tmp_path / "seq"
    _write(seq / "seqinfo.ini", SEQINFO)
    (seq / "img1").mkdir()
    for k in range(1, 4):
        cv2.imwrite(str(seq / "img1" / f"{k:06d}.png"), np.full((48, 64), 10 * k, np.uint8))  # grey
    src = open_source(seq, frames=parse_frame_range("2:3"))
    got = list(src)
    assert [f for f, _ in got] == [2, 3]
    assert got[0][1].shape == (48, 64, 3) and got[0][1].dtype == np.uint8
    assert int(got[1][1][0, 0, 2]) == 30  # frame 3 was written with value 10 * 3
    assert src.fps == 25.0 and src.selected_length() == 2


def test_iterable_source_converts_bgra_and_grey() -> None:
    bgra = np.zeros((4, 5, 4), np.uint8)
    bgra[..., 2] = 200
    frames = list(open_source(iter([bgra, np.full((4, 5), 7, np.uint8)])))
    assert [f for f, _ in frames] == [1, 2]
    assert frames[0][1].shape == (4, 5, 3) and frames[0][1][0, 0].tolist() == [0, 0, 200]
    assert frames[1][1][0, 0].tolist() == [7, 7, 7]
    with pytest.raises(AetrackError):
        to_bgr(np.zeros((2, 2, 5), np.uint8))


def test_video_roundtrip_and_unreadable_video(tmp_path: Path) -> None:
    path = tmp_path / "v.avi"
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (32, 24))
    for k in range(5):
        vw.write(np.full((24, 32, 3), 40 * k, np.uint8))
    vw.release()
    src = open_source(path, frames=parse_frame_range("3:4"))
    got = list(src)
    assert [f for f, _ in got] == [3, 4]
    assert abs(int(got[0][1].mean()) - 80) <= 3  # frame 3 was filled with 40 * 2 (MJPG is lossy)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 10)
    with pytest.raises(AetrackError, match="cannot decode video"):
        open_source(junk)
    with pytest.raises(AetrackError, match="no such"):
        open_source(tmp_path / "missing.mp4")


def test_result_writer_is_atomic(tmp_path: Path) -> None:
    row = ResultRow(frame=1, track_id=3, box=(10.0, 20.0, 40.0, 60.0), score=0.9)
    assert row.mot_line() == "1,3,10.00,20.00,30.00,40.00,0.9000,1,-1,-1\n"  # column 8: class 1, person
    write_mot(tmp_path / "s.txt", [row])
    before = (tmp_path / "s.txt").read_text()
    with pytest.raises(RuntimeError):
        with ResultWriter(out_dir=tmp_path, name="s") as w:
            w.write([ResultRow(frame=1, track_id=9, box=(0, 0, 1, 1))])
            raise RuntimeError("crash mid-run")
    assert (tmp_path / "s.txt").read_text() == before  # earlier results untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.txt"]  # no temp files left
    with ResultWriter(out_dir=tmp_path, name="s") as w:
        w.write([row])
    table = read_mot_file(tmp_path / "s.txt", kind="results")
    assert table.ids.tolist() == [3] and table.boxes.tolist() == [[10, 20, 30, 40]]
    assert '"box": [10.0, 20.0, 40.0, 60.0], "score": 0.9, "state": "confirmed"' in (tmp_path / "s.jsonl").read_text()


def test_result_rows_name_their_class(tmp_path: Path) -> None:
    # Class index 2 of (person, bicycle, car, ...) is "car": 1-based 3 in MOT column 8, its
    # name in JSON lines. Files written before classes (-1 there) read back as -1 (no class).
    car = ResultRow(frame=2, track_id=7, box=(0.0, 0.0, 10.0, 20.0), score=0.5, class_id=2, class_name="car")
    assert car.mot_line() == "2,7,0.00,0.00,10.00,20.00,0.5000,3,-1,-1\n"
    assert json.loads(car.json_line())["class"] == "car"
    person = ResultRow(frame=2, track_id=8, box=(0.0, 0.0, 10.0, 20.0))
    assert json.loads(person.json_line())["class"] == "person"
    write_mot(tmp_path / "new.txt", [car, person])
    assert read_mot_file(tmp_path / "new.txt", kind="results").cls.tolist() == [3, 1]
    old = _write(tmp_path / "old.txt", "1,1,0,0,5,5,1,-1,-1,-1\n")
    assert read_mot_file(old, kind="results").cls.tolist() == [-1]
    assert read_mot_file(_write(tmp_path / "seven.txt", "1,1,0,0,5,5,1\n"), kind="results").cls.tolist() == [1]
    with pytest.raises(AetrackError, match="new.txt:1: NaN or infinite class"):
        read_mot_file(_write(tmp_path / "new.txt", "1,1,0,0,5,5,1,nan,-1,-1\n"), kind="results")


def test_results_hold_one_class_per_track(tmp_path: Path) -> None:
    # Track 1 is reported as a bus in frame 1 and as a car from frame 3 on (its majority class
    # changed as votes came in); frame 2 is a filled gap (fill_gaps 1). Track 2 is a person
    # (frames 1 and 4: a gap of 2, not filled). Every row of track 1 in both files carries its
    # last class, car (MOT column 8: 3); track 2's rows are untouched.
    def row(frame: int, tid: int, cls: int, name: str) -> ResultRow:
        return ResultRow(frame=frame, track_id=tid, box=(10.0 * frame, 0.0, 10.0 * frame + 10, 20.0),
                         class_id=cls, class_name=name)

    with ResultWriter(out_dir=tmp_path, name="s", fill_gaps=1) as w:
        w.write([row(1, 1, 4, "bus"), row(1, 2, 0, "person")])
        w.write([row(3, 1, 2, "car")])
        w.write([row(4, 1, 2, "car"), row(4, 2, 0, "person")])
    table = read_mot_file(tmp_path / "s.txt", kind="results")
    assert list(zip(table.frame.tolist(), table.ids.tolist(), table.cls.tolist())) == [
        (1, 1, 3), (1, 2, 1), (2, 1, 3), (3, 1, 3), (4, 1, 3), (4, 2, 1)]
    recs = [json.loads(line) for line in (tmp_path / "s.jsonl").read_text().splitlines()]
    assert [(r["id"], r["class"], r["state"]) for r in recs] == [
        (1, "car", "confirmed"), (2, "person", "confirmed"), (1, "car", "interpolated"), (1, "car", "confirmed"),
        (1, "car", "confirmed"), (2, "person", "confirmed")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.jsonl", "s.txt"]  # no temp files left
    # write_mot holds to the same rule: the class of each track's last row
    write_mot(tmp_path / "w.txt", [row(3, 1, 2, "car"), row(1, 1, 4, "bus")])
    assert read_mot_file(tmp_path / "w.txt", kind="results").cls.tolist() == [3, 3]


def test_real_pets_sequence(shared_data: Path) -> None:
    seq = MotSequence.open(shared_data / "PETS09-S2L1")
    gt = seq.gt()
    # README: 4,650 rows, 19 ids, 174 rows with flag 0; MOT15 column set
    assert (len(gt), len(np.unique(gt.ids)), int((gt.conf == 0).sum()), gt.fmt) == (4650, 19, 174, "mot15")
    src = open_source(seq.root, frames=parse_frame_range("795:"))
    assert src.fps == 7.0 and src.length == 795
    (frame_no, img), = list(src)
    assert frame_no == 795 and img.shape == (576, 768, 3)


def test_real_mot17_gt(shared_data: Path) -> None:
    gt = MotSequence.open(shared_data / "MOT17-train" / "MOT17-05-FRCNN").gt()
    assert gt.fmt == "mot16" and len(gt) == 8013  # `wc -l gt.txt` counts 8013 rows
    assert set(np.unique(gt.cls)) >= {1}


def test_nan_class_or_visibility_prints_no_numpy_warning(tmp_path: Path) -> None:
    import warnings

    for body in ("1,1,10,20,30,40,1,nan,1\n", "1,1,10,20,30,40,1,1,nan\n"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a RuntimeWarning would fail here instead
            with pytest.raises(AetrackError, match=r"gt\.txt:1:"):
                read_mot_file(_write(tmp_path / "gt.txt", body))


def test_bom_crlf_and_spaces_are_read(tmp_path: Path) -> None:
    p = tmp_path / "gt.txt"
    p.write_bytes(b"\xef\xbb\xbf1, 7,10,20,30,40,1,1,0.5\r\n\r\n3,\t8,1,2,3,4,0,2,1\r\n")
    t = read_mot_file(p)
    assert t.frame.tolist() == [1, 3] and t.ids.tolist() == [7, 8]
    assert t.cls.tolist() == [1, 2] and t.vis.tolist() == [0.5, 1.0] and t.fmt == "mot16"


def test_not_utf8_and_out_of_range_seqinfo(tmp_path: Path) -> None:
    p = tmp_path / "gt.txt"
    p.write_bytes(b"1,1,10,20,30,40,1,1,1\n\xff\xfe\n")
    with pytest.raises(AetrackError, match=r"gt\.txt: not UTF-8 text \(byte 22\)"):
        read_mot_file(p)
    info = _write(tmp_path / "s" / "seqinfo.ini", SEQINFO.replace("seqLength=3", "seqLength=1e30"))
    with pytest.raises(AetrackError, match="'seqLength' is at most 2147483647"):
        read_seqinfo(info)
    info.write_bytes(SEQINFO.encode() + b"comment=\xff\n")
    with pytest.raises(AetrackError, match="not UTF-8 text"):
        read_seqinfo(info)
    info.write_text(SEQINFO + "note=50%\n")  # no interpolation: '%' is a character
    assert read_seqinfo(info).length == 3
    with pytest.raises(AetrackError, match="frames go up to 2147483647"):
        parse_frame_range("1:99999999999999999999")
