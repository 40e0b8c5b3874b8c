"""The frozen detector's features, computed once, for training the tag head in minutes.

When the detection branch stays frozen (``train.backbone_lr`` 0), a training step needs only
the maps the tag head reads (:meth:`aetrack.model.Detector.tag_inputs`: yolox_nano's trunk
stages, the small backbone's stride-4 map), and those depend only on the image. So every
training frame is rendered into ``views`` fixed views (view 0: the plain letterbox into the
training canvas; view v >= 1: a zoom, shift, flip and colour change drawn once per sequence
folder and view, so the frames of one sequence share a view's camera, as a clip's frames share
its augmentation), the detector runs once per view, and the maps of the cached stages
(``data.feature_cache.stages``, by default those the tag head reads; names and shapes
:attr:`aetrack.model.config.ModelConfig.tag_input_shapes`) are stored at their own strides as
float16 in memory-mapped files::

    DIR/<key>/manifest.json        what the cache holds and how it was made
    DIR/<key>/<stage>.f16          (items, C, h, w) float16, one file per cached stage
    DIR/<key>/done.u8              (items,) 1 once an item is written: a killed build resumes
    DIR/<key>/objects.npz          per item: boxes (canvas pixels), identities, classes

A cache of more stages serves tag branches reading any subset of them. ``key`` hashes the
detection branch's weights (:func:`trunk_digest`), the stages, the canvas, the views, their augmentation and seed and the data
(folders, frame ranges, ground-truth files' size and time): change any and a new cache is built
beside the old ones. Training crops the stored maps at whole cells of the coarsest stage (a crop
of the canvas commutes with the network up to its border effects) and samples clips from them
(:class:`aetrack.train.cached_clips.CachedClipDataset`).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from aetrack.data.clips import AugmentConfig, SequenceData, clip_affine, jitter, warp_image
from aetrack.data.mot import FrameRange, MotSequence
from aetrack.errors import AetrackError
from aetrack.io.atomic import atomic_write
from aetrack.model.config import ModelConfig

# Bump when the stored maps change meaning for the same weights and settings (another input
# normalisation, another definition of a stage), so that older caches are never read as new ones.
# 2: the small backbone's "backbone" map joined yolox_nano's stages without changing them, so
# yolox_nano caches built before keep their keys.
FORMAT_VERSION = 2
# Trunk passes per batch while building (images of one canvas size).
BUILD_BATCH = 4


@dataclass(frozen=True)
class Item:
    """One cached view: sequence (index into the cache's sequence list), frame, view."""

    seq: int
    frame: int
    view: int


def stage_shapes(stages: tuple[str, ...], canvas: tuple[int, int], model: ModelConfig) -> dict[str, tuple[int, int, int]]:
    """(C, h, w) of each stage's map for a ``canvas`` = (width, height) input to ``model``."""
    w, h = canvas
    shapes = model.tag_input_shapes
    return {s: (shapes[s][0], h // shapes[s][1], w // shapes[s][1]) for s in stages}


def trunk_digest(model) -> str:
    """SHA-256 of the detection branch's weights (:meth:`Detector.pretrained_modules`), what the
    cached maps depend on; its buffers (BatchNorm statistics) included. The modules in name order,
    each module's tensors by their names within it (so a yolox_nano digest is the one caches were
    keyed by before the small backbone joined)."""
    digest = hashlib.sha256()
    for _, module in sorted(model.pretrained_modules().items()):
        for name, tensor in sorted(module.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().float().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _view_params(seed: int, folder: str, view: int, augment: AugmentConfig, canvas: tuple[int, int]) -> dict:
    """The fixed augmentation of ``view`` for one sequence folder (view 0: none)."""
    if view == 0:
        return {"zoom": 1.0, "shift": (0.0, 0.0), "flip": False, "brightness": 0.0, "contrast": 1.0,
                "gain": [1.0, 1.0, 1.0]}
    folder_key = int.from_bytes(hashlib.sha1(folder.encode()).digest()[:4], "little")
    rng = np.random.default_rng([seed, folder_key, view])
    w, h = canvas
    a = augment
    return {"zoom": float(rng.uniform(1 - a.scale, 1 + a.scale)),
            "shift": (float(rng.uniform(-a.translate, a.translate) * w), float(rng.uniform(-a.translate, a.translate) * h)),
            "flip": bool(rng.random() < a.flip), "brightness": float(rng.uniform(-a.brightness, a.brightness)),
            "contrast": float(rng.uniform(1 - a.contrast, 1 + a.contrast)),
            "gain": rng.uniform(1 - a.color, 1 + a.color, size=3).tolist()}


class FeatureCache:
    """A built (or building) cache; see the module docstring.

    Args:
        root: the folder of caches (the cache itself goes to ``root/<key>``).
        sequences: (sequence, frame range) for every training source; one folder listed twice
            (moving and static) is cached once.
        model: the model config (canvas = its input size; class names; the stages' shapes).
        stages: the stages to store (names of ``model.tag_input_shapes``).
        digest: :func:`trunk_digest` of the detector that fills the cache.
        views, augment, seed: the views (:class:`FeatureCacheConfig`, ``data.augment``, ``data.feature_cache.seed``).
        min_visibility: which gt rows are objects (as training, :class:`SequenceData`).
    """

    def __init__(self, *, root: str | Path, sequences: list[tuple[MotSequence, FrameRange | None]],
                 model: ModelConfig, stages: tuple[str, ...], digest: str, views: int, augment: AugmentConfig,
                 seed: int, min_visibility: float) -> None:
        self.model = model
        self.canvas = model.input_size
        self.views, self.augment, self.seed, self.min_visibility = views, augment, seed, min_visibility
        seen: dict[tuple[str, str], int] = {}
        self.sequences: list[tuple[MotSequence, FrameRange | None]] = []
        for seq, frames in sequences:
            k = (str(seq.root.resolve()), str(frames))
            if k not in seen:
                seen[k] = len(self.sequences)
                self.sequences.append((seq, frames))
        self.index_of = seen  # (folder, frame range) -> sequence index in this cache
        self.shapes = stage_shapes(tuple(stages), self.canvas, model)
        self.manifest = {
            "format": FORMAT_VERSION, "trunk": digest, "stages": list(stages), "canvas": list(self.canvas),
            "views": views, "augment": asdict(augment), "seed": seed, "min_visibility": min_visibility,
            "classes": list(model.names),
            "data": [{"folder": str(seq.root.resolve()), "frames": str(fr), "gt": _file_stamp(seq.gt_path)}
                     for seq, fr in self.sequences],
        }
        key = hashlib.sha256(json.dumps(self.manifest, sort_keys=True).encode()).hexdigest()[:16]
        self.dir = Path(root) / key
        self._data: list[SequenceData] | None = None
        self.items: list[Item] = []
        self._maps: dict[str, np.memmap] = {}

    # -- building --------------------------------------------------------------------------------
    def sequence_data(self) -> list[SequenceData]:
        """The sources' frames and objects (read once: videos are decoded into memory)."""
        if self._data is None:
            self._data = [SequenceData(seq=seq, frames=fr, min_visibility=self.min_visibility,
                                       class_names=self.model.names) for seq, fr in self.sequences]
        return self._data

    def plan(self) -> list[Item]:
        """Every (sequence, frame, view) the cache holds, in storage order."""
        items = []
        for k, data in enumerate(self.sequence_data()):
            for f in range(data.first, data.last + 1):
                items += [Item(seq=k, frame=f, view=v) for v in range(self.views)]
        return items

    def item_bytes(self) -> int:
        """Disk bytes of one item's maps."""
        return sum(2 * c * h * w for c, h, w in self.shapes.values())

    def is_complete(self) -> bool:
        done = self.dir / "done.u8"
        return (self.dir / "objects.npz").is_file() and done.is_file() and bool(np.fromfile(done, np.uint8).all())

    def build(self, model, *, device, console=None, progress: bool = True, threads: int = 0) -> None:
        """Fill the cache with ``model``'s tag inputs (a :class:`~aetrack.model.Detector`, its
        detection branch frozen or not: only its weights matter), resuming a partial build.
        ``threads``: onnxruntime's threads (``train.threads``; 0: its default, every core)."""
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        from aetrack.device import denormals_flushed

        self.items = self.plan()
        n = len(self.items)
        if n == 0:
            raise AetrackError("feature cache: the training sources hold no frames")
        self.dir.mkdir(parents=True, exist_ok=True)
        manifest = {**self.manifest, "items": n, "shapes": {k: list(v) for k, v in self.shapes.items()}}
        with atomic_write(self.dir / "manifest.json") as f:
            json.dump(manifest, f, indent=1)
        done_path = self.dir / "done.u8"
        if not done_path.is_file() or done_path.stat().st_size != n:
            np.zeros(n, np.uint8).tofile(done_path)
        done = np.memmap(done_path, dtype=np.uint8, mode="r+", shape=(n,))
        maps = {s: self._open(s, n, mode="r+" if (self.dir / f"{s}.f16").is_file() else "w+") for s in self.shapes}
        todo = np.flatnonzero(done == 0)
        say = console.print if console is not None else print
        say(f"feature cache {self.dir}: {n} views x {self.item_bytes() / 2**20:.2f} MB = "
            f"{n * self.item_bytes() / 2**30:.2f} GB; {len(todo)} to compute")
        data = self.sequence_data()
        params = {(k, v): _view_params(self.seed, str(self.sequences[k][0].root.resolve()), v, self.augment,
                                       self.canvas) for k in range(len(data)) for v in range(self.views)}
        run = _trunk_runner(model, tuple(self.shapes), device=device, canvas=self.canvas, threads=threads)
        bar = Progress(TextColumn("[bold]feature cache"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                       TextColumn("ETA"), TimeRemainingColumn(), disable=not progress)
        with bar, denormals_flushed():
            task = bar.add_task("cache", total=n, completed=n - len(todo))
            for start in range(0, len(todo), BUILD_BATCH):
                chunk = todo[start:start + BUILD_BATCH]
                imgs = np.stack([self.render(self.items[i], params, data) for i in chunk])
                feats = run(np.divide(imgs.transpose(0, 3, 1, 2), 255.0, dtype=np.float32))
                for s, m in maps.items():
                    m[chunk] = feats[s].astype(np.float16)
                for m in maps.values():
                    m.flush()
                done[chunk] = 1
                done.flush()
                bar.advance(task, len(chunk))
        self._write_objects(params, data)

    def render(self, item: Item, params: dict, data: list[SequenceData]) -> np.ndarray:
        """The canvas image of one item: (H, W, 3) uint8."""
        d = data[item.seq]
        p = params[(item.seq, item.view)]
        affine = clip_affine(src_size=d.size, dst_size=self.canvas, zoom=p["zoom"], shift=tuple(p["shift"]),
                             flip=p["flip"])
        img = warp_image(d.image(item.frame), affine, self.canvas, image_scale=d.cache_scale)
        return jitter(img, brightness=p["brightness"], contrast=p["contrast"], gain=np.asarray(p["gain"]))

    def _write_objects(self, params: dict, data: list[SequenceData]) -> None:
        boxes, ids, classes, counts = [], [], [], []
        for it in self.items:
            d = data[it.seq]
            p = params[(it.seq, it.view)]
            affine = clip_affine(src_size=d.size, dst_size=self.canvas, zoom=p["zoom"], shift=tuple(p["shift"]),
                                 flip=p["flip"])
            b, i = d.objects(it.frame)
            boxes.append(affine.boxes(b).astype(np.float32))
            ids.append(i.astype(np.int64))
            classes.append(d.classes(it.frame).astype(np.int64))
            counts.append(len(i))
        with atomic_write(self.dir / "objects.npz", "wb") as f:
            np.savez(f, seq=np.array([it.seq for it in self.items]), frame=np.array([it.frame for it in self.items]),
                     view=np.array([it.view for it in self.items]), counts=np.array(counts, np.int64),
                     boxes=np.concatenate(boxes).reshape(-1, 4), ids=np.concatenate(ids),
                     classes=np.concatenate(classes))

    # -- reading ---------------------------------------------------------------------------------
    def _open(self, stage: str, n: int, *, mode: str = "r") -> np.memmap:
        return np.memmap(self.dir / f"{stage}.f16", dtype=np.float16, mode=mode, shape=(n, *self.shapes[stage]))

    def open(self) -> "CacheIndex":
        """The complete cache, memory-mapped for reading."""
        if not self.is_complete():
            raise AetrackError(f"feature cache {self.dir} is not complete; build it first")
        return CacheIndex(self)


class CacheIndex:
    """Read access to a complete cache: items by (sequence, frame, view), maps and objects."""

    def __init__(self, cache: FeatureCache) -> None:
        z = np.load(cache.dir / "objects.npz")
        self.seq, self.frame, self.view = z["seq"], z["frame"], z["view"]
        offsets = np.concatenate([[0], np.cumsum(z["counts"])])
        self._boxes, self._ids, self._classes, self._offsets = z["boxes"], z["ids"], z["classes"], offsets
        n = len(self.seq)
        self.maps = {s: cache._open(s, n) for s in cache.shapes}
        self.views = cache.views
        self.lookup = {(int(s), int(f), int(v)): i for i, (s, f, v) in enumerate(zip(self.seq, self.frame, self.view))}

    def objects(self, item: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(boxes (n, 4) canvas pixels, ids (n,), classes (n,)) of one item."""
        a, b = self._offsets[item], self._offsets[item + 1]
        return self._boxes[a:b], self._ids[a:b], self._classes[a:b]


def _trunk_runner(model, stages: tuple[str, ...], *, device, canvas: tuple[int, int], threads: int = 0):
    """``images (B, 3, H, W) float32 BGR in [0, 1] -> {stage: (B, C, h, w) float32 array}``
    (``model.tag_inputs``): onnxruntime on a CPU when it is installed (YOLOX's depthwise
    convolutions run several times faster there than in torch), else torch on ``device``."""
    import importlib.util
    import io
    import warnings

    import torch

    was_training = model.training
    model.eval()
    if str(device) == "cpu" and importlib.util.find_spec("onnxruntime") is not None:
        import onnxruntime as ort

        class Trunk(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, x):
                maps = self.model.tag_inputs(x, stages)
                return tuple(maps[s] for s in stages)

        buffer = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
            torch.onnx.export(Trunk().eval(), (torch.zeros(1, 3, canvas[1], canvas[0]),), buffer, dynamo=False,
                              opset_version=17, input_names=["images"], output_names=list(stages),
                              dynamic_axes={"images": {0: "batch"}, **{s: {0: "batch"} for s in stages}})
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if threads > 0:  # as the training process's torch threads: a shared machine keeps its other cores
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
        session = ort.InferenceSession(buffer.getvalue(), opts, providers=["CPUExecutionProvider"])
        model.train(was_training)
        return lambda x: dict(zip(stages, session.run(list(stages), {"images": x})))

    def run_torch(x: np.ndarray) -> dict[str, np.ndarray]:
        training = model.training
        model.eval()
        with torch.no_grad():
            maps = model.tag_inputs(torch.from_numpy(x).to(device), stages)
        model.train(training)
        return {s: m.float().cpu().numpy() for s, m in maps.items()}

    return run_torch


def _file_stamp(path: Path) -> list:
    """(size, mtime) of a file, or None: a changed gt file means another cache."""
    try:
        st = os.stat(path)
    except OSError:
        return [None, None]
    return [st.st_size, int(st.st_mtime)]
