"""The benchmark run: track every sequence, link the same detections with each linker, evaluate, time.

Per sequence, the first (default) linker runs inside the one tracking loop,
:func:`aetrack.pipeline.track_source`, so its per-stage timings (read, preprocess, model,
decode, link, write) are those of ``aetrack track``. On the way, the detections that reach the
linker (boxes, scores and tags after decoding, or the given detections with their tags) are
recorded frame by frame in memory; every further linker then links exactly those detections.
The detector therefore runs once per frame, and differences between linkers are the linkers'
own. Each linker's results go to ``<out>/<mode>/<SEQ>.txt`` (MOT text), re-evaluable with
``aetrack eval DATA_ROOT <out>/<mode>``; the metrics are computed from those very files.

Linking given detections without a model needs no pixels, so such runs iterate frame numbers
only (MOT17-train ships images for its first frames only); runs with a model need the image of
every selected frame and refuse sequences that lack some.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from aetrack.bench.report import write_report
from aetrack.bench.speed import SweepSettings, machine_info, model_sweep
from aetrack.data.mot import FrameRange, MotSequence, MotTable, find_sequences, parse_frame_range, read_mot_file
from aetrack.data.sources import FrameNumbers, FrameSource, open_sequence_source
from aetrack.decode import DecodeConfig
from aetrack.errors import AetrackError
from aetrack.eval import EvalReport, evaluate_tables
from aetrack.eval.preprocess import evaluated_gt_rows
from aetrack.eval.report import sequence_windows
from aetrack.eval.tag_quality import LabelledTags, colour_histograms, label_detections, tag_auc_at_gap
from aetrack.eval.visibility import recall_by_visibility
from aetrack.io.results import ResultRow, ResultWriter
from aetrack.linker import Linker, LinkerConfig, Track
from aetrack.model import Detector, ModelConfig, build_detector
from aetrack.device import resolve_device
from aetrack.pipeline import ALL_STAGES, RunStats, track_source
from aetrack.tracker import Tracker

if TYPE_CHECKING:
    from aetrack.model.onnx_runtime import OnnxDetector

#: Linker modes that associate on tags, which only a model provides.
TAG_MODES = ("tags_motion", "tags")

@dataclass(frozen=True)
class LinkInput:
    """What a linker received for one frame: (n, 4) xyxy pixel boxes, (n,) scores, (n, D) tags or None,
    (n,) int 0-based classes or None, and the (width, height) its reports are clipped to, or None;
    ``histograms``: the boxes' colour histograms (:func:`aetrack.eval.tag_quality.colour_histograms`)
    when the benchmark measures that reference, else None."""

    frame: int
    boxes: np.ndarray
    scores: np.ndarray
    tags: np.ndarray | None
    classes: np.ndarray | None = None
    frame_size: tuple[float, float] | None = None
    histograms: np.ndarray | None = None


@dataclass
class _Recording:
    """Frame numbers as the source yields them and linker inputs as the tracker passes them;
    with ``histograms``, also the colour histograms of each frame's boxes (from its pixels)."""

    frames: list[int] = field(default_factory=list)
    inputs: list[tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None, tuple[float, float] | None]] = \
        field(default_factory=list)
    histograms: list[np.ndarray] | None = None
    image: np.ndarray | None = None  # the frame being linked (kept only with histograms)

    def link_inputs(self) -> list[LinkInput]:
        if len(self.frames) != len(self.inputs):  # one linker update per frame, by construction
            raise RuntimeError(f"recorded {len(self.frames)} frames but {len(self.inputs)} linker inputs")
        hists = self.histograms if self.histograms is not None else [None] * len(self.frames)
        return [LinkInput(f, b, s, t, c, size, h) for f, (b, s, t, c, size), h in zip(self.frames, self.inputs, hists)]


@dataclass
class _RecordedSource(FrameSource):
    """Yields another source's frames, noting each frame number."""

    inner: FrameSource | None = None
    recording: _Recording = field(default_factory=_Recording)

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        assert self.inner is not None
        for frame_no, img in self.inner:
            self.recording.frames.append(frame_no)
            if self.recording.histograms is not None:
                self.recording.image = img
            yield frame_no, img


class _RecordingLinker:
    """Stands in for a tracker's linker: keeps each frame's inputs, then links them as usual."""

    def __init__(self, *, linker: Linker, recording: _Recording) -> None:
        self.linker = linker
        self.recording = recording

    def update(
        self, *, boxes: np.ndarray, scores: np.ndarray, tags: np.ndarray | None = None,
        classes: np.ndarray | None = None, frame_size: tuple[float, float] | None = None,
    ) -> list[Track]:
        self.recording.inputs.append((np.array(boxes), np.array(scores), None if tags is None else np.array(tags),
                                      None if classes is None else np.array(classes), frame_size))
        if self.recording.histograms is not None:
            self.recording.histograms.append(colour_histograms(self.recording.image, np.asarray(boxes)))
        return self.linker.update(boxes=boxes, scores=scores, tags=tags, classes=classes, frame_size=frame_size)

    def __getattr__(self, name: str):
        return getattr(self.linker, name)  # cfg, frame_rate, reset, ...: the linker's own


@dataclass
class BenchmarkResult:
    """What :func:`run_benchmark` produced: the summary (as written to summary.json) and reports."""

    summary: dict[str, Any]
    reports: dict[str, EvalReport]   # linker mode -> evaluation of its results
    outputs: list[Path]              # summary.json, summary.md, metrics.png, speed.png


def _medians(samples: dict[str, list[float]]) -> dict[str, float]:
    return {s: float(np.median(v)) if v else 0.0 for s, v in samples.items()}


def _warmup(frames: int, warmup: int) -> int:
    """Frames skipped before taking medians: ``warmup``, but always leave one frame."""
    return min(warmup, max(0, frames - 1))


def _frame_source(seq: MotSequence, *, window: FrameRange | None, pixels: bool) -> FrameSource:
    """The frames to track: images when the model needs pixels (all of them present), else numbers."""
    numbers = FrameNumbers(name=seq.name, fps=seq.info.frame_rate, length=seq.info.length, frames=window,
                           frame_size=(seq.info.width, seq.info.height))
    if not pixels:
        return numbers
    src = open_sequence_source(seq, frames=window)
    wanted, have = numbers.selected_length() or 0, src.selected_length()
    if have is not None and have < wanted:
        raise AetrackError(f"{seq.root}: images for only {have} of the {wanted} selected frames; the model needs "
                           f"every frame (select frames that have images, or link the given detections model-free)")
    return src


def _check_sequences(seqs: list[MotSequence], *, dets: str | None) -> None:
    if dets is not None and Path(dets).is_absolute():
        raise AetrackError(f"--dets {dets}: give a path inside each sequence folder, e.g. det/det.txt")
    for seq in seqs:
        if not seq.gt_path.is_file():
            raise AetrackError(f"{seq.root}: no gt/gt.txt (the benchmark evaluates every sequence)")
        if dets is not None and not (seq.root / dets).is_file():
            raise AetrackError(f"{seq.root}: no {dets} to link (drop --dets to detect with the model)")


def _replay(
    *, cfg: LinkerConfig, frame_rate: float, inputs: list[LinkInput], out_dir: Path, name: str, progress: Progress,
    class_names: Sequence[str],
) -> dict[str, list[float]]:
    """Link recorded detections with a fresh linker, write ``out_dir/<name>.txt``; ms per frame of link and write."""
    linker = Linker(cfg=cfg, frame_rate=frame_rate, class_names=class_names)
    times: dict[str, list[float]] = {"link": [], "write": []}
    task = progress.add_task(f"linking {name} ({cfg.mode})", total=len(inputs))
    with ResultWriter(out_dir=out_dir, name=name, jsonl=False,
                      fill_gaps=cfg.interpolate_frames(frame_rate)) as writer:
        for item in inputs:
            t0 = time.perf_counter()
            tracks = linker.update(boxes=item.boxes, scores=item.scores, tags=item.tags, classes=item.classes,
                                   frame_size=item.frame_size)
            t1 = time.perf_counter()
            writer.write([ResultRow(frame=item.frame, track_id=t.track_id, box=t.box, score=t.score,
                                    class_id=t.class_id, class_name=class_names[t.class_id]) for t in tracks])
            t2 = time.perf_counter()
            times["link"].append((t1 - t0) * 1e3)
            times["write"].append((t2 - t1) * 1e3)
            progress.advance(task)
    return times


def run_benchmark(
    *,
    data_root: str | Path,
    out_dir: str | Path,
    linkers: Sequence[LinkerConfig],
    model: Detector | OnnxDetector | None = None,
    model_cfg: ModelConfig | None = None,
    decode_cfg: DecodeConfig | None = None,
    weights: str = "none",
    dets: str | None = None,
    frames: FrameRange | str | None = None,
    device: str = "cpu",
    warmup: int = 5,
    sweep: SweepSettings | None = None,
    tag_gaps: Sequence[float] | None = None,
    scales: Sequence[float] = (1.0,),
    model_threads: int | None = None,
    progress: bool = True,
    half: str | None = None,
) -> BenchmarkResult:
    """Track, evaluate and time every sequence under ``data_root``; write the summary into ``out_dir``.

    Args:
        data_root: a folder of MOT sequence folders (each with gt/gt.txt), or one sequence.
        out_dir: receives ``<mode>/<SEQ>.txt`` per linker, summary.json, summary.md, metrics.png
            and speed.png.
        linkers: one config per linker to compare (distinct modes); the first is the default,
            run inside the tracking loop and timed stage by stage.
        model, model_cfg, decode_cfg: the detector, a torch ``Detector`` or an onnxruntime
            ``OnnxDetector`` (None: link the given detections model-free).
        weights: where the model came from, for the record: a path, ``"embedded"`` or ``"none"``.
        dets: link the detections in this file inside each sequence folder (e.g. ``"det/det.txt"``,
            :data:`aetrack.data.mot.PUBLIC_DETS`) instead of detecting; with a model, tags are
            read at those boxes. None: the model detects.
        frames: ``"A:B"`` (inclusive, 1-based) restricts tracking and evaluation.
        half: ``"first"`` or ``"second"``: track and evaluate that half of every sequence
            (:func:`aetrack.data.mot.half_range`; the MOT17 "half-val" protocol), each from a
            fresh linker at the half's first frame. Not with ``frames``.
        device: where the model runs (``auto``, ``cpu``, ``cuda``, ...).
        warmup: frames per sequence left out of the timing medians.
        sweep: also time the model at several input sizes, the matmul peak and the linker
            micro-benchmark (None: skip). Without a model the default small architecture is
            timed (speed does not depend on the weights' values).
        tag_gaps: also measure tag ROC-AUC at these gaps in seconds (pairs of detections that
            match ground truth, see :func:`tag_auc_by_gap`); needs a model. None: skip.
        scales: multi-scale test factors of the model (see :class:`aetrack.tracker.Tracker`).
        progress: show progress bars.
        model_threads: the threads the detector runs with when torch's are not its (an
            onnxruntime session; torch then has one): recorded as the run's threads, and the
            sweep's peaks are measured with as many torch threads. None: torch's.
    """
    if not linkers:
        raise AetrackError("no linker to benchmark")
    modes = [cfg.mode for cfg in linkers]
    repeated = sorted({m for m in modes if modes.count(m) > 1})
    if repeated:
        raise AetrackError(f"linker {repeated[0]!r} given twice; each linker runs once")
    if model is None:
        tagged = [m for m in modes if m in TAG_MODES]
        if tagged:
            raise AetrackError(f"linker {tagged[0]!r} links on tags, which come from a model: give weights "
                               f"(model-free runs on given detections link by motion or IoU)")
        if dets is None:
            raise AetrackError("without a model the benchmark can only link given detections (use --dets)")
    elif model_cfg is None:
        raise ValueError("model_cfg is required when a model is given")
    if tag_gaps and model is None:
        raise AetrackError("tag ROC-AUC needs tags, which come from a model: give weights")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise AetrackError(f"warm-up must be an integer >= 0 frames, got {warmup!r}")
    window = parse_frame_range(frames) if isinstance(frames, str) or frames is None else frames
    if model is not None:
        decode_cfg = decode_cfg or DecodeConfig()
    dev = resolve_device(device)
    out = Path(out_dir)
    seqs = find_sequences(data_root)
    _check_sequences(seqs, dets=dets)
    windows = sequence_windows({seq.name: seq.info.length for seq in seqs}, frames=window, half=half)
    sources = [_frame_source(seq, window=windows[seq.name], pixels=model is not None) for seq in seqs]
    gt = {seq.name: seq.gt() for seq in seqs}

    runs: dict[str, RunStats] = {}
    labelled: list[LabelledTags] = []
    hist_labelled: list[LabelledTags] = []  # the same detections' colour histograms (the reference)
    record = len(linkers) > 1 or bool(tag_gaps)
    link_times: dict[str, dict[str, dict[str, list[float]]]] = {m: {} for m in modes}  # mode -> seq -> stage
    for seq, src in zip(seqs, sources):
        given: MotTable | None = seq.det(path=dets) if dets is not None else None
        tracker = Tracker(model=model, model_cfg=model_cfg, decode_cfg=decode_cfg, linker_cfg=linkers[0],
                          frame_rate=seq.info.frame_rate, device=dev, scales=scales)
        recording = _Recording(histograms=[] if tag_gaps else None)
        if record:
            tracker.linker = _RecordingLinker(linker=tracker.linker, recording=recording)  # type: ignore[assignment]
        source = _RecordedSource(name=src.name, fps=src.fps, length=src.length, frames=src.frames,
                                 frame_size=src.frame_size, inner=src, recording=recording)
        stats = track_source(source=source, tracker=tracker, out_dir=out / modes[0], dets=given, jsonl=False,
                             progress=progress)
        runs[seq.name] = stats
        link_times[modes[0]][seq.name] = {s: stats.stage_ms[s] for s in ("link", "write")}
        if tag_gaps:
            inputs = recording.link_inputs()
            for name, store in (("tags", labelled), ("histograms", hist_labelled)):
                store.append(label_inputs(inputs, gt=gt[seq.name].in_range(window), fps=seq.info.frame_rate,
                                          min_score=linkers[0].high_score, features=name))
        if len(linkers) > 1:
            inputs = recording.link_inputs()
            with _progress(progress) as bar:
                for cfg in linkers[1:]:
                    link_times[cfg.mode][seq.name] = _replay(cfg=cfg, frame_rate=seq.info.frame_rate, inputs=inputs,
                                                             out_dir=out / cfg.mode, name=seq.name, progress=bar,
                                                             class_names=tracker.class_names)

    reports: dict[str, EvalReport] = {}
    by_visibility: dict[str, dict[str, Any] | None] = {}
    for mode in modes:
        results = {seq.name: read_mot_file(out / mode / f"{seq.name}.txt", kind="results") for seq in seqs}
        reports[mode] = evaluate_tables(gt=gt, results=results, frames=window, half=half,
                                        num_frames={seq.name: seq.info.length for seq in seqs})
        by_visibility[mode] = recall_by_visibility(gt=gt, results=results, frames=windows)

    sweep_result = None
    if sweep is not None:
        net = model if model is not None else build_detector(ModelConfig())
        label = (f"{model_cfg.backbone} backbone, weights {weights}" if model is not None and model_cfg is not None
                 else "small backbone, default ModelConfig, random weights (speed does not depend on their values)")
        # A non-torch detector (onnxruntime) is timed as it is; its FLOPs are those of the same
        # architecture in torch (the count depends on neither the engine nor the weights).
        counted = None if isinstance(net, torch.nn.Module) else build_detector(model_cfg)
        sweep_result = model_sweep(model=net, settings=sweep, device=dev, model_label=label, flops_model=counted,
                                   threads=model_threads)

    tag_auc = None if not tag_gaps else tag_auc_by_gap(labelled, gaps=tag_gaps, reference=hist_labelled)
    summary = _summary(
        data_root=Path(data_root), seqs=seqs, runs=runs, link_times=link_times, reports=reports,
        by_visibility=by_visibility, linkers=linkers,
        model_cfg=model_cfg if model is not None else None, decode_cfg=decode_cfg if model is not None else None,
        weights=weights, dets=dets, window=window, device=dev, warmup=warmup, sweep=sweep_result, half=half,
        scales=scales,
        threads=model_threads or torch.get_num_threads(),
    )
    if tag_auc is not None:
        summary["tag_auc_by_gap"] = tag_auc
    outputs = write_report(summary=summary, out_dir=out)
    return BenchmarkResult(summary=summary, reports=reports, outputs=outputs)


def label_inputs(inputs: Sequence[LinkInput], *, gt: MotTable, fps: float, min_score: float,
                 features: str = "tags") -> LabelledTags:
    """The tags (``features`` "histograms": the colour histograms) of the recorded detections
    scoring at least ``min_score`` (those the tag stage links) that match a ground-truth box
    (IoU >= 0.5, one to one per frame), with its id."""
    rows = gt.by_frame()
    keep = evaluated_gt_rows(gt, by_class=False)
    tags, ids, frames = [], [], []
    for item in inputs:
        values = item.tags if features == "tags" else item.histograms
        if values is None:
            continue
        sel = item.scores >= min_score
        g = rows.get(item.frame, np.zeros(0, dtype=np.int64))
        g = g[keep[g]]
        xywh = gt.boxes[g]
        xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        lab = label_detections(det_boxes=item.boxes[sel], gt_boxes=xyxy, gt_ids=gt.ids[g])
        hit = lab >= 0
        tags.append(values[sel][hit])
        ids.append(lab[hit])
        frames.append(np.full(int(hit.sum()), item.frame, dtype=np.int64))
    dim = next((t.shape[1] for t in tags if t.ndim == 2), 1)
    return LabelledTags(tags=np.concatenate(tags) if tags else np.zeros((0, dim)),
                        ids=np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64),
                        frames=np.concatenate(frames) if frames else np.zeros(0, dtype=np.int64), fps=fps)


def tag_auc_by_gap(labelled: Sequence[LabelledTags], *, gaps: Sequence[float],
                   reference: Sequence[LabelledTags] = ()) -> dict[str, Any]:
    """Tag ROC-AUC at each gap (seconds) over the labelled sequences, for summary.json; with
    ``reference`` (the same detections' colour histograms), theirs too, on the same pairs."""
    out = {"gaps": [tag_auc_at_gap(labelled, gap_s=g) for g in gaps],
            "note": ("detections scoring >= the default linker's high_score matched one to one to ground truth "
                     "(IoU >= 0.5); positives: same ground-truth id exactly round(gap * fps) frames apart, "
                     "negatives: different ids at that gap")}
    if reference:
        out["colour_histogram"] = [tag_auc_at_gap(reference, gap_s=g) for g in gaps]
    return out


def _progress(enabled: bool) -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    disable=not enabled)


def _summary(
    *,
    data_root: Path,
    seqs: list[MotSequence],
    runs: dict[str, RunStats],
    link_times: dict[str, dict[str, dict[str, list[float]]]],
    reports: dict[str, EvalReport],
    by_visibility: dict[str, dict[str, Any] | None],
    linkers: Sequence[LinkerConfig],
    model_cfg: ModelConfig | None,
    decode_cfg: DecodeConfig | None,
    weights: str,
    dets: str | None,
    window: FrameRange | None,
    device: torch.device,
    warmup: int,
    sweep: dict[str, Any] | None,
    half: str | None = None,
    scales: Sequence[float] = (1.0,),
    threads: int,
) -> dict[str, Any]:
    """The summary.json document (see :func:`run_benchmark` and the module docstring)."""
    from aetrack.config import to_dict

    modes = [cfg.mode for cfg in linkers]
    pooled: dict[str, list[float]] = {s: [] for s in ALL_STAGES}
    per_seq_speed: dict[str, dict[str, Any]] = {}
    for name, stats in runs.items():
        skip = _warmup(stats.frames, warmup)
        for s in ALL_STAGES:
            pooled[s].extend(stats.stage_ms[s][skip:])
        per_seq_speed[name] = {"frames": stats.frames, "seconds": stats.seconds, "fps": stats.fps,
                               "stages_ms": stats.median_ms(skip=skip)}
    frames_total = sum(r.frames for r in runs.values())
    seconds_total = sum(r.seconds for r in runs.values())

    linker_sections: dict[str, Any] = {}
    for mode in modes:
        metrics = reports[mode].as_dict()
        seq_rows: dict[str, Any] = {}
        pooled_link: dict[str, list[float]] = {"link": [], "write": []}
        for seq in seqs:
            times = link_times[mode][seq.name]
            skip = _warmup(len(times["link"]), warmup)
            seq_speed = _medians({s: v[skip:] for s, v in times.items()})
            for s in pooled_link:
                pooled_link[s].extend(times[s][skip:])
            seq_rows[seq.name] = {
                "metrics": metrics["sequences"][seq.name],
                "speed": ({**per_seq_speed[seq.name]} if mode == modes[0]
                          else {"frames": len(times["link"]), "link_ms": seq_speed["link"],
                                "write_ms": seq_speed["write"]}),
            }
        linker_sections[mode] = {
            "results_dir": mode,
            "sequences": seq_rows,
            "combined": metrics["combined"],
            "recall_by_visibility": by_visibility[mode],
            "speed": {f"{s}_ms": v for s, v in _medians(pooled_link).items()},
            "warnings": metrics["warnings"],
        }
    first = reports[modes[0]].as_dict()
    # The network input of the first sequence's frames (an input that follows the frame differs
    # from the config's training canvas).
    input_size = None if model_cfg is None else list(model_cfg.canvas_size((seqs[0].info.width, seqs[0].info.height)))
    speed: dict[str, Any] = {
        "stages_ms": _medians(pooled),
        "fps": frames_total / seconds_total if seconds_total > 0 else 0.0,
        "frames": frames_total,
        "seconds": seconds_total,
        "warmup_frames_per_sequence": warmup,
        "threads": threads,
        "device": str(device),
        "input_size": input_size,
        "machine": machine_info(device=device),
        "linkers_ms": {mode: linker_sections[mode]["speed"] for mode in modes},
        "note": ("stages_ms: median ms per frame over all sequences' frames after the warm-up, default linker's "
                 "run; fps: frames / wall seconds of the tracking loops (progress display included)"),
    }
    if sweep is not None:
        speed["sweep"] = sweep
    return {
        "sequences": linker_sections[modes[0]]["sequences"],
        "combined": first["combined"],
        "linkers": linker_sections,
        "speed": speed,
        "config": {
            "data_root": str(data_root),
            "frames": None if window is None else str(window),
            "half": half,
            "scales": list(scales),
            "detections": f"given ({dets})" if dets is not None else "model",
            "weights": weights,
            "default_linker": modes[0],
            "linker_modes": modes,
            "linkers": {cfg.mode: to_dict(cfg) for cfg in linkers},
            "decode": None if decode_cfg is None else to_dict(decode_cfg),
            "model": None if model_cfg is None else to_dict(model_cfg),
        },
        "evaluation": {
            "metrics": first["metrics"],
            "units": first["units"],
            "benchmarks": first["benchmarks"],
            "removed_on_distractors": {m: reports[m].as_dict()["removed_on_distractors"] for m in modes},
        },
    }
