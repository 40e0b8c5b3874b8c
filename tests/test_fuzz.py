"""Property-based fuzzing of everything a user can hand aetrack (issue 18).

The property, for every input: the functions the CLI uses return a result or raise
:class:`AetrackError` (the CLI prints it as one line, exit code 2), never another exception,
and a failed run leaves nothing half-written (no temp files, no final files).

Inputs: MOT files built from awkward fields (column counts, NaN/inf, huge and negative
numbers, BOM, CRLF, tabs, duplicate ids, frame 0, unsorted rows) and byte-level mutations of
a valid one; configs mutated from a shipped one, plus overrides; random and mutated bytes as a
video, as weights and as a config; checkpoints with entries of the wrong type; arrays of any
shape and value for the Python API (which raises ValueError instead).

Inside ``make test`` each property runs a few dozen derandomized examples (reproducible, about
20 s in all); ``make fuzz`` sets ``AETRACK_FUZZ_EXAMPLES`` (examples per property) and explores
with random seeds; a failure prints the ``@reproduce_failure`` blob to replay it.
"""

from __future__ import annotations

import copy
import io
import os
import tempfile
import traceback
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from aetrack.data.mot import MAX_FRAME, read_mot_file
from aetrack.data.sources import VideoSource
from aetrack.errors import AetrackError
from aetrack.experiment import ExperimentConfig, load_experiment
from aetrack.train.checkpoint import load_checkpoint
from aetrack.tracker import Tracker
from aetrack.validate import to_bgr
from cli.main import app

REPO = Path(__file__).resolve().parents[1]
EMBEDDED = REPO / "aetrack" / "weights" / "synth_small.pt"
FUZZ_EXAMPLES = int(os.environ.get("AETRACK_FUZZ_EXAMPLES", "0"))


def fuzz_settings(examples: int) -> settings:
    """``examples`` derandomized examples inside ``make test``; AETRACK_FUZZ_EXAMPLES random
    ones in ``make fuzz``."""
    return settings(
        max_examples=FUZZ_EXAMPLES or examples,
        derandomize=not FUZZ_EXAMPLES,
        deadline=None,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


@pytest.fixture(scope="module")
def workdir() -> Path:
    with tempfile.TemporaryDirectory(prefix="aetrack-fuzz-") as d:
        yield Path(d)


def fresh(root: Path) -> Path:
    """A new empty folder per example (hypothesis reuses a test's fixtures across examples)."""
    return Path(tempfile.mkdtemp(prefix="ex", dir=root))


# -- MOT text ----------------------------------------------------------------------------------
AWKWARD = ["1", "0", "-1", "2", "7", "1.5", "nan", "NaN", "inf", "-inf", "1e20", "-1e20", "1e400",
           "9223372036854775807", "-9223372036854775808", "2147483647", "2147483648", "1e7", "10000001",
           "", " ", "x", "1_0", "0x10", " 3 ", "\t4", "1,", "\x00", "１", "1e-320"]
field = st.one_of(st.sampled_from(AWKWARD), st.integers(-10**12, 10**12).map(str),
                  st.floats(allow_nan=True, allow_infinity=True).map(repr), st.text(max_size=4))
row = st.lists(field, min_size=0, max_size=12)
VALID_ROW = "{f},{i},{x:.1f},{y:.1f},{w:.1f},{h:.1f},{c:.3f},1,0.8"


@st.composite
def mot_text(draw) -> bytes:
    """A MOT file: mostly valid rows with awkward ones mixed in, joined in awkward ways."""
    n = draw(st.integers(0, 12))
    rows = []
    for _ in range(n):
        if draw(st.booleans()):
            rows.append(VALID_ROW.format(f=draw(st.integers(1, 6)), i=draw(st.integers(1, 4)),
                                         x=draw(st.floats(-50, 500)), y=draw(st.floats(-50, 500)),
                                         w=draw(st.floats(0, 100)), h=draw(st.floats(0, 200)),
                                         c=draw(st.floats(0, 1))))
        else:
            sep = draw(st.sampled_from([",", ",", ", ", "\t", ";"]))
            rows.append(sep.join(draw(row)))
    if rows and draw(st.booleans()):
        rows.append(rows[draw(st.integers(0, len(rows) - 1))])  # a duplicate row (same id, same frame)
    rows = draw(st.permutations(rows))                         # unsorted frames
    text = draw(st.sampled_from(["\n", "\r\n", "\r"])).join(rows) + draw(st.sampled_from(["", "\n"]))
    data = text.encode("utf-8", "surrogatepass") if draw(st.booleans()) else text.encode("utf-8", "replace")
    if draw(st.booleans()):
        data = b"\xef\xbb\xbf" + data
    return mutate(draw, data, max_edits=2)


def mutate(draw, data: bytes, *, max_edits: int) -> bytes:
    """Up to ``max_edits`` random byte edits: flip, insert, delete, cut."""
    b = bytearray(data)
    for _ in range(draw(st.integers(0, max_edits))):
        if not b:
            break
        op = draw(st.sampled_from(["flip", "insert", "delete", "cut"]))
        at = draw(st.integers(0, len(b) - 1))
        if op == "flip":
            b[at] = draw(st.integers(0, 255))
        elif op == "insert":
            b[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del b[at:at + draw(st.integers(1, 16))]
        else:
            del b[at:]
    return bytes(b)


def expect_result_or_aetrack_error(fn, *args, **kwargs):
    """The property: a result, or AetrackError with a one-line message; anything else fails."""
    try:
        return fn(*args, **kwargs)
    except AetrackError as err:
        assert str(err) and "\n" not in str(err), repr(str(err))
        return None


@given(data=mot_text(), kind=st.sampled_from(["gt", "det", "results"]))
@fuzz_settings(120)
def test_mot_reader(workdir: Path, data: bytes, kind: str) -> None:
    p = fresh(workdir) / "f.txt"
    p.write_bytes(data)
    table = expect_result_or_aetrack_error(read_mot_file, p, kind=kind)
    if table is not None and len(table):
        assert table.frame.min() >= 1 and table.frame.max() <= MAX_FRAME
        assert np.isfinite(table.boxes).all() and np.isfinite(table.conf).all() and np.isfinite(table.vis).all()
        assert (table.boxes[:, 2:] >= 0).all()


def _cli_failure(res) -> str:
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        return "".join(traceback.format_exception(res.exception))
    return res.output


@pytest.fixture(scope="module")
def sequence(workdir: Path) -> Path:
    seq = workdir / "seq"
    (seq / "det").mkdir(parents=True)
    (seq / "seqinfo.ini").write_text("[Sequence]\nname=seq\nframeRate=25\nseqLength=6\nimWidth=640\nimHeight=480\n")
    return seq


@given(data=mot_text(), linker=st.sampled_from(["motion", "iou", "tags_motion"]))
@fuzz_settings(50)
def test_track_cli_on_detection_files(workdir: Path, sequence: Path, data: bytes, linker: str) -> None:
    det = fresh(workdir) / "det.txt"
    det.write_bytes(data)
    out = det.parent / "out"
    res = CliRunner().invoke(app, ["track", str(sequence), "--dets", str(det), "--out", str(out),
                                   "--linker", linker, "--no-evaluate"])
    assert res.exit_code in (0, 2), _cli_failure(res)
    written = sorted(os.listdir(out)) if out.exists() else []
    if res.exit_code == 2:
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
        assert written == [], written                     # nothing half-written
    else:
        assert written == ["seq.jsonl", "seq.txt"], written
        read_mot_file(out / "seq.txt", kind="results")   # what we write, we read back


# -- configs -------------------------------------------------------------------------------------
yaml_scalar = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                        st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
                        st.sampled_from(["2024-02-30", "1e400", ".nan", "~", "[", "{a: 1}"]))


def nested(leaf: st.SearchStrategy, key: st.SearchStrategy) -> st.SearchStrategy:
    """A leaf, a list of leaves, or a mapping to leaves or lists of leaves (two levels deep)."""
    level1 = st.one_of(leaf, st.lists(leaf, max_size=3))
    return st.one_of(level1, st.dictionaries(key, level1, max_size=3))


yaml_value = nested(yaml_scalar, st.text(max_size=6))


def _leaves(d: dict, prefix: tuple = ()) -> list[tuple]:
    out = []
    for k, v in d.items():
        out.extend(_leaves(v, (*prefix, k)) if isinstance(v, dict) and v else [(*prefix, k)])
    return out


@pytest.fixture(scope="module")
def base_config() -> dict:
    return yaml.safe_load((REPO / "configs" / "debug.yaml").read_text())


@given(data=st.data())
@fuzz_settings(100)
def test_config_mutations_and_overrides(workdir: Path, base_config: dict, data) -> None:
    cfg = yaml.safe_load(yaml.safe_dump(base_config))
    leaves = _leaves(cfg)
    for _ in range(data.draw(st.integers(0, 3))):
        path = data.draw(st.sampled_from(leaves))
        node = cfg
        for k in path[:-1]:
            node = node[k] if isinstance(node, dict) and isinstance(node.get(k), dict) else {}
        if data.draw(st.booleans()):
            node[path[-1]] = data.draw(yaml_value)
        else:
            node[data.draw(st.text(max_size=6))] = data.draw(yaml_value)
    text = yaml.safe_dump(cfg, allow_unicode=True)
    raw = mutate(data.draw, text.encode(), max_edits=data.draw(st.sampled_from([0, 0, 2])))
    path = fresh(workdir) / "c.yaml"
    path.write_bytes(raw)
    key = st.sampled_from([".".join(p) for p in leaves] + ["train.stepz", "model", "x.y.z", "", "data.synth.seed"])
    override = st.builds(lambda k, v, s: f"{k}{s}{v}", key,
                         st.one_of(st.sampled_from(["true", "nan", ".inf", "1e400", "[1,", "-1", "0", "{}", ""]),
                                   st.text(max_size=6)),
                         st.sampled_from(["=", "=", ":"]))
    overrides = data.draw(st.lists(override, max_size=3))
    result = expect_result_or_aetrack_error(load_experiment, path, overrides)
    assert result is None or isinstance(result, ExperimentConfig)


# -- random bytes as video, weights and config --------------------------------------------------
@pytest.fixture(scope="module")
def small_video(workdir: Path) -> bytes:
    import cv2

    p = workdir / "v.avi"
    w = cv2.VideoWriter(str(p), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (48, 32))
    for k in range(12):
        w.write(np.full((32, 48, 3), 20 * k, np.uint8))
    w.release()
    return p.read_bytes()


@pytest.fixture(scope="module")
def embedded_bytes() -> bytes:
    return EMBEDDED.read_bytes()


@given(data=st.data(), what=st.sampled_from(["video", "weights", "config"]))
@fuzz_settings(60)
def test_random_and_mutated_bytes(workdir: Path, small_video: bytes, embedded_bytes: bytes, data, what: str) -> None:
    base = {"video": small_video, "weights": embedded_bytes, "config": b"name: x\ntrain:\n  steps: 3\n"}[what]
    if data.draw(st.booleans()):
        raw = data.draw(st.binary(max_size=2048))
    else:
        raw = mutate(data.draw, base, max_edits=4)
    path = fresh(workdir) / {"video": "v.avi", "weights": "w.pt", "config": "c.yaml"}[what]
    path.write_bytes(raw)
    if what == "video":
        src = expect_result_or_aetrack_error(VideoSource.open, path, allow_truncated=data.draw(st.booleans()))
        if src is not None:
            frames = expect_result_or_aetrack_error(lambda: [img.shape for _, img in src])
            if frames is not None and src.truncated is None and src.length is not None:
                assert len(frames) == src.length   # all frames the container lists, or an error
    elif what == "weights":
        expect_result_or_aetrack_error(load_checkpoint, path)
    else:
        expect_result_or_aetrack_error(load_experiment, path)


# -- checkpoints with entries of the wrong type -------------------------------------------------
safe_value = nested(st.one_of(st.none(), st.booleans(), st.integers(-2**40, 2**40), st.floats(), st.text(max_size=5),
                              st.just(torch.zeros(2)), st.just(torch.ones(3, dtype=torch.int64))),
                    st.text(max_size=4))


@pytest.fixture(scope="module")
def embedded_state() -> dict:
    return torch.load(EMBEDDED, map_location="cpu", weights_only=True)


@given(data=st.data())
@fuzz_settings(30)
def test_checkpoint_entries_of_any_type(workdir: Path, embedded_state: dict, data) -> None:
    state = dict(embedded_state)
    for _ in range(data.draw(st.integers(1, 3))):
        where = data.draw(st.sampled_from(["format", "version", "config", "model", "step", "metrics",
                                           "config.model", "config.decode.top_k", "model.tensor", "drop"]))
        if where == "drop":
            state.pop(data.draw(st.sampled_from(sorted(state))), None)
        elif where.startswith("config.") and isinstance(state.get("config"), dict):
            cfg = copy.deepcopy(state["config"])
            section, *rest = where.split(".")[1:]
            if isinstance(cfg.get(section), dict) and rest:
                cfg[section][rest[0]] = data.draw(safe_value)
            else:
                cfg[section] = data.draw(safe_value)
            state["config"] = cfg
        elif where == "model.tensor" and isinstance(state.get("model"), dict) and state["model"]:
            model = dict(state["model"])
            name = data.draw(st.sampled_from(sorted(model)))
            old = model[name]
            shrunk = old.reshape(-1)[:1] if isinstance(old, torch.Tensor) else torch.zeros(1)
            model[name] = data.draw(st.one_of(safe_value, st.just(torch.zeros(1)), st.just(shrunk)))
            state["model"] = model
        else:
            state[where] = data.draw(safe_value)
    buf = io.BytesIO()
    torch.save(state, buf)
    path = fresh(workdir) / "w.pt"
    path.write_bytes(buf.getvalue())
    expect_result_or_aetrack_error(load_checkpoint, path)


# -- the Python API -------------------------------------------------------------------------------
number = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**9, 10**9), st.booleans())
array_like = st.one_of(
    st.lists(st.lists(number, max_size=5), max_size=4),
    st.lists(number, max_size=6),
    st.builds(lambda shape, fill: np.full(shape, fill), st.lists(st.integers(0, 5), max_size=3), number),
    st.none(), st.text(max_size=3),
)


@given(boxes=array_like, scores=array_like)
@fuzz_settings(150)
def test_api_detections_raise_value_error_or_link(boxes, scores) -> None:
    trk = Tracker.for_detections()
    try:
        tracks = trk.update_detections(boxes=boxes, scores=scores)
    except ValueError as err:
        assert isinstance(err, AetrackError), repr(err)  # InvalidArgument: a ValueError and an AetrackError
        return
    assert all(np.isfinite(t.box).all() for t in tracks)


@given(shape=st.lists(st.integers(0, 6), max_size=4), dtype=st.sampled_from(["uint8", "float32", "int64", "bool",
                                                                              "float16", "complex64", "U1"]),
       fill=st.sampled_from([0, 1, 0.5, 300, -5, float("nan"), float("inf")]))
@fuzz_settings(80)
def test_api_frames_convert_or_raise_value_error(shape: list[int], dtype: str, fill) -> None:
    try:
        with np.errstate(invalid="ignore", over="ignore"):
            frame = np.full(shape, fill).astype(dtype)
    except (ValueError, TypeError, OverflowError):
        return  # numpy itself cannot build this array
    try:
        img = to_bgr(frame)
    except ValueError as err:
        assert isinstance(err, AetrackError) and "frame" in str(err), repr(err)
        return
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
