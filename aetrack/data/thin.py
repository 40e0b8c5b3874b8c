"""Thinning a MOT sequence to a lower frame rate: keep every k-th frame.

    thin_sequence("../shared/data/MOT17-train/MOT17-02-FRCNN", "mot17_every4", every=4)

keeps frames 1, 1 + k, 1 + 2k, ... of the source and numbers them 1, 2, 3, ...: the ground
truth and the detections are thinned alike (every row of a kept frame, the rest of each line
byte for byte), ``frameRate`` becomes frameRate / k and ``seqLength`` ceil(n / k); the other
``seqinfo.ini`` keys are kept. Frames that exist as images (``img1/``) are carried over under
their new numbers (hard links where the filesystem allows, else copies); a sequence whose frames
are one video file gets its kept frames written as JPEG images. A MOT17 sequence thinned with
k = 4 is the same scene seen by a 7.5 frames/s camera, which is how the linker's defaults are
checked across frame rates (``aetrack thin``).
"""

from __future__ import annotations

import configparser
import io
import os
import shutil
from pathlib import Path

from aetrack.data.mot import MotSequence, find_sequences
from aetrack.errors import AetrackError
from aetrack.io.atomic import atomic_write


def thinned_frame(frame: int, every: int) -> int | None:
    """New 1-based number of source frame ``frame`` when keeping every ``every``-th frame from
    frame 1 (1 -> 1, 1 + every -> 2, ...), or None for a dropped frame."""
    return (frame - 1) // every + 1 if (frame - 1) % every == 0 else None


def thin_sequence(src: str | Path, out_root: str | Path, *, every: int, overwrite: bool = False) -> Path:
    """Write ``out_root/<name>/`` = the sequence ``src`` keeping every ``every``-th frame.

    Returns the new sequence folder. An existing folder is refused unless ``overwrite``;
    ``every`` must be an integer >= 1 (1 copies the sequence). Raises :class:`AetrackError`.
    """
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise AetrackError(f"--every must be an integer >= 1, got {every!r}")
    seq = MotSequence.open(src)
    out = Path(out_root) / seq.name
    if out.resolve() == seq.root.resolve():
        raise AetrackError(f"{out}: the thinned copy would replace its source; choose another output folder")
    if out.exists():
        if not overwrite:
            raise AetrackError(f"{out} exists; pass --overwrite to replace it")
        shutil.rmtree(out)
    length = -(-seq.info.length // every)                          # ceil(n / k)
    (out / "gt").mkdir(parents=True)
    for table, path in (("gt", seq.gt_path), ("det", seq.det_path)):
        if path.is_file():
            (out / table).mkdir(exist_ok=True)
            with atomic_write(out / table / path.name) as f:
                f.write(_thin_rows(path, every=every, length=length))
    _thin_frames(seq, out, every=every, length=length)
    with atomic_write(out / "seqinfo.ini") as f:
        f.write(_thin_seqinfo(seq, every=every, length=length))
    return out


def thin_sequences(src: str | Path, out_root: str | Path, *, every: int, overwrite: bool = False) -> list[Path]:
    """:func:`thin_sequence` for every sequence under ``src`` (one sequence folder or a folder of them)."""
    return [thin_sequence(s.root, out_root, every=every, overwrite=overwrite) for s in find_sequences(src)]


def _thin_rows(path: Path, *, every: int, length: int) -> str:
    """The rows of MOT file ``path`` in kept frames with their new frame numbers (column 1), the
    rest of every line unchanged. A row whose frame is not a whole number is an AetrackError."""
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        if not line.strip():
            continue
        head, sep, rest = line.partition(",")
        try:
            value = float(head)
        except ValueError:
            value = float("nan")
        if not sep or not value.is_integer() or value < 1:
            raise AetrackError(f"{path}:{n}: frame must be a whole number >= 1, got {head.strip()!r}")
        frame = thinned_frame(int(value), every)
        if frame is not None and frame <= length:
            out.append(f"{frame},{rest}\n")
    return "".join(out)


def _thin_seqinfo(seq: MotSequence, *, every: int, length: int) -> str:
    """``seqinfo.ini`` of the thinned sequence: frameRate / k, seqLength ceil(n / k), the rest kept."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keys are camelCase
    parser.read_string((seq.root / "seqinfo.ini").read_bytes().decode("utf-8-sig"))
    sec = parser["Sequence"]
    sec["frameRate"] = f"{seq.info.frame_rate / every:g}"
    sec["seqLength"] = str(length)
    text = io.StringIO()
    parser.write(text, space_around_delimiters=False)
    return text.getvalue()


def _thin_frames(seq: MotSequence, out: Path, *, every: int, length: int) -> None:
    """Carry the kept frames: images under their new numbers, or a video's frames as JPEG images."""
    im_dir = out / seq.info.im_dir
    if seq.image_dir() is not None:
        for new in range(1, length + 1):
            old = seq.image_path((new - 1) * every + 1)
            if old.is_file():
                im_dir.mkdir(exist_ok=True)
                _link_or_copy(old, im_dir / f"{new:06d}{seq.info.im_ext}")
        return
    if seq.video_file() is None:
        return
    import cv2

    from aetrack.data.sources import open_sequence_source

    im_dir.mkdir(exist_ok=True)
    for frame, img in open_sequence_source(seq):
        new = thinned_frame(frame, every)
        if new is not None and new <= length:
            if not cv2.imwrite(str(im_dir / f"{new:06d}{seq.info.im_ext}"), img):
                raise AetrackError(f"{im_dir}: cannot write frame {new} as {seq.info.im_ext}")


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)
