"""Atomic file writes: a temp file in the target folder, fsync, then ``os.replace``.

A crash or Ctrl-C mid-write leaves either the previous file or nothing, never half a file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


def default_file_mode() -> int:
    """The mode a plain ``open()`` would give a new file (0666 minus the umask)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def temp_beside(path: Path, *, suffix: str = ".tmp") -> tuple[int, str]:
    """``(fd, name)`` of a new hidden temp file in ``path``'s folder, with the mode a plain
    ``open()`` would give (mkstemp makes 0600; results are for sharing)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.chmod(tmp, default_file_mode())
    return fd, tmp


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "w") -> Iterator[IO]:
    """Open a temp file beside ``path``; on clean exit it replaces ``path`` atomically."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temp_beside(p)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
