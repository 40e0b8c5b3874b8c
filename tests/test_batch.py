"""Many inputs at once (``aetrack track DIR --workers N | --ray``): the same bytes as one-at-a-time
runs, failures reported while the others finish, finished inputs skipped on a re-run.

The inputs are tiny synthetic sequences (12 frames of 320x192, ``aetrack synth``), so a test
costs the worker processes' start-up more than the tracking.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aetrack.batch import BatchInput, is_many, list_inputs
from aetrack.data.synth import SynthConfig, write_sequence
from aetrack.errors import AetrackError
from aetrack.track_job import TrackSettings
from cli.main import app

SEEDS = (31, 32, 33)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("batch") / "data"
    cfg = SynthConfig.preset("medium", frames=12, width=320, height=192)
    for seed in SEEDS:
        write_sequence(root, cfg=cfg, seed=seed)
    return root


def _one_at_a_time(seqs: list[Path], out: Path, *extra: str) -> None:
    """``aetrack track SEQ`` for each sequence, ``--dets`` meaning its own det/det.txt."""
    for seq in seqs:
        dets = ["--dets", str(seq / "det" / "det.txt")] if "--dets" in extra else []
        args = [a for a in extra if a not in ("--dets", "det/det.txt")]
        res = CliRunner().invoke(app, ["track", str(seq), "--out", str(out), "--no-evaluate", *dets, *args])
        assert res.exit_code == 0, res.output


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_listing_inputs(data: Path, tmp_path: Path) -> None:
    settings = TrackSettings()
    seqs = sorted(str(p) for p in data.iterdir())
    # A folder of sequence folders is many inputs; one sequence folder (it has seqinfo.ini) or
    # an image folder (img1/ of a sequence) is one.
    assert is_many([str(data)]) and not is_many([seqs[0]]) and not is_many([seqs[0] + "/img1"])
    assert is_many([str(data / "synth-medium-3*")]) and is_many(seqs[:2])
    got = list_inputs([str(data)], settings=TrackSettings(dets="det/det.txt"))
    assert got == [BatchInput(source=s, name=Path(s).name, dets=f"{s}/det/det.txt") for s in seqs]
    assert [i.name for i in list_inputs([str(data / "*-32"), seqs[0]], settings=settings)] == [
        "synth-medium-32", "synth-medium-31"]
    with pytest.raises(AetrackError, match="no file or folder matches"):
        list_inputs([str(data / "nothing-*")], settings=settings)
    with pytest.raises(AetrackError, match="give a path inside each sequence folder"):
        list_inputs([str(data)], settings=TrackSettings(dets=str(Path(seqs[0], "det", "det.txt").resolve())))
    # Two inputs named alike would overwrite each other's files.
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for d in ("a", "b"):
        (tmp_path / d / "clip.mp4").write_bytes(b"")
    with pytest.raises(AetrackError, match="would both write clip.txt"):
        list_inputs([str(tmp_path / "a" / "clip.mp4"), str(tmp_path / "b" / "clip.mp4")], settings=settings)


def test_two_workers_write_the_bytes_of_one_at_a_time_runs(data: Path, tmp_path: Path) -> None:
    # With the synthetic model (detections, tags and the annotated video) on two sequences.
    # Both sides run the model on one thread: torch's float sums depend on the thread count, so
    # a run on 2 threads differs from one on 1 thread in the last digits of boxes and tags.
    one, two = tmp_path / "one", tmp_path / "two"
    _one_at_a_time([data / "synth-medium-31", data / "synth-medium-32"], one, "--weights", "synthetic",
                   "--save-video", "--threads", "1")
    res = CliRunner().invoke(app, ["track", str(data / "synth-medium-3[12]"), "--out", str(two), "--weights",
                                   "synthetic", "--save-video", "--threads", "1", "--workers", "2"])
    assert res.exit_code == 0, res.output
    assert "2 inputs, 2 at a time in local processes, 1 thread each" in res.output
    assert "tracked 2 of 2 inputs" in res.output
    expected = _files(one)
    assert len(expected) == 6  # .txt, .jsonl and .mp4 of each of the 2 sequences
    assert _files(two) == expected


def test_ray_writes_the_bytes_of_one_at_a_time_runs(data: Path, tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="ray is not installed (pip install 'aetrack[ray]')")
    one, ray_out = tmp_path / "one", tmp_path / "ray"
    _one_at_a_time(sorted(data.iterdir()), one, "--dets", "det/det.txt")
    res = CliRunner().invoke(app, ["track", str(data), "--out", str(ray_out), "--dets", "det/det.txt", "--ray",
                                   "--workers", "2"])
    assert res.exit_code == 0, res.output
    assert "3 inputs, 2 at a time in a local Ray" in res.output
    expected = _files(one)
    assert len(expected) == 6
    assert _files(ray_out) == expected


def test_a_corrupt_input_fails_alone_and_a_rerun_skips_the_finished(data: Path, tmp_path: Path) -> None:
    # Two good sequences and one whose det/det.txt is not MOT text: the good ones are written
    # (as one-at-a-time runs write them), the bad one is tried twice and reported on one line.
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for seed in SEEDS[:2]:
        (inputs / f"synth-medium-{seed}").symlink_to(data / f"synth-medium-{seed}")
    bad = inputs / "broken"
    (bad / "det").mkdir(parents=True)
    (bad / "seqinfo.ini").write_text((data / "synth-medium-31" / "seqinfo.ini").read_text())
    (bad / "det" / "det.txt").write_text("this is not a detection\n")
    one, out = tmp_path / "one", tmp_path / "out"
    _one_at_a_time(sorted(inputs.glob("synth-*")), one, "--dets", "det/det.txt")
    args = ["track", str(inputs), "--out", str(out), "--dets", "det/det.txt", "--workers", "2"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 1, res.output
    errors = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and str(bad) in errors[0] and "failed 2 times" in errors[0], res.output
    assert "tracked 2 of 3 inputs" in res.output
    written = _files(out)
    assert sorted(written) == ["synth-medium-31.jsonl", "synth-medium-31.txt", "synth-medium-32.jsonl",
                               "synth-medium-32.txt"]  # nothing of broken, not even a temp file
    assert written == {k: v for k, v in _files(one).items() if k in written}
    # The re-run tracks only the unfinished input, leaving the finished files untouched.
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 1 and "skipping 2 of 3 inputs" in res.output, res.output
    assert "1 inputs, 1 at a time" in res.output
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamps


def test_missing_ray_is_one_line_naming_the_extra(data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets where ray is not installed
    res = CliRunner().invoke(app, ["track", str(data), "--out", str(tmp_path), "--dets", "det/det.txt", "--ray"])
    assert res.exit_code == 2, res.output
    assert res.output.strip() == "error: --ray needs Ray, which is not installed: pip install 'aetrack[ray]'"
    assert not any(tmp_path.iterdir())
