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

:class:`ResultWriter` streams rows to temp files while tracking and renames them into place on
:meth:`ResultWriter.close`, so an interrupted run never leaves a half-written result. With
``fill_gaps`` it fills the gaps of revived tracks (rows reach the files ``fill_gaps`` frames late).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from aetrack.io.atomic import atomic_write, temp_beside


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


def write_mot(path: str | Path, rows: Iterable[ResultRow]) -> None:
    """Write MOT text atomically, rows sorted by (frame, id)."""
    with atomic_write(path) as f:
        f.writelines(r.mot_line() for r in sorted(rows, key=lambda r: (r.frame, r.track_id)))


def write_jsonl(path: str | Path, rows: Iterable[ResultRow]) -> None:
    """Write JSON lines atomically, rows sorted by (frame, id)."""
    with atomic_write(path) as f:
        f.writelines(r.json_line() for r in sorted(rows, key=lambda r: (r.frame, r.track_id)))


class ResultWriter:
    """Streams rows to ``<out>/<name>.txt`` and ``<out>/<name>.jsonl`` through temp files.

    Use as a context manager: on success both files appear atomically; on an exception the
    temp files are removed and any earlier results are left untouched. ``fill_gaps``: the
    longest gap (frames) of a revived track filled by interpolation (0 = none; see
    :class:`aetrack.io.gap_fill.GapFiller`).
    """

    def __init__(self, *, out_dir: str | Path, name: str, jsonl: bool = True, fill_gaps: int = 0) -> None:
        from aetrack.io.gap_fill import GapFiller

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
            mot.write(r.mot_line())
        if len(self._tmp) > 1:
            js = self._tmp[1][1]
            for r in rows:
                js.write(r.json_line())
        self.rows_written += len(rows)

    def close(self) -> None:
        if self._filler is not None and self._tmp:
            self._write(self._filler.flush())
        for (tmp, f), target in zip(self._tmp, self.targets):
            f.flush()
            os.fsync(f.fileno())
            f.close()
            os.replace(tmp, target)
        self._tmp = []

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
