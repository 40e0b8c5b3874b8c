"""Annotated video: frames decode back, boxes drawn in the id's colour, nothing left on abort."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from aetrack.io.video import AnnotatedVideoWriter, id_colour


def test_colours_differ_between_neighbouring_ids() -> None:
    colours = {id_colour(i) for i in range(1, 11)}
    assert len(colours) == 10


def test_writes_decodable_mp4_with_coloured_boxes(tmp_path: Path) -> None:
    out = tmp_path / "v.mp4"
    track = SimpleNamespace(track_id=4, box=(20.0, 20.0, 60.0, 50.0), score=1.0)
    with AnnotatedVideoWriter(path=out, fps=10.0) as w:
        for k in range(6):
            w.write(np.zeros((96, 128, 3), np.uint8), [track], frame_no=k + 1)
        w.write(np.zeros((48, 64, 3), np.uint8), [track])  # a size change is resized, not a crash
    cap = cv2.VideoCapture(str(out))
    frames = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        frames.append(img)
    assert len(frames) == 7 and frames[0].shape == (96, 128, 3)
    # the box's left edge (x=20, 2 px thick) at mid-height y=40 carries the id colour (mp4v is lossy)
    got = frames[0][40, 20].astype(int)
    assert np.abs(got - np.array(id_colour(4))).max() < 60
    assert frames[0][80, 100].max() < 30  # far from the box: still black


def test_abort_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        with AnnotatedVideoWriter(path=tmp_path / "v.mp4", fps=5.0) as w:
            w.write(np.zeros((32, 32, 3), np.uint8), [])
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_label_names_id_and_class(tmp_path: Path) -> None:
    w = AnnotatedVideoWriter(path=tmp_path / "v.mp4", fps=5.0, class_names=("person", "bicycle", "car"))
    assert w.label(SimpleNamespace(track_id=7, class_id=2)) == "7 car"
    assert w.label(SimpleNamespace(track_id=3)) == "3 person"  # no class_id: class 0
    assert AnnotatedVideoWriter(path=tmp_path / "u.mp4", fps=5.0).label(SimpleNamespace(track_id=1, class_id=0)) == "1 person"
    w.abort()
