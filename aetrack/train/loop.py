"""The training loop: clips of T frames in, checkpoints, metrics and plots out.

Run from the repository root::

    aetrack train --config configs/debug.yaml                     # seconds on a CPU: smoke test
    aetrack train --config configs/synth_small.yaml               # embedded default model, 2 CPU cores
    aetrack train --config configs/synth_small.yaml --resume      # continue runs/synth_small/last.pt
    aetrack train --config configs/pets_finetune.yaml train.steps=1000
    aetrack train --config configs/synth_small.yaml --bench-loader 20   # clip loader alone, images/s
    torchrun --nproc_per_node 8 -m cli.main train --config configs/mot17_hourglass.yaml
    torchrun --nnodes 2 --node_rank 0 --nproc_per_node 8 --rdzv_backend c10d \\
        --rdzv_endpoint HOST:29500 -m cli.main train --config configs/mot17_hourglass.yaml

What ``out_dir`` (``runs/<name>`` unless ``train.out_dir`` / ``--out``) receives:
``config.yaml`` (resolved config), ``metrics.jsonl`` (one JSON object per log step and per
validation), ``last.pt`` (every ``ckpt_every`` steps and at the end), ``best.pt`` (best
validation score = mean of AP50 and tag AUC), ``loss_curve.png`` and ``tags.png``.

Determinism: clip ``i`` is a function of ``(train.seed, i)`` only and step ``s`` of rank ``r``
takes clips ``(s * world + r) * B ... + B - 1``, so a resumed run reads exactly the clips the
uninterrupted run would have, whatever the number of loader workers.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from aetrack.data.clips import ClipDataset, SequenceData, clip_affine, warp_image
from aetrack.data.letterbox import Letterbox
from aetrack.data.mot import FrameRange
from aetrack.decode import decode, tags_at_boxes
from aetrack.device import denormals_flushed, resolve_device
from aetrack.errors import AetrackError
from aetrack.eval.detection import average_precision
from aetrack.eval.tag_quality import tag_auc
from aetrack.data.clips import ClipSource
from aetrack.experiment import (ExperimentConfig, TrainConfig, experiment_to_dict, resolve_sequences,
                                resolve_sources, synth_sequences)
from aetrack.io.atomic import atomic_write, remove_stale_temps
from aetrack.losses import compute_losses
from aetrack.model.detector import build_detector
from aetrack.model.weights import check_fits, cpu_state_dict, read_checkpoint, resolve_weights
from aetrack.train import distributed as D
from aetrack.train.checkpoint import save_checkpoint, set_rng_state
from aetrack.train.ema import WeightAverage
from aetrack.train.plots import plot_losses, plot_tags

LOSS_KEYS = ("total", "heatmap", "size", "offset", "pull", "push", "batch_push")


@dataclass
class TrainResult:
    """What one call of :func:`train` did."""

    step: int  # optimizer steps completed in total (including earlier runs when resuming)
    losses: dict[int, dict[str, float]] = field(default_factory=dict)  # step -> terms, this call only
    metrics: dict[str, float] = field(default_factory=dict)  # last validation
    out_dir: Path = Path(".")


def schedule_warnings(cfg: TrainConfig) -> list[str]:
    """What in the schedule is likely a mistake: a run shorter than its warm-up never reaches
    ``lr`` (a 20-step trial with the usual 100 warm-up steps ends at a fifth of it)."""
    if cfg.steps >= cfg.warmup:
        return []
    top = lr_at(cfg.steps - 1, cfg)
    return [f"train.steps ({cfg.steps}) is below train.warmup ({cfg.warmup}): the learning rate only climbs to "
            f"{top:.3g}, {100 * top / cfg.lr:.0f} % of train.lr ({cfg.lr:g}); set train.warmup below the steps, "
            f"e.g. train.warmup={max(1, cfg.steps // 10)}"]


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Learning rate of optimizer step ``step`` (0-based): linear warmup, then cosine or constant."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    if cfg.schedule == "constant":
        return cfg.lr
    progress = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    return cfg.lr * (cfg.min_lr_ratio + (1.0 - cfg.min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress)))


class StepBatchSampler(torch.utils.data.Sampler[list[int]]):
    """Clip indices of steps ``start_step .. steps - 1`` for one rank (see the module docstring)."""

    def __init__(self, *, start_step: int, steps: int, batch_size: int, rank: int = 0, world_size: int = 1) -> None:
        self.start_step, self.steps = start_step, steps
        self.batch_size, self.rank, self.world_size = batch_size, rank, world_size

    def __iter__(self) -> Iterator[list[int]]:
        for s in range(self.start_step, self.steps):
            first = (s * self.world_size + self.rank) * self.batch_size
            yield list(range(first, first + self.batch_size))

    def __len__(self) -> int:
        return max(0, self.steps - self.start_step)


def _worker_init(_: int) -> None:
    cv2.setNumThreads(1)  # one loader process = one core; OpenCV's own pool would oversubscribe


def make_loader(dataset: ClipDataset, *, cfg: TrainConfig, start_step: int, dinfo: D.DistInfo,
                workers: int | None = None) -> torch.utils.data.DataLoader:
    """DataLoader over this rank's clips from ``start_step`` on."""
    n = cfg.workers if workers is None else workers
    return torch.utils.data.DataLoader(
        dataset,
        batch_sampler=StepBatchSampler(start_step=start_step, steps=cfg.steps, batch_size=cfg.batch_size,
                                       rank=dinfo.rank, world_size=dinfo.world_size),
        num_workers=n,
        pin_memory=dinfo.device.type == "cuda",
        worker_init_fn=_worker_init if n > 0 else None,
        prefetch_factor=4 if n > 0 else None,
        # Fresh worker processes: forking after OpenCV has started its thread pool in this
        # process (synthetic data generation, video decoding) can deadlock the child, and
        # spawn is what macOS does anyway. Costs one import of torch per worker per run.
        multiprocessing_context="spawn" if n > 0 else None,
    )


def param_groups(model: torch.nn.Module, weight_decay: float, *, backbone_lr: float = 1.0) -> list[dict[str, Any]]:
    """Weight decay on conv/linear weights only: decaying norm scales and biases only hurts.

    The detection branch's parameters (``model.net.pretrained_modules()``: small and yolox_nano)
    form their own groups whose ``lr_scale`` is ``backbone_lr`` (the loop multiplies the step's
    rate by it).
    """
    pretrained: set[int] = set()
    modules = getattr(getattr(model, "net", None), "pretrained_modules", None)
    if modules is not None:
        pretrained = {id(p) for m in modules().values() for p in m.parameters()}
    groups = []
    for scale, chosen in ((1.0, lambda p: id(p) not in pretrained), (backbone_lr, lambda p: id(p) in pretrained)):
        params = [p for p in model.parameters() if p.requires_grad and chosen(p)]
        decay = [p for p in params if p.ndim >= 2]
        rest = [p for p in params if p.ndim < 2]
        groups += [{"params": decay, "weight_decay": weight_decay, "lr_scale": scale},
                   {"params": rest, "weight_decay": 0.0, "lr_scale": scale}]
    return [g for g in groups if g["params"]]


def freeze_backbone(model: torch.nn.Module) -> None:
    """Stop gradients through the detection branch (``train.backbone_lr`` 0): only the tags train
    (:meth:`aetrack.model.Detector.freeze_detector`; the hourglass backbone is refused)."""
    model.freeze_detector()


def check_frozen_detector(cfg: ExperimentConfig) -> tuple[str, ...]:
    """What a run on a frozen detector needs, checked before anything is written: a detector to
    freeze (yolox_nano's file, or ``train.init_from``: a frozen random detector finds nothing),
    and for ``data.feature_cache`` ``train.backbone_lr`` 0 and stages the backbone has. Returns
    the stages the cache stores (``data.feature_cache.stages``, default those the tag head reads)."""
    if cfg.train.backbone_lr != 0:
        if cfg.data.feature_cache is not None:
            raise AetrackError("data.feature_cache trains the tag head on a frozen detector: it needs "
                               "train.backbone_lr 0")
        return ()
    shapes = cfg.model.tag_input_shapes
    if not shapes:
        raise AetrackError(f"the {cfg.model.backbone} backbone cannot train its tags on a frozen detector "
                           "(train.backbone_lr 0, data.feature_cache): use model.backbone small or yolox_nano")
    if cfg.model.backbone != "yolox_nano" and not cfg.train.init_from:
        raise AetrackError("train.backbone_lr 0 freezes the detector: set train.init_from (a checkpoint or "
                           "an embedded name such as synthetic), or it stays randomly initialised")
    if cfg.data.feature_cache is None:
        return ()
    stages = cfg.data.feature_cache.stages or cfg.model.tag_head_inputs
    unknown = [s for s in stages if s not in shapes]
    if unknown:
        raise AetrackError(f"data.feature_cache.stages: {unknown[0]!r} is not a map of the {cfg.model.backbone} "
                           f"backbone (it has {', '.join(shapes)})")
    missing = [s for s in cfg.model.tag_head_inputs if s not in stages]
    if missing:
        raise AetrackError(f"data.feature_cache.stages lacks {missing[0]!r}, which the tag head reads")
    return tuple(stages)


def listed_sequences(cfg: ExperimentConfig) -> tuple[list, list]:
    """The training and validation sequences the config lists (``data.train``, ``data.val``),
    opened: a missing or misspelled folder fails here, before anything is written."""
    if not cfg.data.train and cfg.data.synth is None:
        raise AetrackError("no training data: set data.train (sequence folders) or data.synth")
    return resolve_sources(cfg.data.train, where="data.train"), resolve_sequences(cfg.data.val, where="data.val")


def prepare_sequences(cfg: ExperimentConfig, out_dir: Path, dinfo: D.DistInfo,
                      listed: tuple[list, list] | None = None) -> tuple[list, list]:
    """Training and validation sequences: the listed folders (:func:`listed_sequences`, opened
    first unless given) plus generated synthetic ones.

    Rank 0 generates missing synthetic data into ``out_dir/synth_cache`` while the others wait.
    """
    train, val = listed_sequences(cfg) if listed is None else listed
    cache = out_dir / "synth_cache"
    if dinfo.is_main:
        for spec in (cfg.data.synth, cfg.data.val_synth):
            if spec is not None:
                synth_sequences(spec, cache)
    D.barrier(dinfo)
    train = list(train)
    if cfg.data.synth:
        train += [(seq, frames, ClipSource(weight=cfg.data.synth.weight))
                  for seq, frames in synth_sequences(cfg.data.synth, cache)]
    val = list(val) + (synth_sequences(cfg.data.val_synth, cache) if cfg.data.val_synth else [])
    if not train:
        raise AetrackError("no training data: set data.train (sequence folders) or data.synth")
    return train, val


def build_dataset(cfg: ExperimentConfig, train_seqs: list) -> ClipDataset:
    """Clips from ``(sequence, frames, ClipSource)`` triples (:func:`prepare_sequences`)."""
    return ClipDataset(sequences=[(seq, frames) for seq, frames, _ in train_seqs],
                       sources=[src for _, _, src in train_seqs], model=cfg.model, clip_len=cfg.data.clip_len, max_gap=cfg.data.max_gap,
                       min_visibility=cfg.data.min_visibility, ignore_non_targets=cfg.data.ignore_non_targets,
                       augment=cfg.data.augment,
                       max_objects=cfg.data.max_objects, seed=cfg.train.seed,
                       crop_size=cfg.data.crop_size)


def build_cached_dataset(cfg: ExperimentConfig, train_seqs: list, model: torch.nn.Module, *, out_dir: Path,
                         device: torch.device, console: Console, progress: bool):
    """The feature cache of ``train_seqs`` for ``model``'s frozen detector (built or resumed now,
    reused when complete) and the clip dataset over it (:mod:`aetrack.train.cached_clips`)."""
    from aetrack.train.cached_clips import CachedClipDataset
    from aetrack.train.feature_cache import FeatureCache, trunk_digest

    spec = cfg.data.feature_cache
    stages = check_frozen_detector(cfg)
    if not stages:
        raise AetrackError("data.feature_cache is not set")
    cache = FeatureCache(root=Path(spec.dir) if spec.dir else out_dir / "feature_cache",
                         sequences=[(seq, frames) for seq, frames, _ in train_seqs], model=cfg.model, stages=stages,
                         digest=trunk_digest(model), views=spec.views, augment=cfg.data.augment, seed=spec.seed,
                         min_visibility=cfg.data.min_visibility)
    if not cache.is_complete():
        t0 = time.perf_counter()
        cache.build(model, device=device, console=console, progress=progress, threads=cfg.train.threads)
        console.print(f"feature cache built in {time.perf_counter() - t0:.0f} s", highlight=False)
    index = cache.open()
    data = cache.sequence_data()
    numbers: dict[str, int] = {}
    folders = [numbers.setdefault(str(seq.root.resolve()), len(numbers)) for seq, _ in cache.sequences]
    sources = []
    for seq, frames, src in train_seqs:
        k = cache.index_of[(str(seq.root.resolve()), str(frames))]
        sources.append((k, data[k].first, data[k].last, src))
    return CachedClipDataset(index=index, sources=sources, folders=folders, stages=cfg.model.tag_head_inputs,
                             stride=cfg.model.stride, canvas=cfg.model.input_size,
                             crop=cfg.data.crop_size or cfg.model.input_size, clip_len=cfg.data.clip_len,
                             max_gap=cfg.data.max_gap, max_objects=cfg.data.max_objects, seed=cfg.train.seed)


def build_val_data(cfg: ExperimentConfig, val_seqs: list) -> list[SequenceData]:
    """Validation sequences cut to ``data.val_frames`` frames, cached at the plain letterbox scale."""
    out = []
    for seq, frames in val_seqs:
        first = frames.first if frames is not None and frames.first is not None else 1
        last = first + cfg.data.val_frames - 1
        if frames is not None and frames.last is not None:
            last = min(last, frames.last)
        lb = Letterbox.fit(src_size=(seq.info.width, seq.info.height), dst_size=cfg.model.input_size)
        out.append(SequenceData(seq=seq, frames=FrameRange(first, last), min_visibility=cfg.data.min_visibility,
                                cache_scale=lb.scale, class_names=cfg.model.names))
    return out


@torch.no_grad()
def validate(model: torch.nn.Module, val: list[SequenceData], *, cfg: ExperimentConfig,
             device: torch.device) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Detection AP50 and tag ROC-AUC on held-out frames (original-pixel boxes, no augmentation).

    Tags are read at the ground-truth centre cells (the cells the loss trains), so the AUC
    measures the embedding on its own, not the detector's misses. Pairs are limited to frames
    at most ``clip_len * max_gap`` apart, the range the loss sees together.
    Returns ``(metrics, series)``, ``series`` = frames/ids/tags of the first sequence for the figure.
    """
    model.eval()
    size = cfg.model.input_size
    dcfg = dataclasses.replace(cfg.decode, score_threshold=cfg.train.val_score_threshold)
    batch = cfg.train.batch_size * cfg.data.clip_len
    det_boxes, det_scores, gt_boxes, gt_ignore, tag_sets = [], [], [], [], []
    series: dict[str, np.ndarray] = {}
    t0 = time.perf_counter()
    for k, seq in enumerate(val):
        affine = clip_affine(src_size=seq.size, dst_size=size)
        lb = affine.letterbox()
        frames = list(range(seq.first, seq.last + 1))
        tags, ids, fr = [], [], []
        for i in range(0, len(frames), batch):
            chunk = frames[i:i + batch]
            imgs = np.stack([warp_image(seq.image(f), affine, size, image_scale=seq.cache_scale) for f in chunk])
            x = torch.from_numpy(imgs).to(device).permute(0, 3, 1, 2).float().div_(255.0)  # (n, 3, H, W)
            with _autocast(cfg, device):
                out = model(x)[-1]
            out = {name: v.float() for name, v in out.items()}
            for j, (f, det) in enumerate(zip(chunk, decode(out, cfg=dcfg, letterboxes=[lb] * len(chunk),
                                                                 stride=cfg.model.stride, class_names=cfg.model.names,
                                                                 tag_readout=cfg.model.tag_readout))):
                boxes, obj_ids = seq.objects(f)
                ignore = seq.ignored(f)
                person = det.classes == 0  # validation ground truth is class 0 (person) only
                det_boxes.append(det.boxes[person])
                det_scores.append(det.scores[person])
                gt_boxes.append(np.concatenate([boxes, ignore]))
                gt_ignore.append(np.r_[np.zeros(len(boxes), bool), np.ones(len(ignore), bool)])
                tags.append(tags_at_boxes({"tags": out["tags"][j:j + 1]}, boxes, letterbox=lb,
                                          stride=cfg.model.stride, readout=cfg.model.tag_readout))
                ids.append(obj_ids)
                fr.append(np.full(len(boxes), f))
        seq_tags = (np.concatenate(tags), np.concatenate(ids), np.concatenate(fr))
        tag_sets.append(seq_tags)
        if k == 0:
            series = {"tags": seq_tags[0], "ids": seq_tags[1], "frames": seq_tags[2]}
    metrics = {
        "val_ap50": average_precision(det_boxes=det_boxes, det_scores=det_scores, gt_boxes=gt_boxes,
                                      gt_ignore=gt_ignore, iou_threshold=0.5),
        "val_tag_auc": tag_auc(tag_sets, max_gap=cfg.data.clip_len * cfg.data.max_gap),
        "val_images": float(len(det_boxes)),
        "val_s": time.perf_counter() - t0,
    }
    model.train()
    return metrics, series


def _autocast(cfg: ExperimentConfig, device: torch.device) -> torch.autocast:
    """bfloat16 autocast on CUDA when ``train.amp`` (no loss scaling needed), else a no-op."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16,
                          enabled=cfg.train.amp and device.type == "cuda")


def _score(metrics: dict[str, float]) -> float:
    """Validation score for best.pt: mean of the finite metrics among AP50 and tag AUC."""
    vals = [metrics[k] for k in ("val_ap50", "val_tag_auc") if k in metrics and math.isfinite(metrics[k])]
    return float(np.mean(vals)) if vals else float("-inf")


def validate_checkpoint(cfg: ExperimentConfig, checkpoint: str | Path, *,
                        out_dir: str | Path | None = None) -> dict[str, float]:
    """AP50 and tag AUC of a checkpoint on the config's validation data (``data.val_frames``
    frames per sequence), without training: how reported held-out numbers are measured."""
    from aetrack.train.checkpoint import load_checkpoint

    out = Path(out_dir) if out_dir is not None else cfg.out_dir
    device = resolve_device(cfg.train.device)
    _, val_seqs = prepare_sequences(cfg, out, D.DistInfo(device=device))
    if not val_seqs:
        raise AetrackError("no validation data: set data.val or data.val_synth")
    ckpt = load_checkpoint(checkpoint, cfg=cfg, device=device)
    metrics, _ = validate(ckpt.model, build_val_data(cfg, val_seqs), cfg=cfg, device=device)
    return metrics


def benchmark_loader(cfg: ExperimentConfig, *, batches: int, out_dir: Path | None = None) -> float:
    """Images per second of the clip loader alone (``train.workers`` processes), after one warm-up batch."""
    dinfo = D.DistInfo(device=torch.device("cpu"))
    train_seqs, _ = prepare_sequences(cfg, out_dir or cfg.out_dir, dinfo)
    dataset = build_dataset(cfg, train_seqs)
    loader = make_loader(dataset, cfg=dataclasses.replace(cfg.train, steps=batches + 1), start_step=0, dinfo=dinfo)
    it = iter(loader)
    next(it)
    t0 = time.perf_counter()
    n = sum(b["images"].shape[0] * b["images"].shape[1] for b in it)
    return n / (time.perf_counter() - t0)


def train(cfg: ExperimentConfig, *, resume: bool = False, overwrite: bool = False, out_dir: str | Path | None = None,
          stop_after: int | None = None, progress: bool | None = None) -> TrainResult:
    """Train ``cfg``; see the module docstring for outputs and commands.

    Args:
        resume: continue from ``out_dir/last.pt`` (same step, same next clip, same RNG states).
        overwrite: start afresh even if ``out_dir`` already holds a checkpoint.
        out_dir: overrides ``cfg.train.out_dir``.
        stop_after: run at most this many steps in this call, then checkpoint (a time-limited
            job; continue later with ``resume``). The schedule still spans ``train.steps``.
        progress: rich progress bar (default: when the console is a terminal); otherwise a
            plain log line every ``log_every`` steps.
    """
    tc = cfg.train
    out = Path(out_dir) if out_dir is not None else cfg.out_dir
    dinfo = D.setup(tc.device)
    console = Console(stderr=True)
    try:
        with denormals_flushed():  # SiLU's denormal outputs slow CPU convolutions ~10x
            return _train(cfg, tc, out, dinfo, console, resume=resume, overwrite=overwrite, stop_after=stop_after,
                          progress=console.is_terminal if progress is None else progress)
    finally:
        D.cleanup(dinfo)


def _train(cfg: ExperimentConfig, tc: TrainConfig, out: Path, dinfo: D.DistInfo, console: Console, *,
           resume: bool, overwrite: bool, stop_after: int | None, progress: bool) -> TrainResult:
    device, main = dinfo.device, dinfo.is_main
    last_path, best_path, metrics_path = out / "last.pt", out / "best.pt", out / "metrics.jsonl"
    if resume and not last_path.is_file():
        raise AetrackError(f"--resume: no checkpoint to resume from at {last_path}")
    if not resume and not overwrite and last_path.is_file():
        raise AetrackError(f"{out} already holds a run (last.pt); pass --resume to continue it, "
                           f"--overwrite to start afresh, or --out for another folder")

    # 1. Seeds and threads: model initialisation is a function of train.seed.
    if tc.threads > 0:
        torch.set_num_threads(tc.threads)
    random.seed(tc.seed)
    np.random.seed(tc.seed)
    torch.manual_seed(tc.seed)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input size: let cuDNN pick the fastest kernels

    if main:
        for text in schedule_warnings(tc):
            console.print(f"warning: {text}", style="yellow", highlight=False, soft_wrap=True)

    # 2. The listed data folders, opened: a misspelled one fails here, before anything is written.
    listed = listed_sequences(cfg)
    check_frozen_detector(cfg)
    cached = cfg.data.feature_cache is not None  # the dataset comes after the model: its trunk fills the cache
    if cached and dinfo.distributed:
        raise AetrackError("data.feature_cache trains in one process; run without torchrun")

    # 3. Model and optimizer (AdamW; the learning rate is set every step from lr_at).
    model = build_detector(cfg.model).to(device)
    if device.type == "cuda" and tc.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if tc.backbone_lr == 0:
        freeze_backbone(model)
    optimizer = torch.optim.AdamW(param_groups(model, tc.weight_decay, backbone_lr=tc.backbone_lr), lr=tc.lr)

    # 4. Resume: weights, optimizer, step and RNG states from last.pt; the model must fit.
    #    A fresh run may instead start from another checkpoint's weights (init_from).
    step, best = 0, float("-inf")
    if tc.init_from and not resume:
        init = read_checkpoint(resolve_weights(tc.init_from))
        check_fits(init, cfg.model, path=tc.init_from)
        model.load_state_dict(init["model"])
    elif cfg.model.backbone == "yolox_nano" and not resume:
        model.init_pretrained()  # COCO-trained YOLOX-nano features from model.pretrained
    ema = WeightAverage(model=model, decay=tc.ema_decay) if tc.ema_decay > 0 else None
    if resume:
        state = read_checkpoint(last_path)
        check_fits(state, cfg.model, path=last_path)
        if "optimizer" not in state:
            raise AetrackError(f"{last_path}: weights-only checkpoint, cannot resume training from it")
        # With EMA, "model" is the average and "raw_model" the weights being trained.
        model.load_state_dict(state.get("raw_model", state["model"]))
        if ema is not None:
            ema.load(state["model"], updates=int(state["step"]))  # one update per step
        optimizer.load_state_dict(state["optimizer"])
        set_rng_state(state["rng"])
        step, best = int(state["step"]), float(state.get("best_score", float("-inf")))
        if step >= tc.steps:
            raise AetrackError(f"{last_path} is at step {step}, train.steps={tc.steps}: nothing left to do "
                               f"(raise train.steps to train longer)")

    # 5. Data: synthetic sequences generated once (the run's first writes, into
    #    out/synth_cache), training clips and held-out validation frames.
    train_seqs, val_seqs = prepare_sequences(cfg, out, dinfo, listed)
    dataset = None if cached else build_dataset(cfg, train_seqs)
    val_data = build_val_data(cfg, val_seqs) if main else []
    if main:
        out.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(out)  # half-written checkpoints of a run killed outright (kill -9)
        with atomic_write(out / "config.yaml") as f:
            yaml.safe_dump(experiment_to_dict(cfg), f, sort_keys=False)
        records = _read_records(metrics_path, upto=step) if resume else []
        with atomic_write(metrics_path) as f:  # drop records past the checkpoint (a crashed run's tail)
            f.writelines(json.dumps(r) + "\n" for r in records)
    if cached:
        dataset = build_cached_dataset(cfg, train_seqs, model, out_dir=out, device=device, console=console,
                                       progress=progress)
    served = model if ema is None else ema.module  # what validation and checkpoints' "model" hold
    net = model
    if dinfo.distributed:
        ids = [device.index] if device.type == "cuda" else None
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)  # averages gradients over ranks

    # 6. Loop over this rank's clips from the current step on (feature-cache memmaps read in-process).
    loader = make_loader(dataset, cfg=tc, start_step=step, dinfo=dinfo, workers=0 if cached else None)
    end = tc.steps if stop_after is None else min(tc.steps, step + stop_after)
    result = TrainResult(step=step, out_dir=out)
    images_per_step = tc.batch_size * cfg.data.clip_len * dinfo.world_size
    bar = _progress(console) if (main and progress) else None
    task = bar.add_task(cfg.name, total=tc.steps, completed=step, info="") if bar else None
    window_t, window_wait, window_steps = time.perf_counter(), 0.0, 0
    t_wait = time.perf_counter()
    if bar:
        bar.start()
    try:
        for batch in loader:
            if step >= end:
                break
            window_wait += time.perf_counter() - t_wait
            # 6a. Batch to device: (B, T, 3, H, W) -> (B*T, 3, H, W), clip-major as the loss expects
            #     (from the feature cache: each stage's (B, T, C, h, w) maps -> (B*T, C, h, w)).
            if cached:
                features = {k: v.to(device, non_blocking=True).flatten(0, 1) for k, v in batch["features"].items()}
            else:
                images = batch["images"].to(device, non_blocking=True).flatten(0, 1)
                if device.type == "cuda" and tc.channels_last:
                    images = images.contiguous(memory_format=torch.channels_last)
            targets = {k: v.to(device, non_blocking=True) for k, v in batch.items() if k not in ("images", "features")}
            # 6b. Learning rate of this step.
            lr = lr_at(step, tc)
            for group in optimizer.param_groups:
                group["lr"] = lr * group.get("lr_scale", 1.0)
            # 6c. Forward (mixed precision on CUDA) and the loss in float32.
            with _autocast(cfg, device):
                outputs = [{"tags": model.tag_map(features)}] if cached else net(images)
            outputs = [{k: v.float() for k, v in o.items()} for o in outputs]
            losses = compute_losses(outputs, targets, cfg=cfg.loss, stride=cfg.model.stride,
                                    tag_readout=cfg.model.tag_readout)
            # 6d. Loss terms averaged over ranks; a NaN/inf stops every rank alike, before the
            #     update, so the weights (and last.pt) stay those of the last good step.
            terms = D.mean_across_ranks(torch.stack([losses[k].detach().float() for k in LOSS_KEYS]), dinfo)
            values = dict(zip(LOSS_KEYS, terms.tolist()))
            if not all(math.isfinite(v) for v in values.values()):
                raise AetrackError(f"non-finite loss at step {step + 1}: "
                                   + ", ".join(f"{k}={v:.4g}" for k, v in values.items())
                                   + " (lower train.lr or check the training data)")
            # 6e. Backward, clip, step.
            optimizer.zero_grad(set_to_none=True)
            losses["total"].backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(net.parameters(), tc.grad_clip)
            optimizer.step()
            if ema is not None:
                ema.update(model)
            step += 1
            result.losses[step] = values
            result.step = step
            window_steps += 1
            # 6f. Log: metrics.jsonl, progress bar with the loss terms, images/s and ETA.
            last_step = step == end
            if main and ((tc.log_every and step % tc.log_every == 0) or last_step):
                elapsed = time.perf_counter() - window_t
                rec = {"step": step, "lr": lr, **{f"loss/{k}": v for k, v in values.items()},
                       "grad_norm": float(grad_norm), "images_per_s": window_steps * images_per_step / elapsed,
                       "data_wait_frac": window_wait / elapsed}
                _append(metrics_path, rec)
                text = (f"loss {values['total']:.3f} hm {values['heatmap']:.3f} pull {values['pull']:.3f} "
                        f"push {values['push']:.3f} batch push {values['batch_push']:.3f} | {rec['images_per_s']:.0f} img/s")
                if bar:
                    bar.update(task, completed=step, info=text)
                else:
                    console.print(f"step {step}/{tc.steps} lr {lr:.2e} {text} "
                                  f"(loader wait {100 * rec['data_wait_frac']:.0f} %)", highlight=False, soft_wrap=True)
                window_t, window_wait, window_steps = time.perf_counter(), 0.0, 0
            elif bar:
                bar.update(task, completed=step)
            # 6g. Validate on held-out sequences (rank 0); keep the best checkpoint.
            do_val = bool(val_seqs) and ((tc.val_every and step % tc.val_every == 0) or step == tc.steps)
            do_ckpt = (tc.ckpt_every and step % tc.ckpt_every == 0) or last_step
            if main and do_val:
                result.metrics, series = validate(served, val_data, cfg=cfg, device=device)
                _append(metrics_path, {"step": step, **result.metrics})
                _say(console, bar, f"step {step}: AP50 {result.metrics['val_ap50']:.4f}, "
                                   f"tag AUC {result.metrics['val_tag_auc']:.4f} "
                                   f"({result.metrics['val_images']:.0f} frames, {result.metrics['val_s']:.1f} s)")
                if series and len(series["ids"]):
                    plot_tags(**series, path=out / "tags.png", title=f"{val_data[0].name}, step {step}")
                plot_losses(_read_records(metrics_path), out / "loss_curve.png", title=cfg.name)
                if _score(result.metrics) > best:
                    best = _score(result.metrics)
                    save_checkpoint(best_path, model=served, cfg=cfg, step=step, metrics=result.metrics)
            # 6h. Checkpoint (every ckpt_every steps and at the end of this call).
            if main and do_ckpt:
                save_checkpoint(last_path, model=served, cfg=cfg, step=step, optimizer=optimizer,
                                metrics=result.metrics, extra={"best_score": best, **_ema_extra(model, ema)})
            if do_val or do_ckpt:
                D.barrier(dinfo)  # the other ranks wait while rank 0 validates and writes
            t_wait = time.perf_counter()
            if last_step:
                break
    except KeyboardInterrupt:
        if main and not dinfo.distributed and step > 0:
            save_checkpoint(last_path, model=served, cfg=cfg, step=step, optimizer=optimizer,
                            metrics=result.metrics, extra={"best_score": best, **_ema_extra(model, ema)})
            console.print(f"interrupted: saved {last_path} at step {step}; continue with --resume", soft_wrap=True)
        raise
    finally:
        if bar:
            bar.stop()

    # 7. Final figures (rank 0).
    if main:
        records = _read_records(metrics_path)
        if records:
            plot_losses(records, out / "loss_curve.png", title=cfg.name)
    D.barrier(dinfo)  # no rank tears the process group down while another still uses it
    return result


def _ema_extra(model: torch.nn.Module, ema: WeightAverage | None) -> dict:
    """Checkpoint entry that lets an EMA run resume: the trained weights (the average is "model")."""
    return {} if ema is None else {"raw_model": cpu_state_dict(model)}


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[info]}"), TextColumn("ETA"), TimeRemainingColumn(),
                    console=console, transient=False)


def _say(console: Console, bar: Progress | None, text: str) -> None:
    (bar.console if bar else console).print(text, highlight=False, soft_wrap=True)


def _append(path: Path, record: dict[str, Any]) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def _read_records(path: Path, *, upto: int | None = None) -> list[dict[str, Any]]:
    """metrics.jsonl rows (optionally only those with step <= ``upto``)."""
    if not path.is_file():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if upto is None or r.get("step", 0) <= upto]
