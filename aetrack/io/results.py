"""Tracking results as MOTChallenge text and JSON lines, written atomically.

MOT text rows: ``frame,id,bb_left,bb_top,bb_width,bb_height,conf,class,-1,-1`` (frames and
ids 1-based, boxes in pixels); column 8, ``class``, is the track's class as a 1-based index into
the model's class names (person = 1, MOTChallenge's pedestrian class, so MOT evaluation keeps
those rows and, in aetrack, only those; files written before classes hold -1 there, read as
person). JSON lines: one object per track per frame with ``frame``, ``id``, ``class`` (the class
name, e.g. "person"), ``box`` (x1, y1, x2, y2 pixels, clipped to the frame), ``score``, ``state`` ("confirmed", or
"lost" for a track reported at its motion prediction while hidden, or "interpolated" for a
box filled into the gap of a track that was matched again, :mod:`aetrack.io.gap_fill`) and
optional ``tag``.

One class per track: a track's class is the majority of its detections' classes
(:class:`aetrack.linker.Linker`), which can change while the track grows (a car first read as a
bus). Every row of a track in the files carries the class of its last row, so a track has one
class in MOT column 8 and in the JSON ``class`` over all its rows (the annotated video and
``Tracker.update`` show each frame's class live).

:class:`ResultWriter` streams rows to temp files while tracking and renames them into place on
:meth:`ResultWriter.close`, so an interrupted run never leaves a half-written result. With
``fill_gaps`` it fills the gaps of revived tracks (rows reach the files ``fill_gaps`` frames late).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from aetrack.io.atomic import atomic_write, temp_beside
from aetrack.io.gap_fill import GapFiller


@dataclass(frozen=True)
class ResultRow:
    """One track in one frame. ``box`` is (x1, y1, x2, y2) in frame pixels; ``class_id`` the
    0-based class index (written 1-based in MOT text), ``class_name`` its name (JSON lines)."""

    frame: int
    track_id: int
    box: tuple[float, float, float, float]
    score: float = 1.0
    tag: tuple[float, ...] | None = None
    state: str = "confirmed"
    class_id: int = 0
    class_name: str = "person"

    def mot_line(self) -> str:
        x1, y1, x2, y2 = self.box
        return (f"{self.frame},{self.track_id},{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},"
                f"{self.score:.4f},{self.class_id + 1},-1,-1\n")

    def json_line(self) -> str:
        rec: dict[str, object] = {"frame": self.frame, "id": self.track_id, "class": self.class_name,
                                  "box": [round(float(v), 2) for v in self.box], "score": round(float(self.score), 4),
                                  "state": self.state}
        if self.tag is not None:
            rec["tag"] = [round(float(v), 4) for v in self.tag]
        return json.dumps(rec) + "\n"


class TrackClasses:
    """The class of each track's latest row seen (``see`` rows in frame order), and the ids whose
    rows disagreed (``mixed``): what makes a results file hold one class per track. One entry per
    track id (two small ints): memory grows with the number of ids, not of rows."""

    def __init__(self) -> None:
        self.last: dict[int, tuple[int, str]] = {}  # track id -> (class_id, class_name) of its latest row
        self.mixed: set[int] = set()

    def see(self, row: ResultRow) -> None:
        cls = (row.class_id, row.class_name)
        if self.last.setdefault(row.track_id, cls) != cls:
            self.mixed.add(row.track_id)
            self.last[row.track_id] = cls

    def final(self, rows: Iterable[ResultRow]) -> list[ResultRow]:
        """``rows`` with the class of each mixed track's latest row."""
        return [dataclasses.replace(r, class_id=self.last[r.track_id][0], class_name=self.last[r.track_id][1])
                if r.track_id in self.mixed else r for r in rows]


def _sorted_final(rows: Iterable[ResultRow]) -> list[ResultRow]:
    """Rows sorted by (frame, id), each track with the class of its last row."""
    ordered = sorted(rows, key=lambda r: (r.frame, r.track_id))
    classes = TrackClasses()
    for r in ordered:
        classes.see(r)
    return classes.final(ordered)


def write_mot(path: str | Path, rows: Iterable[ResultRow]) -> None:
    """Write MOT text atomically, rows sorted by (frame, id), one class per track."""
    with atomic_write(path) as f:
        f.writelines(r.mot_line() for r in _sorted_final(rows))


def write_jsonl(path: str | Path, rows: Iterable[ResultRow]) -> None:
    """Write JSON lines atomically, rows sorted by (frame, id), one class per track."""
    with atomic_write(path) as f:
        f.writelines(r.json_line() for r in _sorted_final(rows))


class ResultWriter:
    """Streams rows to ``<out>/<name>.txt`` and ``<out>/<name>.jsonl`` through temp files.

    Use as a context manager: on success both files appear atomically; on an exception the
    temp files are removed and any earlier results are left untouched. ``fill_gaps``: the
    longest gap (frames) of a revived track filled by interpolation (0 = none; see
    :class:`aetrack.io.gap_fill.GapFiller`). On close, the rows of a track whose class changed
    while it grew are given the class of its last row (the temp files are rewritten once, only
    when some track's class changed).
    """

    def __init__(self, *, out_dir: str | Path, name: str, jsonl: bool = True, fill_gaps: int = 0) -> None:
        self._filler = GapFiller(max_gap=fill_gaps) if fill_gaps else None
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.targets: list[Path] = [self.out_dir / f"{name}.txt"]
        if jsonl:
            self.targets.append(self.out_dir / f"{name}.jsonl")
        self._tmp: list[tuple[str, IO[str]]] = []
        for t in self.targets:
            fd, tmp = temp_beside(t)
            self._tmp.append((tmp, os.fdopen(fd, "w")))
        self.rows_written = 0
        self._classes = TrackClasses()

    def write(self, rows: Sequence[ResultRow]) -> None:
        """Append one frame's rows (already in id order)."""
        if self._filler is not None:
            rows = self._filler.push(rows)
        self._write(rows)

    @property
    def rows_filled(self) -> int:
        """Rows added by gap filling so far."""
        return 0 if self._filler is None else self._filler.filled

    def _write(self, rows: Sequence[ResultRow]) -> None:
        mot = self._tmp[0][1]
        for r in rows:
            self._classes.see(r)
            mot.write(r.mot_line())
        if len(self._tmp) > 1:
            js = self._tmp[1][1]
            for r in rows:
                js.write(r.json_line())
        self.rows_written += len(rows)

    def close(self) -> None:
        if self._filler is not None and self._tmp:
            self._write(self._filler.flush())
        for i, ((tmp, f), target) in enumerate(zip(self._tmp, self.targets)):
            f.flush()
            if self._classes.mixed:
                f.close()
                self._one_class_per_track(tmp, json_lines=i == 1)
            else:
                os.fsync(f.fileno())
                f.close()
            os.replace(tmp, target)
        self._tmp = []

    def _one_class_per_track(self, tmp: str, *, json_lines: bool) -> None:
        """Rewrite the temp file ``tmp`` (MOT text, or JSON lines) in place, atomically, with the
        last class of every track whose class changed (``self._classes``)."""
        last, mixed = self._classes.last, self._classes.mixed
        with open(tmp, encoding="utf-8") as src, atomic_write(tmp) as dst:
            for line in src:
                if json_lines:
                    rec = json.loads(line)
                    if rec["id"] in mixed:
                        rec["class"] = last[rec["id"]][1]
                        line = json.dumps(rec) + "\n"
                else:
                    fields = line.split(",")
                    track_id = int(fields[1])
                    if track_id in mixed:
                        fields[7] = str(last[track_id][0] + 1)
                        line = ",".join(fields)
                dst.write(line)

    def abort(self) -> None:
        for tmp, f in self._tmp:
            f.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        self._tmp = []

    def __enter__(self) -> "ResultWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
