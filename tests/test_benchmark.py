"""``aetrack benchmark``: summary contents, per-linker results that re-evaluate to the same numbers,
the same detections reaching every linker, stage timings, the speed sweep's derived numbers, errors.

Data: two tiny synthetic sequences (easy preset, 20 frames of 320x180) generated once per module,
linked from their own det/det.txt (model-free) or detected by a random-init small checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from aetrack.bench import SweepSettings, run_benchmark
from aetrack.bench.speed import conv_peak, forward_flops, matmul_peak, model_sweep
from aetrack.data.mot import FrameRange, read_mot_file
from aetrack.data.sources import FrameNumbers
from aetrack.data.synth import SynthConfig, write_sequence
from aetrack.errors import AetrackError
from aetrack.eval import evaluate
from aetrack.io.gap_fill import GapFiller
from aetrack.io.results import ResultRow
from aetrack.linker import Linker, LinkerConfig
from aetrack.model import ModelConfig, build_detector
from aetrack.pipeline import ALL_STAGES
from cli.main import app

FRAMES = 20
SEEDS = (1, 2)
SPEED_KEYS = {"stages_ms", "fps", "frames", "threads", "device", "input_size", "machine"}
TINY_SWEEP = SweepSettings(sizes=((64, 32), (96, 64)), repeats=3, warmup=1, matmul_size=64, peak_repeats=2,
                           conv_channels=8, conv_size=16, linker_objects=5, linker_frames=10)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bench") / "data"
    cfg = SynthConfig.preset("easy", frames=FRAMES, width=320, height=180)
    for seed in SEEDS:
        write_sequence(root, cfg=cfg, seed=seed)
    return root


@pytest.fixture(scope="module")
def cli_run(data_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """``aetrack benchmark ROOT --dets --linker iou --linker motion --out OUT --no-speed``."""
    out = tmp_path_factory.mktemp("bench_out")
    result = CliRunner().invoke(app, ["benchmark", str(data_root), "--dets", "det/det.txt", "--linker", "iou", "--linker", "motion",
                                      "--out", str(out), "--no-speed"])
    assert result.exit_code == 0, result.output
    return out, json.loads((out / "summary.json").read_text())


def test_summary_has_every_section(cli_run: tuple[Path, dict], data_root: Path) -> None:
    out, summary = cli_run
    assert set(summary) >= {"sequences", "combined", "speed", "config", "linkers"}
    names = [f"synth-easy-{s}" for s in SEEDS]
    assert list(summary["sequences"]) == names
    assert list(summary["linkers"]) == ["iou", "motion"]
    assert summary["config"]["default_linker"] == "iou"
    assert summary["config"]["weights"] == "none"
    assert summary["config"]["linkers"]["motion"]["mode"] == "motion"
    assert summary["combined"] == summary["linkers"]["iou"]["combined"]  # top level = the default linker
    assert set(summary["speed"]) >= SPEED_KEYS
    assert summary["speed"]["input_size"] is None  # no model
    for name in ("summary.md", "metrics.png", "speed.png"):
        assert (out / name).stat().st_size > 0
    md = (out / "summary.md").read_text()
    assert "| `iou` |" in md and "| `motion` |" in md


def test_recall_by_visibility_counts_every_gt_box(cli_run: tuple[Path, dict], data_root: Path) -> None:
    out, summary = cli_run
    # Synthetic gt is MOT17-style: every row a class-1 pedestrian with consider flag 1 and a visibility.
    n_gt = sum(len(read_mot_file(data_root / f"synth-easy-{s}" / "gt" / "gt.txt")) for s in SEEDS)
    for mode in ("iou", "motion"):
        table = summary["linkers"][mode]["recall_by_visibility"]
        assert sum(table["total"]) == n_gt
        assert all(0 <= f <= t for f, t in zip(table["found"], table["total"]))
    assert "## Recall by ground-truth visibility" in (out / "summary.md").read_text()


def test_metrics_are_percentages_and_counts(cli_run: tuple[Path, dict]) -> None:
    _, summary = cli_run
    for mode, section in summary["linkers"].items():
        rows = [section["combined"], *(r["metrics"] for r in section["sequences"].values())]
        for row in rows:
            for metric in ("HOTA", "DetA", "AssA", "IDF1", "MOTA"):
                assert 0.0 <= row[metric] <= 100.0, (mode, metric, row[metric])
            assert isinstance(row["IDSW"], int) and row["IDSW"] >= 0
        # The easy preset's detections are near-perfect: linking them must find the people.
        assert section["combined"]["IDF1"] > 80.0


def test_results_files_re_evaluate_to_the_summary(cli_run: tuple[Path, dict], data_root: Path) -> None:
    out, summary = cli_run
    for mode in ("iou", "motion"):
        for seed in SEEDS:
            assert (out / mode / f"synth-easy-{seed}.txt").is_file()
        report = evaluate(data_root, out / mode)
        assert report.combined["IDF1"] == pytest.approx(summary["linkers"][mode]["combined"]["IDF1"], abs=1e-9)
        assert report.combined["IDSW"] == summary["linkers"][mode]["combined"]["IDSW"]


def test_stage_timings(cli_run: tuple[Path, dict]) -> None:
    _, summary = cli_run
    speed = summary["speed"]
    assert set(speed["stages_ms"]) == set(ALL_STAGES)
    assert all(v >= 0.0 for v in speed["stages_ms"].values())
    assert speed["stages_ms"]["link"] > 0.0
    # Model-free: nothing is preprocessed, run through a network or decoded.
    assert speed["stages_ms"]["model"] == speed["stages_ms"]["preprocess"] == speed["stages_ms"]["decode"] == 0.0
    assert speed["frames"] == FRAMES * len(SEEDS)
    assert speed["fps"] == pytest.approx(speed["frames"] / speed["seconds"])
    for row in summary["sequences"].values():
        assert row["speed"]["frames"] == FRAMES
        assert set(row["speed"]["stages_ms"]) == set(ALL_STAGES)
    assert set(speed["linkers_ms"]) == {"iou", "motion"}


def test_second_linker_links_the_recorded_detections(cli_run: tuple[Path, dict], data_root: Path) -> None:
    """The motion results equal a fresh motion linker run over the sequence's own det.txt rows,
    with the gaps of revived tracks filled as results files are (LinkerConfig.interpolate_s)."""
    out, _ = cli_run
    name = f"synth-easy-{SEEDS[0]}"
    dets = read_mot_file(data_root / name / "det" / "det.txt", kind="det")
    rows = dets.by_frame()
    cfg = LinkerConfig(mode="motion")
    linker = Linker(cfg=cfg, frame_rate=30.0)
    filler = GapFiller(max_gap=cfg.interpolate_frames(30.0))
    expected = []
    for frame in range(1, FRAMES + 1):
        idx = rows.get(frame, np.zeros(0, dtype=np.int64))
        xywh = dets.boxes[idx]
        boxes = np.column_stack([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]])
        keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        tracks = linker.update(boxes=boxes[keep], scores=dets.conf[idx][keep])
        expected += filler.push([ResultRow(frame=frame, track_id=t.track_id, box=t.box, state=t.state) for t in tracks])
    expected = [(r.frame, r.track_id) for r in expected + filler.flush()]
    got = read_mot_file(out / "motion" / f"{name}.txt", kind="results")
    assert list(zip(got.frame.tolist(), got.ids.tolist())) == expected


def test_frame_range_restricts_tracking_and_scoring(data_root: Path, tmp_path: Path) -> None:
    result = run_benchmark(data_root=data_root, out_dir=tmp_path, linkers=[LinkerConfig(mode="iou")], dets="det/det.txt",
                           frames="6:15", progress=False)
    # 10 frames per sequence: 6..15 inclusive.
    assert result.summary["speed"]["frames"] == 10 * len(SEEDS)
    assert result.summary["config"]["frames"] == "6:15"
    res = read_mot_file(tmp_path / "iou" / f"synth-easy-{SEEDS[0]}.txt", kind="results")
    assert res.frame.min() >= 6 and res.frame.max() <= 15
    assert evaluate(data_root, tmp_path / "iou", frames="6:15").combined["HOTA"] == pytest.approx(
        result.summary["combined"]["HOTA"], abs=1e-9)


def test_frame_numbers_source() -> None:
    src = FrameNumbers(name="s", length=8, frames=FrameRange(3, 5))
    assert [f for f, _ in src] == [3, 4, 5]
    assert [f for f, _ in FrameNumbers(name="s", length=4)] == [1, 2, 3, 4]


def test_model_run_with_tags_and_sweep(data_root: Path, tmp_path: Path) -> None:
    """A random-init detector (no training): tags sampled at the given boxes feed both linkers."""
    torch.manual_seed(0)
    cfg = ModelConfig(width=8, head_channels=8, input_width=96, input_height=64)
    model = build_detector(cfg).eval()
    result = run_benchmark(data_root=data_root, out_dir=tmp_path, model=model, model_cfg=cfg, weights="test",
                           linkers=[LinkerConfig(mode="tags_motion"), LinkerConfig(mode="tags")], dets="det/det.txt",
                           sweep=TINY_SWEEP, progress=False)
    s = result.summary
    assert s["speed"]["input_size"] == [96, 64]
    assert s["speed"]["stages_ms"]["model"] > 0.0
    sweep = s["speed"]["sweep"]
    assert [e["input_size"] for e in sweep["sizes"]] == [[64, 32], [96, 64]]
    for e in sweep["sizes"]:
        assert e["gflops_per_s"] == pytest.approx(e["gflop"] / (e["median_ms"] / 1e3))  # GFLOP per second
        assert e["fraction_of_limit"] == pytest.approx(e["gflops_per_s"] / sweep["limit_gflops_per_s"])
    assert set(sweep["linker"]["modes"]) == {"tags_motion", "tags", "motion", "iou"}
    assert "## Model speed sweep" in (tmp_path / "summary.md").read_text()


def test_forward_flops_of_one_conv() -> None:
    # Conv 3 -> 4 channels, 3x3, padding 1, on 32x64: 4 * 3 * 9 MACs per output pixel,
    # 32 * 64 pixels, 2 FLOPs per MAC: 2 * 108 * 2048 = 442368.
    net = torch.nn.Conv2d(3, 4, 3, padding=1)
    assert forward_flops(model=net, size=(64, 32), device=torch.device("cpu")) == 442368


def test_peak_measurements_count_their_flops() -> None:
    cpu = torch.device("cpu")
    mm = matmul_peak(n=32, repeats=2, device=cpu)
    assert mm["flops"] == 2 * 32**3  # 65536
    assert mm["gflops_per_s"] == pytest.approx(mm["flops"] / (mm["median_ms"] / 1e3) / 1e9)
    conv = conv_peak(channels=4, size=8, repeats=2, device=cpu)
    assert conv["flops"] == 2 * 4 * 4 * 9 * 8 * 8  # 18432


def test_sweep_of_an_untrained_model_uses_the_given_sizes() -> None:
    model = build_detector(ModelConfig(width=8, head_channels=8))
    sweep = model_sweep(model=model, settings=TINY_SWEEP, device=torch.device("cpu"), model_label="tiny")
    assert sweep["model"] == "tiny"
    assert sweep["limit_gflops_per_s"] == max(sweep["matmul"]["gflops_per_s"], sweep["conv"]["gflops_per_s"])


def test_sweep_settings_validate() -> None:
    with pytest.raises(ValueError, match="multiples of 32"):
        SweepSettings(sizes=((100, 64),))
    with pytest.raises(ValueError, match="repeats"):
        SweepSettings(repeats=0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/no/such/root", "--dets", "det/det.txt"], "folder not found"),
        (["{root}", "--dets", "/det/det.txt"], "give a path inside each sequence folder"),
        (["{root}", "--dets", "det/det.txt", "--linker", "tags"], "come from a model"),
        (["{root}", "--dets", "det/det.txt", "--linker", "iou", "--linker", "iou"], "given twice"),
        (["{root}", "--dets", "det/det.txt", "--linker", "nope"], "unknown linker"),
        (["{root}", "--dets", "det/det.txt", "--frames", "9:3"], "end before start"),
    ],
)
def test_bad_input_is_one_line_exit_2(args: list[str], message: str, data_root: Path, tmp_path: Path) -> None:
    argv = ["benchmark", *(a.format(root=data_root) for a in args), "--out", str(tmp_path), "--no-speed"]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


def test_missing_detections_are_named(data_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "nodets"
    write_sequence(root, cfg=SynthConfig.preset("easy", frames=3, width=64, height=64), seed=9)
    (root / "synth-easy-9" / "det" / "det.txt").unlink()
    with pytest.raises(AetrackError, match="no det/det.txt"):
        run_benchmark(data_root=root, out_dir=tmp_path / "out", linkers=[LinkerConfig(mode="iou")], dets="det/det.txt",
                      progress=False)
