"""The README's runnable examples, taken from README.md itself so that they cannot drift from it."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import aetrack

REPO = Path(__file__).resolve().parents[1]


def readme_block(heading: str, lang: str = "python") -> str:
    """The first ```lang block after the README line that starts with ``heading``."""
    text = (REPO / "README.md").read_text()
    start = text.index(f"\n{heading}")
    body = text.index(f"```{lang}\n", start) + len(f"```{lang}\n")
    return text[body:text.index("```\n", body)]


STREAMING = "Python, streaming frames"
# One printed line of the streaming example.
LINE = re.compile(r"^(?P<path>\S+) frame (?P<frame>\d+): track (?P<id>\d+) (?P<name>\w+) (?P<state>\w+) "
                  r"\((?P<x1>-?\d+), (?P<y1>-?\d+), (?P<x2>-?\d+), (?P<y2>-?\d+)\) score (?P<score>[\d.]+)$")


def test_package_docstring_shows_the_readme_streaming_example() -> None:
    doc = aetrack.__doc__
    start = doc.index("::\n\n") + 4
    assert textwrap.dedent(doc[start:]).strip() == readme_block(STREAMING).strip()


def test_streaming_example_runs_as_printed_and_prints_per_frame_tracks(shared_data: Path, tmp_path: Path) -> None:
    # face-demographics-walking.mp4: 35 frames of 480 x 270 at 10 frames/s in which a woman and a
    # man walk towards the camera, the woman in full view in every frame (looked at). Given as two
    # videos (a.mp4, b.mp4: the same file), the example must print the same tracks for both,
    # ids from 1 again: that is what reset() between videos is for.
    clip = shared_data / "real-unlabelled" / "face-demographics-walking.mp4"
    for name in ("a.mp4", "b.mp4"):
        (tmp_path / name).symlink_to(clip)
    script = tmp_path / "stream.py"
    script.write_text(readme_block(STREAMING))
    res = subprocess.run([sys.executable, str(script), "a.mp4", "b.mp4"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    rows = [LINE.match(line) for line in lines]
    assert all(rows), [line for line, m in zip(lines, rows) if not m][:3]
    per_video = {v: [line.split(" ", 1)[1] for line in lines if line.startswith(f"{v} ")] for v in ("a.mp4", "b.mp4")}
    assert per_video["a.mp4"] == per_video["b.mp4"]
    a = [m for m in rows if m["path"] == "a.mp4"]
    frames = {int(m["frame"]) for m in a}
    assert frames <= set(range(1, 36)) and len(frames) >= 30  # tracks printed frame by frame
    assert min(int(m["id"]) for m in a) == 1
    assert {m["name"] for m in a} == {"person"}
    # What the README says t.state is for the embedded default model.
    assert {m["state"] for m in a} == {"confirmed"}
    # Clipped to the frame.
    assert all(0 <= int(m["x1"]) < int(m["x2"]) <= 480 and 0 <= int(m["y1"]) < int(m["y2"]) <= 270 for m in a)
