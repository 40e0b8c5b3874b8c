"""Procedural synthetic sequences with exact ground truth, in MOTChallenge layout.

A scene is a muted background (wall above a tiled floor), static occluders and a population of
moving objects. Each identity has its own look (shape, palette, texture; a minority are near
twins of another identity in view, so motion has to help), walks smoothly with turns and
stops, enters and leaves through the left and right borders, and grows as it comes closer to
the camera (perspective: the lower its foot, the taller it is). Frames are composited in depth
order, so mutual occlusion and occlusion by scenery are real, and the ground-truth visibility
is counted from the rendered pixels. Illumination drift, blur, sensor noise, camera jitter and
JPEG compression make the frames look like a camera's.

    >>> cfg = SynthConfig.preset("medium", frames=100)
    >>> for f in generate(cfg, seed=1000):
    ...     f.image, f.ids, f.boxes, f.visibility      # (H, W, 3) BGR; (K,), (K, 4), (K,)
    >>> write_sequence("data/synth", cfg=cfg, seed=1000)  # -> data/synth/synth-medium-1000

Ground-truth conventions (``gt/gt.txt``, MOT16/17 columns ``frame,id,x,y,w,h,flag,class,vis``):

* boxes are the extent of the object's mask in 0-based pixels (``x`` is the leftmost column,
  ``w`` the number of columns), even where it is occluded, clipped to the frame: the part a
  camera sees, as trackers report boxes (clipped since issue 28) and the simulated detections
  are (:meth:`SynthFrame.gt_rows`; before 2026-12-07 the full extent beyond the border too);
* a row exists for every frame in which the box overlaps the frame, flag 1, class 1;
* visibility = pixels of the object seen in the frame / pixels of its full mask, so both
  occlusion and truncation by the border lower it;
* ids are 1-based in order of first appearance and never reused within a sequence.

``det/det.txt`` holds simulated public detections made from the ground truth (``frame,-1,x,y,
w,h,conf,-1,-1,-1``): jittered boxes clipped to the frame, misses more likely the less visible
an object is, and a few false positives.

Randomness: each sequence draws from independent streams of ``SeedSequence(seed)`` (scene,
looks, camera, detections), so a seed and a config fix every byte written.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml

from aetrack.config import to_dict
from aetrack.data.synth_config import PRESETS as PRESETS
from aetrack.data.synth_config import SynthConfig as SynthConfig
from aetrack.data.synth_config import sequence_name as sequence_name
from aetrack.data.synth_render import NoiseBank, Occluder, draw_background, draw_occluder, illumination_gain, paste
from aetrack.data.synth_scene import Scene
from aetrack.errors import AetrackError

# Independent random streams per sequence (SeedSequence spawn keys).
_SCENE, _LOOKS, _CAMERA, _DETECTIONS = 0, 1, 2, 3


@dataclass(frozen=True)
class SynthFrame:
    """One rendered frame and its exact ground truth (K objects overlapping the frame)."""

    frame: int  # 1-based frame number
    image: np.ndarray  # (H, W, 3) uint8 BGR, before JPEG compression
    ids: np.ndarray  # (K,) int64 gt ids, 1-based
    boxes: np.ndarray  # (K, 4) float64 x, y, w, h: full extent, 0-based pixels
    visibility: np.ndarray  # (K,) float64 in [0, 1]: visible pixels / mask_area
    mask_area: np.ndarray  # (K,) int64 pixels of each object's full mask (incl. hidden ones)
    owner: np.ndarray  # (H, W) int32 gt id drawn at each pixel; 0 = background or occluder

    def gt_rows(self) -> np.ndarray:
        """(K, 9) float64 MOT16/17 rows ``frame, id, x, y, w, h, 1, 1, visibility``, each box
        clipped to the frame (the module docstring's conventions)."""
        k = len(self.ids)
        h, w = self.image.shape[:2]
        x1 = np.clip(self.boxes[:, 0], 0, w)
        y1 = np.clip(self.boxes[:, 1], 0, h)
        x2 = np.clip(self.boxes[:, 0] + self.boxes[:, 2], 0, w)
        y2 = np.clip(self.boxes[:, 1] + self.boxes[:, 3], 0, h)
        return np.column_stack([np.full(k, self.frame), self.ids, x1, y1, x2 - x1, y2 - y1, np.ones(k), np.ones(k),
                                self.visibility]).astype(np.float64).reshape(k, 9)


def _streams(seed: int) -> list[np.random.Generator]:
    """The independent generators of one sequence, by spawn key."""
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise AetrackError(f"synth seed must be a non-negative integer, got {seed!r}")
    return [np.random.Generator(np.random.PCG64(np.random.SeedSequence(int(seed), spawn_key=(k,))))
            for k in (_SCENE, _LOOKS, _CAMERA, _DETECTIONS)]


def generate(cfg: SynthConfig, *, seed: int) -> Iterator[SynthFrame]:
    """Render the sequence of ``cfg`` and ``seed`` frame by frame (``cfg.frames`` frames)."""
    scene_rng, look_rng, cam_rng, _ = _streams(seed)
    W, H = cfg.width, cfg.height
    pad = int(math.ceil(3.0 * cfg.camera_jitter))  # jitter is clipped to +-pad pixels
    background = draw_background(scene_rng, width=W + 2 * pad, height=H + 2 * pad,
                                 horizon=cfg.horizon, contrast=cfg.background_contrast)
    top, _ = cfg.foot_rows()
    occluders: list[Occluder] = [
        draw_occluder(scene_rng, width=W, height=H, foot_lo=top + 0.15 * (H - top), foot_hi=0.97 * H)
        for _ in range(int(scene_rng.integers(cfg.occluders[0], cfg.occluders[1] + 1)))
    ]
    scene = Scene(cfg, scene_rng, look_rng)
    noise = NoiseBank.make(cam_rng, width=W, height=H, sigma=cfg.noise_sigma)
    periods = np.array(cfg.drift_periods) * cfg.fps * cam_rng.uniform(0.7, 1.3, size=2)  # frames
    phases = cam_rng.uniform(0.0, 2.0 * math.pi, size=4)
    shake = np.zeros(2)
    next_id = 1
    for t in range(1, cfg.frames + 1):
        if t > 1:
            scene.step()
        # Camera shake: a smooth AR(1) walk with stationary std camera_jitter.
        rho = cfg.jitter_memory
        shake = rho * shake + cam_rng.normal(0.0, cfg.camera_jitter * math.sqrt(1.0 - rho * rho), size=2)
        dx, dy = (int(v) for v in np.clip(np.round(shake), -pad, pad))
        image = background[pad + dy:pad + dy + H, pad + dx:pad + dx + W].copy()
        owner = np.zeros((H, W), np.int32)

        # Place objects; those overlapping the frame get (or keep) a gt id.
        placed = []  # (depth, kind order, gt id, color, mask, x0, y0, box, area)
        for a in scene.agents:
            color, mask, (bx, by, bw, bh), area = a.sprite.at_height(scene.body_height(a))
            x0 = int(round(a.x - mask.shape[1] / 2.0)) - dx
            y0 = int(round(a.y)) - mask.shape[0] - dy
            box = (x0 + bx, y0 + by, bw, bh)
            if box[0] >= W or box[1] >= H or box[0] + bw <= 0 or box[1] + bh <= 0:
                continue
            if a.gt_id == 0:
                a.gt_id, next_id = next_id, next_id + 1
            placed.append((a.y, 1, a.gt_id, color, mask, x0, y0, box, area))
        for o in occluders:
            placed.append((o.depth, 0, 0, o.color, o.mask, o.x - dx, o.y - dy, None, 0))
        placed.sort(key=lambda p: (p[0], p[1], p[2]))  # far to near; scenery first on ties
        for _, _, gid, color, mask, x0, y0, _, _ in placed:
            paste(image, owner, color, mask, x0, y0, gid)

        objs = [p for p in placed if p[1] == 1]
        objs.sort(key=lambda p: p[2])
        ids = np.array([p[2] for p in objs], np.int64)
        boxes = np.array([p[7] for p in objs], np.float64).reshape(-1, 4)
        area = np.array([p[8] for p in objs], np.int64)
        seen = np.bincount(owner.ravel(), minlength=next_id)[ids] if len(ids) else np.zeros(0, np.int64)
        vis = seen / np.maximum(area, 1)

        # Camera: illumination drift, occasional blur, sensor noise (JPEG comes when written).
        gain = illumination_gain(t, amplitude=cfg.illumination_drift, periods=periods, phases=phases)
        image = cv2.transform(image, np.diag(gain))
        if cam_rng.random() < cfg.blur_prob:
            image = cv2.GaussianBlur(image, (0, 0), float(cam_rng.uniform(*cfg.blur_sigma)))
        if cfg.noise_sigma > 0:
            image = noise.add(cam_rng, image)
        yield SynthFrame(frame=t, image=image, ids=ids, boxes=boxes, visibility=vis, mask_area=area, owner=owner)


def simulate_detections(frame: SynthFrame, *, cfg: SynthConfig, rng: np.random.Generator) -> np.ndarray:
    """(M, 10) float64 public-detection rows ``frame, -1, x, y, w, h, conf, -1, -1, -1``.

    Each object is missed with probability ``det_miss_rate + (1 - det_miss_rate) * (1 - vis) **
    det_miss_power`` (always when invisible); kept ones get a jittered box clipped to the frame
    and a confidence that grows with visibility. ``Poisson(det_fp_rate)`` false positives of
    plausible size and place (perspective height +-20 %, height/width 1.2-3) are added with
    confidences in ``det_fp_conf``.
    """
    W, H = cfg.width, cfg.height
    k = len(frame.ids)
    p_miss = cfg.det_miss_rate + (1.0 - cfg.det_miss_rate) * (1.0 - frame.visibility) ** cfg.det_miss_power
    keep = rng.random(k) >= p_miss
    x, y, w, h = frame.boxes.T
    j = rng.normal(0.0, cfg.det_box_jitter, size=(k, 4))
    cx, cy = x + w / 2.0 + j[:, 0] * w, y + h / 2.0 + j[:, 1] * h
    w2, h2 = w * np.exp(j[:, 2]), h * np.exp(j[:, 3])
    conf = cfg.det_conf_base + cfg.det_conf_gain * frame.visibility + rng.normal(0.0, cfg.det_conf_noise, size=k)
    conf = np.clip(conf, 0.01, 1.0)
    boxes = np.column_stack([cx - w2 / 2.0, cy - h2 / 2.0, cx + w2 / 2.0, cy + h2 / 2.0])[keep]
    conf = conf[keep]

    n_fp = int(rng.poisson(cfg.det_fp_rate))
    top, bottom = cfg.foot_rows()
    foot = rng.uniform(top, min(bottom, H), size=n_fp)
    fh = np.asarray(cfg.height_at(foot)) * rng.uniform(0.8, 1.2, size=n_fp)
    fw = fh / rng.uniform(1.2, 3.0, size=n_fp)
    fx = rng.uniform(0.0, W, size=n_fp)
    fp = np.column_stack([fx - fw / 2.0, foot - fh, fx + fw / 2.0, foot])
    boxes = np.concatenate([boxes, fp]).reshape(-1, 4)
    conf = np.concatenate([conf, rng.uniform(*cfg.det_fp_conf, size=n_fp)])

    boxes = np.clip(boxes, [0.0, 0.0, 0.0, 0.0], [W, H, W, H])
    ok = (boxes[:, 2] - boxes[:, 0] >= 2.0) & (boxes[:, 3] - boxes[:, 1] >= 2.0)
    boxes, conf = boxes[ok], conf[ok]
    m = len(boxes)
    neg = -np.ones(m)
    return np.column_stack([np.full(m, frame.frame), neg, boxes[:, :2], boxes[:, 2:] - boxes[:, :2], conf,
                            neg, neg, neg]).reshape(m, 10)


def _seqinfo(cfg: SynthConfig, name: str) -> str:
    fps = int(cfg.fps) if float(cfg.fps).is_integer() else cfg.fps
    return (f"[Sequence]\nname={name}\nimDir=img1\nframeRate={fps}\nseqLength={cfg.frames}\n"
            f"imWidth={cfg.width}\nimHeight={cfg.height}\nimExt=.jpg\n")


def write_sequence(out_dir: str | Path, *, cfg: SynthConfig, seed: int, video: bool = False,
                   overwrite: bool = False, on_frame: Callable[[int], None] | None = None) -> Path:
    """Write one sequence to ``out_dir/synth-<difficulty>-<seed>`` and return its path.

    The folder is built in a hidden temp folder beside it and renamed into place at the end, so
    an interruption never leaves half a sequence. Frames go to ``img1/%06d.jpg`` or, with
    ``video``, to one ``<name>.mp4`` (mp4v). ``synth.yaml`` records the seed and config.
    An existing folder of that name is an error unless ``overwrite``. ``on_frame(t)`` is
    called after each frame is written (progress reporting).
    """
    det_rng = _streams(seed)[_DETECTIONS]
    out = Path(out_dir)
    name = sequence_name(cfg, seed)
    final = out / name
    if final.exists() and not overwrite:
        raise AetrackError(f"{final} already exists (pass --overwrite to replace it)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise AetrackError(f"{out}: cannot create output folder ({err.strerror})") from None
    # The sequence is built one level down in a hidden folder, so that even a killed process
    # leaves nothing that find_sequences(out) would take for a sequence.
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".tmp", dir=out))
    work = tmp / name
    old: Path | None = None
    try:
        work.mkdir(mode=0o755)
        (work / "gt").mkdir()
        (work / "det").mkdir()
        writer = None
        if video:
            writer = cv2.VideoWriter(str(work / f"{name}.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), cfg.fps,
                                     (cfg.width, cfg.height))
            if not writer.isOpened():
                raise AetrackError("OpenCV cannot write mp4v video here; generate without --video")
        else:
            (work / "img1").mkdir()
        params = [cv2.IMWRITE_JPEG_QUALITY, cfg.jpeg_quality]
        gt_lines: list[str] = []
        det_lines: list[str] = []
        try:
            for f in generate(cfg, seed=seed):
                if writer is not None:
                    writer.write(f.image)
                elif not cv2.imwrite(str(work / "img1" / f"{f.frame:06d}.jpg"), f.image, params):
                    raise AetrackError(f"{out}: cannot write frame {f.frame} of {name}")
                for _, i, x, y, w, h, _, _, v in f.gt_rows():
                    gt_lines.append(f"{f.frame},{i:.0f},{x:.0f},{y:.0f},{w:.0f},{h:.0f},1,1,{v:.4f}\n")
                for _, _, dx, dy, dw, dh, conf, *_ in simulate_detections(f, cfg=cfg, rng=det_rng):
                    det_lines.append(f"{f.frame},-1,{dx:.1f},{dy:.1f},{dw:.1f},{dh:.1f},{conf:.3f},-1,-1,-1\n")
                if on_frame is not None:
                    on_frame(f.frame)
        finally:
            if writer is not None:
                writer.release()
        (work / "gt" / "gt.txt").write_text("".join(gt_lines))
        (work / "det" / "det.txt").write_text("".join(det_lines))
        (work / "seqinfo.ini").write_text(_seqinfo(cfg, name))
        record = {"seed": int(seed), "config": to_dict(cfg)}
        (work / "synth.yaml").write_text(yaml.safe_dump(record, sort_keys=True))
        if final.exists():  # overwrite: move the old folder aside, put it back on failure
            old = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".old", dir=out))
            os.replace(final, old / name)
        try:
            os.replace(work, final)
        except OSError:
            if old is not None:
                os.replace(old / name, final)
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    return final

