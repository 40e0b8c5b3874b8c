"""Experiment config, learning-rate schedule, sampler, checkpoints, resume, NaN stop, two-process gloo."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from typer.testing import CliRunner

from aetrack.data.synth import SynthConfig, write_sequence
from aetrack.errors import AetrackError
from aetrack.experiment import TrainConfig, experiment_from_dict, load_experiment
from aetrack.model.config import ModelConfig
from aetrack.train.checkpoint import load_checkpoint
from aetrack.train.ema import WeightAverage, ramped_decay
from aetrack.train.loop import StepBatchSampler, lr_at, schedule_warnings, train
from cli.main import app

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory) -> Path:
    """Two tiny synthetic training sequences and one held-out one (seed 1000)."""
    root = tmp_path_factory.mktemp("synth")
    cfg = SynthConfig.preset("easy", width=160, height=120, frames=10)
    for seed in (0, 1):
        write_sequence(root / "train", cfg=cfg, seed=seed)
    write_sequence(root / "val", cfg=cfg, seed=1000)
    return root


def tiny_config(tmp_path: Path, synth_root: Path, **train) -> Path:
    """The debug config pointed at pre-generated sequences, in-process loading, log every step."""
    data = yaml.safe_load((REPO / "configs" / "debug.yaml").read_text())
    data["data"].pop("synth")
    data["data"].pop("val_synth")
    data["data"]["train"] = [{"path": str(synth_root / "train")}]
    data["data"]["val"] = [{"path": str(synth_root / "val"), "frames": "1:6"}]
    data["train"].update({"steps": 4, "log_every": 1, "val_every": 0, "ckpt_every": 0, "workers": 0,
                          "threads": 1, "out_dir": str(tmp_path / "run"), **train})
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_unknown_key_names_the_nearest_valid_key(tmp_path):
    # "stepz" and "steps" share 4 of their 5 letters in order: difflib ratio 2 * 4 / 10 = 0.8,
    # above the 0.6 cutoff; no other train key comes as close. Only the suggestion is printed.
    path = tmp_path / "bad.yaml"
    path.write_text("train:\n  stepz: 3\n")
    with pytest.raises(AetrackError, match=r"^\S+\.train: unknown key 'stepz' \(did you mean 'steps'\?\)$"):
        load_experiment(path)
    # A key like no valid one ("foo": ratio 0 against every key) lists the section's keys instead.
    path.write_text("train:\n  foo: 3\n")
    with pytest.raises(AetrackError, match=r"unknown key 'foo'; valid keys: .*batch_size.*steps"):
        load_experiment(path)
    # A typo on the command line is blamed on the override, not on the file it amends.
    with pytest.raises(AetrackError, match=r"^override 'model.tagdim=16': unknown key 'tagdim' "
                                           r"\(did you mean 'tag_dim'\?\)$"):
        load_experiment(REPO / "configs" / "debug.yaml", ["model.tagdim=16"])
    # A checkpoint's stored config goes through the same check (experiment_from_dict).
    with pytest.raises(AetrackError, match=r"^ckpt\.train: unknown key 'warmpu' \(did you mean 'warmup'\?\)$"):
        experiment_from_dict({"train": {"warmpu": 10}}, where="ckpt")


def test_cli_reports_config_errors_in_one_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("data:\n  clip_len: 1\n")
    res = CliRunner().invoke(app, ["train", "--config", str(path)])
    assert res.exit_code == 2
    assert "clip_len must be >= 2" in res.output and len(res.output.strip().splitlines()) == 1


def test_override_errors_name_the_override_and_file_errors_the_file(tmp_path):
    debug = REPO / "configs" / "debug.yaml"
    with pytest.raises(AetrackError, match=r"^override 'train.steps=abc': expected int, got 'abc'$"):
        load_experiment(debug, ["train.steps=abc"])
    with pytest.raises(AetrackError, match=r"^override 'train.steps.x=1': train.steps is a value, not a section$"):
        load_experiment(debug, ["train.steps.x=1"])
    # A range error only the combination has: the file's check, with the overrides named.
    with pytest.raises(AetrackError, match=r"steps and batch_size must be >= 1 \(with overrides train.steps=0\)$"):
        load_experiment(debug, ["train.steps=0"])
    # The file alone is wrong: the file is named, even with a (correct) override.
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  stepz: 3\n")
    with pytest.raises(AetrackError, match=rf"^{bad}\.train: unknown key 'stepz'"):
        load_experiment(bad, ["train.steps=5"])
    assert load_experiment(debug, ["train.steps=7"]).train.steps == 7


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("train:\n  steps: true\n", r"train\.steps: expected int, got True"),     # was 1 step
        ("train:\n  lr: .nan\n", r"train\.lr: expected a finite number, got nan"),
        ("linker:\n  lost_time_s: .inf\n", r"linker\.lost_time_s: expected a finite number, got inf"),
        ("train:\n  seed: -1\n", r"seed must be in 0\.\.4294967295"),
        ("1: 2\n~: 3\n", r"unknown keys 1, None; valid"),                               # keys not strings
        ('"a\\nb": 1\n', r"unknown key 'a\\nb'; valid"),       # a line break in a key: by repr (found by fuzzing)
        ("when: 2024-02-30\n", r"not valid YAML \(day is out of range for month\)"),
        ("[" * 5000, r"not valid YAML"),
    ],
)
def test_bad_config_values_are_one_line_errors(tmp_path, text, message):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(AetrackError, match=message):
        load_experiment(path)


def test_config_that_is_not_text_is_one_line(tmp_path):
    # A checkpoint passed as --config (the embedded weights are a zip of binary tensors).
    weights = REPO / "aetrack" / "weights" / "synth_small.pt"
    res = CliRunner().invoke(app, ["train", "--config", str(weights)])
    assert res.exit_code == 2
    assert len(res.stderr.strip().splitlines()) == 1
    assert res.stderr.startswith(f"error: {weights}: not a YAML config (not UTF-8 text: byte ")


def test_crop_settings_are_checked():
    with pytest.raises(AetrackError, match="set both crop_width and crop_height, or neither"):
        load_experiment(REPO / "configs" / "debug.yaml", ["data.crop_width=64"])
    with pytest.raises(AetrackError, match="crop_height must be 0 or a positive multiple of 32, got 50"):
        load_experiment(REPO / "configs" / "debug.yaml", ["data.crop_width=64", "data.crop_height=50"])


def test_every_shipped_config_loads():
    for name in ("debug", "synth_small", "real_yolox_nano", "pets_finetune", "mot17_hourglass"):
        cfg = load_experiment(REPO / "configs" / f"{name}.yaml")
        assert cfg.name == name


def test_lr_schedule_derived():
    # lr 1, warmup 2, 6 steps, cosine to 0: warmup (s+1)/2 -> 0.5, 1; then progress p = (s-2)/4:
    # s=2 -> p=0 -> 1; s=4 -> p=1/2 -> 0.5; s=5 -> p=3/4 -> (1 + cos(3pi/4)) / 2 = 0.1464.
    cfg = TrainConfig(lr=1.0, warmup=2, steps=6, min_lr_ratio=0.0)
    got = [lr_at(s, cfg) for s in (0, 1, 2, 4, 5)]
    assert got == pytest.approx([0.5, 1.0, 1.0, 0.5, (1 + math.cos(3 * math.pi / 4)) / 2])


def test_step_sampler_gives_disjoint_rank_shares():
    # Step s of rank r with batch B and world size W takes clips (s*W + r)*B ... + B - 1:
    # step 2, rank 1, B = 3, W = 2 -> 15, 16, 17.
    batches = list(StepBatchSampler(start_step=2, steps=4, batch_size=3, rank=1, world_size=2))
    assert batches == [[15, 16, 17], [21, 22, 23]]


def test_resume_continues_with_the_same_losses(tmp_path, synth_root):
    # One run of 4 steps vs. 2 steps, stop, resume for the last 2: same step, same losses
    # (sample i depends only on (seed, i); weights, optimizer and RNG states come back).
    whole = train(load_experiment(tiny_config(tmp_path / "a", synth_root)), progress=False)
    cfg_b = load_experiment(tiny_config(tmp_path / "b", synth_root))
    first = train(cfg_b, stop_after=2, progress=False)
    assert first.step == 2 and load_checkpoint(cfg_b.out_dir / "last.pt").step == 2
    second = train(cfg_b, resume=True, progress=False)
    assert second.step == whole.step == 4
    assert sorted(second.losses) == [3, 4]
    for step in (3, 4):
        for term, value in whole.losses[step].items():
            assert second.losses[step][term] == pytest.approx(value, rel=1e-6, abs=1e-7), (step, term)
    # metrics.jsonl holds each training step once, in order, across the two calls, and the
    # final validation (the run ends at train.steps) once.
    records = [json.loads(line) for line in (cfg_b.out_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "loss/total" in r] == [1, 2, 3, 4]
    assert [r["step"] for r in records if "val_ap50" in r] == [4]
    # Training a finished run further needs a larger train.steps; a fresh start needs --overwrite.
    with pytest.raises(AetrackError, match="nothing left to do"):
        train(cfg_b, resume=True, progress=False)
    with pytest.raises(AetrackError, match="already holds a run"):
        train(cfg_b, progress=False)


def test_ramped_ema_by_hand():
    # decay 0.5: update 1 copies the weights (w = 1); update 2 uses min(0.5, (1 + 1) / (10 + 1))
    # = 2/11, so w = 1 + (3 - 1) * 9/11 = 2.6364; update 3 uses min(0.5, 3/12) = 0.25:
    # w = 2.6364 + (5 - 2.6364) * 0.75 = 4.4091. Integer buffers follow the model.
    assert ramped_decay(0.999, 0) == pytest.approx(0.1) and ramped_decay(0.999, 10_000) == 0.999
    model = torch.nn.Sequential(torch.nn.Linear(1, 1, bias=False), torch.nn.BatchNorm1d(1))
    ema = WeightAverage(model=model, decay=0.5)
    for value in (1.0, 3.0, 5.0):
        with torch.no_grad():
            model[0].weight.fill_(value)
            model[1].num_batches_tracked.fill_(int(value))
        ema.update(model)
    assert ema.module[0].weight.item() == pytest.approx(2.6364 + (5 - 2.6364) * 0.75, abs=1e-4)
    assert ema.updates == 3 and ema.module[1].num_batches_tracked.item() == 5
    assert model[0].weight.item() == 5.0  # the trained model is untouched


def test_ema_run_resumes_to_the_same_average(tmp_path, synth_root):
    # 4 steps in one go vs. 2 + resume 2, with EMA: last.pt's "model" (the average, what
    # export and inference use) and "raw_model" (the trained weights) agree, and differ.
    whole = load_experiment(tiny_config(tmp_path / "a", synth_root, ema_decay=0.9))
    train(whole, progress=False)
    split = load_experiment(tiny_config(tmp_path / "b", synth_root, ema_decay=0.9))
    train(split, stop_after=2, progress=False)
    train(split, resume=True, progress=False)
    a = torch.load(whole.out_dir / "last.pt", weights_only=True)
    b = torch.load(split.out_dir / "last.pt", weights_only=True)
    assert a["step"] == b["step"] == 4  # one EMA update per step
    for key in ("model", "raw_model"):
        for name, value in a[key].items():
            assert torch.allclose(value.float(), b[key][name].float(), rtol=1e-5, atol=1e-6), (key, name)
    assert any(not torch.equal(v, a["raw_model"][k]) for k, v in a["model"].items())


def test_checkpoint_that_does_not_fit_is_refused(tmp_path, synth_root):
    cfg = load_experiment(tiny_config(tmp_path, synth_root, steps=1, val_every=1))
    train(cfg, progress=False)
    ckpt = load_checkpoint(cfg.out_dir / "last.pt")  # rebuilt from its own config: tag_dim 4
    assert ckpt.config.model.tag_dim == 4 and ckpt.step == 1
    out = ckpt.model(torch.zeros(1, 3, 96, 128))[-1]
    assert out["tags"].shape == (1, 4, 24, 32)
    assert (cfg.out_dir / "best.pt").is_file() and {"val_ap50", "val_tag_auc"} <= set(ckpt.metrics)
    wrong = ModelConfig(width=8, head_channels=8, tag_dim=16, input_width=128, input_height=96)
    with pytest.raises(AetrackError, match="tag_dim is 4 in the checkpoint but 16 in the config"):
        load_checkpoint(cfg.out_dir / "last.pt", cfg=wrong)
    resumed = load_experiment(tiny_config(tmp_path, synth_root, steps=2), ["model.tag_dim=16"])
    with pytest.raises(AetrackError, match="tag_dim"):
        train(resumed, resume=True, progress=False)
    fresh = load_experiment(tiny_config(tmp_path / "fresh", synth_root),
                            ["model.tag_dim=16", f"train.init_from={cfg.out_dir / 'last.pt'}"])
    with pytest.raises(AetrackError, match="tag_dim is 4 in the checkpoint but 16"):
        train(fresh, progress=False)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(AetrackError, match=r"junk\.pt: not a checkpoint \(not a file written by torch\.save\)$"):
        load_checkpoint(tmp_path / "junk.pt")


def test_non_finite_loss_stops_with_the_step(tmp_path, synth_root):
    # Step 1 runs on the initial weights (finite loss); Adam's first update moves every weight
    # by about lr = 1e30, so step 2's activations overflow float32.
    cfg = load_experiment(tiny_config(tmp_path, synth_root, lr=1e30, warmup=0))
    with pytest.raises(AetrackError, match=r"non-finite loss at step 2: total=.*heatmap=.*push="):
        train(cfg, progress=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_gloo_training(tmp_path, synth_root):
    # torchrun with 2 CPU processes: DDP over gloo, each rank its own clips, rank 0 writes.
    cfg_path = tiny_config(tmp_path, synth_root, steps=2, ckpt_every=1)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), "-m", "cli.main", "train", "--config", str(cfg_path)]
    res = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout[-1500:] + res.stderr[:3000]
    assert res.stdout.count("done: step 2/2") == 2  # both ranks finished
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "loss/total" in r] == [1, 2]  # rank 0 writes, once
    assert load_checkpoint(tmp_path / "run" / "last.pt").step == 2


def test_export_keeps_weights_and_takes_tuned_tracker_settings(tmp_path, synth_root):
    cfg = load_experiment(tiny_config(tmp_path, synth_root, steps=1))
    train(cfg, progress=False)
    tuned = tmp_path / "tuned.yaml"
    tuned.write_text(yaml.safe_dump({**yaml.safe_load((tmp_path / "tiny.yaml").read_text()),
                                     "linker": {"tag_momentum": 0.5, "lost_time_s": 4.0},
                                     "decode": {"score_threshold": 0.05}}))
    out = tmp_path / "w.pt"
    res = CliRunner().invoke(app, ["export", str(cfg.out_dir / "last.pt"), str(out), "--inference-config", str(tuned)])
    assert res.exit_code == 0, res.output
    src, dst = load_checkpoint(cfg.out_dir / "last.pt"), load_checkpoint(out)
    assert dst.step == src.step == 1
    assert all(torch.equal(a, b) for a, b in zip(src.model.state_dict().values(), dst.model.state_dict().values()))
    assert dst.config.linker.tag_momentum == 0.5 and dst.config.linker.lost_time_s == 4.0
    assert dst.config.decode.score_threshold == 0.05
    assert dst.config.model == src.config.model and dst.config.train == src.config.train
    assert "optimizer" not in torch.load(out, weights_only=False)


def test_a_copied_config_trains_into_runs_of_its_own_name(tmp_path, monkeypatch):
    # Issue 28: a copy of a shipped config kept the original's train.out_dir, so the README's
    # runs/mine/last.pt never existed. Shipped configs now name no run and no folder: a copy
    # configs/mine.yaml is run "mine" and writes runs/mine/ under the working directory (debug's
    # data is synthetic, generated into the run folder, so it runs anywhere).
    monkeypatch.chdir(tmp_path)
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "mine.yaml").write_text((REPO / "configs" / "debug.yaml").read_text())
    res = CliRunner().invoke(app, ["train", "--config", "configs/mine.yaml", "train.steps=2", "train.warmup=3"])
    assert res.exit_code == 0, res.output
    # Two steps of a 3-step warm-up at lr 1e-3: the last runs at 1e-3 * 2 / 3.
    assert ("warning: train.steps (2) is below train.warmup (3): the learning rate only climbs to 0.000667, 67 % of "
            "train.lr (0.001); set train.warmup below the steps, e.g. train.warmup=1") in " ".join(res.stderr.split())
    assert (tmp_path / "runs" / "mine" / "last.pt").is_file()
    assert load_checkpoint(tmp_path / "runs" / "mine" / "last.pt").config.name == "mine"
    # A name in the file, train.out_dir or --out still decide where a run goes.
    assert load_experiment(REPO / "configs" / "debug.yaml", ["name=trial"]).out_dir == Path("runs/trial")
    assert load_experiment(REPO / "configs" / "debug.yaml", ["train.out_dir=elsewhere"]).out_dir == Path("elsewhere")


def test_a_run_shorter_than_its_warmup_is_warned_about():
    # lr 1e-3 warmed up over 100 steps: step s (0-based) runs at 1e-3 * (s + 1) / 100, so a
    # 20-step run ends at 2e-4, a fifth of train.lr, and never decays.
    (text,) = schedule_warnings(TrainConfig(steps=20, warmup=100, lr=1e-3))
    assert text == ("train.steps (20) is below train.warmup (100): the learning rate only climbs to 0.0002, 20 % of "
                    "train.lr (0.001); set train.warmup below the steps, e.g. train.warmup=2")
    assert schedule_warnings(TrainConfig(steps=100, warmup=100)) == []


def test_a_misspelled_data_folder_fails_before_anything_is_written(tmp_path, monkeypatch):
    # debug.yaml generates synthetic data into runs/<name>/synth_cache; a data.train folder that
    # does not exist must fail first, in one line, with no run or cache folder left behind.
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(app, ["train", "--config", str(REPO / "configs" / "debug.yaml"), "train.steps=20",
                                   "data.train=[{path: data/psuedo}]"])
    assert res.exit_code == 2
    assert res.stderr.strip() == (f"error: data.train: data/psuedo: folder not found (relative to the working "
                                  f"directory {tmp_path})")
    assert list(tmp_path.iterdir()) == []
