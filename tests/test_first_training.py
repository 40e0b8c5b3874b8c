"""The README's training section followed word for word on tiny synthetic data (issue 28)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from aetrack.data.synth import SynthConfig, write_sequence
from aetrack.train.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parents[1]


def _block(after: str) -> list[str]:
    """The command lines of the first ```bash block after the README line containing ``after``."""
    text = (REPO / "README.md").read_text()
    start = text.index(after)
    body = text.index("```bash\n", start) + len("```bash\n")
    lines = textwrap.dedent(text[body:text.index("```\n", body)].rstrip(" ")).splitlines()
    return [line.split("  #")[0].strip() for line in lines if line.strip()]


@pytest.mark.slow
def test_the_first_config_trains_and_tracks_as_the_readme_says(tmp_path: Path) -> None:
    (tmp_path / "configs").mkdir()
    shutil.copy(REPO / "configs" / "first.yaml", tmp_path / "configs" / "first.yaml")
    write_sequence(tmp_path / "data" / "mine", cfg=SynthConfig.preset("easy", width=160, height=120, frames=8), seed=3)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "AETRACK_CACHE_DIR": str(tmp_path / "cache")}
    for line in _block("2. Copy the first config"):  # cp, then the tiny trial run
        res = subprocess.run(line, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True)
        assert res.returncode == 0, f"{line}\n{res.stdout}\n{res.stderr}"
    ckpt = load_checkpoint(tmp_path / "runs" / "mine" / "last.pt")
    assert ckpt.step == 20 and ckpt.config.train.init_from == "default"
    # Step 3's tracking line, with this test's sequence for the user's video.
    track = _block("3. Train for real")[1]
    assert track.startswith("aetrack track my_other.mp4 --weights runs/mine/last.pt")
    seq = next((tmp_path / "data" / "mine").iterdir())
    res = subprocess.run(track.replace("my_other.mp4", str(seq)) + " --out trk --threads 1", shell=True, cwd=tmp_path,
                         env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert (tmp_path / "trk" / f"{seq.name}.txt").is_file() and (tmp_path / "trk" / f"{seq.name}.mp4").is_file()
