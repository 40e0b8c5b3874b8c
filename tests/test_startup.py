"""Start-up cost: the CLI and the model-free paths never import torch (issue 19).

Each check runs in a fresh interpreter (this test process has long imported torch) and reads
``sys.modules`` there: a module is imported or it is not, so these tests do not depend on how
loaded the machine is, unlike a wall-clock bound.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The imports that cost seconds: torch (~3 s), the evaluators (pandas, scipy), OpenCV, plots.
HEAVY = ("torch", "cv2", "scipy", "pandas", "motmetrics", "trackeval", "matplotlib")


def _loaded_after(script: str) -> dict:
    """Run ``script`` in a fresh interpreter; it leaves a dict in ``result``. Returns that
    dict plus ``heavy``: the HEAVY modules imported by then."""
    code = textwrap.dedent(script) + textwrap.dedent(f"""
        import json as _json, sys as _sys
        result["heavy"] = [m for m in {HEAVY!r} if m in _sys.modules]
        print("RESULT " + _json.dumps(result))
    """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def test_cli_help_imports_nothing_heavy() -> None:
    got = _loaded_after("""
        import sys
        from cli.main import main
        sys.argv = ["aetrack", "--help"]
        try:
            main()
        except SystemExit as exit:
            code = exit.code
        result = {"code": code}
    """)
    assert got == {"code": 0, "heavy": []}


def test_package_names_load_lazily_and_tracker_without_model_skips_torch() -> None:
    got = _loaded_after("""
        import sys
        import aetrack
        after_import = "torch" in sys.modules
        from aetrack import Linker, Tracker
        tracker = Tracker.for_detections()
        tracks = tracker.update_detections(boxes=[[10.0, 20.0, 50.0, 120.0]], scores=[0.9])
        result = {"after_import": after_import, "ids": [t.track_id for t in tracks],
                  "names": sorted(set(aetrack.__all__) - set(dir(aetrack)))}
    """)
    # One confident box in the first frame starts track 1; nothing heavy was needed for it.
    assert got == {"after_import": False, "ids": [1], "names": [], "heavy": []}


def test_track_given_detections_and_eval_never_import_torch(tmp_path: Path) -> None:
    # A 3-frame MOT sequence with no images: one person walking right 10 px a frame, detected
    # in every frame (score 0.9), and its ground truth. Linking needs no pixels and no model.
    seq = tmp_path / "data" / "walk"
    (seq / "det").mkdir(parents=True)
    (seq / "gt").mkdir()
    (seq / "seqinfo.ini").write_text("[Sequence]\nname=walk\nimDir=img1\nframeRate=10\nseqLength=3\n"
                                     "imWidth=640\nimHeight=480\nimExt=.jpg\n")
    rows = [f"{f},{{id}},{100 + 10 * f},50,40,100,{{conf}},-1,-1,-1\n" for f in (1, 2, 3)]
    (seq / "det" / "det.txt").write_text("".join(r.format(id=-1, conf=0.9) for r in rows))
    (seq / "gt" / "gt.txt").write_text("".join(r.format(id=1, conf=1) for r in rows))
    out = tmp_path / "out"
    got = _loaded_after(f"""
        import sys
        from cli.main import main
        codes = []
        for argv in (["track", {str(seq)!r}, "--dets", {str(seq / "det" / "det.txt")!r}, "--out", {str(out)!r},
                      "--no-evaluate"],
                     ["eval", {str(seq.parent)!r}, {str(out)!r}]):
            sys.argv = ["aetrack", *argv]
            try:
                main()
            except SystemExit as exit:
                codes.append(exit.code)
            if argv[0] == "track":
                track_heavy = [m for m in ("torch", "scipy", "pandas") if m in sys.modules]
        result = {{"codes": codes, "track_heavy": track_heavy, "torch": "torch" in sys.modules}}
    """)
    assert got["codes"] == [0, 0] and got["track_heavy"] == [] and got["torch"] is False
    # The evaluation (motmetrics, trackeval) loads what it needs, still without torch.
    assert {"motmetrics", "trackeval"} <= set(got["heavy"])
    # The person is one track, id 1, in all 3 frames (boxes are the Kalman filter's, near the
    # detections' left edges 110, 120, 130).
    lines = (out / "walk.txt").read_text().splitlines()
    assert [ln.split(",")[:2] for ln in lines] == [["1", "1"], ["2", "1"], ["3", "1"]]
    assert [abs(float(ln.split(",")[2]) - x) < 3 for ln, x in zip(lines, (110, 120, 130))] == [True] * 3
