"""One input of ``aetrack track``: its settings, its tracker, its run and the files it writes.

The single-input command and every worker of a many-input run (local processes, Ray tasks)
go through :func:`track_input`, so one input gives the same bytes however it is run.
:class:`TrackSettings` is plain data (picklable): the driver sends it to the workers, each
worker builds its own tracker from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aetrack.config import apply_overrides, from_dict, to_dict
from aetrack.data.mot import FrameRange, MotSequence, is_mot_sequence, read_mot_file
from aetrack.decode import DecodeConfig
from aetrack.errors import AetrackError
from aetrack.linker import MODES, LinkerConfig

if TYPE_CHECKING:
    from aetrack.data.sources import FrameSource
    from aetrack.pipeline import RunStats
    from aetrack.tracker import Tracker


@dataclass(frozen=True, kw_only=True)
class TrackSettings:
    """What ``aetrack track`` does with each input (the command's options, checked)."""

    # Checkpoint path or embedded name (default, synthetic); None = the embedded default.
    weights: str | None = None
    # MOT detections to link instead of detecting (tags from the model only with weights).
    dets: str | None = None
    # Only these frames (inclusive, 1-based); None = all.
    frames: FrameRange | None = None
    # Also write an annotated <name>.mp4.
    save_video: bool = False
    # Linker mode (one of aetrack.linker.MODES); None = the checkpoint's (motion without one).
    linker: str | None = None
    # ``--set`` overrides, e.g. ("linker.high_score=0.6",): linker.* and decode.* only.
    overrides: tuple[str, ...] = ()
    # Where the model runs: auto, cpu, cuda, cuda:N or mps.
    device: str = "cpu"
    # torch CPU threads for this input's model; None = torch's default.
    threads: int | None = None
    # Frame rate when the source does not say; None = the source's (30 when it has none).
    fps: float | None = None
    # Comma-separated class names to keep, e.g. "person,car", or "all"; None = the set stored
    # with the weights (decode.classes).
    classes: str | None = None
    # Network input (width, height) replacing the model's own rule (``--input-size``); None =
    # the stored one (the default model's input follows the frame size).
    input_size: tuple[int, int] | None = None
    # Keep the frames of a video that ends before its container's frame count.
    allow_truncated: bool = False
    # ``--linker-config``: a YAML of linker settings (e.g. from aetrack tune) over the base's,
    # applied before ``linker`` and ``overrides``.
    linker_config: str | None = None
    # The engine that runs the model: auto (onnxruntime on the CPU when installed, else torch),
    # torch, or onnxruntime (aetrack.backend.resolve_backend). An .onnx file runs on onnxruntime.
    backend: str = "auto"

    @property
    def use_model(self) -> bool:
        """Whether the tracker runs a detector (no --dets) or samples tags (--dets with --weights)."""
        return self.dets is None or self.weights is not None


@dataclass
class InputResult:
    """What tracking one input did: the run's statistics, plus what the command reports."""

    stats: RunStats
    truncated: tuple[int, int] | None = None  # (last frame read, frames listed) of a short video


def output_files(name: str, settings: TrackSettings) -> list[str]:
    """The file names one input writes into the output folder (``<name>.txt``, ``.jsonl``, ``.mp4``)."""
    return [f"{name}.txt", f"{name}.jsonl", *([f"{name}.mp4"] if settings.save_video else [])]


def tracker_settings(
    *, base_linker: LinkerConfig, base_decode: DecodeConfig, linker: str | None, overrides: list[str]
) -> tuple[LinkerConfig, DecodeConfig]:
    """Apply ``--linker MODE`` and ``--set linker.x=..``/``decode.x=..`` overrides to the configs."""
    data: dict[str, Any] = {"linker": to_dict(base_linker), "decode": to_dict(base_decode)}
    if linker is not None:
        if linker not in MODES:
            raise AetrackError(f"unknown linker {linker!r}; choose one of {', '.join(MODES)}")
        data["linker"]["mode"] = linker
    for item in overrides:
        if item.split("=", 1)[0].split(".")[0] not in data:
            raise AetrackError(f"--set {item!r}: only linker.* and decode.* settings apply here")
    data = apply_overrides(data, overrides)
    return (from_dict(LinkerConfig, data["linker"], where="linker"),
            from_dict(DecodeConfig, data["decode"], where="decode"))


def parse_classes(text: str | None, names: tuple[str, ...]) -> list[str] | str | None:
    """``--classes person,car`` -> ``["person", "car"]``, each checked against the model's
    ``names`` (``traffic_light`` or ``"traffic light"``); ``all`` -> ``"all"``; None -> None
    (the set stored with the weights)."""
    from aetrack.tracker import class_indices

    if text is None:
        return None
    if text.strip() == "all":
        return "all"
    wanted = [c.strip() for c in text.split(",") if c.strip()]
    try:
        class_indices(wanted, names)
    except ValueError as err:
        raise AetrackError(f"--classes: {err}") from None
    return wanted


def build_tracker(settings: TrackSettings, *, frame_rate: float, threads: int | None = None) -> Tracker:
    """The tracker ``settings`` ask for: embedded or given weights (their own linker settings),
    or a model-free linker (class person, the default ``LinkerConfig()``) that never imports torch."""
    from aetrack.linker.config_file import load_linker_config
    from aetrack.tracker import Tracker

    def base(cfg: LinkerConfig) -> LinkerConfig:
        return cfg if settings.linker_config is None else load_linker_config(settings.linker_config, base=cfg)

    overrides = list(settings.overrides)
    if not settings.use_model:
        lcfg, _ = tracker_settings(base_linker=base(LinkerConfig()).without_tags(), base_decode=DecodeConfig(),
                                   linker=settings.linker, overrides=overrides)
        return Tracker.for_detections(linker_cfg=lcfg, frame_rate=frame_rate,
                                      classes=parse_classes(settings.classes, ("person",)))
    from aetrack.backend import load_detector

    loaded = load_detector(settings.weights, backend=settings.backend, threads=threads,
                           device=settings.device, input_size=settings.input_size)
    lcfg, dcfg = tracker_settings(base_linker=base(loaded.linker), base_decode=loaded.decode,
                                  linker=settings.linker, overrides=overrides)
    return Tracker(model=loaded.model, model_cfg=loaded.model_cfg, decode_cfg=dcfg, linker_cfg=lcfg,
                   frame_rate=frame_rate, device=settings.device,
                   classes=parse_classes(settings.classes, loaded.model_cfg.names))


def open_input(source: str, settings: TrackSettings) -> FrameSource:
    """The frames of ``source`` (video, image folder, MOT sequence folder or camera index).

    Linking given detections needs no pixels, and MOT folders often have images for few frames:
    a model-free run on a sequence folder (without --save-video) walks its frame numbers only.
    """
    from aetrack.data.sources import FrameNumbers, open_source

    if not settings.use_model and not settings.save_video and is_mot_sequence(source):
        seq = MotSequence.open(source)
        src: FrameSource = FrameNumbers(name=seq.name, fps=seq.info.frame_rate, length=seq.info.length,
                                        frames=settings.frames,
                                        frame_size=(seq.info.width, seq.info.height)).check_frames()
    else:
        src = open_source(source, frames=settings.frames, allow_truncated=settings.allow_truncated)
    if settings.fps is not None:
        src.fps = settings.fps
    return src


def track_input(source: str, *, out_dir: str | Path, settings: TrackSettings, dets: str | Path | None = None,
                progress: bool = True) -> InputResult:
    """Track ``source`` with ``settings``; writes :func:`output_files` into ``out_dir`` atomically.

    ``dets`` is this input's detections file (default ``settings.dets``). Bad input raises
    :class:`AetrackError`; nothing is written for an input that fails.
    """
    from aetrack.pipeline import track_source

    if settings.threads is not None and settings.threads < 1:
        raise AetrackError(f"--threads must be >= 1, got {settings.threads}")
    from aetrack.backend import apply_threads, resolve_backend

    backend = resolve_backend(settings.backend, weights=settings.weights, device=settings.device)  # refuses a typo
    model_threads = settings.threads
    if settings.use_model:  # no model: no torch to import
        model_threads = apply_threads(settings.threads, backend=backend)
    dets = settings.dets if dets is None else dets
    src = open_input(source, settings)
    det_table = read_mot_file(dets, kind="det") if dets is not None else None
    tracker = build_tracker(settings, frame_rate=src.fps, threads=model_threads)
    stats = track_source(source=src, tracker=tracker, out_dir=out_dir, dets=det_table,
                         save_video=settings.save_video, progress=progress)
    return InputResult(stats=stats, truncated=src.truncated)
