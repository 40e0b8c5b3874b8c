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

from aetrack.model.weights import read_checkpoint
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
            if text and not getattr(param, "hidden", False):  # hidden: retired spellings
                assert re.sub(r"\s+", " ", text) in shown, (name, param.name, text)


def _write_video(path: Path, frames: int) -> None:
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (96, 64))
    for k in range(frames):
        img = np.full((64, 96, 3), 40, np.uint8)
        cv2.rectangle(img, (5 + k, 10), (30 + k, 50), (0, 200, 255), -1)
        out.write(img)
    out.release()


def _frames_decodable(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.grab():
        n += 1
    cap.release()
    return n


def test_truncated_video_is_refused_unless_allowed(tmp_path: Path) -> None:
    full, cut = tmp_path / "full.avi", tmp_path / "trunc.avi"
    _write_video(full, 40)
    data = full.read_bytes()
    cut.write_bytes(data[: len(data) // 2])  # the header still lists 40 frames
    assert int(cv2.VideoCapture(str(cut)).get(cv2.CAP_PROP_FRAME_COUNT)) == 40
    read = _frames_decodable(cut)
    assert 0 < read < 40
    dets = tmp_path / "none.txt"
    dets.write_text("")  # link no detections: the frames are what is tested, not the model
    out = tmp_path / "out"
    runner = CliRunner()
    res = runner.invoke(app, ["track", str(cut), "--dets", str(dets), "--out", str(out)])
    one_error_line(res, f"video ends after frame {read} of the 40 its container lists", "--allow-truncated")
    assert sorted(os.listdir(out)) == []  # nothing half-written, no temp files left
    res = runner.invoke(app, ["track", str(cut), "--dets", str(dets), "--out", str(out), "--allow-truncated"])
    assert res.exit_code == 0, res.output
    assert f"trunc: {read} frames" in res.stdout
    assert res.stderr.strip() == (f"warning: {cut}: the video ends after frame {read} of 40 (truncated or corrupt); "
                                  f"kept the {read} frames read")
    # The whole video reads all 40 frames without a word.
    res = runner.invoke(app, ["track", str(full), "--dets", str(dets), "--out", str(out)])
    assert res.exit_code == 0 and "full: 40 frames" in res.stdout and res.stderr == "", res.output


def test_frames_past_the_end_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    # Issue 28: --frames 50:60 of a 41-frame clip printed "0 frames, 0 boxes", wrote empty files
    # and exited 0. A video (41 frames), an image folder (1 image) and a MOT sequence linked
    # model-free (seqLength 3, no images) each say how many frames they have, and write nothing.
    video = tmp_path / "clip41.avi"
    _write_video(video, 41)
    (tmp_path / "imgs").mkdir()
    cv2.imwrite(str(tmp_path / "imgs" / "000001.png"), np.full((48, 64, 3), 90, np.uint8))
    seq = tmp_path / "walk"
    (seq / "det").mkdir(parents=True)
    (seq / "seqinfo.ini").write_text("[Sequence]\nname=walk\nimDir=img1\nframeRate=10\nseqLength=3\n"
                                     "imWidth=640\nimHeight=480\nimExt=.jpg\n")
    (seq / "det" / "det.txt").write_text("1,-1,100,50,40,100,0.9,-1,-1,-1\n")
    out = tmp_path / "out"
    for argv, message in (
        ([str(video), "--frames", "50:60"], "--frames 50:60 selects no frame of clip41: it has 41 frames (1:41)"),
        ([str(video), "--frames", "42:"], "--frames 42: selects no frame of clip41: it has 41 frames (1:41)"),
        ([str(tmp_path / "imgs"), "--frames", "2:5"], "--frames 2:5 selects no frame of imgs: it has 1 frame (1:1)"),
        ([str(seq), "--dets", str(seq / "det" / "det.txt"), "--frames", "4:9"],
         "--frames 4:9 selects no frame of walk: it has 3 frames (1:3)"),
    ):
        one_error_line(CliRunner().invoke(app, ["track", *argv, "--out", str(out)]), message)
        assert not out.exists()
    # A range that overlaps the end keeps the frames there are: 40:60 is frames 40 and 41.
    res = CliRunner().invoke(app, ["track", str(video), "--frames", "40:60", "--dets", str(seq / "det" / "det.txt"),
                                   "--out", str(out)])
    assert res.exit_code == 0 and "clip41: 2 frames" in res.stdout, res.output


def test_opencv_says_nothing_before_our_line(tmp_path: Path) -> None:
    # OpenCV and FFmpeg print on the process's stderr themselves, which CliRunner does not
    # capture: run the console entry point. A missing camera printed 12 lines before ours.
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("OPENCV_LOG_LEVEL", "OPENCV_FFMPEG_LOGLEVEL")}
    cut = tmp_path / "trunc.avi"
    _write_video(tmp_path / "full.avi", 40)
    data = (tmp_path / "full.avi").read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    (tmp_path / "none.txt").write_text("")
    script = ("import sys\nfrom cli.main import main\nfor argv in sys.argv[1:]:\n"
              "    sys.argv = ['aetrack', *argv.split('|')]\n"
              "    try:\n        main()\n    except SystemExit as e:\n"
              "        print('exit', e.code, file=sys.stderr)\n")
    runs = [f"track|97|--out|{tmp_path / 'o'}",
            f"track|{cut}|--dets|{tmp_path / 'none.txt'}|--out|{tmp_path / 'o'}"]
    res = subprocess.run([sys.executable, "-c", script, *runs], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=120)
    lines = res.stderr.strip().splitlines()
    assert lines[0] == "error: camera 97: cannot open" and lines[1] == "exit 2", res.stderr
    assert lines[2].startswith(f"error: {cut}: video ends after frame ") and lines[3] == "exit 2", res.stderr
    assert len(lines) == 4, res.stderr


def test_temp_files_of_a_killed_run_are_removed_by_the_next(tmp_path: Path) -> None:
    # kill -9 leaves the hidden temp files of the atomic writers (never the final names);
    # the next run into the same folder removes them.
    import signal
    import subprocess
    import sys
    import time

    from aetrack.io.atomic import _host

    seq = tmp_path / "endless"
    (seq / "det").mkdir(parents=True)
    (seq / "det" / "det.txt").write_text("")
    (seq / "seqinfo.ini").write_text("[Sequence]\nname=endless\nframeRate=25\nseqLength=2000000000\n"
                                     "imWidth=64\nimHeight=48\n")
    out = tmp_path / "out"
    argv = ["track", str(seq), "--dets", str(seq / "det" / "det.txt"), "--out", str(out), "--no-evaluate"]
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", *argv], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(list(out.glob(".endless.*"))) < 2:
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    left = sorted(p.name for p in out.iterdir())
    tag = f"aetrack-{_host()}-{proc.pid}-"
    assert len(left) == 2 and all(n.startswith((f".endless.txt.{tag}", f".endless.jsonl.{tag}")) for n in left), left
    res = CliRunner().invoke(app, [*argv, "--frames", "1:5"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == ["endless.jsonl", "endless.txt"]


def test_stale_temp_clean_up_keeps_live_and_foreign_files(tmp_path: Path) -> None:
    import subprocess
    import sys

    from aetrack.io.atomic import _host, remove_stale_temps

    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()  # a process id that has ended
    host = _host()
    names = [f".a.txt.aetrack-{host}-{done.pid}-abcd_123.tmp",     # ours, process gone: removed
             f".a.mp4.aetrack-{host}-{done.pid}-zz99zz99.mp4",     # ours (video writer): removed
             f".a.txt.aetrack-{host}-{os.getpid()}-abcd_123.tmp",  # ours, process alive: kept
             f".a.txt.aetrack-other.host-{done.pid}-abcd_123.tmp", # another machine's: kept
             ".a.txt.x1y2z3w4.tmp",                                # someone else's pattern: kept
             f"a.txt.aetrack-{host}-{done.pid}-abcd_123.tmp"]      # not hidden: not ours, kept
    for n in names:
        (tmp_path / n).write_text("x")
    removed = remove_stale_temps(tmp_path)
    assert sorted(p.name for p in removed) == sorted(names[:2])
    assert sorted(os.listdir(tmp_path)) == sorted(names[2:])
