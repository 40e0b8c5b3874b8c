"""Atomic file writes: a temp file in the target folder, fsync, then ``os.replace``.

A crash or Ctrl-C mid-write leaves either the previous file or nothing, never half a file.
A process killed outright (``kill -9``, power loss) cannot remove its temp files; they are
named ``.<target>.aetrack-<host>-<pid>-<random><suffix>`` so that :func:`remove_stale_temps`,
run when the next run writes into the same folder, can tell them from those of a live process
(on this machine; a folder shared by several machines keeps the other machines' files).
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
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
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{TEMP_TAG}-{_host()}-{os.getpid()}-", suffix=suffix,
                               dir=path.parent)
    os.chmod(tmp, default_file_mode())
    return fd, tmp


TEMP_TAG = "aetrack"
# mkstemp's random part is 8 characters of [a-z0-9_]; the suffix is ".tmp" or a file type.
_TEMP_NAME = re.compile(r"^\..+\." + TEMP_TAG + r"-(?P<host>[A-Za-z0-9.]+)-(?P<pid>\d+)-[a-z0-9_]{8}\.[A-Za-z0-9]+$")


def _host() -> str:
    """This machine's name as it appears in temp names (letters, digits and dots only)."""
    return re.sub(r"[^A-Za-z0-9.]", "", socket.gethostname()) or "host"


def remove_stale_temps(folder: str | Path) -> list[Path]:
    """Delete the temp files :func:`temp_beside` made in ``folder`` on this machine for
    processes that no longer run (killed before they could clean up); returns what was removed.

    Files of live processes (another run writing into the same folder now), files made on other
    machines (whose processes cannot be checked from here) and anything not named by
    :func:`temp_beside` are kept. A process id reused since is taken as live, which only delays
    the clean-up to a later run.
    """
    d = Path(folder)
    removed: list[Path] = []
    try:
        entries = list(os.scandir(d))
    except OSError:  # no folder yet (nothing to clean) or unreadable (the write will say so)
        return removed
    host = _host()
    for entry in entries:
        m = _TEMP_NAME.match(entry.name)
        if (m is None or m["host"] != host or _process_alive(int(m["pid"]))
                or not entry.is_file(follow_symlinks=False)):
            continue
        with contextlib.suppress(FileNotFoundError):
            os.unlink(entry.path)
            removed.append(Path(entry.path))
    return removed


def _process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (one we may not signal counts too)."""
    if pid == os.getpid() or os.name == "nt":  # Windows' os.kill(pid, 0) would end the process
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # another user's process, or not a pid we can judge: keep its files
    return True


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
