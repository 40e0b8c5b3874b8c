"""What ``--help`` and ``--version`` say, and one meaning per option name across commands (issue 28)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import aetrack
from aetrack.linker.config import LinkerConfig
from cli.main import app


def _help(*command: str) -> str:
    res = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "400"})
    assert res.exit_code == 0, res.output
    return " ".join(res.output.split())  # rich wraps and boxes the text: compare words


def test_version_prints_the_package_version() -> None:
    res = CliRunner().invoke(app, ["--version"])
    assert res.exit_code == 0
    assert res.output == f"aetrack {aetrack.__version__}\n"


def test_linker_help_names_the_true_defaults() -> None:
    # The help's claims, checked against the settings that decide them: both embedded models'
    # stored linker mode and the model-free (--dets alone) defaults.
    import torch

    from aetrack.model.weights import EMBEDDED, pretrained_path

    for name in EMBEDDED:
        stored = torch.load(pretrained_path(name), map_location="cpu", weights_only=False)["config"]["linker"]
        assert stored["mode"] == "tags_motion", name
    assert LinkerConfig().without_tags().mode == "motion"
    claim = ("(default: the weights' own, tags_motion for both embedded models; motion for --dets without "
             "--weights)")
    for command in ("track", "benchmark"):
        assert claim in _help(command), command


@pytest.mark.parametrize(("command", "option", "default"), [
    ("track", "--frames", "default: all"),
    ("track", "--threads", "default: one per physical core"),
    ("track", "--fps", "default: what the source says, else 30"),
    ("benchmark", "--threads", "default: one per physical core"),
    ("benchmark", "--half", "default: all frames"),
    ("eval", "--frames", "default: all"),
    ("demo", "--frames", "default: all"),
])
def test_options_without_a_value_say_their_default(command: str, option: str, default: str) -> None:
    text = _help(command)
    start = text.index(f"│ {option} ")
    assert default in text[start:text.index("│", start + 2)]


def test_benchmark_threads_help_names_the_engine_it_runs() -> None:
    assert "CPU threads for torch" not in _help("benchmark")
    assert "CPU threads for the model, on whichever engine --backend picks" in _help("benchmark")


def test_export_half_is_float16_with_a_note(tmp_path: Path) -> None:
    # --half selects a half of the frames in benchmark, eval and tune; export calls float16 --float16
    # and still takes the old spelling, saying so.
    assert "--float16" in _help("export") and "--half" not in _help("export")
    res = CliRunner().invoke(app, ["export", "synthetic", str(tmp_path / "w.pt"), "--half"])
    assert res.exit_code == 0, res.output
    assert "note: export --half is now --float16" in res.stderr
    import torch

    state = torch.load(tmp_path / "w.pt", map_location="cpu", weights_only=False)["model"]
    assert {v.dtype for v in state.values() if v.is_floating_point()} == {torch.float16}


def test_bare_dets_in_benchmark_reads_the_public_detections_with_a_note(tmp_path: Path) -> None:
    # --dets names a detections file in every command; benchmark and tune, which take folders of
    # sequences, read it inside each. A bare --dets (its old flag form) is det/det.txt, with a note.
    # No sequence folder here: the command fails after parsing, naming the root, never --dets.
    root, out = str(tmp_path / "none"), str(tmp_path / "o")
    for argv in (["benchmark", root, "--out", out, "--dets"],                # last
                 ["benchmark", root, "--dets", "--no-speed", "--out", out]):  # before another option
        res = CliRunner().invoke(app, argv)
        assert res.exit_code == 2
        assert ("note: --dets takes the detections file inside each sequence folder now; read as --dets "
                "det/det.txt") in res.stderr
        assert res.stderr.splitlines()[-1].startswith(f"error: {root}")
    assert "det/det.txt" in _help("benchmark") and "det/det.txt" in _help("tune")


def test_frames_selects_frames_a_to_b_in_every_command(tmp_path: Path) -> None:
    # synth's frames per sequence are --length; --frames there is the old spelling, with a note.
    res = CliRunner().invoke(app, ["synth", str(tmp_path / "s"), "--frames", "3", "--width", "64", "--height", "64"])
    assert res.exit_code == 0, res.output
    assert "note: synth --frames is now --length" in res.stderr
    assert (tmp_path / "s" / "synth-medium-0" / "seqinfo.ini").read_text().count("seqLength=3") == 1
    # demo --frames takes A:B as track does; a bare count is the old spelling of 1:N, with a note.
    # (A range past the 300-frame clip fails before anything is tracked: the same check as track's.)
    res = CliRunner().invoke(app, ["demo", "--frames", "301:310", "--out", str(tmp_path / "d")])
    assert res.exit_code == 2 and "--frames 301:310 selects no frame of demo_corridor: it has 300 frames" in res.stderr
    assert not (tmp_path / "d").exists()
    res = CliRunner().invoke(app, ["demo", "--frames", "2", "--out", str(tmp_path / "d")])
    assert res.exit_code == 0, res.output
    assert "note: demo --frames N is now --frames 1:N, as in track; read as --frames 1:2" in res.stderr
    assert "0 tracks over 2 frames" in res.stdout  # the corridor is empty until about frame 21
