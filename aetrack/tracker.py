"""The streaming tracker: frames in, track snapshots out.

``Tracker`` glues the stages of DESIGN.md together for one stream: letterbox the frame,
run the detector, decode peaks into detections in frame pixels, and link them. Each call to
:meth:`Tracker.update` handles one frame; the state (tracks, ids) belongs to the instance.

    tracker = Tracker.from_pretrained()
    for frame in frames:                          # H x W x 3 uint8 BGR (grey/BGRA converted)
        for t in tracker.update(frame):
            t.track_id, t.box, t.score, t.tag

Without a model (``Tracker.for_detections``) it links given detections by motion and IoU;
with a model, :meth:`Tracker.update_detections` also samples tags at the given boxes.

Every detection and track has a class, a 0-based index into :attr:`Tracker.class_names` (the
model's class names: COCO's 80 for the default model; ``("person",)`` without a model).
``Tracker(..., classes=["person", "car"])`` keeps only detections of those classes,
``classes="all"`` every class; by default the set stored with the weights
(``decode.classes``: for the default model person, bicycle, car, motorcycle, bus and truck).

A tracker without a model never imports torch (linking given detections starts in a fraction
of a second); loading weights does.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from aetrack.decode import DecodeConfig, Detections, decode, tags_at_boxes
from aetrack.errors import AetrackError, InvalidArgument
from aetrack.linker import Linker, LinkerConfig, Track
from aetrack.model.config import ModelConfig
from aetrack.model.multiscale import multiscale_outputs, parse_scales
from aetrack.model.weights import pretrained_path
from aetrack.validate import check_detections, is_empty_frame, to_bgr

if TYPE_CHECKING:
    import torch

    from aetrack.data.letterbox import Letterbox
    from aetrack.model.detector import Detector
    from aetrack.model.onnx_runtime import OnnxDetector

STAGES = ("preprocess", "model", "decode", "link")


class Tracker:
    """Detector + decoder + linker for one stream of frames.

    Args:
        model: the detector (eval mode): a torch :class:`~aetrack.model.Detector` or an
            onnxruntime :class:`~aetrack.model.onnx_runtime.OnnxDetector` (CPU only), or None
            to link given detections only.
        model_cfg: the model's config (input size for letterboxing); required with a model.
        decode_cfg: peak selection.
        linker_cfg: association thresholds and mode.
        frame_rate: frames per second of the stream (scales the linker's lost-track budget).
        device: where the model runs (unused, and not checked, without a model: then
            :attr:`device` is None).
        classes: names of the classes to report and track (others are dropped before
            linking; ``_`` may stand for a space, ``traffic_light``), ``"all"`` for every class,
            or None for ``decode_cfg.classes`` (all when that is empty).
        scales: multi-scale test factors, e.g. (0.75, 1.0, 1.25): heatmaps averaged, tags
            concatenated (:mod:`aetrack.model.multiscale`); (1.0,) = one pass.
    """

    def __init__(
        self,
        *,
        model: Detector | OnnxDetector | None,
        model_cfg: ModelConfig | None = None,
        decode_cfg: DecodeConfig | None = None,
        linker_cfg: LinkerConfig | None = None,
        frame_rate: float = 30.0,
        device: str | torch.device = "cpu",
        classes: Sequence[str] | str | None = None,
        scales: Sequence[float] = (1.0,),
    ) -> None:
        if model is not None and model_cfg is None:
            raise ValueError("model_cfg is required when a model is given")
        if frame_rate <= 0:
            raise ValueError(f"frame_rate must be positive, got {frame_rate}")
        # Multi-scale test (aetrack/model/multiscale.py): input resize factors; (1.0,) = one pass.
        self.scales = parse_scales(scales)
        self.device: torch.device | None = None
        self.model: Detector | OnnxDetector | None = None
        if model is not None:
            import torch

            from aetrack.device import resolve_device

            self.device = resolve_device(device) if isinstance(device, str) else device
            on_torch = isinstance(model, torch.nn.Module)
            if not on_torch and self.device.type != "cpu":
                raise AetrackError(f"the onnxruntime backend runs on the CPU only, not on device {self.device}")
            if not on_torch and self.scales != (1.0,):
                raise AetrackError("the multi-scale test (--scales) runs on the torch backend only, not onnxruntime")
            if self.scales != (1.0,) and model_cfg.backbone == "yolox_nano":
                raise AetrackError("the multi-scale test (--scales) is for the heatmap models (small, hourglass); "
                                   "yolox_nano's input already follows the frame size (--input-size)")
            self.model = model.to(self.device).eval() if on_torch else model
        self.model_cfg = model_cfg
        self.decode_cfg = decode_cfg or DecodeConfig()
        linker_cfg = linker_cfg or LinkerConfig()
        if model is not None and self.decode_cfg.score_threshold > linker_cfg.low_score:
            raise AetrackError(
                f"decode.score_threshold ({self.decode_cfg.score_threshold}) must be <= linker.low_score "
                f"({linker_cfg.low_score}): detections between them would never reach the linker "
                f"(set decode.score_threshold={linker_cfg.low_score})"
            )
        # Camera-motion compensation needs pixels: frames given to update / update_detections.
        self.camera = None
        if linker_cfg.camera_motion:
            from aetrack.camera_motion import CameraMotion

            self.camera = CameraMotion()
        # Class names in class-index order: what MOT text, JSON lines and videos call a class.
        self.class_names: tuple[str, ...] = model_cfg.names if model_cfg is not None else ("person",)
        self.linker = Linker(cfg=linker_cfg, frame_rate=frame_rate, class_names=self.class_names)
        if classes is not None:  # the caller's set replaces the stored one, for decoding too
            wanted = () if classes == "all" else tuple(self.class_names[i] for i in class_indices(classes, self.class_names))
            self.decode_cfg = dataclasses.replace(self.decode_cfg, classes=wanted)
        kept = self.decode_cfg.classes
        self._keep_classes = class_indices(kept, self.class_names) if kept else None
        self.timings: dict[str, float] = {s: 0.0 for s in STAGES}  # ms of the last frame per stage
        self._frame_size: tuple[int, int] | None = None  # (width, height) of the last frame

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        *,
        device: str = "cpu",
        frame_rate: float = 30.0,
        linker_cfg: LinkerConfig | None = None,
        decode_cfg: DecodeConfig | None = None,
        input_size: tuple[int, int] | None = None,
        classes: Sequence[str] | str | None = None,
        scales: Sequence[float] = (1.0,),
        backend: str = "auto",
        threads: int | None = None,
    ) -> "Tracker":
        """A tracker from an ``aetrack train`` checkpoint, a weights file, an embedded name or an
        exported ``.onnx`` file; decode/linker settings default to the ones stored with it.

        ``frame_rate``: the stream's frames per second (the linker's budgets are in seconds;
        :meth:`reset` takes the next stream's). ``input_size`` = (width, height) overrides the
        network input size (multiples of 32). ``backend``: ``"auto"``, the CLI's engine
        (onnxruntime on the CPU when installed, else torch; ``"torch"`` for torch, e.g. for
        ``scales`` or a GPU ``device``), or ``"onnxruntime"`` (CPU; weights other than an .onnx
        file are exported once into the user cache, see :mod:`aetrack.backend`); an .onnx file
        always runs on onnxruntime. ``threads``: onnxruntime's intra-op threads (None: one per
        core); torch's are ``torch.set_num_threads``. With onnxruntime, torch only decodes
        small maps: ``torch.set_num_threads(1)`` keeps its idle threads off onnxruntime's cores
        (the CLI does so; `git show 7df07a7:notes/BENCH_onnx.md`).
        """
        from aetrack.backend import load_detector, resolve_backend

        backend = resolve_backend(backend, weights=path, device=device, multiscale=parse_scales(scales) != (1.0,))
        loaded = load_detector(path, backend=backend, input_size=input_size, threads=threads, device=device)
        return cls(model=loaded.model, model_cfg=loaded.model_cfg, decode_cfg=decode_cfg or loaded.decode,
                   linker_cfg=linker_cfg or loaded.linker, frame_rate=frame_rate, device=device, classes=classes,
                   scales=scales)

    @classmethod
    def from_pretrained(cls, name: str = "default", **kwargs) -> "Tracker":
        """A tracker with embedded weights: ``"default"`` (real people and vehicles) or
        ``"synthetic"`` (the synthetic-world model); keyword arguments as
        :meth:`from_checkpoint` (``frame_rate``, ``backend="torch"`` among them)."""
        return cls.from_checkpoint(pretrained_path(name), **kwargs)

    @classmethod
    def for_detections(
        cls, *, linker_cfg: LinkerConfig | None = None, frame_rate: float = 30.0, classes: Sequence[str] | None = None
    ) -> "Tracker":
        """A model-free tracker that links given detections by motion and IoU (class "person");
        ``linker_cfg`` defaults to ``LinkerConfig().without_tags()``: the one default of given
        detections and of the embedded default model, as it links without tags."""
        return cls(model=None, linker_cfg=linker_cfg or LinkerConfig().without_tags(), frame_rate=frame_rate,
                   classes=classes)

    def reported_classes(self) -> np.ndarray:
        """(k,) int64 indices into :attr:`class_names` of the classes this tracker reports."""
        return np.arange(len(self.class_names)) if self._keep_classes is None else self._keep_classes.copy()

    # -- per frame ------------------------------------------------------------------------------
    def detect(self, frame: np.ndarray) -> Detections:
        """Detections of one frame in its own pixels."""
        if self.model is None or self.model_cfg is None:
            raise AetrackError("this tracker has no model: use update_detections with given boxes")
        img = to_bgr(frame)
        outputs, lb = self._forward(img)
        t0 = time.perf_counter()
        det = decode(outputs, cfg=self.decode_cfg, letterboxes=[lb], stride=self.model_cfg.stride,
                     class_names=self.class_names, tag_readout=self.model_cfg.tag_readout)[0]
        det = _drop_degenerate(det)
        self.timings["decode"] = (time.perf_counter() - t0) * 1e3
        return det

    def update(self, frame: np.ndarray) -> list[Track]:
        """Track one frame; returns snapshots of the tracks to report in it, by id (see
        :meth:`aetrack.linker.Linker.update`), their boxes clipped to the frame.

        An empty frame (None, or no pixels) counts as a frame without detections. A frame of
        another size than the last carries the tracks over to its pixels (:meth:`Linker.rescale`).

        Raises:
            ValueError: (an :class:`~aetrack.errors.InvalidArgument`) naming ``frame`` when it
                is not an image: another shape or dtype, or NaN / inf pixels
                (:func:`aetrack.validate.to_bgr`).
        """
        self.timings = dict.fromkeys(STAGES, 0.0)
        if is_empty_frame(frame):
            return self._link(np.zeros((0, 4)), np.zeros(0), None, np.zeros(0, dtype=np.int64))
        frame = to_bgr(frame)
        self._follow_frame_size(frame.shape[1], frame.shape[0])
        det = self.detect(frame)
        return self._link(det.boxes, det.scores, det.tags, det.classes, frame=frame)

    def update_detections(
        self,
        *,
        boxes: np.ndarray,
        scores: np.ndarray,
        frame: np.ndarray | None = None,
        classes: np.ndarray | None = None,
        frame_size: tuple[int, int] | None = None,
    ) -> list[Track]:
        """Link given detections ((n, 4) xyxy frame pixels, (n,) scores, (n,) int 0-based
        indices into :attr:`class_names` or None: all class 0).

        With a model and a frame, tags are sampled from the model at the boxes' centres, so the
        linker uses tags + motion; otherwise motion and IoU only. Boxes without area
        (x2 <= x1 or y2 <= y1) are skipped. Reported boxes are clipped to the frame: its own
        size, or without a frame ``frame_size`` = (width, height) (e.g. a MOT sequence's
        seqinfo), or the last frame's; with none known they are reported as linked.

        Raises:
            ValueError: (an :class:`~aetrack.errors.InvalidArgument`) naming ``boxes``,
                ``scores`` or ``frame``: shapes other than (n, 4) and (n,) of the same n, any
                NaN or infinite value (both refused alike, never dropped), a coordinate beyond
                :data:`aetrack.validate.MAX_COORDINATE`, or a frame that is not an image.
        """
        self.timings = dict.fromkeys(STAGES, 0.0)
        b, s = check_detections(boxes, scores)
        c = np.zeros(len(b), dtype=np.int64) if classes is None else np.asarray(classes)
        if c.shape != (len(b),):
            raise InvalidArgument(f"classes must have shape ({len(b)},) to match boxes, got {c.shape}")
        if c.size and (not np.issubdtype(c.dtype, np.integer) or c.min() < 0 or c.max() >= len(self.class_names)):
            raise InvalidArgument(f"classes must be integer indices into class_names {list(self.class_names)}, "
                                  f"got {sorted(set(c.tolist()))[:5]}")
        keep = (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])
        b, s, c = b[keep], s[keep], c[keep]
        tags = None
        has_frame = not is_empty_frame(frame)
        if has_frame:
            frame = to_bgr(frame)
            self._follow_frame_size(frame.shape[1], frame.shape[0])
        elif frame_size is not None:
            self._follow_frame_size(*frame_size)
        if self.model is not None and has_frame:
            outputs, lb = self._forward(frame)
            tags = (tags_at_boxes(outputs, b, letterbox=lb, stride=self.model_cfg.stride,
                                  readout=self.model_cfg.tag_readout) if len(b)
                    else np.zeros((0, self.model_cfg.tag_size * len(self.scales))))
        return self._link(b, s, tags, c, frame=frame if has_frame else None)

    @property
    def frame_rate(self) -> float:
        """Frames per second of the stream (the linker's time budgets are in seconds)."""
        return self.linker.frame_rate

    @property
    def fill_gap_frames(self) -> int:
        """Longest gap of a revived track that results files fill (LinkerConfig.interpolate_s);
        :meth:`update` itself returns each frame's rows at once, unfilled."""
        return self.linker.cfg.interpolate_frames(self.linker.frame_rate)

    def reset(self, *, frame_rate: float | None = None) -> None:
        """Forget all tracks; ids start at 1 again. Between videos: ``frame_rate`` is the next
        one's frames per second (None: unchanged)."""
        self.linker.reset(frame_rate=frame_rate)
        if self.camera is not None:
            self.camera.reset()
        self._frame_size = None

    # -- internals ------------------------------------------------------------------------------
    def _forward(self, img: np.ndarray) -> tuple[dict[str, torch.Tensor], Letterbox]:
        import torch

        from aetrack.data.letterbox import letterbox
        from aetrack.device import denormals_flushed

        assert self.model is not None and self.model_cfg is not None
        t0 = time.perf_counter()
        size = self.model_cfg.canvas_size((img.shape[1], img.shape[0]))
        boxed, lb = letterbox(img, size)
        if isinstance(self.model, torch.nn.Module):
            x = torch.from_numpy(boxed).to(self.device).permute(2, 0, 1)[None].float().div_(255.0)  # (1, 3, H, W)
        else:  # onnxruntime: the same values made in numpy, so that torch's thread pool stays idle
            # (its threads spin after a parallel op and took the cores from onnxruntime's on the
            # crowded 2-core machine: preprocessing 31-44 ms instead of 2, `git show 7df07a7:notes/BENCH_onnx.md`)
            x = np.divide(boxed.transpose(2, 0, 1)[None], 255.0, dtype=np.float32, order="C")  # (1, 3, H, W)
        t1 = time.perf_counter()
        with torch.inference_mode(), denormals_flushed():
            outputs = self.model(x)[-1] if self.scales == (1.0,) else multiscale_outputs(self.model, x, self.scales)
        t2 = time.perf_counter()
        self.timings["preprocess"] = (t1 - t0) * 1e3
        self.timings["model"] = (t2 - t1) * 1e3
        return outputs, lb

    def _follow_frame_size(self, w: int, h: int) -> None:
        """Note the frame's size (what reports are clipped to). When frames change size
        mid-stream, carry the tracks over to the new pixels, so predictions (lost tracks, motion
        gates) stay where the objects are in the new frame."""
        if self._frame_size is not None and self._frame_size != (w, h):
            old_w, old_h = self._frame_size
            self.linker.rescale(sx=w / old_w, sy=h / old_h)
        self._frame_size = (w, h)

    def _link(
        self, boxes: np.ndarray, scores: np.ndarray, tags: np.ndarray | None, classes: np.ndarray,
        frame: np.ndarray | None = None,
    ) -> list[Track]:
        """Link one frame's detections; with camera-motion compensation on and a ``frame``,
        first move the tracks by the camera's motion since the last frame (timed as "link")."""
        t0 = time.perf_counter()
        if self.camera is not None and frame is not None:
            self.linker.apply_camera_motion(self.camera.update(frame))
        if self._keep_classes is not None:
            keep = np.isin(classes, self._keep_classes)
            boxes, scores, classes = boxes[keep], scores[keep], classes[keep]
            tags = None if tags is None else tags[keep]
        tracks = self.linker.update(boxes=boxes, scores=scores, tags=tags, classes=classes,
                                    frame_size=self._frame_size)
        self.timings["link"] = (time.perf_counter() - t0) * 1e3
        return tracks


def class_indices(classes: Sequence[str] | str, names: tuple[str, ...]) -> np.ndarray:
    """(k,) int64 indices into ``names`` of the class names in ``classes`` (a str is one name;
    ``_`` may stand for a space: ``traffic_light``); ValueError naming the closest class for an
    unknown name, or for an empty list."""
    import difflib

    wanted = [classes] if isinstance(classes, str) else list(classes)
    if not wanted:
        raise ValueError(f"classes must name at least one of {', '.join(names)} (None keeps all)")
    index = {n: i for i, n in enumerate(names)} | {n.replace(" ", "_"): i for i, n in enumerate(names)}
    unknown = [c for c in wanted if c not in index]
    if unknown:
        close = difflib.get_close_matches(unknown[0], list(index), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        shown = ", ".join(names) if len(names) <= 12 else ", ".join(names[:12]) + f", ... ({len(names)} classes)"
        raise ValueError(f"unknown class {unknown[0]!r} in classes{hint}; this model's classes are {shown}")
    return np.array([index[c] for c in wanted], dtype=np.int64)


def _drop_degenerate(det: Detections) -> Detections:
    """Drop boxes without area (the linker refuses them). Detections are not clipped: like MOT
    ground truth, a box covers the whole object, also where it leaves the frame, so the linker
    tracks whole objects; what it reports is clipped to the frame (:meth:`Linker.update`)."""
    b = det.boxes
    keep = (b[:, 2] - b[:, 0] >= 1) & (b[:, 3] - b[:, 1] >= 1)
    return Detections(boxes=b[keep], scores=det.scores[keep], classes=det.classes[keep], tags=det.tags[keep])
