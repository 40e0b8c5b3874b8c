"""One linker default (issue 27): given detections and the default model share ``LinkerConfig()``;
old checkpoints keep linking as before; old per-frame keys are refused in one line naming the new key."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aetrack.config import from_dict
from aetrack.linker import Linker, LinkerConfig
from aetrack.linker.config import upgrade_stored
from cli.main import app
from tests.test_bad_input import one_error_line

REPO = Path(__file__).resolve().parents[1]


def test_one_default_for_given_detections_and_the_default_model() -> None:
    from aetrack import Tracker
    from aetrack.experiment import load_experiment
    from aetrack.track_job import TrackSettings, build_tracker

    # Given detections link with the default as it runs without tags (its motion stages).
    assert Tracker.for_detections().linker.cfg == LinkerConfig().without_tags()
    assert build_tracker(TrackSettings(dets="det.txt"), frame_rate=7.0).linker.cfg == LinkerConfig().without_tags()
    assert LinkerConfig().without_tags() == dataclasses.replace(LinkerConfig(), mode="motion")
    # The default model's config stores the default itself, and so do its embedded weights.
    assert load_experiment(REPO / "configs" / "real_yolox_nano.yaml").linker == LinkerConfig()
    from aetrack.backend import load_detector

    assert load_detector("default", backend="torch").linker == LinkerConfig()


def test_old_checkpoint_links_as_before() -> None:
    from aetrack.backend import load_detector

    # The synthetic model's weights store a linker section from before issue 27 (per-frame Kalman
    # keys, no direction_s, and none of the keys added since it was written). Its settings come
    # back as they linked then: the defaults of that time for the keys it lacks, per-frame keys
    # translated at 30 frames/s, where the filter's per-frame noise is the stored one exactly.
    cfg = load_detector("synthetic", backend="torch").linker
    assert (cfg.tag_cost, cfg.tag_proximity, cfg.min_hits, cfg.iou_threshold_tentative) == ("sum", 0.5, 2, 0.7)
    assert (cfg.direction_weight, cfg.common_motion, cfg.common_motion_radius, cfg.class_groups) == (0.0, False, 1.0, ())
    assert (cfg.output_box, cfg.report_lost_s, cfg.lost_time_s) == ("kalman", 0.2, 3.0)  # as stored
    # Per-frame at every frame rate, as then: frame_rate_scaling is off, so a 7 frames/s stream
    # gets the per-frame noise and direction span of 30 frames/s.
    assert not cfg.frame_rate_scaling and cfg.time_rate(7.0) == 30.0 and cfg.direction_frames(7.0) == 3
    linker = Linker(cfg=cfg, frame_rate=7.0)
    noise = linker._tracks.noise
    assert (noise.position_weight, noise.measurement_weight, noise.velocity_weight) == pytest.approx((1 / 20, 1 / 20, 1 / 160))
    assert (noise.initial_position_weight, noise.initial_velocity_weight) == pytest.approx((2 / 20, 10 / 160))
    assert (noise.aspect_std, noise.aspect_velocity_std) == pytest.approx((1e-2, 1e-5))
    # The default follows time: at 7.5 frames/s the velocity noise a frame is 8 times 30 frames/s'.
    assert Linker(cfg=LinkerConfig(), frame_rate=7.5)._tracks.noise.velocity_weight == pytest.approx(8 / 160)


def test_the_synthetic_tags_recipe_links_as_the_synthetic_weights() -> None:
    """configs/synth_tags.yaml (the synthetic model's tags retrained on its frozen detector) writes
    out the decode and linker settings the embedded synthetic weights link with, so weights
    exported with it differ from those only in their tags."""
    from aetrack.backend import load_detector
    from aetrack.experiment import load_experiment

    cfg = load_experiment(REPO / "configs" / "synth_tags.yaml")
    shipped = load_detector("synthetic", backend="torch")
    assert cfg.linker == shipped.linker and cfg.decode == shipped.decode


def test_old_linker_section_translates_its_per_frame_keys() -> None:
    # direction_frames 6 at 30 frames/s = 0.2 s; position_weight 0.04 -> measurement 0.04 and
    # process 0.04 a frame at 30 frames/s; velocity_weight 0.01, initial factor 5 -> 0.05 a frame.
    old = {"mode": "motion", "direction_frames": 6, "direction_weight": 0.2,
           "kalman": {"position_weight": 0.04, "velocity_weight": 0.01, "initial_velocity_factor": 5.0}}
    cfg = from_dict(LinkerConfig, upgrade_stored(old))
    assert cfg.direction_s == pytest.approx(0.2) and cfg.direction_frames(30.0) == 6 and cfg.direction_weight == 0.2
    assert cfg.direction_frames(7.0) == 6  # per frame at any rate (frame_rate_scaling off)
    noise = cfg.kalman.per_frame(30.0)
    assert (noise.measurement_weight, noise.position_weight) == pytest.approx((0.04, 0.04))
    assert (noise.velocity_weight, noise.initial_velocity_weight) == pytest.approx((0.01, 0.05))
    # A section written since (it has direction_s) is taken as it is, but a setting added after
    # it was written takes the value that links as before (the common shift left out of the
    # velocities, min_hits at any frame rate); a section that has every key is returned unchanged.
    assert upgrade_stored({"direction_s": 0.3}) == {"direction_s": 0.3, "common_motion_velocity_gain": 0.0,
                                                    "confirm_s": 0.0}
    new = {"direction_s": 0.3, "common_motion_velocity_gain": 0.5, "confirm_s": 0.1}
    assert upgrade_stored(new) is new
    legacy = from_dict(LinkerConfig, upgrade_stored(old))
    assert (legacy.common_motion_velocity_gain, legacy.confirm_s, legacy.confirm_frames(7.0)) == (0.0, 0.0, 2)


def make_sequence(root: Path) -> Path:
    seq = root / "SEQ-01"
    (seq / "det").mkdir(parents=True)
    (seq / "seqinfo.ini").write_text("[Sequence]\nname=SEQ-01\nframeRate=10\nseqLength=3\nimWidth=64\nimHeight=48\n")
    (seq / "det" / "det.txt").write_text("".join(f"{f},-1,{5 * f},5,8,20,0.9\n" for f in (1, 2, 3)))
    return seq


@pytest.mark.parametrize("key, new", [
    ("linker.direction_frames=3", "linker: direction_frames is no longer a setting; use direction_s"),
    ("linker.kalman.velocity_weight=0.01", "linker.kalman: velocity_weight is no longer a setting; use velocity_noise"),
    ("linker.kalman.position_weight=0.05", "use measurement_weight"),
])
def test_old_keys_in_set_are_one_line_naming_the_new_key(tmp_path: Path, key: str, new: str) -> None:
    seq = make_sequence(tmp_path)
    res = CliRunner().invoke(app, ["track", str(seq), "--dets", str(seq / "det" / "det.txt"), "--out",
                                   str(tmp_path / "o"), "--set", key])
    one_error_line(res, new)


def test_old_keys_in_a_linker_config_file_are_one_line(tmp_path: Path) -> None:
    seq = make_sequence(tmp_path)
    cfg = tmp_path / "linker.yaml"
    cfg.write_text("direction_frames: 3\n")
    res = CliRunner().invoke(app, ["track", str(seq), "--dets", str(seq / "det" / "det.txt"), "--out",
                                   str(tmp_path / "o"), "--linker-config", str(cfg)])
    one_error_line(res, "direction_frames is no longer a setting; use direction_s (seconds")
    cfg.write_text("kalman:\n  aspect_std: 0.01\n")
    res = CliRunner().invoke(app, ["track", str(seq), "--dets", str(seq / "det" / "det.txt"), "--out",
                                   str(tmp_path / "o"), "--linker-config", str(cfg)])
    one_error_line(res, "aspect_std is no longer a setting; use aspect_noise")
