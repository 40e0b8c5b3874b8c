"""Issue 19/15: is onnxruntime faster than torch on this CPU? Forward variants, end to end, FLOPs.

    python -m aetrack.bench.engines forward --threads 2 --repeats 30
    python -m aetrack.bench.engines e2e --threads 2 --rounds 3 --frames 150
    python -m aetrack.bench.engines forward --threads 2 --repeats 40 --only "ort (shipped" "ort no DAZ"
    python -m aetrack.bench.engines forward --threads 2 --repeats 40 --only "ort (shipped" "ort 1 intra"
    python -m aetrack.bench.engines flops
    python -m aetrack.bench.engines api --rounds 3 --frames 50
    python -m aetrack.bench.engines tagcost --threads 1 --repeats 15

``forward``: the detector's forward on one real 640x360 frame letterboxed as the tracker does
(both embedded models run it at 512x288), every variant interleaved round by round (the
machine is shared), warm-up first, medians. Torch variants: as the Tracker runs it
(inference_mode, channels_last inside Detector, denormals flushed), + Conv/BN folded, + TorchScript
trace + torch.jit.freeze, + torch.jit.optimize_for_inference. onnxruntime variants: the
shipped settings (ORT_ENABLE_ALL, denormals as zero, no spinning, intra-op threads = --threads),
then one setting changed each.

``e2e``: ``aetrack track`` on the demo clip resized to 640x360 (``--sizes WxH ...`` for others;
made here with OpenCV), both models x both backends, interleaved, --rounds times; frames/s end to end and per-stage medians
as the command prints them (aetrack.pipeline.track_source, the method of `aetrack benchmark`).

``api``: the Python API as a user runs it (no thread settings), ``Tracker.from_pretrained()``
(``backend="auto"``) against ``backend="torch"``, on the same 640x360 clip: ``tracker.update``
timed over ``--frames`` frames per round after 5 warm-up frames, rounds interleaved.

``tagcost``: the default model's tag branch against its detection branch, torch, at the inputs of
640x360, 768x576 and 1920x1080 frames (issue 26: the tags may cost at most 15 % of the model).

``flops``: FLOPs per frame at 640x360 (canvas 512x288) with aetrack.bench.speed.forward_flops
(torch.utils.flop_counter.FlopCounterMode; convention in aetrack/bench/speed.py).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

CLIP_640 = Path(tempfile.gettempdir()) / "aetrack_bench_onnx" / "corridor_640x360.mp4"


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").exists() else "?"


def make_clip(size: tuple[int, int] = (640, 360)) -> Path:
    """The shipped demo clip (768x432, 300 frames, 10 fps) resized to ``size`` with OpenCV."""
    from aetrack.assets import demo_clip_path

    path = CLIP_640.with_name(f"corridor_{size[0]}x{size[1]}.mp4")
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    cap = cv2.VideoCapture(str(demo_clip_path()))
    fps = cap.get(cv2.CAP_PROP_FPS) or 10.0
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    while True:
        ok, img = cap.read()
        if not ok:
            break
        out.write(cv2.resize(img, size, interpolation=cv2.INTER_AREA if size[0] < img.shape[1] else cv2.INTER_LINEAR))
    out.release()
    return path


def fuse_conv_bn(module: torch.nn.Module) -> torch.nn.Module:
    """Fold every BatchNorm2d that directly follows a Conv2d in an nn.Sequential into the conv."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    for child in module.modules():
        if isinstance(child, torch.nn.Sequential):
            names = list(child._modules)
            for a, b in zip(names, names[1:]):
                conv, bn = child._modules[a], child._modules[b]
                if isinstance(conv, torch.nn.Conv2d) and isinstance(bn, torch.nn.BatchNorm2d):
                    child._modules[a] = fuse_conv_bn_eval(conv, bn)
                    child._modules[b] = torch.nn.Identity()
    return module


class LastStack(torch.nn.Module):
    def __init__(self, m: torch.nn.Module) -> None:
        super().__init__()
        self.m = m

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        d = self.m(x)[-1]
        return d["heatmap"], d["size"], d["offset"], d["tags"]


def forward(args: argparse.Namespace) -> None:
    from aetrack.data.letterbox import letterbox
    from aetrack.device import denormals_flushed
    from aetrack.backend import export_onnx, load_detector
    from aetrack.model.onnx_runtime import OnnxDetector, OrtSettings
    from aetrack.model.weights import pretrained_path

    torch.set_num_threads(args.threads)
    cap = cv2.VideoCapture(str(make_clip()))
    for _ in range(60):
        ok, frame = cap.read()
    tmp = Path(tempfile.mkdtemp(prefix="bench_onnx_"))
    variants: dict[str, object] = {}
    for name in ("default", "synthetic"):
        loaded = load_detector(name)
        size = loaded.model_cfg.canvas_size((frame.shape[1], frame.shape[0]))
        boxed, _ = letterbox(frame, size)
        x = torch.from_numpy(boxed).permute(2, 0, 1)[None].float().div(255.0)
        model = loaded.model.eval()

        def run_torch(m=model, x=x):
            with torch.inference_mode(), denormals_flushed():
                m(x)

        fused = fuse_conv_bn(load_detector(name).model.eval())

        def run_fused(m=fused, x=x):
            with torch.inference_mode(), denormals_flushed():
                m(x)

        with torch.no_grad():
            traced = torch.jit.trace(LastStack(load_detector(name).model.eval()).eval(), x, check_trace=False)
            frozen = torch.jit.freeze(traced)
            opt = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(
                LastStack(load_detector(name).model.eval()).eval(), x, check_trace=False)))

        def run_jit(m=frozen, x=x):
            with torch.inference_mode(), denormals_flushed():
                m(x)

        def run_opt(m=opt, x=x):
            with torch.inference_mode(), denormals_flushed():
                m(x)

        onnx_path = export_onnx(pretrained_path(name), tmp / f"{name}.onnx")
        base = dict(threads=args.threads)
        ort = {
            "ort (shipped: all, DAZ, no spin)": OrtSettings(**base),
            "ort basic optimisation": OrtSettings(**base, optimization="basic"),
            "ort no DAZ": OrtSettings(**base, denormals_as_zero=False),
            "ort spinning": OrtSettings(**base, spinning=True),
            "ort 1 intra-op thread": OrtSettings(threads=1),
        }
        variants[f"{name} | torch (as Tracker)"] = run_torch
        variants[f"{name} | torch + conv/BN folded"] = run_fused
        variants[f"{name} | torch jit trace+freeze"] = run_jit
        variants[f"{name} | torch jit optimize_for_inference"] = run_opt
        for label, settings in ort.items():
            det = OnnxDetector(path=onnx_path, settings=settings)
            variants[f"{name} | {label}"] = lambda d=det, x=x: d(x)
        print(f"{name}: canvas {size[0]}x{size[1]} for a 640x360 frame", flush=True)
    if args.only:  # e.g. --only "ort (shipped" "ort no DAZ": an A/B of two settings alone
        variants = {k: v for k, v in variants.items() if any(o in k for o in args.only)}
    times: dict[str, list[float]] = {k: [] for k in variants}
    print(f"load before: {load()}", flush=True)
    for fn in variants.values():  # warm-up
        for _ in range(3):
            fn()
    for _ in range(args.repeats):
        for k, fn in variants.items():
            t0 = time.perf_counter()
            fn()
            times[k].append((time.perf_counter() - t0) * 1e3)
    print(f"load after: {load()}; threads {args.threads}; {args.repeats} interleaved rounds; median / p90 ms")
    for k, v in times.items():
        print(f"| {k} | {np.median(v):.1f} | {np.percentile(v, 90):.1f} |")
    shutil.rmtree(tmp)


LINE = re.compile(r"(\d+) frames, .*?\d+ boxes, ([\d.]+) frames/s end to end \((.*)\)")


def e2e(args: argparse.Namespace) -> None:
    exe = str(Path(sys.executable).parent / "aetrack")
    sizes = [tuple(int(v) for v in s.lower().split("x")) for s in args.sizes]
    clips = {size: make_clip(size) for size in sizes}
    # A variant is a backend, optionally with " passive": OMP_WAIT_POLICY=PASSIVE, so that torch's
    # OpenMP threads sleep at once between parallel regions instead of spinning (torch runs the
    # model on the torch backend, and preprocessing and decoding on both).
    configs = [(size, w, b) for size in sizes for w in ("default", "synthetic") for b in args.variants]
    results: dict[tuple, list[dict[str, float]]] = {c: [] for c in configs}
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    out_dir = str(CLIP_640.parent / "out")
    for w in ("default", "synthetic"):  # first use: the onnxruntime export into the cache, outside the timing
        subprocess.run([exe, "track", str(clips[sizes[0]]), "--out", out_dir, "--weights", w,
                        "--backend", "onnxruntime", "--frames", "1:2", "--threads", str(args.threads)], env=env,
                       capture_output=True, check=True)
    print(f"load before: {load()}", flush=True)
    for r in range(args.rounds):
        for size, w, b in configs:
            run_env = {**env, "OMP_WAIT_POLICY": "PASSIVE"} if b.endswith(" passive") else env
            res = subprocess.run([exe, "track", str(clips[size]), "--out", out_dir, "--weights", w,
                                  "--backend", b.split()[0], "--frames", f"1:{args.frames}",
                                  "--threads", str(args.threads)],
                                 env=run_env, capture_output=True, text=True, check=True)
            m = LINE.search(res.stdout)
            assert m, res.stdout
            row = {"fps": float(m[2])}
            for part in m[3].split(", "):
                stage, ms, _ = part.split(" ")
                row[stage] = float(ms)
            results[(size, w, b)].append(row)
            print(f"round {r + 1} {size[0]}x{size[1]} {w} {b}: {row}", flush=True)
    print(f"load after: {load()}; threads {args.threads}; {args.rounds} interleaved rounds of {args.frames} frames; "
          f"medians over rounds")
    keys = ["fps", "read", "preprocess", "model", "decode", "link", "write"]
    print("| frame | weights | backend | " + " | ".join(keys) + " |")
    for (size, w, b), rows in results.items():
        print(f"| {size[0]}x{size[1]} | {w} | {b} | " + " | ".join(f"{np.median([r[k] for r in rows]):.1f}" for k in keys)
              + " |")
    fps = {c: float(np.median([r["fps"] for r in rows])) for c, rows in results.items()}
    for size in sizes:
        for w in ("default", "synthetic"):
            for b in args.variants[1:]:
                print(f"{size[0]}x{size[1]} {w}: {b} / {args.variants[0]} frames/s = "
                      f"{fps[(size, w, b)] / fps[(size, w, args.variants[0])]:.2f}")
        for b in args.variants:
            print(f"{size[0]}x{size[1]} {b}: default / synthetic frames/s = "
                  f"{fps[(size, 'default', b)] / fps[(size, 'synthetic', b)]:.2f}")


def tagcost(args: argparse.Namespace) -> None:
    """The default model's tag branch against its detection branch (trunk and COCO head), torch,
    --threads threads, medians of --repeats forwards at the default inputs of 640x360, 768x576
    and 1920x1080 frames."""
    from aetrack.model.weights import resolve_weights
    from aetrack.train.checkpoint import load_checkpoint

    torch.set_num_threads(args.threads)
    model = load_checkpoint(resolve_weights("default")).model.eval()
    net = model.net
    for frame in ((640, 360), (768, 576), (1920, 1080)):
        w, h = model.cfg.canvas_size(frame)
        x = torch.rand(1, 3, h, w)
        trunk, tags = [], []
        with torch.inference_mode():
            for i in range(args.repeats + 3):
                t0 = time.perf_counter()
                _, inputs = net.trunk(x)
                t1 = time.perf_counter()
                net.tags(inputs)
                t2 = time.perf_counter()
                if i >= 3:
                    trunk.append(t1 - t0)
                    tags.append(t2 - t1)
        a, b = float(np.median(trunk)) * 1e3, float(np.median(tags)) * 1e3
        print(f"{frame[0]}x{frame[1]} -> {w}x{h}: detection branch {a:.1f} ms, tag branch {b:.2f} ms, "
              f"tags {b / (a + b):.1%} of the model", flush=True)


def api(args: argparse.Namespace) -> None:
    from aetrack.tracker import Tracker

    cap = cv2.VideoCapture(str(make_clip()))
    frames: list[np.ndarray] = []
    while len(frames) < args.frames + 5:
        ok, img = cap.read()
        if not ok:
            break
        frames.append(img)
    cap.release()
    trackers = {b: Tracker.from_pretrained(frame_rate=10.0, backend=b) for b in ("auto", "torch")}
    for tracker in trackers.values():  # warm-up (and the first-use export of auto)
        for img in frames[:5]:
            tracker.update(img)
    fps: dict[str, list[float]] = {b: [] for b in trackers}
    print(f"load before: {load()}", flush=True)
    for r in range(args.rounds):
        for b, tracker in trackers.items():
            tracker.reset()
            t0 = time.perf_counter()
            for img in frames[5:]:
                tracker.update(img)
            fps[b].append((len(frames) - 5) / (time.perf_counter() - t0))
            print(f"round {r + 1} {b} ({type(tracker.model).__name__}): {fps[b][-1]:.1f} frames/s", flush=True)
    med = {b: float(np.median(v)) for b, v in fps.items()}
    print(f"load after: {load()}; {args.rounds} interleaved rounds of {len(frames) - 5} frames; medians: "
          + ", ".join(f"{b} {v:.1f} frames/s" for b, v in med.items()) + f"; auto / torch {med['auto'] / med['torch']:.2f}")


def flops(args: argparse.Namespace) -> None:
    from aetrack.backend import load_detector
    from aetrack.bench.speed import forward_flops

    for name in ("default", "synthetic"):
        loaded = load_detector(name)
        size = loaded.model_cfg.canvas_size((640, 360))
        f = forward_flops(model=loaded.model, size=size, device=torch.device("cpu"))
        print(f"{name}: canvas {size[0]}x{size[1]}, {f / 1e9:.2f} GFLOP per frame")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=("forward", "e2e", "flops", "api", "tagcost"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--frames", type=int, default=150)
    p.add_argument("--sizes", nargs="+", default=["640x360"], help="e2e: frame sizes WxH the demo clip is resized to")
    p.add_argument("--only", nargs="+", default=[], help="forward: only variants whose label holds one of these")
    p.add_argument("--variants", nargs="+", default=["torch", "onnxruntime"],
                   choices=["torch", "onnxruntime", "torch passive", "onnxruntime passive"],
                   help="e2e: backends to interleave")
    args = p.parse_args()
    {"forward": forward, "e2e": e2e, "flops": flops, "api": api, "tagcost": tagcost}[args.what](args)


if __name__ == "__main__":
    main()
