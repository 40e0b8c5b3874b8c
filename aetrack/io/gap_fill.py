"""Filling the gaps of revived tracks in written results (linear interpolation, as ByteTrack's
and OC-SORT's MOT17 results are post-processed).

A track that is missed for a few frames (an occlusion, a detector miss) and then matched
again has a hole in its trajectory. In results files, the frames between its two matches are
filled with boxes on the straight line between the two matched boxes: the linker already
decided that both ends are one object, so the filled boxes cost nothing in identity and
recover the frames the detector missed. Only gaps of tracks that came back are filled: a
track that is never matched again adds nothing (unlike reporting lost tracks at their motion
predictions, ``LinkerConfig.report_lost_s``, whose rows become false positives when the
object has left). Rows reported for a lost track inside a filled gap are replaced by the
interpolated ones.

:class:`GapFiller` works on a stream of rows in frame order with a delay of ``max_gap``
frames: a frame's rows are final once no later match can reach back to it. Memory stays
bounded by ``max_gap`` frames of rows whatever the video's length. Live consumers of
:meth:`aetrack.Tracker.update` get the rows of each frame at once, without filling.

Rows are :class:`aetrack.io.results.ResultRow` (results writing uses the filler, not the other
way round): a filled row is a copy of the row that ends its gap (its track id and class) with
``frame``, ``box``, ``score``, ``tag`` and ``state`` replaced.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Protocol


class Row(Protocol):
    """What the filler reads of a row: :class:`aetrack.io.results.ResultRow`, a frozen dataclass."""

    frame: int
    track_id: int
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 frame pixels
    score: float
    state: str


#: ``ResultRow.state`` of a filled row (JSON lines ``"state"``).
INTERPOLATED = "interpolated"


class GapFiller:
    """Delays rows by ``max_gap`` frames and fills, for every track matched again after
    ``k <= max_gap`` frames without a match, those ``k`` frames by linear interpolation.

    Feed rows with :meth:`push` in non-decreasing frame order (any number of frames per
    call); each call returns the rows that became final, sorted by (frame, track id);
    :meth:`flush` returns the rest at the end. ``max_gap = 0`` passes rows straight through.
    A matched row is one whose ``state`` is not ``"lost"``.
    """

    def __init__(self, *, max_gap: int) -> None:
        if isinstance(max_gap, bool) or not isinstance(max_gap, int) or max_gap < 0:
            raise ValueError(f"max_gap must be an integer >= 0, got {max_gap!r}")
        self.max_gap = max_gap
        self._pending: dict[int, dict[int, Row]] = {}  # frame -> track id -> row
        self._last_match: dict[int, Row] = {}  # track id -> its last matched row
        self._newest = None  # newest frame pushed
        self.filled = 0  # rows added so far

    def push(self, rows: Iterable[Row]) -> list[Row]:
        """Take rows (frames not older than any pushed before); return the rows now final."""
        for row in rows:
            if self._newest is not None and row.frame < self._newest:
                raise ValueError(f"rows must come in frame order: frame {row.frame} after {self._newest}")
            self._newest = row.frame
            if row.state != "lost":
                prev = self._last_match.get(row.track_id)
                if prev is not None and 1 < row.frame - prev.frame <= self.max_gap + 1:
                    self._fill(prev, row)
                self._last_match[row.track_id] = row
            self._pending.setdefault(row.frame, {})[row.track_id] = row
        if self._newest is None:
            return []
        # A later match (frame >= newest + 1) fills frames >= newest + 1 - max_gap at the earliest.
        return self._release(self._newest - self.max_gap)

    def flush(self) -> list[Row]:
        """Every row still held, in (frame, track id) order."""
        out = self._release(None)
        self._last_match.clear()
        return out

    def _fill(self, a: Row, b: Row) -> None:
        gap = b.frame - a.frame
        for k in range(1, gap):
            w = k / gap
            box = tuple((1.0 - w) * p + w * q for p, q in zip(a.box, b.box))
            frame_rows = self._pending.setdefault(a.frame + k, {})
            frame_rows[b.track_id] = dataclasses.replace(
                b, frame=a.frame + k, box=box, score=(1.0 - w) * a.score + w * b.score, tag=None, state=INTERPOLATED)
            self.filled += 1

    def _release(self, upto: int | None) -> list[Row]:
        """Pop the frames <= ``upto`` (all: None) and forget tracks that can no longer be filled."""
        done = sorted(f for f in self._pending if upto is None or f <= upto)
        out = [row for f in done for _, row in sorted(self._pending.pop(f).items())]
        if upto is not None:
            # A track whose last match is more than max_gap + 1 frames behind any future frame
            # can never be filled again.
            stale = [i for i, r in self._last_match.items() if r.frame < upto]
            for i in stale:
                del self._last_match[i]
        return out
