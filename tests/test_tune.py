"""``aetrack tune`` end to end on a real MOT17 sequence, the half-val split, ``--linker-config``
and the bad-input lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from aetrack.data.mot import FrameRange, half_range
from aetrack.linker import LinkerConfig
from aetrack.linker.config_file import load_linker_config
from cli.main import app
from tests.test_bad_input import one_error_line

REPO = Path(__file__).resolve().parents[1]
MOT17_05 = REPO.parent / "shared" / "data" / "MOT17-train" / "MOT17-05-FRCNN"
needs_mot17 = pytest.mark.skipif(not MOT17_05.is_dir(), reason=f"{MOT17_05} absent (../shared is not in a fresh clone)")


def test_half_range_splits_like_the_protocols() -> None:
    # PETS09-S2L1 has 795 frames: 795 // 2 = 397, so 1-397 (tune) and 398-795 (the test half).
    assert half_range(795, "first") == FrameRange(1, 397)
    assert half_range(795, "second") == FrameRange(398, 795)
    # MOT17-02: 600 frames -> 1-300 and 301-600.
    assert half_range(600, "second") == FrameRange(301, 600)


@needs_mot17
def test_tune_end_to_end_and_resume(tmp_path: Path) -> None:
    pytest.importorskip("optuna")
    import optuna

    out = tmp_path / "tune"
    args = ["tune", str(MOT17_05), "--dets", "det/det.txt", "--frames", "1:40", "--out", str(out)]
    res = CliRunner().invoke(app, [*args, "--trials", "3"])
    assert res.exit_code == 0, res.output
    study = optuna.load_study(study_name="aetrack-tune", storage=f"sqlite:///{out / 'study.db'}")
    assert len(study.trials) == 3
    best = load_linker_config(out / "best.yaml", base=LinkerConfig(mode="motion"))
    tuned = yaml.safe_load((out / "best.yaml").read_text())
    assert best.high_score == tuned["high_score"]          # the file's values reach the config
    assert (out / "trials.png").stat().st_size > 0
    assert len((out / "trials.csv").read_text().splitlines()) == 1 + 3   # header + one row per trial
    # Running it again continues the same study up to --trials in all.
    res = CliRunner().invoke(app, [*args, "--trials", "4"])
    assert res.exit_code == 0, res.output
    assert len(optuna.load_study(study_name="aetrack-tune", storage=f"sqlite:///{out / 'study.db'}").trials) == 4
    # The YAML is what track takes: linking the same frames with it writes a results file.
    res = CliRunner().invoke(app, ["track", str(MOT17_05), "--dets", str(MOT17_05 / "det" / "det.txt"),
                                   "--frames", "1:40", "--out", str(tmp_path / "trk"),
                                   "--linker-config", str(out / "best.yaml"), "--no-evaluate"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "trk" / "MOT17-05-FRCNN.txt").stat().st_size > 0


@needs_mot17
def test_tune_bad_search_space_is_one_line(tmp_path: Path) -> None:
    space = tmp_path / "space.yaml"
    space.write_text("high_scor: {low: 0.3, high: 0.8}\n")
    res = CliRunner().invoke(app, ["tune", str(MOT17_05), "--dets", "det/det.txt", "--space", str(space), "--out", str(tmp_path)])
    # A typo names the nearest tunable setting, not all of them.
    one_error_line(res, "unknown setting 'high_scor' (did you mean 'high_score'?)")
    assert "kalman.position_weight" not in res.output
    space.write_text("kalman.velocity_weight: {low: 0.002, high: 0.02}\n")  # a per-frame key before issue 27
    res = CliRunner().invoke(app, ["tune", str(MOT17_05), "--dets", "det/det.txt", "--space", str(space), "--out", str(tmp_path)])
    one_error_line(res, "velocity_weight is no longer a setting; use velocity_noise")
    space.write_text("high_score: {low: 0.8, high: 0.3}\n")
    res = CliRunner().invoke(app, ["tune", str(MOT17_05), "--dets", "det/det.txt", "--space", str(space), "--out", str(tmp_path)])
    one_error_line(res, "high_score", "low (0.8) must be below high (0.3)")


def test_tune_missing_detections_is_one_line(tmp_path: Path) -> None:
    seq = tmp_path / "SEQ-01"
    (seq / "gt").mkdir(parents=True)
    (seq / "seqinfo.ini").write_text("[Sequence]\nname=SEQ-01\nframeRate=10\nseqLength=4\nimWidth=64\nimHeight=48\n")
    (seq / "gt" / "gt.txt").write_text("1,1,10,10,20,30,1,1,1\n")
    res = CliRunner().invoke(app, ["tune", str(seq), "--dets", "det/det.txt", "--out", str(tmp_path / "o")])
    one_error_line(res, "det.txt", "detections file not found")
    res = CliRunner().invoke(app, ["tune", str(seq), "--out", str(tmp_path / "o")])
    one_error_line(res, "--dets", "--weights", "give one of them")


@needs_mot17
def test_linker_config_unknown_key_is_one_line(tmp_path: Path) -> None:
    cfg = tmp_path / "linker.yaml"
    cfg.write_text("high_score: 0.6\nlost_time: 2.0\n")
    res = CliRunner().invoke(app, ["track", str(MOT17_05), "--dets", str(MOT17_05 / "det" / "det.txt"),
                                   "--frames", "1:5", "--out", str(tmp_path / "t"), "--linker-config", str(cfg)])
    one_error_line(res, "unknown linker key 'lost_time' (did you mean 'lost_time_s'?)")
    res = CliRunner().invoke(app, ["benchmark", str(MOT17_05), "--dets", "det/det.txt", "--frames", "1:5", "--no-speed",
                                   "--out", str(tmp_path / "b"), "--linker-config", str(cfg)])
    one_error_line(res, "unknown linker key 'lost_time' (did you mean 'lost_time_s'?)")


@needs_mot17
def test_benchmark_half_is_the_frame_range_of_that_half(tmp_path: Path) -> None:
    # MOT17-05 has 837 frames: its second half is 837 // 2 + 1 = 419 to 837. Linking and
    # scoring with --half second must give the very numbers of --frames 419:837.
    runner = CliRunner()
    common = ["benchmark", str(MOT17_05), "--dets", "det/det.txt", "--no-speed"]
    res = runner.invoke(app, [*common, "--half", "second", "--out", str(tmp_path / "h")])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, [*common, "--frames", "419:837", "--out", str(tmp_path / "f")])
    assert res.exit_code == 0, res.output
    half = json.loads((tmp_path / "h" / "summary.json").read_text())
    frames = json.loads((tmp_path / "f" / "summary.json").read_text())
    assert half["config"]["half"] == "second"
    assert half["combined"] == frames["combined"]
    assert (tmp_path / "h" / "motion" / "MOT17-05-FRCNN.txt").read_text() == \
        (tmp_path / "f" / "motion" / "MOT17-05-FRCNN.txt").read_text()
    res = runner.invoke(app, [*common, "--half", "third", "--out", str(tmp_path / "x")])
    one_error_line(res, "--half 'third'", "first, second")
    res = runner.invoke(app, [*common, "--half", "first", "--frames", "1:9", "--out", str(tmp_path / "x")])
    one_error_line(res, "not both")


def test_tune_on_a_models_own_tags_equals_the_benchmark_of_its_best(tmp_path: Path) -> None:
    """--weights: the model's detections and tags are computed once and cached; a trial scores
    what `aetrack benchmark --linker-config best.yaml` scores on the same frames."""
    pytest.importorskip("optuna")
    data = tmp_path / "synth"
    res = CliRunner().invoke(app, ["synth", str(data), "--sequences", "1", "--seed", "7", "--difficulty", "easy",
                                   "--frames", "40"])
    assert res.exit_code == 0, res.output
    out = tmp_path / "tune"
    args = ["tune", str(data), "--weights", "synthetic", "--space", str(REPO / "configs" / "tune_tags_space.yaml"),
            "--frames", "1:40", "--out", str(out), "--threads", "1"]
    res = CliRunner().invoke(app, [*args, "--trials", "2"])
    assert res.exit_code == 0, res.output
    (cache,) = (out / "cache").glob("synth-easy-7.*.npz")
    stamp = cache.stat().st_mtime_ns
    res = CliRunner().invoke(app, [*args, "--trials", "3"])   # continues the study on the cached tags
    assert res.exit_code == 0, res.output
    assert cache.stat().st_mtime_ns == stamp
    best = float(res.output.split("best HOTA ")[1].split()[0])
    bench = tmp_path / "bench"
    res = CliRunner().invoke(app, ["benchmark", str(data), "--weights", "synthetic", "--frames", "1:40", "--no-speed",
                                   "--threads", "1", "--linker-config", str(out / "best.yaml"), "--out", str(bench)])
    assert res.exit_code == 0, res.output
    hota = json.loads((bench / "summary.json").read_text())["combined"]["HOTA"]
    assert round(hota, 2) == best


def test_tune_needs_exactly_one_source_of_detections(tmp_path: Path) -> None:
    for extra in ([], ["--dets", "det/det.txt", "--weights", "synthetic"]):
        res = CliRunner().invoke(app, ["tune", str(tmp_path), *extra, "--out", str(tmp_path / "o")])
        one_error_line(res, "give one of them")
    res = CliRunner().invoke(app, ["tune", str(tmp_path), "--weights", "synthetic", "--camera-motion",
                                   "--out", str(tmp_path / "o")])
    one_error_line(res, "--camera-motion", "--dets")


def test_trial_results_carry_each_tracks_class_as_results_files_do() -> None:
    """A model's car track is class 3 in a trial's results (as in benchmark's files), so on a
    person-only ground truth (MOT15 rules, as PETS) it is no false positive."""
    import numpy as np

    from aetrack.data.mot import MotTable
    from aetrack.tune.protocol import CachedSequence, link, score

    # Five frames: a walker (class 0, person) moving 5 px a frame and a parked car (class 2).
    walker = [np.array([10.0 + 5 * f, 20.0, 30.0 + 5 * f, 80.0]) for f in range(1, 6)]
    car = np.array([200.0, 40.0, 280.0, 90.0])
    boxes = tuple(np.stack([w, car]) for w in walker)
    n = len(walker)
    gt = MotTable(np.arange(1, n + 1), np.ones(n, dtype=np.int64),
                  np.array([[b[0], b[1], b[2] - b[0], b[3] - b[1]] for b in walker]), np.ones(n),
                  np.ones(n, dtype=np.int64), np.ones(n), "mot15")
    seq = CachedSequence(name="S", frame_rate=10.0, length=n, gt=gt, boxes=boxes,
                         scores=tuple(np.array([0.9, 0.9]) for _ in range(n)),
                         tags=tuple(np.zeros((2, 2)) for _ in range(n)),
                         classes=tuple(np.array([0, 2]) for _ in range(n)), frame_size=(320, 240),
                         class_names=("person", "bicycle", "car"))
    table = link(LinkerConfig(), seq, None)
    assert sorted(zip(table.ids.tolist(), table.cls.tolist())) == [(1, 1)] * 5 + [(2, 3)] * 5
    c = score(LinkerConfig(), [seq]).combined
    # The walker's five boxes exactly, the car left out: no FP, no FN, one identity.
    assert (c["FP"], c["FN"], c["IDSW"], c["IDF1"], c["HOTA"]) == (0, 0, 0, 100.0, pytest.approx(100.0))
