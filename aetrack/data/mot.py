"""MOTChallenge sequences: ``seqinfo.ini``, ground truth, detections and frame ranges.

Row format (all files): ``frame,id,bb_left,bb_top,bb_width,bb_height,conf,...`` with frames and
ids 1-based and boxes in pixels. Ground truth comes in two column sets:

* MOT15: ``frame,id,x,y,w,h,flag,wx,wy,wz`` (10 columns; world coordinates ignored);
* MOT16/17/20: ``frame,id,x,y,w,h,flag,class,visibility`` (9 columns).

Tracker results: ``frame,id,x,y,w,h,conf,class,-1,-1``; column 8 is the class as the official
evaluator reads it (1 = pedestrian / aetrack's person; -1, as in files written before aetrack
named classes, or a missing column: not a class, evaluated as pedestrian).

:func:`read_mot_file` validates every row and names the file and line of the first bad one.
"""

from __future__ import annotations

import configparser
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aetrack.errors import AetrackError
from aetrack.validate import MAX_COORDINATE

# Largest frame number and |id| / |class| a MOT file may hold: int32's range, which every tool
# that reads these files handles (2**31 frames are two years of 30 frames/s video); larger
# values are corrupt data and would wrap in integer arithmetic.
MAX_FRAME = 2**31 - 1
MAX_ID = 2**31 - 1

VIDEO_EXTENSIONS = (".avi", ".mp4", ".mkv", ".mov", ".m4v", ".webm", ".mpg", ".mpeg")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


@dataclass(frozen=True)
class FrameRange:
    """Inclusive 1-based frame range; ``None`` ends are open."""

    first: int | None = None
    last: int | None = None

    def contains(self, frame: int) -> bool:
        return (self.first is None or frame >= self.first) and (self.last is None or frame <= self.last)

    def mask(self, frames: np.ndarray) -> np.ndarray:
        m = np.ones(len(frames), dtype=bool)
        if self.first is not None:
            m &= frames >= self.first
        if self.last is not None:
            m &= frames <= self.last
        return m

    def __str__(self) -> str:
        return f"{self.first or ''}:{self.last or ''}"


#: Where a MOTChallenge sequence folder keeps its public detections; what ``--dets`` names
#: inside each sequence folder when a command takes folders of sequences.
PUBLIC_DETS = "det/det.txt"

#: The "half-val" split of a sequence (ByteTrack's MOT17 protocol): the first half of its frames
#: to tune on, the second half to report. See :func:`half_range`.
HALVES = ("first", "second")


def half_range(length: int, half: str) -> FrameRange:
    """Frames of one half of a sequence of ``length`` frames: ``"first"`` = 1..length // 2,
    ``"second"`` = length // 2 + 1..length (PETS09-S2L1's 795 frames: 1-397 and 398-795, the
    PETS half split)."""
    if half not in HALVES:
        raise AetrackError(f"half {half!r}: choose one of {', '.join(HALVES)}")
    if isinstance(length, bool) or not isinstance(length, int) or length < 2:
        raise AetrackError(f"a sequence needs at least 2 frames to split into halves, got {length!r}")
    mid = length // 2
    return FrameRange(1, mid) if half == "first" else FrameRange(mid + 1, length)


def parse_frame_range(text: str | None) -> FrameRange | None:
    """Parse ``"A:B"``, ``"A:"`` or ``":B"`` (inclusive, 1-based); ``None``/empty means all."""
    if text is None or str(text).strip() in ("", ":"):
        return None
    s = str(text).strip()
    parts = s.split(":")
    try:
        if len(parts) != 2:
            raise ValueError
        first = int(parts[0]) if parts[0].strip() else None
        last = int(parts[1]) if parts[1].strip() else None
    except ValueError:
        raise AetrackError(f"frame range {s!r} is not of the form A:B (1-based, inclusive)") from None
    if (first is not None and first < 1) or (last is not None and last < 1):
        raise AetrackError(f"frame range {s!r}: frames are 1-based")
    if (first or 0) > MAX_FRAME or (last or 0) > MAX_FRAME:
        raise AetrackError(f"frame range {s!r}: frames go up to {MAX_FRAME}")
    if first is not None and last is not None and last < first:
        raise AetrackError(f"frame range {s!r}: end before start")
    return FrameRange(first, last)


@dataclass(frozen=True)
class SeqInfo:
    """The ``[Sequence]`` section of ``seqinfo.ini``."""

    name: str
    frame_rate: float
    length: int
    width: int
    height: int
    im_dir: str = "img1"
    im_ext: str = ".jpg"
    # aetrack's own key ``classes=person,car,...``: names of the 1-based values of a 9-column
    # gt file's class column (pseudo-labelled sequences); empty: MOTChallenge classes.
    classes: tuple[str, ...] = ()


_SEQINFO_KEYS = {"frameRate": "frame_rate", "seqLength": "length", "imWidth": "width", "imHeight": "height"}


def read_seqinfo(path: str | Path) -> SeqInfo:
    """Read ``seqinfo.ini``; a missing file, section or key is an :class:`AetrackError`."""
    p = Path(path)
    if not p.is_file():
        raise AetrackError(f"{p}: seqinfo.ini not found")
    parser = configparser.ConfigParser(interpolation=None)  # a '%' in a value is just a character
    parser.optionxform = str  # keys are camelCase
    try:
        parser.read_string(p.read_bytes().decode("utf-8-sig"), source=str(p))
    except OSError as err:
        raise AetrackError(f"{p}: cannot read ({err.strerror or err})") from None
    except UnicodeDecodeError as err:
        raise AetrackError(f"{p}: not UTF-8 text (byte {err.start})") from None
    except configparser.Error as err:
        raise AetrackError(f"{p}: cannot parse ({str(err).splitlines()[0]})") from None
    if "Sequence" not in parser:
        raise AetrackError(f"{p}: no [Sequence] section")
    sec = parser["Sequence"]
    values: dict[str, object] = {}
    for key, field in _SEQINFO_KEYS.items():
        if key not in sec:
            raise AetrackError(f"{p}: missing key '{key}' in [Sequence]")
        try:
            num = float(sec[key])
        except ValueError:
            raise AetrackError(f"{p}: key '{key}' is not a number: {sec[key]!r}") from None
        if not math.isfinite(num) or num <= 0:
            raise AetrackError(f"{p}: key '{key}' must be positive, got {sec[key]!r}")
        if field != "frame_rate" and num > MAX_FRAME:
            raise AetrackError(f"{p}: key '{key}' is at most {MAX_FRAME}, got {sec[key]!r}")
        values[field] = num if field == "frame_rate" else int(num)
    return SeqInfo(
        name=sec.get("name", p.parent.name),
        im_dir=sec.get("imDir", "img1"),
        im_ext=sec.get("imExt", ".jpg"),
        classes=tuple(c.strip() for c in sec.get("classes", "").split(",") if c.strip()),
        **values,  # type: ignore[arg-type]
    )


@dataclass(frozen=True)
class MotTable:
    """Rows of a MOT text file as columns. ``conf`` is the gt consider flag, or a det/track score."""

    frame: np.ndarray  # (N,) int64, 1-based
    ids: np.ndarray  # (N,) int64 (-1 for detections)
    boxes: np.ndarray  # (N, 4) float64, x, y, w, h in pixels
    conf: np.ndarray  # (N,) float64
    cls: np.ndarray  # (N,) int64: gt class, results class (column 8, -1 = none); 1 when the file has no such column
    vis: np.ndarray  # (N,) float64, 1 when the file has no visibility column
    fmt: str = "mot15"  # "mot15" or "mot16" (MOT16/17/20 column set)

    def __len__(self) -> int:
        return len(self.frame)

    def subset(self, mask: np.ndarray) -> "MotTable":
        return MotTable(self.frame[mask], self.ids[mask], self.boxes[mask], self.conf[mask],
                        self.cls[mask], self.vis[mask], self.fmt)

    def in_range(self, frames: FrameRange | None) -> "MotTable":
        return self if frames is None else self.subset(frames.mask(self.frame))

    def by_frame(self) -> dict[int, np.ndarray]:
        """Map frame number -> indices of its rows (ascending frame order)."""
        order = np.argsort(self.frame, kind="stable")
        frames, starts = np.unique(self.frame[order], return_index=True)
        ends = np.append(starts[1:], len(order))
        return {int(f): order[s:e] for f, s, e in zip(frames, starts, ends)}

    @staticmethod
    def empty(fmt: str = "mot15") -> "MotTable":
        z = np.zeros(0)
        return MotTable(z.astype(np.int64), z.astype(np.int64), np.zeros((0, 4)), z, z.astype(np.int64), z, fmt)


def read_mot_file(path: str | Path, *, kind: str = "gt") -> MotTable:
    """Read a MOT text file (``kind`` is ``"gt"``, ``"det"`` or ``"results"``).

    UTF-8 text (a byte-order mark and CRLF line ends are fine), comma-separated. Every column
    that is read is checked: at least 6 numeric columns, the same number on every row; frame a
    whole number in 1..``MAX_FRAME``; id a whole number within +-``MAX_ID``; box values finite,
    within +-:data:`aetrack.validate.MAX_COORDINATE`, width and height non-negative; the
    7th column (flag or score) finite; in 9-column files the class a whole number within
    +-``MAX_ID`` and the visibility finite. Results must not repeat an id within a frame.
    The first violation in file order raises :class:`AetrackError` naming the file and 1-based
    line.
    """
    p = Path(path)
    if not p.is_file():
        raise AetrackError(f"{p}: file not found")
    try:
        text = p.read_bytes().decode("utf-8-sig")
    except OSError as err:
        raise AetrackError(f"{p}: cannot read ({err.strerror or err})") from None
    except UnicodeDecodeError as err:
        raise AetrackError(f"{p}: not UTF-8 text (byte {err.start}); expected MOT rows") from None
    lines = text.splitlines()
    numbers = [i + 1 for i, line in enumerate(lines) if line.strip()]
    if not numbers:
        return MotTable.empty()
    rows = _parse_rows(p, lines, numbers)
    _check_rows(p, rows, numbers)
    ncol = rows.shape[1]
    fmt = "mot16" if ncol == 9 else "mot15"
    frame = rows[:, 0].astype(np.int64)
    ids = rows[:, 1].astype(np.int64)
    if kind == "results":
        key = frame * (1 << 32) + ids  # unique per (frame, id): |id| < 2**31, frame < 2**31
        uniq, counts = np.unique(key, return_counts=True)
        if (counts > 1).any():
            dup_rows = np.flatnonzero(key == uniq[counts > 1][0])
            raise AetrackError(
                f"{p}:{numbers[int(dup_rows[1])]}: id {ids[dup_rows[1]]} appears twice in frame "
                f"{frame[dup_rows[1]]}"
            )
    n = len(rows)
    conf = rows[:, 6] if ncol > 6 else np.ones(n)
    if kind == "results" and ncol >= 8:
        bad = ~np.isfinite(rows[:, 7])
        if bad.any():
            raise AetrackError(f"{p}:{numbers[int(np.argmax(bad))]}: NaN or infinite class (column 8)")
    if fmt == "mot16" or (kind == "results" and ncol >= 8):
        cls = rows[:, 7].astype(np.int64)
    else:
        cls = np.ones(n, dtype=np.int64)
    vis = rows[:, 8].copy() if fmt == "mot16" else np.ones(n)
    return MotTable(frame, ids, rows[:, 2:6].copy(), conf.copy(), cls, vis, fmt)


def _check_rows(p: Path, rows: np.ndarray, numbers: list[int]) -> None:
    """Raise for the first row (in file order) with a bad value in a column that is read."""
    ncol = rows.shape[1]
    with np.errstate(invalid="ignore"):  # NaN compares False; isfinite flags it first anyway
        checks = [
            (~np.isfinite(rows[:, 0]) | (rows[:, 0] < 1) | (rows[:, 0] > MAX_FRAME) | (rows[:, 0] != np.round(rows[:, 0])),
             f"frame must be a whole number in 1..{MAX_FRAME}"),
            (~_whole_within(rows[:, 1], MAX_ID), f"id must be a whole number within +-{MAX_ID}"),
            (~np.isfinite(rows[:, 2:6]).all(axis=1), "NaN or infinite value in the box"),
            ((np.abs(rows[:, 2:6]) > MAX_COORDINATE).any(axis=1),
             f"box value beyond +-{MAX_COORDINATE:g} pixels"),
            ((rows[:, 4] < 0) | (rows[:, 5] < 0), "negative box width or height"),
        ]
        if ncol > 6:
            checks.append((~np.isfinite(rows[:, 6]), "NaN or infinite value in column 7 (flag or score)"))
        if ncol == 9:
            checks.append((~_whole_within(rows[:, 7], MAX_ID), f"class must be a whole number within +-{MAX_ID}"))
            checks.append((~np.isfinite(rows[:, 8]), "NaN or infinite visibility"))
    first, message = len(rows), ""
    for bad, text in checks:
        hit = np.flatnonzero(bad)
        if hit.size and hit[0] < first:
            first, message = int(hit[0]), text
    if message:
        raise AetrackError(f"{p}:{numbers[first]}: {message}")


def _whole_within(values: np.ndarray, limit: int) -> np.ndarray:
    """Mask of finite whole numbers with ``|value| <= limit``."""
    with np.errstate(invalid="ignore"):
        return np.isfinite(values) & (np.abs(values) <= limit) & (values == np.round(values))


def _parse_rows(p: Path, lines: list[str], numbers: list[int]) -> np.ndarray:
    """Parse comma-separated rows into a float array (ragged rows padded with NaN)."""
    body = [lines[n - 1] for n in numbers]
    try:
        rows = np.array([[float(v) for v in line.split(",")] for line in body], dtype=np.float64)
        if rows.ndim == 2 and rows.shape[1] >= 6:
            return rows
    except ValueError:
        pass
    # Slow path: find and name the first bad line.
    width = None
    for n, line in zip(numbers, body):
        fields = line.split(",")
        if len(fields) < 6:
            raise AetrackError(f"{p}:{n}: expected at least 6 comma-separated columns, got {len(fields)}")
        try:
            [float(v) for v in fields]
        except ValueError:
            raise AetrackError(f"{p}:{n}: non-numeric value in {line.strip()!r}") from None
        if width is None:
            width = len(fields)
        elif len(fields) != width:
            raise AetrackError(f"{p}:{n}: {len(fields)} columns where earlier rows have {width}")
    raise AetrackError(f"{p}: cannot parse rows")  # pragma: no cover - unreachable by construction


@dataclass(frozen=True)
class MotSequence:
    """A MOTChallenge sequence folder: seqinfo, gt, det and a frame source (img1 or one video)."""

    root: Path
    info: SeqInfo

    @staticmethod
    def open(root: str | Path) -> "MotSequence":
        r = Path(root)
        if not r.is_dir():
            raise AetrackError(f"{r}: sequence folder not found")
        return MotSequence(r, read_seqinfo(r / "seqinfo.ini"))

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def gt_path(self) -> Path:
        return self.root / "gt" / "gt.txt"

    @property
    def det_path(self) -> Path:
        return self.root / PUBLIC_DETS

    def gt(self, frames: FrameRange | None = None) -> MotTable:
        return read_mot_file(self.gt_path, kind="gt").in_range(frames)

    def det(self, frames: FrameRange | None = None, *, path: str = "") -> MotTable:
        """The detections in ``path`` inside the sequence folder (default :data:`PUBLIC_DETS`)."""
        return read_mot_file(self.root / (path or PUBLIC_DETS), kind="det").in_range(frames)

    def image_dir(self) -> Path | None:
        d = self.root / self.info.im_dir
        return d if d.is_dir() and any(d.iterdir()) else None

    def video_file(self) -> Path | None:
        vids = sorted(f for f in self.root.iterdir() if f.suffix.lower() in VIDEO_EXTENSIONS)
        return vids[0] if vids else None

    def image_path(self, frame: int) -> Path:
        return self.root / self.info.im_dir / f"{frame:06d}{self.info.im_ext}"


def is_mot_sequence(path: str | Path) -> bool:
    return Path(path, "seqinfo.ini").is_file()


def find_sequences(root: str | Path) -> list[MotSequence]:
    """The sequence folders under ``root`` (or ``root`` itself if it is one), sorted by name."""
    r = Path(root)
    if not r.is_dir():
        raise AetrackError(f"{r}: folder not found")
    if is_mot_sequence(r):
        return [MotSequence.open(r)]
    seqs = [MotSequence.open(d) for d in sorted(r.iterdir()) if d.is_dir() and is_mot_sequence(d)]
    if not seqs:
        raise AetrackError(f"{r}: no MOT sequence folders (with seqinfo.ini) found")
    return seqs
