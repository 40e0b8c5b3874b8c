"""Filling the gaps of revived tracks (aetrack.io.gap_fill): boxes, delays and files, derived by hand."""

from __future__ import annotations

import json

import pytest

from aetrack.io.gap_fill import INTERPOLATED, GapFiller
from aetrack.io.results import ResultRow, ResultWriter
from aetrack.linker import LinkerConfig


def row(frame: int, tid: int, x: float, *, state: str = "confirmed", score: float = 0.9) -> ResultRow:
    """A 10 x 10 box whose left edge is at ``x``."""
    return ResultRow(frame=frame, track_id=tid, box=(x, 0.0, x + 10.0, 10.0), score=score, state=state)


def test_gap_of_a_revived_track_is_filled_on_the_straight_line():
    # Track 1: matched at frame 1 (x = 0), reported lost at frame 2 (its prediction x = 5),
    # unreported at frame 3, matched again at frame 4 (x = 30). The gap is frames 2-3, 3 frames
    # apart from end to end: x = 0 + 30 * k / 3 = 10 and 20, scores 0.9 -> 0.6 step -0.1.
    # Track 2: matched at frame 1 only, then reported lost at frame 2 and never seen again:
    # nothing to fill, its lost row stays.
    f = GapFiller(max_gap=2)
    out = f.push([row(1, 1, 0.0), row(1, 2, 100.0)])
    out += f.push([row(2, 1, 5.0, state="lost"), row(2, 2, 100.0, state="lost")])
    out += f.push([])
    out += f.push([row(4, 1, 30.0, score=0.6)])
    out += f.flush()
    got = [(r.frame, r.track_id, r.box[0], r.state, round(r.score, 6)) for r in out]
    assert got == [
        (1, 1, 0.0, "confirmed", 0.9),
        (1, 2, 100.0, "confirmed", 0.9),
        (2, 1, 10.0, INTERPOLATED, 0.8),   # replaces the lost row at x = 5
        (2, 2, 100.0, "lost", 0.9),
        (3, 1, 20.0, INTERPOLATED, 0.7),
        (4, 1, 30.0, "confirmed", 0.6),
    ]
    assert f.filled == 2


def test_gaps_longer_than_max_gap_stay_open():
    # Matches at frames 1 and 5: 3 missing frames > max_gap 2.
    f = GapFiller(max_gap=2)
    out = f.push([row(1, 7, 0.0)]) + f.push([row(5, 7, 40.0)]) + f.flush()
    assert [(r.frame, r.box[0]) for r in out] == [(1, 0.0), (5, 40.0)]
    assert f.filled == 0


def test_rows_are_held_max_gap_frames_and_no_longer():
    # With max_gap 2, after frame n is pushed a later match (frame >= n + 1) can fill back to
    # frame n - 1 at the earliest, so frames <= n - 2 are final.
    f = GapFiller(max_gap=2)
    assert f.push([row(1, 1, 0.0)]) == []
    assert f.push([row(2, 1, 1.0)]) == []
    assert [r.frame for r in f.push([row(3, 1, 2.0)])] == [1]
    assert [r.frame for r in f.push([row(4, 1, 3.0)])] == [2]
    assert [r.frame for r in f.flush()] == [3, 4]


def test_zero_max_gap_passes_rows_through_and_order_is_checked():
    f = GapFiller(max_gap=0)
    assert [r.frame for r in f.push([row(1, 1, 0.0)])] == [1]
    assert [r.frame for r in f.push([row(3, 1, 20.0)])] == [3]
    with pytest.raises(ValueError, match="frame order"):
        f.push([row(2, 1, 10.0)])
    with pytest.raises(ValueError, match="max_gap"):
        GapFiller(max_gap=-1)


def test_result_writer_files_hold_the_filled_rows_in_frame_order(tmp_path):
    with ResultWriter(out_dir=tmp_path, name="seq", fill_gaps=5) as w:
        w.write([row(1, 1, 0.0)])
        w.write([row(2, 2, 50.0)])
        w.write([row(3, 1, 20.0), row(3, 2, 52.0)])
    lines = (tmp_path / "seq.txt").read_text().splitlines()
    assert lines == [
        "1,1,0.00,0.00,10.00,10.00,0.9000,1,-1,-1",
        "2,1,10.00,0.00,10.00,10.00,0.9000,1,-1,-1",
        "2,2,50.00,0.00,10.00,10.00,0.9000,1,-1,-1",
        "3,1,20.00,0.00,10.00,10.00,0.9000,1,-1,-1",
        "3,2,52.00,0.00,10.00,10.00,0.9000,1,-1,-1",
    ]
    states = [json.loads(x)["state"] for x in (tmp_path / "seq.jsonl").read_text().splitlines()]
    assert states == ["confirmed", INTERPOLATED, "confirmed", "confirmed", "confirmed"]
    assert w.rows_filled == 1


def test_interpolate_frames_is_capped_by_the_lost_time():
    # 3.0 s at 10 fps = 30 frames, but a track is removed after lost_time_s = 2.0 s (20 frames).
    assert LinkerConfig(interpolate_s=3.0, lost_time_s=2.0).interpolate_frames(10.0) == 20
    assert LinkerConfig(interpolate_s=0.5, lost_time_s=2.0).interpolate_frames(10.0) == 5
    assert LinkerConfig(interpolate_s=0.0).interpolate_frames(30.0) == 0
    with pytest.raises(ValueError, match="interpolate_s"):
        LinkerConfig(interpolate_s=-1.0)
