"""``aetrack thin``: a MOT sequence at every k-th frame (numbers derived by hand in each test)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from aetrack.data.mot import MotSequence
from aetrack.data.thin import thin_sequence, thinned_frame
from cli.main import app
from tests.test_bad_input import one_error_line


def make_sequence(root: Path, *, frames: int = 10, images: int = 6) -> Path:
    """A 10-frame, 30 frames/s sequence: gt id 1 in every frame at x = 10 f, det rows in frames
    1, 2, 5, 9 and 10, and images for frames 1-6 only (as MOT17-train ships its first frames)."""
    seq = root / "SEQ-01"
    (seq / "gt").mkdir(parents=True)
    (seq / "det").mkdir()
    (seq / "img1").mkdir()
    (seq / "seqinfo.ini").write_text(f"[Sequence]\nname=SEQ-01\nimDir=img1\nframeRate=30\nseqLength={frames}\n"
                                     "imWidth=64\nimHeight=48\nimExt=.jpg\n")
    (seq / "gt" / "gt.txt").write_text("".join(f"{f},1,{10 * f},5,8,20,1,1,0.75\n" for f in range(1, frames + 1)))
    (seq / "det" / "det.txt").write_text("".join(f"{f},-1,{10 * f}.5,5,8,20,0.9\n" for f in (1, 2, 5, 9, 10)))
    for f in range(1, images + 1):
        cv2.imwrite(str(seq / "img1" / f"{f:06d}.jpg"), np.full((48, 64, 3), 10 * f, np.uint8))
    return seq


def test_thinned_frame_numbers() -> None:
    # every 4th frame from frame 1: 1 -> 1, 5 -> 2, 9 -> 3; 2..4 dropped
    assert [thinned_frame(f, 4) for f in range(1, 10)] == [1, None, None, None, 2, None, None, None, 3]
    assert [thinned_frame(f, 1) for f in (1, 2, 3)] == [1, 2, 3]


def test_thin_every_fourth_frame(tmp_path: Path) -> None:
    src = make_sequence(tmp_path / "src")
    out = thin_sequence(src, tmp_path / "k4", every=4)
    seq = MotSequence.open(out)
    # 10 frames at 30 frames/s, k = 4: frames 1, 5, 9 kept -> 1, 2, 3; seqLength ceil(10 / 4) = 3;
    # 30 / 4 = 7.5 frames/s; the other keys kept.
    assert (seq.info.length, seq.info.frame_rate, seq.info.width, seq.info.im_ext) == (3, 7.5, 64, ".jpg")
    # gt rows of frames 1, 5, 9 (x = 10, 50, 90), the rest of each line unchanged
    assert (out / "gt" / "gt.txt").read_text() == "1,1,10,5,8,20,1,1,0.75\n2,1,50,5,8,20,1,1,0.75\n3,1,90,5,8,20,1,1,0.75\n"
    # det rows in frames 1, 2, 5, 9, 10: frames 1, 5, 9 kept
    assert (out / "det" / "det.txt").read_text() == "1,-1,10.5,5,8,20,0.9\n2,-1,50.5,5,8,20,0.9\n3,-1,90.5,5,8,20,0.9\n"
    # images of frames 1-6 exist: frames 1 and 5 kept, as 000001 and 000002 (grey 10 and 50)
    assert sorted(p.name for p in (out / "img1").iterdir()) == ["000001.jpg", "000002.jpg"]
    assert abs(int(cv2.imread(str(out / "img1" / "000002.jpg"))[0, 0, 0]) - 50) <= 2


def test_thin_cli_and_bad_input(tmp_path: Path) -> None:
    make_sequence(tmp_path / "src")
    runner = CliRunner()
    res = runner.invoke(app, ["thin", str(tmp_path / "src"), str(tmp_path / "k2"), "--every", "2"])
    assert res.exit_code == 0, res.output
    # k = 2: frames 1, 3, 5, 7, 9 -> ceil(10 / 2) = 5 frames at 15 frames/s
    assert MotSequence.open(tmp_path / "k2" / "SEQ-01").info.length == 5
    assert MotSequence.open(tmp_path / "k2" / "SEQ-01").info.frame_rate == 15.0
    one_error_line(runner.invoke(app, ["thin", str(tmp_path / "src"), str(tmp_path / "k2"), "--every", "2"]),
                   "exists; pass --overwrite")
    one_error_line(runner.invoke(app, ["thin", str(tmp_path / "src"), str(tmp_path / "k0"), "--every", "0"]),
                   "--every must be an integer >= 1, got 0")
    one_error_line(runner.invoke(app, ["thin", str(tmp_path / "none"), str(tmp_path / "k3")]), "folder not found")


def test_thin_refuses_a_bad_frame_number(tmp_path: Path) -> None:
    src = make_sequence(tmp_path / "src")
    (src / "det" / "det.txt").write_text("1,-1,1,1,2,2,0.9\nx,-1,1,1,2,2,0.9\n")
    with pytest.raises(Exception, match=r"det.txt:2: frame must be a whole number >= 1, got 'x'"):
        thin_sequence(src, tmp_path / "k2", every=2)


def test_thin_writes_the_kept_frames_of_a_video(tmp_path: Path) -> None:
    # A sequence whose frames are one video (as PETS09-S2L1's vtest.avi): 5 frames of grey 40 f,
    # every 2nd kept: frames 1, 3, 5 -> img1/000001-000003.jpg (grey 40, 120, 200).
    seq = make_sequence(tmp_path / "src", frames=5, images=0)
    (seq / "img1").rmdir()
    writer = cv2.VideoWriter(str(seq / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (64, 48))
    for f in range(1, 6):
        writer.write(np.full((48, 64, 3), 40 * f, np.uint8))
    writer.release()
    out = thin_sequence(seq, tmp_path / "k2", every=2)
    assert sorted(p.name for p in (out / "img1").iterdir()) == ["000001.jpg", "000002.jpg", "000003.jpg"]
    greys = [int(cv2.imread(str(out / "img1" / f"00000{i}.jpg"))[20, 30, 0]) for i in (1, 2, 3)]
    assert all(abs(g - want) <= 6 for g, want in zip(greys, (40, 120, 200))), greys
    assert MotSequence.open(out).info.length == 3
