"""Bad input a user can give the CLI ends in one ``error:`` line and exit code 2.

Each case here was found by trying aetrack as a new user would, then with a fuzzer (issue 18);
tests/test_fuzz.py keeps a fuzzer in the suite.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from aetrack.train.checkpoint import read_checkpoint
from cli.main import app

REPO = Path(__file__).resolve().parents[1]
EMBEDDED = REPO / "aetrack" / "weights" / "synth_small.pt"


def one_error_line(res, *fragments: str) -> str:
    """Assert exit code 2 and exactly one stderr line, starting with 'error:' and holding each fragment."""
    assert res.exit_code == 2, (res.exit_code, res.output)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    for f in fragments:
        assert f in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("imgs")
    cv2.imwrite(str(d / "000001.png"), np.full((48, 64, 3), 90, np.uint8))
    return d


@pytest.fixture(scope="module")
def embedded_state() -> dict:
    return torch.load(EMBEDDED, map_location="cpu", weights_only=True)


def _bad_checkpoints(root: Path, state: dict) -> dict[str, tuple[Path, str]]:
    """name -> (file, fragment its error must hold)."""
    out: dict[str, tuple[Path, str]] = {}

    def save(name: str, obj: object, fragment: str) -> None:
        p = root / f"{name}.pt"
        torch.save(obj, p)
        out[name] = (p, fragment)

    save("model_is_list", {**state, "model": list(state["model"].values())[:2]},
         "checkpoint entry 'model' is of type list, not a mapping")
    save("step_is_string", {**state, "step": "12"}, "'step' must be a whole number >= 0, got '12'")
    save("metrics_is_list", {**state, "metrics": [0.5]}, "'metrics' is of type list, not a mapping")
    save("weight_is_number", {**state, "model": {**state["model"], "extra.weight": 3}},
         "holds 'extra.weight' of type int, not a tensor")
    save("version_is_true", {**state, "version": True}, "checkpoint version True is not supported (expected 1)")
    (root / "text.pt").write_text("these are not weights\n" * 20)
    out["text"] = (root / "text.pt", "not a checkpoint (not a file written by torch.save)")
    (root / "random.pt").write_bytes(np.random.default_rng(18).bytes(4096))
    out["random"] = (root / "random.pt", "not a checkpoint (not a file written by torch.save)")
    (root / "empty.pt").write_bytes(b"")
    out["empty"] = (root / "empty.pt", "not a checkpoint (not a file written by torch.save)")
    return out


def test_wrong_checkpoints_are_one_line_errors(tmp_path: Path, images: Path, embedded_state: dict) -> None:
    runner = CliRunner()
    for name, (path, fragment) in _bad_checkpoints(tmp_path, embedded_state).items():
        res = runner.invoke(app, ["track", str(images), "--weights", str(path), "--out", str(tmp_path / "o")])
        line = one_error_line(res, str(path))
        assert line.endswith(fragment), (name, line)  # the whole message, not a cut-off one
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_the_embedded_checkpoint_passes_the_validator() -> None:
    state = read_checkpoint(EMBEDDED)
    assert state["format"] == "aetrack-checkpoint" and state["version"] == 1


def test_help_shows_every_option_text_whole() -> None:
    # Rich read "[default: embedded]" in a help text as markup and swallowed it ("Checkpoint
    # from `aetrack train` ."): every option's help must come out as written.
    import re

    import typer.main

    group = typer.main.get_command(app)
    for name, cmd in group.commands.items():
        res = CliRunner(env={"COLUMNS": "100"}).invoke(app, [name, "--help"])
        assert res.exit_code == 0, res.output
        shown = re.sub(r"\s+", " ", re.sub(r"[│╭╮╰╯─]", " ", res.output))
        for param in cmd.params:
            text = getattr(param, "help", None)
            if text:
                assert re.sub(r"\s+", " ", text) in shown, (name, param.name, text)

