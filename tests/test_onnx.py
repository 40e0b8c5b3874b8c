"""ONNX export and the onnxruntime backend (issue 19): parity with torch, self-description,
the cache of first-use exports, tracks equal to torch's, and one-line errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from aetrack.assets import demo_clip_path
from aetrack.backend import cached_onnx, export_onnx, load_detector
from aetrack.data.letterbox import letterbox
from aetrack.errors import AetrackError
from aetrack.model.weights import ONNX_METADATA_KEY, pretrained_path
from aetrack.tracker import Tracker
from cli.main import app

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install 'aetrack[onnxruntime]')")

from aetrack.model.onnx_runtime import OnnxDetector, OrtSettings  # noqa: E402 - needs onnxruntime

# Input sizes (width, height) per embedded model: two of each prove the dynamic axes. The
# default (yolox_nano) takes multiples of 32, the synthetic (small) multiples of 4.
SIZES = {"default": [(512, 288), (320, 256)], "synthetic": [(512, 288), (196, 132)]}


@pytest.fixture(autouse=True)
def _keep_torch_threads():
    """The CLI gives torch one thread when onnxruntime runs the model (cli.common.set_threads);
    CliRunner runs it in this process, so later tests get their threads back."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _clip_frames(n: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(demo_clip_path()))
    frames = []
    while len(frames) < n:
        ok, img = cap.read()
        assert ok, "the demo clip has fewer frames than the test needs"
        frames.append(img)
    cap.release()
    return frames


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("onnx")
    return {name: export_onnx(pretrained_path(name), root / f"{name}.onnx") for name in SIZES}


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    return _clip_frames(40)[-1]  # frame 40 of the corridor clip: people in view


@pytest.mark.parametrize("name", list(SIZES))
def test_onnxruntime_reproduces_torch_at_two_sizes(name: str, exported: dict[str, Path], frame: np.ndarray) -> None:
    torch_det = load_detector(name)
    cfg = torch_det.model_cfg
    det = OnnxDetector(path=exported[name])
    for w, h in SIZES[name]:
        boxed, _ = letterbox(frame, (w, h))
        x = torch.from_numpy(boxed).permute(2, 0, 1)[None].float().div(255.0)
        x = torch.cat([x, x.flip(-1)])  # batch 2: the batch axis is dynamic too
        with torch.inference_mode():
            ref = torch_det.model(x)[-1]
        got = det(x)[-1]
        s = cfg.stride  # tag stride: 8 for the default, 4 for the synthetic model
        # The default: YOLOX rows, one per cell of strides 8, 16, 32, of 4 + 1 + 80 values; the
        # synthetic model: maps of 1 class, 2, 2 and tag_dim channels. Tags: tag_dim x H/s x W/s.
        cells = sum((h // k) * (w // k) for k in (8, 16, 32))
        expect = {"cells": (2, cells, 85), "heatmap": (2, 1, h // s, w // s), "size": (2, 2, h // s, w // s),
                  "offset": (2, 2, h // s, w // s), "tags": (2, cfg.tag_dim, h // s, w // s)}
        # YOLOX's box columns hold offsets and log sizes computed from 0-255 inputs: torch and
        # onnxruntime sum in other orders (tests/test_yolox.py measures up to 1e-3 there).
        limit = {"cells": 2e-3}
        for key in torch_det.model.output_names:
            assert tuple(got[key].shape) == expect[key], (name, key, w, h)
            diff = float((got[key] - ref[key]).abs().max())
            assert diff <= limit.get(key, 1e-4), f"{name} {key} at {w}x{h}: max abs diff {diff:.2e}"


def test_the_onnx_file_describes_itself(exported: dict[str, Path]) -> None:
    from aetrack.train.checkpoint import load_checkpoint

    for name, path in exported.items():
        # The reference: the weights file read whole, as training reads it (every section checked).
        stored = load_checkpoint(pretrained_path(name)).config
        loaded = load_detector(path)  # no weights file: everything from the .onnx
        assert loaded.backend == "onnxruntime"
        assert loaded.model_cfg == stored.model
        assert loaded.decode == stored.decode and loaded.linker == stored.linker
        # The torch engine reads the same settings from the weights file (its inference sections only).
        on_torch = load_detector(pretrained_path(name), backend="torch")
        assert (on_torch.model_cfg, on_torch.decode, on_torch.linker) == (stored.model, stored.decode, stored.linker)
        meta = json.loads(loaded.model.session.get_modelmeta().custom_metadata_map[ONNX_METADATA_KEY])
        assert meta["source"]["weights"] == pretrained_path(name).name
        assert meta["size_multiple"] == {"default": 32, "synthetic": 4}[name]
        # Weights are float32 whatever the weights file stored (float16 files are widened).
        import onnx

        proto = onnx.load(str(path))
        assert {init.data_type for init in proto.graph.initializer if init.dims} == {onnx.TensorProto.FLOAT}


def test_onnxruntime_backend_tracks_like_torch(exported: dict[str, Path]) -> None:
    # Frames 36-80 of the corridor clip: a woman walks in and is tracked (tests/test_tracker.py).
    frames = _clip_frames(80)[35:]
    torch_tracker = Tracker.from_pretrained("default", frame_rate=10, backend="torch")
    ort_tracker = Tracker.from_checkpoint(exported["default"], frame_rate=10)
    assert isinstance(ort_tracker.model, OnnxDetector)
    seen = 0
    for i, img in enumerate(frames):
        a, b = torch_tracker.update(img), ort_tracker.update(img)
        assert [t.track_id for t in a] == [t.track_id for t in b], f"frame {i + 1}"
        assert [t.class_id for t in a] == [t.class_id for t in b], f"frame {i + 1}"
        if a:
            diff = np.abs(np.array([t.box for t in a]) - np.array([t.box for t in b])).max()
            assert diff <= 1e-3, f"frame {i + 1}: boxes differ by {diff:.2e} px"
        seen += len(a)
    assert seen >= 25  # the comparison is not of empty lists


def test_first_use_exports_once_into_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AETRACK_CACHE_DIR", str(tmp_path / "cache"))
    tracker = Tracker.from_pretrained("synthetic", backend="onnxruntime", threads=1)
    (cached,) = (tmp_path / "cache" / "onnx").glob("*.onnx")
    assert tracker.model.path == cached and cached.name.startswith("synth_small-")
    stamp = cached.stat().st_mtime_ns
    assert cached_onnx(pretrained_path("synthetic")) == cached and cached.stat().st_mtime_ns == stamp  # reused
    # Other weights under the same file name get their own export (named by content).
    copy = tmp_path / "synth_small.pt"
    state = torch.load(pretrained_path("synthetic"), map_location="cpu", weights_only=True)
    state["step"] = state["step"] + 1
    torch.save(state, copy)
    assert cached_onnx(copy) != cached
    assert not list((tmp_path / "cache" / "onnx").glob(".*"))  # no temp files left behind


def _one_error_line(res, *fragments: str) -> None:
    assert res.exit_code == 2, (res.exit_code, res.output)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    for f in fragments:
        assert f in lines[0], lines[0]


def test_export_cli_writes_onnx_and_refuses_bad_input(tmp_path: Path, exported: dict[str, Path]) -> None:
    runner = CliRunner()
    _one_error_line(runner.invoke(app, ["export", "defualt", str(tmp_path / "a.onnx")]),
                    "defualt is not a file and not an embedded name (default, synthetic)")
    _one_error_line(runner.invoke(app, ["export", str(tmp_path / "missing.pt"), str(tmp_path / "a.onnx")]),
                    "missing.pt is not a file")
    _one_error_line(runner.invoke(app, ["export", "synthetic", str(tmp_path / "no" / "a.onnx")]),
                    "output folder does not exist")
    _one_error_line(runner.invoke(app, ["export", "synthetic", str(tmp_path / "a.onnx"), "--float16"]), "--float16")
    assert not list(tmp_path.iterdir())  # nothing written by any of them
    # Using a foreign ONNX file or a wrong backend/device is one line as well.
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    onnx.save(helper.make_model(graph), tmp_path / "foreign.onnx")
    clip = str(demo_clip_path())
    _one_error_line(runner.invoke(app, ["track", clip, "--weights", str(tmp_path / "foreign.onnx"), "--frames", "1:2"]),
                    "without aetrack metadata")
    _one_error_line(runner.invoke(app, ["track", clip, "--backend", "tensorrt"]), "unknown backend 'tensorrt'")
    _one_error_line(runner.invoke(app, ["track", clip, "--backend", "onnxruntime", "--device", "cuda"]),
                    "CPU only")
    res = runner.invoke(app, ["export", "synthetic", str(tmp_path / "s.onnx")])
    assert res.exit_code == 0 and (tmp_path / "s.onnx").is_file(), res.output


def test_missing_onnxruntime_names_the_extra(monkeypatch: pytest.MonkeyPatch, exported: dict[str, Path]) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # what `import onnxruntime` meets when not installed
    with pytest.raises(AetrackError, match=r"pip install 'aetrack\[onnxruntime\]'"):
        OnnxDetector(path=exported["synthetic"])


def test_benchmark_times_the_onnxruntime_detector_and_counts_torch_flops(tmp_path: Path) -> None:
    """The benchmark runs an OnnxDetector like a torch Detector: same results files on given
    detections (tags from either engine), and the sweep's FLOPs are the torch architecture's."""
    from aetrack.bench import SweepSettings, run_benchmark
    from aetrack.bench.speed import forward_flops
    from aetrack.config import to_dict
    from aetrack.data.synth import SynthConfig, write_sequence
    from aetrack.decode import DecodeConfig
    from aetrack.linker import LinkerConfig
    from aetrack.model import ModelConfig, build_detector
    from aetrack.model.onnx_export import onnx_bytes

    root = tmp_path / "data"
    write_sequence(root, cfg=SynthConfig.preset("easy", frames=10, width=160, height=96), seed=3)
    torch.manual_seed(0)
    cfg = ModelConfig(width=8, head_channels=8, input_width=96, input_height=64)
    model = build_detector(cfg).eval()
    onnx_file = tmp_path / "tiny.onnx"
    onnx_file.write_bytes(onnx_bytes(detector=model, source={}, config={
        "model": to_dict(cfg), "decode": to_dict(DecodeConfig()), "linker": to_dict(LinkerConfig())}))
    sweep = SweepSettings(sizes=((64, 32),), repeats=2, warmup=0, matmul_size=32, peak_repeats=1, conv_channels=4,
                          conv_size=8, linker_objects=3, linker_frames=4)
    runs = {}
    ort = OnnxDetector(path=onnx_file, settings=OrtSettings(threads=1))
    for name, detector, threads in (("torch", model, None), ("onnxruntime", ort, 1)):
        runs[name] = run_benchmark(data_root=root, out_dir=tmp_path / name, model=detector, model_cfg=cfg,
                                   weights=name, linkers=[LinkerConfig(mode="tags_motion")], dets="det/det.txt",
                                   sweep=sweep, progress=False, model_threads=threads)
    # The onnxruntime run records its session's threads, and the peaks were measured with as many.
    speed = runs["onnxruntime"].summary["speed"]
    assert speed["threads"] == speed["sweep"]["threads"] == 1
    (seq,) = [p.name for p in root.iterdir()]
    assert ((tmp_path / "torch" / "tags_motion" / f"{seq}.txt").read_text()
            == (tmp_path / "onnxruntime" / "tags_motion" / f"{seq}.txt").read_text())
    flops = forward_flops(model=model, size=(64, 32), device=torch.device("cpu"))
    for run in runs.values():
        assert run.summary["speed"]["sweep"]["sizes"][0]["gflop"] == pytest.approx(flops / 1e9)
