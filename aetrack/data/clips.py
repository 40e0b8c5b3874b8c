"""Training clips: T frames of one MOT sequence, one shared augmentation, targets for the loss.

A clip is what the temporal associative-embedding loss needs (see DESIGN.md): frames
``f, f + g1, f + g1 + g2, ...`` with gaps ``g`` drawn from ``1..max_gap``, all transformed by
the *same* random scale, shift, flip and colour jitter, so an object keeps its identity and its
geometry stays consistent across the clip. Identities are relabelled ``0..N-1`` per clip; each
item also carries every object's global identity (its sequence folder and gt id), which the
batch push of :mod:`aetrack.losses` needs: clips of one sequence can show the same person.

Sampling is a pure function of ``(seed, index)``: :meth:`ClipDataset.__getitem__` seeds its own
generator from the two, so the sample stream does not depend on worker processes, and resuming
at step ``s`` only needs the index of the first sample of step ``s``.

Frame access: ``img1/`` sequences read each frame with ``cv2.imread``; video sequences are
decoded once (only the selected frame range), downscaled to the largest size the augmentation
can use and kept JPEG-encoded in memory (PETS09 frames 1-397 for a 384x224 input: about
10 MB), since random access into a video file means decoding from the last key frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from aetrack.data.letterbox import PAD_VALUE, Letterbox
from aetrack.data.mot import FrameRange, MotSequence
from aetrack.data.sources import ImageFolderSource, VideoSource
from aetrack.errors import AetrackError
from aetrack.model.config import ModelConfig
from aetrack.model.targets import build_targets

# JPEG quality of in-memory video frames: 95 keeps re-encoding artefacts well below the
# detector's stride-4 resolution while storing a frame in ~1/10 of its raw size.
_CACHE_JPEG_QUALITY = 95

# A global identity is folder number << 32 | gt id (ClipDataset): gt ids are below 2**32.
_GLOBAL_ID_BITS = 32


@dataclass(frozen=True)
class AugmentConfig:
    """Random augmentation drawn once per clip and applied identically to all its frames."""

    # Zoom factor drawn uniformly from [1 - scale, 1 + scale] around the input centre: objects
    # of a new video are rarely at the training size.
    scale: float = 0.25
    # Shift drawn uniformly from +-translate times the input width/height: objects anywhere.
    translate: float = 0.1
    # Probability of a horizontal flip (pedestrian scenes are left-right symmetric).
    flip: float = 0.5
    # Additive brightness shift, uniform in +-brightness (fraction of the full 0..1 range).
    brightness: float = 0.1
    # Contrast factor uniform in [1 - contrast, 1 + contrast] around mid-grey.
    contrast: float = 0.2
    # Per-channel gain uniform in [1 - color, 1 + color]: white balance differs between cameras.
    color: float = 0.05
    # Probability that a clip's colour channels are permuted (one random permutation for the
    # whole clip, never the identity). A camera's few training people wear few colours; PETS
    # frames 1-397 hold no one in red, and the PETS model trained on them missed a red-shirted
    # walker in most frames of the test half (history: `git show edcde83:BENCHMARKS.md`). Shuffling makes colour useless
    # as a cue for "person" while shapes and the clip's identities stay. 0 = off.
    channel_shuffle: float = 0.0
    # Probability that a clip gets one more person pasted in: a person of the same sequence
    # who is not in the clip, taken from another stretch of time (moving as they moved then,
    # through the clip's frame gaps), blended in with a soft ellipse at a free spot of the
    # crop, with their own identity. A fixed camera's training frames show people only where
    # they walked then: in PETS frames 1-397 nobody stands on the lawn in the lower third of
    # the frame, where in 398-795 several do, and the PETS model missed one of them in most
    # frames (history: `git show edcde83:BENCHMARKS.md`). Pasting puts people against backgrounds they were never seen on.
    paste: float = 0.0
    # Static-image clips (a source with ``static``): one frame becomes T frames by a random
    # camera motion, drawn once per clip: a shift of up to +-static_shift times the input
    # size per frame step and a zoom change of up to +-static_zoom per frame step. People
    # walk about 1-3 % of a frame's width between frames 0.1-0.3 s apart; the motion of a
    # whole frame stands in for theirs.
    static_shift: float = 0.03
    static_zoom: float = 0.03

    def __post_init__(self) -> None:
        for name in ("scale", "translate", "brightness", "contrast", "color", "static_shift", "static_zoom"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"augment.{name} must be in [0, 1), got {value!r}")
        for name in ("flip", "channel_shuffle", "paste"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"augment.{name} is a probability in [0, 1], got {value!r}")


NO_AUGMENT = AugmentConfig(scale=0.0, translate=0.0, flip=0.0, brightness=0.0, contrast=0.0, color=0.0,
                           channel_shuffle=0.0, paste=0.0)


@dataclass(frozen=True)
class Affine:
    """Axis-aligned map from original to input pixels (continuous coordinates, xyxy boxes).

    ``x_in = sx * x + tx``, ``y_in = sy * y + ty``; ``sx < 0`` is a horizontal flip.
    """

    sx: float
    sy: float
    tx: float
    ty: float

    def boxes(self, boxes: np.ndarray) -> np.ndarray:
        """(n, 4) xyxy original pixels -> (n, 4) xyxy input pixels (corners re-ordered on a flip)."""
        b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        xa, xb = self.sx * b[:, 0] + self.tx, self.sx * b[:, 2] + self.tx
        ya, yb = self.sy * b[:, 1] + self.ty, self.sy * b[:, 3] + self.ty
        return np.stack([np.minimum(xa, xb), np.minimum(ya, yb), np.maximum(xa, xb), np.maximum(ya, yb)], axis=1)

    def shifted(self, dx: float, dy: float) -> "Affine":
        """The same map followed by a shift of (dx, dy) input pixels."""
        return Affine(sx=self.sx, sy=self.sy, tx=self.tx + dx, ty=self.ty + dy)

    def moved(self, *, zoom: float, shift: tuple[float, float], centre: tuple[float, float]) -> "Affine":
        """The same map followed by a zoom by ``zoom`` about ``centre`` and a shift, input pixels."""
        cx, cy = centre
        return Affine(sx=self.sx * zoom, sy=self.sy * zoom, tx=zoom * (self.tx - cx) + cx + shift[0],
                      ty=zoom * (self.ty - cy) + cy + shift[1])

    def letterbox(self) -> Letterbox:
        """The same map as a :class:`Letterbox` (only for unflipped, uniform scale)."""
        if self.sx != self.sy or self.sx <= 0:
            raise ValueError("only an unflipped uniform-scale transform is a letterbox")
        return Letterbox(scale=self.sx, pad_x=self.tx, pad_y=self.ty)


def clip_affine(
    *, src_size: tuple[int, int], dst_size: tuple[int, int], zoom: float = 1.0,
    shift: tuple[float, float] = (0.0, 0.0), flip: bool = False,
) -> Affine:
    """Letterbox ``src_size`` into ``dst_size`` (both (width, height)), then zoom about the input
    centre by ``zoom``, shift by ``shift`` input pixels and optionally mirror: ``x -> W - x``."""
    lb = Letterbox.fit(src_size=src_size, dst_size=dst_size)
    w, h = dst_size
    s = lb.scale * zoom
    tx = zoom * (lb.pad_x - w / 2) + w / 2 + shift[0]
    ty = zoom * (lb.pad_y - h / 2) + h / 2 + shift[1]
    if flip:
        return Affine(sx=-s, sy=s, tx=w - tx, ty=ty)
    return Affine(sx=s, sy=s, tx=tx, ty=ty)


def warp_image(image: np.ndarray, affine: Affine, dst_size: tuple[int, int], *, image_scale: float = 1.0) -> np.ndarray:
    """Render (H, W, 3) uint8 ``image`` through ``affine`` into a ``dst_size`` uint8 canvas.

    ``image_scale`` is the stored image's size relative to the original frame (downscaled
    video cache). Pixel ``i`` covers ``[i, i + 1)`` in continuous coordinates, so a flip of a
    W-wide image maps pixel ``i`` to ``W - 1 - i`` exactly. Strong downscales are done by area
    averaging first, which a bilinear warp alone would alias.
    """
    sx, sy = affine.sx / image_scale, affine.sy / image_scale
    tx, ty = affine.tx, affine.ty
    pre = min(abs(sx), abs(sy))
    if pre < 0.75:
        h, w = image.shape[:2]
        nw, nh = max(1, round(w * pre)), max(1, round(h * pre))
        image = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
        sx, sy = sx * w / nw, sy * h / nh
    # Continuous x_c = x_pixel + 0.5 on both sides: x'_p = sx * x_p + tx + 0.5 * sx - 0.5.
    m = np.array([[sx, 0.0, tx + 0.5 * sx - 0.5], [0.0, sy, ty + 0.5 * sy - 0.5]], dtype=np.float64)
    return cv2.warpAffine(image, m, dst_size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=(PAD_VALUE, PAD_VALUE, PAD_VALUE))


class SequenceData:
    """Ground-truth objects and random-access frames of one sequence's frame range.

    Objects are gt rows with consider flag 1 and, for MOT16+ files, visibility >=
    ``min_visibility`` and a class the model has: a sequence whose seqinfo.ini names its
    classes (``classes=person,car,...``, pseudo-labels) maps each 1-based class value by name
    onto ``class_names``; MOTChallenge gt keeps class 1 (pedestrian) as "person"; MOT15 rows
    are all people. The other annotated rows are kept as ignore regions. Boxes are xyxy
    original pixels; classes are 0-based indices into ``class_names``.
    """

    def __init__(self, *, seq: MotSequence, frames: FrameRange | None, min_visibility: float,
                 cache_scale: float = 1.0, class_names: tuple[str, ...] = ("person",)) -> None:
        self.seq = seq
        self.name = seq.name
        self.size = (seq.info.width, seq.info.height)  # (width, height) of original frames
        first = frames.first if frames is not None and frames.first is not None else 1
        last = seq.info.length if frames is None or frames.last is None else min(frames.last, seq.info.length)
        if last < first:
            raise AetrackError(f"{seq.root}: frame range {frames} is outside the sequence (1:{seq.info.length})")
        gt = seq.gt(FrameRange(first, last))
        if "person" not in class_names:
            raise AetrackError(f"the model's classes {list(class_names)} have no 'person' for {seq.root}'s gt")
        keep = gt.conf == 1
        cls = np.full(len(gt), class_names.index("person"), dtype=np.int64)
        if gt.fmt == "mot16":
            keep &= gt.vis >= min_visibility
            names = seq.info.classes or ("person",)  # MOTChallenge: class 1 is a pedestrian
            lookup = np.array([class_names.index(n) if n in class_names else -1 for n in names], dtype=np.int64)
            valid = (gt.cls >= 1) & (gt.cls <= len(names))
            cls = np.where(valid, lookup[np.clip(gt.cls - 1, 0, len(names) - 1)], -1)
            keep &= cls >= 0
        sized = (gt.boxes[:, 2] > 0) & (gt.boxes[:, 3] > 0)
        xyxy = np.concatenate([gt.boxes[:, :2], gt.boxes[:, :2] + gt.boxes[:, 2:]], axis=1)
        kept, dropped = gt.subset(keep & sized), gt.subset(~keep & sized)
        xyxy_kept, xyxy_dropped = xyxy[keep & sized], xyxy[~keep & sized]
        cls_kept = cls[keep & sized]
        self._rows = {f: (xyxy_kept[r], kept.ids[r]) for f, r in kept.by_frame().items()}
        self._classes = {f: cls_kept[r] for f, r in kept.by_frame().items()}
        self._ignored = {f: xyxy_dropped[r] for f, r in dropped.by_frame().items()}
        self._files: list | None = None
        self._jpegs: dict[int, bytes] = {}
        self.cache_scale = 1.0
        img_dir = seq.image_dir()
        if img_dir is not None:
            self._files = ImageFolderSource.open(img_dir).files
            last = min(last, len(self._files))
        else:
            last = self._decode_video(FrameRange(first, last), min(1.0, cache_scale))
        self.first, self.last = first, last

    def _decode_video(self, frames: FrameRange, scale: float) -> int:
        video = self.seq.video_file()
        if video is None:
            raise AetrackError(f"{self.seq.root}: no {self.seq.info.im_dir}/ images and no video file")
        self.cache_scale = scale
        last = frames.first or 1
        for f, img in VideoSource.open(video, frames=frames):
            if scale < 1.0:
                h, w = img.shape[:2]
                img = cv2.resize(img, (max(1, round(w * scale)), max(1, round(h * scale))),
                                 interpolation=cv2.INTER_AREA)
            ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, _CACHE_JPEG_QUALITY])
            if not ok:
                raise AetrackError(f"{video}: cannot re-encode frame {f} for the frame cache")
            self._jpegs[f] = buf.tobytes()
            last = f
        if not self._jpegs:
            raise AetrackError(f"{video}: no frames decoded in range {frames}")
        if self.cache_scale < 1.0:
            h, w = cv2.imdecode(np.frombuffer(self._jpegs[last], np.uint8), cv2.IMREAD_COLOR).shape[:2]
            self.cache_scale = w / self.size[0]  # the rounded size actually stored
        return last

    @property
    def num_frames(self) -> int:
        return self.last - self.first + 1

    def image(self, frame: int) -> np.ndarray:
        """Frame ``frame`` as (H, W, 3) BGR uint8, at :attr:`cache_scale` times the original size."""
        if self._files is not None:
            img = cv2.imread(str(self._files[frame - 1]), cv2.IMREAD_COLOR)
            if img is None:
                raise AetrackError(f"{self._files[frame - 1]}: cannot decode image")
            return img
        return cv2.imdecode(np.frombuffer(self._jpegs[frame], np.uint8), cv2.IMREAD_COLOR)

    def objects(self, frame: int) -> tuple[np.ndarray, np.ndarray]:
        """``(boxes (n, 4) xyxy original pixels float64, ids (n,) int64)`` of ``frame``."""
        if frame in self._rows:
            return self._rows[frame]
        return np.zeros((0, 4)), np.zeros(0, np.int64)

    def classes(self, frame: int) -> np.ndarray:
        """(n,) int64 0-based classes of :meth:`objects` of ``frame``, in the same order."""
        return self._classes.get(frame, np.zeros(0, np.int64))

    def ignored(self, frame: int) -> np.ndarray:
        """(m, 4) xyxy original pixels of annotated non-targets (flag 0, distractor class, low
        visibility): validation neither rewards nor penalises detections on them."""
        return self._ignored.get(frame, np.zeros((0, 4)))


@dataclass(frozen=True)
class Clip:
    """One sampled clip before conversion to tensors (input pixels, clip-local identities)."""

    images: np.ndarray  # (T, H, W, 3) uint8 BGR, input size
    boxes: list[np.ndarray]  # per frame (n_t, 4) xyxy input pixels, full extent (not clipped)
    ids: list[np.ndarray]  # per frame (n_t,) int64 in 0..N-1, same object -> same id
    frames: np.ndarray  # (T,) 1-based frame numbers in the sequence (a static clip repeats one)
    sequence: int  # index into the dataset's sequences
    affine: Affine  # the original -> input map of the first frame (shared by all but static clips)
    ignored: list[np.ndarray] | None = None  # per frame (m_t, 4) xyxy input pixels of non-targets
    classes: list[np.ndarray] | None = None  # per frame (n_t,) int64 0-based class (None: all 0)
    object_ids: np.ndarray | None = None  # (N,) int64 the sequence's gt id of clip id 0..N-1


def filter_to_input(boxes: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Keep boxes whose centre lies inside the ``size`` = (W, H) input.

    Kept boxes are NOT clipped: like MOT ground truth they cover the whole object, also the
    part outside the view, so the detector learns full-extent boxes and is scored against
    full-extent gt. Returns ``(kept boxes (k, 4), keep mask (n,))``.
    """
    w, h = size
    cx = 0.5 * (boxes[:, 0] + boxes[:, 2])
    cy = 0.5 * (boxes[:, 1] + boxes[:, 3])
    keep = (cx >= 0) & (cx < w) & (cy >= 0) & (cy < h)
    return boxes[keep], keep


@dataclass(frozen=True)
class ClipSource:
    """How clips are drawn from one training sequence."""

    # Sampling weight per frame: a sequence is drawn in proportion to frames x weight.
    weight: float = 1.0
    # Static-image clips: each clip is ONE frame moved by a random camera motion into T frames
    # (AugmentConfig.static_shift / static_zoom), every box its own identity by construction,
    # as CenterTrack learns from still images. For frames whose boxes have no identities
    # over time (single images, pseudo-labels) or to teach tags on every real frame.
    static: bool = False

    def __post_init__(self) -> None:
        if not self.weight > 0:
            raise ValueError(f"weight must be > 0, got {self.weight}")


class ClipDataset(torch.utils.data.Dataset):
    """Clips of ``clip_len`` frames; item ``i`` is a deterministic function of ``(seed, i)``.

    Any non-negative index is valid (the training sampler hands out a global sample counter);
    ``len()`` is the number of frames, a nominal epoch. An item is a dict with ``images``
    (T, 3, H, W) float32 in [0, 1], BGR, the :func:`aetrack.model.targets.build_targets`
    tensors (T, ...) and ``global_ident`` (T, K) int64, the ``ident`` slots' identities across
    the dataset (-1 for padding); the default collate makes them (B, T, ...).

    A global identity is ``folder * 2**32 + gt id``, ``folder`` numbering the distinct sequence
    folders in order of first appearance: two entries of one folder (other frame ranges, a
    static and a moving source) share their people, as they should. MOT gt ids are positive
    and below 2**32.
    """

    def __init__(self, *, sequences: Sequence[tuple[MotSequence, FrameRange | None]], model: ModelConfig,
                 clip_len: int, max_gap: int, min_visibility: float, augment: AugmentConfig,
                 max_objects: int, seed: int, crop_size: tuple[int, int] | None = None,
                 ignore_non_targets: bool = False, sources: Sequence[ClipSource] | None = None) -> None:
        if clip_len < 1 or max_gap < 1:
            raise AetrackError(f"clip_len and max_gap must be >= 1, got {clip_len} and {max_gap}")
        if not sequences:
            raise AetrackError("no training sequences given")
        if sources is not None and len(sources) != len(sequences):
            raise AetrackError(f"sources must give one ClipSource per sequence ({len(sequences)}), got {len(sources)}")
        self.sources = list(sources) if sources is not None else [ClipSource()] * len(sequences)
        self.model = model
        self.clip_len = clip_len
        self.max_gap = max_gap
        self.augment = augment
        self.max_objects = max_objects
        self.seed = seed
        self.ignore_non_targets = ignore_non_targets
        self.input_size = model.input_size
        # Training images are crop_size windows of the input-size canvas (the model is fully
        # convolutional): objects at the inference scale for the cost of a smaller image.
        self.crop_size = self.input_size if crop_size is None else crop_size
        cw, ch = self.crop_size
        if not (0 < cw <= self.input_size[0] and 0 < ch <= self.input_size[1]) or cw % 32 or ch % 32:
            raise AetrackError(f"crop size {cw}x{ch} must be multiples of 32 no larger than the input "
                               f"{self.input_size[0]}x{self.input_size[1]}")
        self.sequences: list[SequenceData] = []
        for (seq, frames), source in zip(sequences, self.sources):
            base = Letterbox.fit(src_size=(seq.info.width, seq.info.height), dst_size=self.input_size).scale
            data = SequenceData(seq=seq, frames=frames, min_visibility=min_visibility,
                                cache_scale=base * (1.0 + augment.scale), class_names=model.names)
            if data.num_frames < clip_len and not source.static:
                raise AetrackError(f"{seq.root}: {data.num_frames} frames in range, fewer than clip_len={clip_len}")
            self.sequences.append(data)
        numbers: dict[str, int] = {}  # distinct folder -> its number, in order of first appearance
        self._folder = [numbers.setdefault(str(seq.root.resolve()), len(numbers)) for seq, _ in sequences]
        counts = np.array([s.num_frames * src.weight for s, src in zip(self.sequences, self.sources)])
        self._weights = counts / counts.sum()  # sequences drawn in proportion to frames x weight

    def __len__(self) -> int:
        return int(sum(s.num_frames for s in self.sequences))

    def sample(self, index: int) -> Clip:
        """Draw clip ``index``: sequence, frames, augmentation, then render and transform boxes."""
        rng = np.random.default_rng([self.seed, int(index)])
        k = int(rng.choice(len(self.sequences), p=self._weights))
        data = self.sequences[k]
        static = self.sources[k].static
        t = self.clip_len
        if static:  # one frame, T times
            frames = np.full(t, int(rng.integers(data.first, data.last + 1)), dtype=np.int64)
        else:  # gaps from 1..max_gap, capped so that the clip fits the sequence's range
            max_gap = min(self.max_gap, (data.num_frames - 1) // max(t - 1, 1)) if t > 1 else 1
            gaps = rng.integers(1, max_gap + 1, size=t - 1)
            start = int(rng.integers(data.first, data.last - int(gaps.sum()) + 1))
            frames = start + np.concatenate([[0], np.cumsum(gaps)]).astype(np.int64)
        # One augmentation for the whole clip.
        a = self.augment
        w, h = self.input_size
        zoom = rng.uniform(1 - a.scale, 1 + a.scale)
        shift = (rng.uniform(-a.translate, a.translate) * w, rng.uniform(-a.translate, a.translate) * h)
        flip = bool(rng.random() < a.flip)
        brightness = rng.uniform(-a.brightness, a.brightness)
        contrast = rng.uniform(1 - a.contrast, 1 + a.contrast)
        gain = rng.uniform(1 - a.color, 1 + a.color, size=3)
        affine = clip_affine(src_size=data.size, dst_size=self.input_size, zoom=zoom, shift=shift, flip=flip)
        cw, ch = self.crop_size
        if (cw, ch) != (w, h):
            ox, oy = rng.integers(0, w - cw + 1), rng.integers(0, h - ch + 1)
            affine = affine.shifted(-float(ox), -float(oy))
        affines = [affine] * t
        if static:  # a camera drift from frame to frame, about the crop's centre
            step_shift = rng.uniform(-a.static_shift, a.static_shift, size=2) * np.array([w, h])
            step_zoom = rng.uniform(-a.static_zoom, a.static_zoom)
            affines = [affine.moved(zoom=(1 + step_zoom) ** i, shift=tuple(step_shift * i), centre=(cw / 2, ch / 2))
                       for i in range(t)]
        objects = [data.objects(int(f)) for f in frames]          # original pixels, sequence ids
        in_crop = [filter_to_input(af.boxes(b), self.crop_size) for af, (b, _) in zip(affines, objects)]
        boxes = [b for b, _ in in_crop]
        raw_ids = [ids[keep] for (_, ids), (_, keep) in zip(objects, in_crop)]
        classes = [data.classes(int(f))[keep] for f, (_, keep) in zip(frames, in_crop)]
        ignored = [filter_to_input(af.boxes(data.ignored(int(f))), self.crop_size)[0]
                   for af, f in zip(affines, frames)] if self.ignore_non_targets else None
        # Drawn last so that clips without them are the same as before they existed.
        order = _NON_IDENTITY_ORDERS[int(rng.integers(5))] if rng.random() < a.channel_shuffle else None
        paste = None
        if rng.random() < a.paste and not static:
            present = set(np.concatenate([ids for _, ids in objects]).tolist())
            paste = _draw_paste(rng, data, frames, affine, self.crop_size, clip_boxes=boxes, clip_ids=present)

        images = np.empty((t, ch, cw, 3), np.uint8)
        for i, f in enumerate(frames):
            img = warp_image(data.image(int(f)), affines[i], self.crop_size, image_scale=data.cache_scale)
            img = jitter(img, brightness=brightness, contrast=contrast, gain=gain)
            if paste is not None:
                # Only the pasted box's window is rendered from the source frame.
                x1, y1, x2, y2 = _window(paste.boxes[i])
                window = paste.affine.shifted(-x1, -y1)
                patch = jitter(warp_image(data.image(paste.frames[i]), window, (x2 - x1, y2 - y1),
                                           image_scale=data.cache_scale),
                                brightness=brightness, contrast=contrast, gain=gain)
                _blend_ellipse(img, patch, paste.boxes[i])
                boxes[i] = np.concatenate([boxes[i], paste.boxes[i][None]])
                raw_ids[i] = np.concatenate([raw_ids[i], [paste.object_id]]).astype(np.int64)
                classes[i] = np.concatenate([classes[i], [paste.object_class]]).astype(np.int64)
            images[i] = img if order is None else img[:, :, order]
        # Clip-local identities 0..N-1 (sorted by the sequence's ids).
        uniq = np.unique(np.concatenate(raw_ids + [np.zeros(0, np.int64)]))
        ids = [np.searchsorted(uniq, r).astype(np.int64) for r in raw_ids]
        return Clip(images=images, boxes=boxes, ids=ids, frames=frames, sequence=k, affine=affine, ignored=ignored,
                    classes=classes, object_ids=uniq.astype(np.int64))

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        clip = self.sample(index)
        images = torch.from_numpy(clip.images).permute(0, 3, 1, 2).float().div_(255.0)  # (T, 3, H, W)
        targets = build_targets(boxes=clip.boxes, ids=clip.ids,
                                classes=clip.classes or [np.zeros(len(i), np.int64) for i in clip.ids],
                                cfg=self.model, max_objects=self.max_objects, input_size=self.crop_size,
                                ignore=clip.ignored)
        ident = targets["ident"]  # (T, K) clip ids, -1 for padding
        global_ids = torch.from_numpy(clip.object_ids + (self._folder[clip.sequence] << _GLOBAL_ID_BITS))
        global_ident = torch.where(ident >= 0, global_ids[ident.clamp(min=0)], -1) if len(global_ids) else ident.clone()
        return {"images": images, **targets, "global_ident": global_ident}


@dataclass(frozen=True)
class _Paste:
    """A person pasted into a clip: source frames, their map into the crop, boxes, identity."""

    frames: tuple[int, ...]      # source frame per clip frame (same gaps as the clip)
    affine: Affine               # the clip's map plus the shift to the paste spot
    boxes: np.ndarray            # (T, 4) xyxy crop pixels of the pasted person
    object_id: int               # the person's sequence id (not among the clip's ids)
    object_class: int            # their 0-based class


_PASTE_TRIES = 10


def _draw_paste(rng: np.random.Generator, data: SequenceData, frames: np.ndarray, affine: Affine,
                crop_size: tuple[int, int], *, clip_boxes: list[np.ndarray], clip_ids: set[int]) -> _Paste | None:
    """Pick a person not in ``clip_ids`` (sequence ids anywhere in the clip's frames), seen in
    every frame of another stretch with the clip's gaps, and a shift that puts them wholly
    inside the crop, clear of ``clip_boxes`` (per frame, crop pixels: at most 10 % of either
    box covered); None if ten draws find no such pair."""
    cw, ch = crop_size
    offsets = frames - frames[0]
    span = int(offsets[-1])
    for _ in range(_PASTE_TRIES):
        start = int(rng.integers(data.first, data.last - span + 1))
        src_frames = [start + int(o) for o in offsets]
        per_frame = [dict(zip(*data.objects(f)[::-1])) for f in src_frames]
        common = sorted(set.intersection(*(set(d) for d in per_frame)) - clip_ids)
        if not common:
            continue
        obj = common[int(rng.integers(len(common)))]
        src = affine.boxes(np.stack([per_frame[i][obj] for i in range(len(src_frames))]))
        lo = -src[:, :2].min(axis=0)                        # shift keeping x1, y1 >= 0
        hi = np.array([cw, ch]) - src[:, 2:].max(axis=0)    # ... and x2 <= cw, y2 <= ch
        if np.any(hi < lo):
            continue
        dx, dy = rng.uniform(lo[0], hi[0]), rng.uniform(lo[1], hi[1])
        pasted = src + np.array([dx, dy, dx, dy])
        if any(_covers(pasted[i], clip_boxes[i]) for i in range(len(frames))):
            continue
        first_ids = data.objects(src_frames[0])[1]
        cls = int(data.classes(src_frames[0])[int(np.flatnonzero(first_ids == obj)[0])])
        return _Paste(frames=tuple(src_frames), affine=affine.shifted(dx, dy), boxes=pasted, object_id=int(obj),
                      object_class=cls)
    return None


def _covers(box: np.ndarray, others: np.ndarray, limit: float = 0.1) -> bool:
    """Whether ``box`` (4,) and any of ``others`` (n, 4) cover more than ``limit`` of either."""
    if others.shape[0] == 0:
        return False
    iw = np.clip(np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0]), 0, None)
    ih = np.clip(np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1]), 0, None)
    inter = iw * ih
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    return bool(np.any(inter > limit * np.minimum(area, areas)))


def _window(box: np.ndarray) -> tuple[int, int, int, int]:
    """Integer pixel window ``(x1, y1, x2, y2)`` covering ``box`` (which lies inside the crop)."""
    return (int(np.floor(box[0])), int(np.floor(box[1])), int(np.ceil(box[2])), int(np.ceil(box[3])))


def _blend_ellipse(img: np.ndarray, patch: np.ndarray, box: np.ndarray) -> None:
    """Blend ``patch`` (the :func:`_window` of ``box``) into ``img`` in place: weight 1 within
    the ellipse inscribed in the box shrunk by 20 %, falling linearly to 0 at the inscribed
    ellipse (a person fills the middle of their box; its corners are background)."""
    x1, y1, x2, y2 = _window(box)
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    rx, ry = max((box[2] - box[0]) / 2, 1e-6), max((box[3] - box[1]) / 2, 1e-6)
    xs = (np.arange(x1, x2) + 0.5 - cx) / rx
    ys = (np.arange(y1, y2) + 0.5 - cy) / ry
    r = np.sqrt(xs[None, :] ** 2 + ys[:, None] ** 2)
    alpha = np.clip((1.0 - r) / 0.2, 0.0, 1.0)[:, :, None].astype(np.float32)
    region = img[y1:y2, x1:x2].astype(np.float32)
    img[y1:y2, x1:x2] = (region + alpha * (patch.astype(np.float32) - region) + 0.5).astype(np.uint8)


# The five permutations of three colour channels other than the identity.
_NON_IDENTITY_ORDERS = ((0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0))


def jitter(img: np.ndarray, *, brightness: float, contrast: float, gain: np.ndarray) -> np.ndarray:
    """Colour jitter on (H, W, 3) uint8: contrast about mid-grey, brightness shift, channel gain."""
    if brightness == 0.0 and contrast == 1.0 and np.all(gain == 1.0):
        return img
    x = img.astype(np.float32) * (1.0 / 255.0)
    x = ((x - 0.5) * contrast + 0.5 + brightness) * gain.astype(np.float32)
    return np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8)
