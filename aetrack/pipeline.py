"""Running a tracker over a frame source: results, annotated video and per-stage timings.

One loop serves ``aetrack track``, ``aetrack demo`` and ``aetrack benchmark``: read a frame,
track it (from pixels, or from given detections), write the rows (and the annotated frame),
and time every stage (read, preprocess, model, decode, link, write) in milliseconds.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from aetrack.errors import AetrackError
from aetrack.io.atomic import remove_stale_temps
from aetrack.io.results import ResultRow, ResultWriter
from aetrack.tracker import STAGES, Tracker

if TYPE_CHECKING:
    from aetrack.data.mot import MotTable
    from aetrack.data.sources import FrameSource

ALL_STAGES = ("read", *STAGES, "write")


@dataclass
class RunStats:
    """What a tracking run did and how long each stage took (ms per frame)."""

    name: str
    frames: int = 0
    rows: int = 0
    seconds: float = 0.0
    stage_ms: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in ALL_STAGES})
    outputs: list[Path] = field(default_factory=list)
    track_classes: dict[int, str] = field(default_factory=dict)  # id -> class name of every track reported

    def tracks_text(self) -> str:
        """``"5 tracks (4 person, 1 car)"``: the tracks reported, by class, most frequent first."""
        n = len(self.track_classes)
        per_class = Counter(self.track_classes.values()).most_common()
        return f"{n} track{'' if n == 1 else 's'}" + (
            f" ({', '.join(f'{k} {name}' for name, k in per_class)})" if per_class else "")

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def median_ms(self, *, skip: int = 0) -> dict[str, float]:
        """Median milliseconds per frame of every stage (after ``skip`` warm-up frames)."""
        return {s: float(np.median(v[skip:])) if len(v) > skip else 0.0 for s, v in self.stage_ms.items()}


def track_source(
    *,
    source: FrameSource,
    tracker: Tracker,
    out_dir: str | Path,
    dets: MotTable | None = None,
    save_video: bool = False,
    jsonl: bool = True,
    progress: bool = True,
) -> RunStats:
    """Track every frame of ``source`` and write ``<out_dir>/<name>.txt`` (+ ``.jsonl``, ``.mp4``).

    With ``dets`` (MOT detections, xywh pixels) the tracker links those detections instead of
    running its own detector (they have no class: all are class 0, person); files are written
    atomically when the run ends, with the gaps of revived tracks filled
    (:attr:`Tracker.fill_gap_frames`, :mod:`aetrack.io.gap_fill`; the video shows live rows).
    """
    out = Path(out_dir)
    remove_stale_temps(out)  # left by an earlier run killed outright (kill -9) in this folder
    stats = RunStats(name=source.name)
    det_rows = dets.by_frame() if dets is not None else None
    video = None
    if save_video:
        from aetrack.io.video import AnnotatedVideoWriter  # OpenCV: only when writing a video

        video = AnnotatedVideoWriter(path=out / f"{source.name}.mp4", fps=source.fps, class_names=tracker.class_names)
    writer = ResultWriter(out_dir=out, name=source.name, jsonl=jsonl, fill_gaps=tracker.fill_gap_frames)
    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[fps]:.1f} frames/s"), TimeElapsedColumn(), TimeRemainingColumn(),
                   disable=not progress, transient=False)
    start = time.perf_counter()
    try:
        with bar:
            task = bar.add_task(f"tracking {source.name}", total=source.selected_length(), fps=0.0)
            frames = iter(source)
            while True:
                t0 = time.perf_counter()
                item = next(frames, None)
                if item is None:
                    break
                frame_no, img = item
                t1 = time.perf_counter()
                if det_rows is not None:
                    idx = det_rows.get(frame_no, np.zeros(0, dtype=np.int64))
                    xywh = dets.boxes[idx]
                    boxes = np.column_stack([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]])
                    tracks = tracker.update_detections(boxes=boxes, scores=dets.conf[idx], frame=img,
                                                       frame_size=source.frame_size)
                else:
                    tracks = tracker.update(img)
                t2 = time.perf_counter()
                rows = [ResultRow(frame=frame_no, track_id=t.track_id, box=t.box, score=t.score,
                                  tag=None if t.tag is None else tuple(t.tag), state=t.state,
                                  class_id=t.class_id, class_name=tracker.class_names[t.class_id]) for t in tracks]
                writer.write(rows)
                for r in rows:
                    stats.track_classes[r.track_id] = r.class_name  # its latest, as the results files end
                if video is not None:
                    video.write(img, tracks, frame_no=frame_no)
                t3 = time.perf_counter()
                stats.stage_ms["read"].append((t1 - t0) * 1e3)
                for s in STAGES:
                    stats.stage_ms[s].append(tracker.timings[s])
                stats.stage_ms["write"].append((t3 - t2) * 1e3)
                stats.frames += 1
                stats.rows += len(rows)
                elapsed = time.perf_counter() - start
                bar.update(task, advance=1, fps=stats.frames / elapsed if elapsed > 0 else 0.0)
        if stats.frames == 0 and source.frames is not None:  # a source whose length was not known before
            raise AetrackError(f"--frames {source.frames} selects no frame of {source.name}: it ended before "
                               f"frame {source.frames.first or 1}")
    except BaseException:
        writer.abort()
        if video is not None:
            video.abort()
        raise
    writer.close()
    stats.outputs.extend(writer.targets)
    if video is not None:
        video.close()
        stats.outputs.append(video.path)
    stats.seconds = time.perf_counter() - start
    return stats
