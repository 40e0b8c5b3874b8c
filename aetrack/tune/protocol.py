"""Linking cached detections and scoring the result: one trial of ``aetrack tune``, in seconds.

A :class:`CachedSequence` holds what linking needs, read once: the detections of every frame
(from ``det/det.txt``: boxes xyxy pixels and scores; or, with :func:`load_model_sequences`, a
model's own detections with their classes and tags, computed once per weights file and cached
as ``<cache_dir>/<SEQ>.<weights hash>.npz``), the ground truth, the frame rate and,
when the sequence has its frames (images or a video), the camera motion between consecutive
frames (:mod:`aetrack.camera_motion`), cached as ``<cache_dir>/<SEQ>.camera.npy`` so that
trials never touch pixels. :func:`score` links every sequence with one linker config over the
chosen frames and evaluates the results with the official rules (:func:`aetrack.eval.evaluate_tables`,
the path ``aetrack eval`` and ``aetrack benchmark`` take), so a trial's numbers are those of
``aetrack benchmark DATA --dets det/det.txt --half first --linker-config best.yaml``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from aetrack.data.mot import PUBLIC_DETS, FrameRange, MotSequence, MotTable, find_sequences
from aetrack.errors import AetrackError
from aetrack.eval import EvalReport, evaluate_tables
from aetrack.eval.report import sequence_windows
from aetrack.linker import Linker, LinkerConfig

if TYPE_CHECKING:
    from aetrack.tracker import Tracker


@dataclass(frozen=True)
class CachedSequence:
    """One sequence's detections, per frame, with its ground truth.

    ``boxes[f - 1]`` (n, 4) xyxy pixels and ``scores[f - 1]`` (n,) are frame f's detections
    (boxes without area dropped, as :meth:`aetrack.Tracker.update_detections` does);
    ``camera[f - 1]`` (2, 3) maps frame f - 1's pixels to frame f's (identity for f = 1), or
    ``camera`` is None when the sequence has no frames to estimate it from. ``tags[f - 1]``
    (n, D) and ``classes[f - 1]`` (n,) are a model's (None for given detections), ``class_names``
    its class names (None for given detections).
    """

    name: str
    frame_rate: float
    length: int
    gt: MotTable
    boxes: tuple[np.ndarray, ...]
    scores: tuple[np.ndarray, ...]
    camera: np.ndarray | None = None
    tags: tuple[np.ndarray, ...] | None = None
    classes: tuple[np.ndarray, ...] | None = None
    frame_size: tuple[int, int] | None = None  # (width, height) pixels: reports are clipped to it
    class_names: tuple[str, ...] | None = None


def load_sequences(
    roots: Sequence[str | Path], *, dets: str = PUBLIC_DETS, camera_motion: bool = False,
    cache_dir: str | Path | None = None, progress: bool = False,
) -> list[CachedSequence]:
    """Every MOT sequence under ``roots`` (each a sequence folder or a folder of them), with the
    detections in ``dets`` inside its folder and ``gt/gt.txt`` (either missing:
    :class:`AetrackError`). With
    ``camera_motion``, sequences whose frames are all there (images or a video) get their
    camera motion, from ``cache_dir`` when cached there, else estimated and cached."""
    out = []
    for seq in _find_unique(roots):
        if Path(dets).is_absolute():
            raise AetrackError(f"--dets {dets}: give a path inside each sequence folder, e.g. {PUBLIC_DETS}")
        if not (seq.root / dets).is_file():
            raise AetrackError(f"{seq.root / dets}: detections file not found (the tuner links --dets {dets})")
        if not seq.gt_path.is_file():
            raise AetrackError(f"{seq.gt_path}: ground truth not found (the tuner scores against gt/gt.txt)")
        det = seq.det(path=dets)
        rows = det.by_frame()
        boxes, scores = [], []
        for f in range(1, seq.info.length + 1):
            idx = rows.get(f, np.zeros(0, dtype=np.int64))
            xywh = det.boxes[idx]
            keep = (xywh[:, 2] > 0) & (xywh[:, 3] > 0)
            b = np.column_stack([xywh[keep, :2], xywh[keep, :2] + xywh[keep, 2:]]).reshape(-1, 4)
            boxes.append(b)
            scores.append(det.conf[idx][keep])
        camera = _camera(seq, cache_dir=cache_dir, progress=progress) if camera_motion else None
        out.append(CachedSequence(name=seq.name, frame_rate=seq.info.frame_rate, length=seq.info.length,
                                  gt=seq.gt(), boxes=tuple(boxes), scores=tuple(scores), camera=camera,
                                  frame_size=(seq.info.width, seq.info.height)))
    return out


def load_model_sequences(
    roots: Sequence[str | Path], *, tracker: Tracker, weights_id: str, cache_dir: str | Path,
    progress: bool = False,
) -> list[CachedSequence]:
    """Every MOT sequence under ``roots`` with ``tracker``'s own detections (boxes, scores,
    classes, tags: :meth:`aetrack.Tracker.detect` on every frame), read from
    ``<cache_dir>/<SEQ>.<weights_id>.npz`` when there, else computed and cached. Each sequence
    needs ``gt/gt.txt`` and all its frames (images or a video)."""
    from rich.progress import Progress

    from aetrack.data.sources import open_sequence_source

    out = []
    for seq in _find_unique(roots):
        if not seq.gt_path.is_file():
            raise AetrackError(f"{seq.gt_path}: ground truth not found (the tuner scores against gt/gt.txt)")
        cache = Path(cache_dir) / f"{seq.name}.{weights_id}.npz"
        if cache.is_file():
            with np.load(cache) as z:
                arrays = {k: z[k] for k in z.files}
        else:
            src = open_sequence_source(seq)
            have = src.selected_length()
            if have is not None and have < seq.info.length:
                raise AetrackError(f"{seq.root}: frames for only {have} of its {seq.info.length} frames; the "
                                   f"model needs every frame")
            per_frame = []
            with Progress(disable=not progress, transient=True) as bar:
                task = bar.add_task(f"detecting {seq.name}", total=seq.info.length)
                for _, img in src:
                    per_frame.append(tracker.detect(img))
                    bar.advance(task)
            arrays = {"counts": np.array([len(d) for d in per_frame], dtype=np.int64),
                      "boxes": np.concatenate([d.boxes for d in per_frame]).reshape(-1, 4),
                      "scores": np.concatenate([d.scores for d in per_frame]),
                      "classes": np.concatenate([d.classes for d in per_frame]),
                      "tags": np.concatenate([d.tags for d in per_frame])}
            from aetrack.io.atomic import atomic_write

            cache.parent.mkdir(parents=True, exist_ok=True)
            with atomic_write(cache, "wb") as f:
                np.savez(f, **arrays)
        cuts = np.cumsum(arrays["counts"])[:-1]
        split = {k: tuple(np.split(arrays[k], cuts)) for k in ("boxes", "scores", "classes", "tags")}
        out.append(CachedSequence(name=seq.name, frame_rate=seq.info.frame_rate, length=len(arrays["counts"]),
                                  gt=seq.gt(), boxes=split["boxes"], scores=split["scores"], tags=split["tags"],
                                  classes=split["classes"], frame_size=(seq.info.width, seq.info.height),
                                  class_names=tracker.class_names))
    return out


def weights_id(weights: str | Path, decode: object) -> str:
    """A short hash of a weights file's bytes (``default`` / ``synthetic``: the embedded file)
    and the decode settings, naming its cached detections."""
    import hashlib

    from aetrack.model.weights import resolve_weights

    h = hashlib.sha1(Path(resolve_weights(weights)).read_bytes())
    h.update(repr(decode).encode())
    return h.hexdigest()[:12]


def _find_unique(roots: Sequence[str | Path]) -> list[MotSequence]:
    seqs: list[MotSequence] = []
    for root in roots:
        seqs.extend(find_sequences(root))
    names = [s.name for s in seqs]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise AetrackError(f"sequence {twice[0]!r} found twice; give each sequence once")
    return seqs


def _camera(seq: MotSequence, *, cache_dir: str | Path | None, progress: bool) -> np.ndarray | None:
    """(length, 2, 3) camera motion of a sequence with all its frames, cached; None without them."""
    from aetrack.camera_motion import IDENTITY, CameraMotion
    from aetrack.data.sources import open_sequence_source

    cache = None if cache_dir is None else Path(cache_dir) / f"{seq.name}.camera.npy"
    if cache is not None and cache.is_file():
        arr = np.load(cache)
        if arr.shape == (seq.info.length, 2, 3):
            return arr
    try:
        src = open_sequence_source(seq)
    except AetrackError:
        return None
    have = src.selected_length()
    if have is None or have < seq.info.length:
        return None
    est = CameraMotion()
    arr = np.repeat(IDENTITY[None], seq.info.length, axis=0)
    from rich.progress import Progress

    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task(f"camera motion {seq.name}", total=seq.info.length)
        for frame_no, img in src:
            arr[frame_no - 1] = est.update(img)
            bar.advance(task)
    if cache is not None:
        from aetrack.io.atomic import atomic_write

        cache.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(cache, "wb") as f:
            np.save(f, arr)
    return arr


def link(cfg: LinkerConfig, seq: CachedSequence, window: FrameRange | None) -> MotTable:
    """Results table of linking ``seq``'s detections over ``window`` (all frames: None) with a
    fresh linker, as MOT results files hold them (boxes to 0.01 px, as written; the gaps of
    revived tracks filled as :class:`aetrack.io.results.ResultWriter` fills them; each track's
    rows with the 1-based class of its last row, so a model's car tracks are not scored as
    people, as in ``aetrack benchmark``'s files)."""
    from aetrack.io.gap_fill import GapFiller
    from aetrack.io.results import ResultRow, TrackClasses

    first = window.first if window is not None and window.first else 1
    last = window.last if window is not None and window.last else seq.length
    linker = Linker(cfg=cfg, frame_rate=seq.frame_rate, class_names=seq.class_names)
    filler = GapFiller(max_gap=cfg.interpolate_frames(seq.frame_rate))
    use_camera = cfg.camera_motion and seq.camera is not None
    rows: list[ResultRow] = []
    for f in range(first, min(last, seq.length) + 1):
        if use_camera and f > first:
            linker.apply_camera_motion(seq.camera[f - 1])
        tracks = linker.update(boxes=seq.boxes[f - 1], scores=seq.scores[f - 1],
                               tags=None if seq.tags is None else seq.tags[f - 1],
                               classes=None if seq.classes is None else seq.classes[f - 1],
                               frame_size=seq.frame_size)
        rows.extend(filler.push([ResultRow(frame=f, track_id=t.track_id, box=t.box, score=t.score, state=t.state,
                                           class_id=t.class_id) for t in tracks]))
    rows.extend(filler.flush())
    classes = TrackClasses()
    for r in rows:  # (frame order)
        classes.see(r)
    rows = classes.final(rows)
    n = len(rows)
    b = np.asarray([r.box for r in rows], dtype=np.float64).reshape(n, 4)
    xywh = np.round(np.column_stack([b[:, :2], b[:, 2:] - b[:, :2]]), 2)
    return MotTable(np.asarray([r.frame for r in rows], dtype=np.int64),
                    np.asarray([r.track_id for r in rows], dtype=np.int64), xywh,
                    np.asarray([r.score for r in rows], dtype=np.float64),
                    np.asarray([r.class_id + 1 for r in rows], dtype=np.int64).reshape(n), np.ones(n),
                    "mot16")


def score(
    cfg: LinkerConfig, seqs: Sequence[CachedSequence], *, frames: FrameRange | None = None, half: str | None = None
) -> EvalReport:
    """Link every sequence over ``frames`` (or its ``half``) and evaluate with the official rules."""
    windows = sequence_windows({s.name: s.length for s in seqs}, frames=frames, half=half)
    results = {s.name: link(cfg, s, windows[s.name]) for s in seqs}
    return evaluate_tables(gt={s.name: s.gt for s in seqs}, results=results, frames=frames, half=half,
                           num_frames={s.name: s.length for s in seqs})
