"""One experiment = one YAML file: model, loss, data, training, decoding and linking sections.

    cfg = load_experiment("configs/synth_small.yaml", ["train.steps=200", "model.tag_dim=4"])

Every section is a typed dataclass; unknown keys anywhere are an :class:`AetrackError` naming
the nearest valid key. Checkpoints store ``to_dict(cfg)`` so a model can be rebuilt from its own
checkpoint (:func:`aetrack.train.checkpoint.load_checkpoint`).

Relative paths in a config (data folders, ``model.pretrained``, ``train.init_from``,
``train.out_dir``) resolve from the working directory, as paths on the command line do, not from
the config file's folder: the shipped configs are written for the repository root
(``../shared/data/PETS09-S2L1``), and ``data.train=...`` overrides mean the same as the file.

The run's name is ``name``, else the config file's stem; its output folder ``train.out_dir``,
else ``runs/<name>`` (a copy ``configs/mine.yaml`` of a shipped config trains into
``runs/mine``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aetrack.config import apply_overrides, check_overrides, from_dict, load_yaml, to_dict
from aetrack.data.clips import AugmentConfig, ClipSource
from aetrack.data.synth import SynthConfig, write_sequence
from aetrack.data.mot import FrameRange, MotSequence, find_sequences, parse_frame_range
from aetrack.decode import DecodeConfig
from aetrack.errors import AetrackError
from aetrack.linker.config import LinkerConfig
from aetrack.losses import LossConfig
from aetrack.model.config import ModelConfig

SCHEDULES = ("cosine", "constant")


@dataclass(frozen=True)
class SequenceSpec:
    """A MOT sequence folder, or a folder of them, with an optional inclusive frame range."""

    # Sequence folder (seqinfo.ini, gt/gt.txt, img1/ or one video) or a root holding several.
    path: str
    # "A:B", 1-based inclusive, applied to every sequence under ``path`` (None: all frames).
    frames: str | None = None
    # Training: sampling weight per frame (clips are drawn in proportion to frames x weight),
    # so a long clip does not drown a short one.
    weight: float = 1.0
    # Training: static-image clips (aetrack.data.clips.ClipSource): each clip is one frame of
    # these sequences moved by a random camera motion, identity known by construction.
    static: bool = False

    def __post_init__(self) -> None:
        parse_frame_range(self.frames)  # fail at load time, not mid-training
        if not self.weight > 0:
            raise ValueError(f"weight must be > 0, got {self.weight}")

    @property
    def source(self) -> ClipSource:
        return ClipSource(weight=self.weight, static=self.static)


@dataclass(frozen=True)
class SynthSpec:
    """Synthetic sequences that ``aetrack train`` generates itself (cached under ``out_dir``)."""

    # Number of sequences; each gets seed ``seed + i``.
    sequences: int = 8
    # Frames per sequence.
    frames: int = 200
    # Preset of the generator (aetrack.data.synth): how crowded, occluded and noisy.
    difficulty: str = "medium"
    # First seed; held-out validation sequences use a disjoint range (e.g. 1000+).
    seed: int = 0
    # Frame size in pixels.
    width: int = 640
    height: int = 360
    # Training: sampling weight per frame, as SequenceSpec.weight.
    weight: float = 1.0

    def __post_init__(self) -> None:
        for name in ("sequences", "frames", "width", "height"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.weight > 0:
            raise ValueError(f"weight must be > 0, got {self.weight}")
        if self.seed < 0:  # SeedSequence refuses negative entropy
            raise ValueError(f"seed must be >= 0, got {self.seed}")


@dataclass(frozen=True)
class FeatureCacheConfig:
    """Where the cache lives and how many views of each frame it holds (``data.feature_cache``)."""

    # Folder of caches; empty: <run folder>/feature_cache. A relative path resolves from the
    # working directory, like every path of a config.
    dir: str = ""
    # Views per frame: view 0 is the plain frame, the others fixed augmentations drawn from
    # data.augment (aetrack.train.feature_cache). Each view costs one trunk pass when building
    # and its maps' disk space.
    views: int = 2
    # Maps to store (names of ModelConfig.tag_input_shapes: yolox_nano's trunk stages, the small
    # backbone's "backbone"; checked against the model when a run starts); empty: those the
    # model's tag head reads. A cache of more stages serves experiments on which stages to read.
    stages: tuple[str, ...] = ()
    # Seed of the views' augmentations. Not train.seed: the cache is data, so runs that differ
    # only in their training seed (init, clip order) share one cache.
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.views, bool) or not isinstance(self.views, int) or self.views < 1:
            raise ValueError(f"views must be a positive integer, got {self.views!r}")
        if len(set(self.stages)) != len(self.stages) or not all(isinstance(s, str) and s for s in self.stages):
            raise ValueError(f"stages must be distinct names, got {list(self.stages)}")


@dataclass(frozen=True)
class DataConfig:
    """Where clips come from and how they are sampled."""

    # Training sequences (real or pre-generated), each with an optional frame range.
    train: tuple[SequenceSpec, ...] = ()
    # Held-out validation sequences (never sampled for training).
    val: tuple[SequenceSpec, ...] = ()
    # Synthetic training / validation sequences generated on first use; use disjoint seeds.
    synth: SynthSpec | None = None
    val_synth: SynthSpec | None = None
    # T, frames per clip: the pull loss needs >= 2 appearances; more frames see more variation
    # of one object per step, at T times the compute.
    clip_len: int = 3
    # Largest gap between consecutive clip frames; > 1 teaches tags to survive short misses.
    max_gap: int = 3
    # MOT16+ ground truth: objects less visible than this (0..1) are not targets; a person
    # 80 % hidden has no usable centre appearance.
    min_visibility: float = 0.25
    # What the heatmap loss does with annotated rows that are not targets (less visible than
    # min_visibility, consider flag 0, other classes): False treats them as background, so a
    # peak on a half-hidden person is punished like one on empty ground; True makes each one's
    # centre bump an ignore region (no loss there either way; targets' own cells still count).
    ignore_non_targets: bool = False
    # K, objects per frame that get size/offset/tag targets (build_targets).
    max_objects: int = 128
    # Random clip augmentation (one draw per clip).
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    # Training crop in pixels (multiples of 32; 0 = the whole model input): each clip is drawn
    # onto the model's input canvas, then a random crop_width x crop_height window of it is
    # trained on. Objects are seen at the inference scale while a step costs what the crop
    # costs; validation and tracking use the whole input.
    crop_width: int = 0
    crop_height: int = 0
    # Validation: at most this many consecutive frames of each validation sequence, so that
    # validation time stays bounded on long sequences.
    val_frames: int = 100
    # Train the tag head on the frozen detector's cached features (train.backbone_lr 0; the
    # small and yolox_nano backbones; aetrack.train.feature_cache) instead of rendering clips
    # every step; None: render.
    feature_cache: FeatureCacheConfig | None = None

    def __post_init__(self) -> None:
        if self.clip_len < 2:
            raise ValueError(f"clip_len must be >= 2 (the pull loss compares frames), got {self.clip_len}")
        if self.max_gap < 1:
            raise ValueError(f"max_gap must be >= 1, got {self.max_gap}")
        if not 0.0 <= self.min_visibility <= 1.0:
            raise ValueError(f"min_visibility must be in [0, 1], got {self.min_visibility}")
        for name in ("crop_width", "crop_height"):
            value = getattr(self, name)
            if value < 0 or value % 32:
                raise ValueError(f"{name} must be 0 or a positive multiple of 32, got {value}")
        if (self.crop_width == 0) != (self.crop_height == 0):
            raise ValueError("set both crop_width and crop_height, or neither")
        if self.max_objects < 1 or self.val_frames < 1:
            raise ValueError("max_objects and val_frames must be >= 1")

    @property
    def crop_size(self) -> tuple[int, int] | None:
        """(width, height) of the training crop, or None for the whole model input."""
        return (self.crop_width, self.crop_height) if self.crop_width else None


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation, hardware and bookkeeping of a training run."""

    # Optimizer steps (each one batch of clips per process).
    steps: int = 2000
    # Clips per step per process; with clip_len T a step sees batch_size * T images.
    batch_size: int = 8
    # Peak AdamW learning rate (after warmup).
    lr: float = 2e-3
    # AdamW decoupled weight decay, applied to conv weights only (not to norms and biases).
    weight_decay: float = 1e-4
    # Linear warmup steps from 0 to lr: the heatmap focal loss starts large and noisy.
    warmup: int = 100
    # "cosine": decay from lr to lr * min_lr_ratio over the remaining steps; "constant".
    schedule: str = "cosine"
    min_lr_ratio: float = 0.05
    # Gradient-norm clip; keeps early steps with few objects from jolting the tag head.
    grad_clip: float = 10.0
    # Learning rate of the detection branch as a fraction of lr (yolox_nano: YOLOX-nano whole;
    # small: its backbone and heatmap, size and offset heads), the tag head training at lr; 0
    # freezes it: no gradients, no backward pass through it, BatchNorm statistics fixed, so a
    # step costs little more than the tag head's (small: needs train.init_from).
    backbone_lr: float = 1.0
    # Exponential moving average of the weights (0 = off): validation, best.pt, last.pt's
    # "model" and so exported weights are the average; decay ramps up as (1 + n) / (10 + n).
    ema_decay: float = 0.0
    # Checkpoint whose weights start a fresh run (fine-tuning, e.g. PETS from synthetic
    # pretraining), or an embedded name (default, synthetic); the architecture must match
    # model. Empty: random initialisation (yolox_nano: model.pretrained's COCO weights).
    init_from: str = ""
    # Seed of model initialisation and of the clip stream (sample i depends on seed and i only).
    seed: int = 0
    # "auto" (cuda, then mps, then cpu), "cpu", "cuda", "cuda:N" or "mps".
    device: str = "auto"
    # Mixed precision (bfloat16 autocast) on CUDA; ignored elsewhere.
    amp: bool = True
    # channels_last memory layout on CUDA (tensor cores prefer NHWC).
    channels_last: bool = True
    # DataLoader worker processes (0 = load in the training process; deterministic either way).
    workers: int = 2
    # torch intra-op threads of the training process (0 = leave torch's default).
    threads: int = 0
    # Steps between log lines / metrics records, validations and checkpoints (0 = only at the end).
    log_every: int = 10
    val_every: int = 500
    ckpt_every: int = 500
    # Output folder (checkpoints, metrics.jsonl, plots); empty: runs/<name>.
    out_dir: str = ""
    # Validation decodes down to this score: AP integrates over the whole score ranking.
    val_score_threshold: float = 0.05

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError("steps and batch_size must be >= 1")
        if not self.lr > 0 or self.weight_decay < 0 or self.warmup < 0 or self.grad_clip <= 0:
            raise ValueError("lr and grad_clip must be > 0, weight_decay and warmup >= 0")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ValueError(f"min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")
        if not 0.0 <= self.backbone_lr <= 1.0:
            raise ValueError(f"backbone_lr must be in [0, 1] (a fraction of lr), got {self.backbone_lr}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.workers < 0 or self.threads < 0:
            raise ValueError("workers and threads must be >= 0")
        if not 0 <= self.seed < 2**32:  # numpy's seed range; random and torch take it too
            raise ValueError(f"seed must be in 0..{2**32 - 1}, got {self.seed}")
        if min(self.log_every, self.val_every, self.ckpt_every) < 0:
            raise ValueError("log_every, val_every and ckpt_every must be >= 0")


@dataclass(frozen=True)
class ExperimentConfig:
    """A whole experiment; ``to_dict`` of it is stored in every checkpoint."""

    # Run name: the default output folder is runs/<name>. load_experiment fills in the config
    # file's stem when the file has no name.
    name: str = "experiment"
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    decode: DecodeConfig = field(default_factory=DecodeConfig)
    linker: LinkerConfig = field(default_factory=LinkerConfig)

    @property
    def out_dir(self) -> Path:
        return Path(self.train.out_dir or f"runs/{self.name}")


def experiment_from_dict(data: dict[str, Any], *, where: str = "config") -> ExperimentConfig:
    """Build an :class:`ExperimentConfig` from a nested dict (YAML or a checkpoint's config)."""
    return from_dict(ExperimentConfig, data, where=where)


def load_experiment(path: str | Path, overrides: list[str] | None = None) -> ExperimentConfig:
    """Read a YAML experiment and apply ``section.key=value`` overrides (values parsed as YAML).

    An unknown key or a wrongly typed value in an override is reported with that override; an
    error in the file is reported with the file. Without a ``name`` the run is named after the
    file (``configs/mine.yaml``: ``mine``).
    """
    data = inherit_sections(load_yaml(path), where=str(path))
    data.setdefault("name", Path(path).stem)
    overrides = list(overrides or [])
    if not overrides:
        return experiment_from_dict(data, where=str(path))
    check_overrides(ExperimentConfig, overrides)
    try:
        return experiment_from_dict(apply_overrides(data, overrides), where=str(path))
    except AetrackError as err:
        experiment_from_dict(data, where=str(path))  # raises if the file alone is at fault
        raise AetrackError(f"{err} (with overrides {' '.join(overrides)})") from None


# Sections a config that starts from other weights (train.init_from) takes from them when it
# leaves them out: what the network is, how it was trained to tag, how it decodes and links.
INHERITED_SECTIONS = ("model", "loss", "decode", "linker")


def inherit_sections(data: dict[str, Any], *, where: str) -> dict[str, Any]:
    """``data`` with the :data:`INHERITED_SECTIONS` it leaves out filled from the checkpoint of
    its ``train.init_from`` (a path or an embedded name), so a user's config for fine-tuning the
    default model names only what changes. ``data`` itself when nothing is inherited."""
    train = data.get("train")
    init = train.get("init_from") if isinstance(train, dict) else None
    missing = [k for k in INHERITED_SECTIONS if k not in data]
    if not init or not missing:
        return data
    from aetrack.model.weights import read_checkpoint, resolve_weights

    stored = read_checkpoint(resolve_weights(init))["config"]
    if not isinstance(stored, dict):
        raise AetrackError(f"{where}: train.init_from {init}: its stored config is not a mapping")
    return {**{k: stored[k] for k in missing if k in stored}, **data}


def experiment_to_dict(cfg: ExperimentConfig) -> dict[str, Any]:
    """Plain nested dict (lists, numbers, strings) that :func:`experiment_from_dict` reads back."""
    return to_dict(cfg)


def resolve_sequences(specs: tuple[SequenceSpec, ...], *, where: str = "data.val"
                      ) -> list[tuple[MotSequence, FrameRange | None]]:
    """Open every sequence named by ``specs`` (folders of sequences expand to all of them)."""
    return [(seq, frames) for seq, frames, _ in resolve_sources(specs, where=where)]


def resolve_sources(specs: tuple[SequenceSpec, ...], *, where: str = "data.train"
                    ) -> list[tuple[MotSequence, FrameRange | None, ClipSource]]:
    """Like :func:`resolve_sequences`, with each sequence's clip source (weight, static). A
    folder that is missing or holds no sequence is an :class:`AetrackError` naming ``where``."""
    out = []
    for spec in specs:
        frames = parse_frame_range(spec.frames)
        try:
            seqs = find_sequences(spec.path)
        except AetrackError as err:
            hint = "" if Path(spec.path).is_absolute() else f" (relative to the working directory {Path.cwd()})"
            raise AetrackError(f"{where}: {err}{hint}") from None
        out.extend((seq, frames, spec.source) for seq in seqs)
    return out


def synth_sequences(spec: SynthSpec, cache_root: str | Path) -> list[tuple[MotSequence, FrameRange | None]]:
    """Generate (once) and open the synthetic sequences of ``spec`` under ``cache_root``.

    The folder name carries a hash of the spec, so a changed spec generates afresh and an
    unchanged one is reused across runs and resumes. A ``.complete`` marker is written last;
    a folder without it (an interrupted generation) is regenerated.
    """
    key = hashlib.sha1(json.dumps(dataclasses.asdict(spec), sort_keys=True).encode()).hexdigest()[:10]
    root = Path(cache_root) / f"synth-{spec.difficulty}-{spec.seed}-{key}"
    if not (root / ".complete").is_file():
        scfg = SynthConfig.preset(spec.difficulty, width=spec.width, height=spec.height, frames=spec.frames)
        for i in range(spec.sequences):
            write_sequence(root, cfg=scfg, seed=spec.seed + i, overwrite=True)
        (root / ".complete").write_text(json.dumps(dataclasses.asdict(spec)))
    return [(seq, None) for seq in find_sequences(root)]
