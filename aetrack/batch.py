"""Tracking many inputs: list them, skip the finished ones, run the rest in parallel.

    aetrack track recordings/ --out tracks --workers 2      # local worker processes
    aetrack track 'cams/*.mp4' --out /shared/tracks --ray --ray-address auto   # a Ray cluster

Each input (a video, an image folder or a MOT sequence folder) writes the files a single
``aetrack track`` run writes, ``OUT/<name>.txt``, ``OUT/<name>.jsonl`` (and ``OUT/<name>.mp4``
with --save-video), through :func:`aetrack.track_job.track_input`: the bytes are those of a
one-at-a-time run. An input is finished when all its files exist: each is written atomically
(temp file + rename) at the end of its run, so a crash leaves them whole or absent, and a re-run
skips exactly the finished inputs.

Where the work happens: the driver (the ``aetrack`` process) lists the inputs, checks which
are finished, hands out the others and shows one progress bar; it writes nothing. Each worker
(a spawned local process, or a Ray task on any node of the cluster) builds its own tracker,
reads its input and writes its outputs into OUT, so on a cluster both the inputs and OUT must
be on a filesystem every node mounts at the same path. A failed input is tried once more; its
error is reported while the others finish.
"""

from __future__ import annotations

import glob
import multiprocessing
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from aetrack.data.mot import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, is_mot_sequence
from aetrack.errors import AetrackError
from aetrack.track_job import TrackSettings, output_files, track_input

# Tries per input: the first run and one retry (a worker that crashed, a node that went away).
ATTEMPTS = 2
_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class BatchInput:
    """One input of a many-input run: what to open, the name its outputs take, its detections."""

    source: str  # a video file, image folder or MOT sequence folder, as open_source takes it
    name: str  # output name: the video's stem or the folder's name, as a single run names it
    dets: str | None = None  # this input's detections file (--dets read inside its folder)


@dataclass(frozen=True)
class InputOutcome:
    """How one input ended: tracked (frames, rows, seconds) or failed (a one-line error)."""

    name: str
    source: str
    frames: int = 0
    rows: int = 0
    tracks: str = ""  # e.g. "5 tracks (4 person, 1 car)" (RunStats.tracks_text)
    seconds: float = 0.0
    error: str | None = None
    warning: str | None = None
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return self.error is None


def is_many(sources: Sequence[str]) -> bool:
    """Whether ``sources`` (the command's arguments) name several inputs: more than one argument,
    a glob pattern, or a folder of videos / sequence folders (not itself a sequence or image folder)."""
    if len(sources) != 1:
        return True
    s = sources[0]
    return (_is_glob(s) and not Path(s).exists()) or _is_input_folder(Path(s))


def list_inputs(sources: Sequence[str], *, settings: TrackSettings) -> list[BatchInput]:
    """The inputs that ``sources`` name, in argument order (a folder's and a glob's sorted by
    name). A folder of inputs contributes its videos, MOT sequence folders and image folders.

    With ``settings.dets`` (a relative path), each input's detections are that path inside its
    folder, e.g. ``det/det.txt`` of every MOT sequence.
    """
    paths: list[Path] = []
    for s in sources:
        p = Path(s)
        if _is_glob(s) and not p.exists():
            matches = sorted(glob.glob(s))
            if not matches:
                raise AetrackError(f"{s}: no file or folder matches this pattern")
            paths.extend(Path(m) for m in matches if _is_input(Path(m)))
        elif _is_input_folder(p):
            paths.extend(sorted(c for c in p.iterdir() if _is_input(c)))
        elif p.exists():
            paths.append(p)
        else:
            raise AetrackError(f"{p}: no such video file, image folder or sequence folder")
    if not paths:
        raise AetrackError(f"no videos, image folders or sequence folders in {', '.join(sources)}")
    inputs = [BatchInput(source=str(p), name=p.name if p.is_dir() else p.stem, dets=_dets_of(p, settings))
              for p in paths]
    seen: dict[str, str] = {}
    for item in inputs:
        if item.name in seen:
            raise AetrackError(f"{seen[item.name]} and {item.source} would both write {item.name}.txt; "
                               "track them into different --out folders")
        seen[item.name] = item.source
    return inputs


def is_finished(item: BatchInput, *, out_dir: Path, settings: TrackSettings) -> bool:
    """All of ``item``'s output files exist in ``out_dir`` (each was renamed into place whole)."""
    return all((out_dir / f).is_file() for f in output_files(item.name, settings))


def run_batch(
    inputs: Sequence[BatchInput],
    *,
    out_dir: Path,
    settings: TrackSettings,
    workers: int = 1,
    ray_address: str | None = None,
    use_ray: bool = False,
    on_done: Callable[[InputOutcome], None] = lambda outcome: None,
) -> list[InputOutcome]:
    """Track every input in ``workers`` local processes, or as Ray tasks (``use_ray``; a local
    Ray with ``workers`` x ``settings.threads`` CPUs when ``ray_address`` is None); calls
    ``on_done`` as each input ends and returns the outcomes in input order."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if use_ray:
        outcomes = _run_ray(inputs, out_dir=out_dir, settings=settings, workers=workers, address=ray_address,
                            on_done=on_done)
    else:
        outcomes = _run_local(inputs, out_dir=out_dir, settings=settings, workers=workers, on_done=on_done)
    order = {item.name: k for k, item in enumerate(inputs)}
    return sorted(outcomes, key=lambda o: order[o.name])


def track_one(item: BatchInput, out_dir: str, settings: TrackSettings) -> InputOutcome:
    """Track one input in this process (a worker's job); raises what tracking raises."""
    result = track_input(item.source, out_dir=out_dir, settings=settings, dets=item.dets, progress=False)
    warning = None
    if result.truncated is not None:
        warning = (f"{item.source}: the video ends after frame {result.truncated[0]} of {result.truncated[1]} "
                   f"(truncated or corrupt); kept the {result.stats.frames} frames read")
    return InputOutcome(name=item.name, source=item.source, frames=result.stats.frames, rows=result.stats.rows,
                        tracks=result.stats.tracks_text(),
                        seconds=result.stats.seconds, warning=warning)


def error_text(err: BaseException) -> str:
    """One line for a failed input: an AetrackError's message, else the exception's type and message."""
    text = str(err) if isinstance(err, AetrackError) else f"{type(err).__name__}: {err}"
    return " ".join(line.strip() for line in text.splitlines() if line.strip()) or type(err).__name__


# -- local worker processes --------------------------------------------------------------------

def _run_local(inputs: Sequence[BatchInput], *, out_dir: Path, settings: TrackSettings, workers: int,
               on_done: Callable[[InputOutcome], None]) -> list[InputOutcome]:
    """At most ``workers`` spawned processes at a time, one per input: a process that dies
    (killed, out of memory, a crash in native code) takes only its own input with it."""
    ctx = multiprocessing.get_context("spawn")
    waiting: deque[tuple[BatchInput, int]] = deque((item, 1) for item in inputs)
    running: dict[Connection, tuple[BatchInput, int, Any]] = {}
    outcomes: list[InputOutcome] = []
    try:
        while waiting or running:
            while waiting and len(running) < workers:
                item, attempt = waiting.popleft()
                recv, send = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_worker_main, args=(item, str(out_dir), settings, send), daemon=True)
                proc.start()
                send.close()  # the child holds the other end: its exit shows here as end of file
                running[recv] = (item, attempt, proc)
            for conn in wait(list(running)):
                item, attempt, proc = running.pop(conn)
                try:
                    outcome: InputOutcome = conn.recv()
                except EOFError:
                    proc.join()
                    outcome = InputOutcome(name=item.name, source=item.source,
                                           error=f"worker process died (exit code {proc.exitcode})")
                conn.close()
                proc.join()
                outcome = _with_attempts(outcome, attempt)
                if not outcome.ok and attempt < ATTEMPTS:
                    waiting.append((item, attempt + 1))
                    continue
                outcomes.append(outcome)
                on_done(outcome)
    finally:
        for _, _, proc in running.values():  # interrupted: stop the workers still running
            proc.terminate()
            proc.join()
    return outcomes


def _worker_main(item: BatchInput, out_dir: str, settings: TrackSettings, conn: Connection) -> None:
    """A worker process: track one input and send back its outcome (never raises)."""
    try:
        outcome = track_one(item, out_dir, settings)
    except BaseException as err:  # noqa: BLE001 - every failure is reported, as one line
        outcome = InputOutcome(name=item.name, source=item.source, error=error_text(err))
    conn.send(outcome)
    conn.close()


def _with_attempts(outcome: InputOutcome, attempts: int) -> InputOutcome:
    return InputOutcome(**{**outcome.__dict__, "attempts": attempts})


# -- Ray -----------------------------------------------------------------------------------------

def import_ray() -> Any:
    """The ``ray`` module, or an AetrackError naming the extra that installs it."""
    try:
        import ray
    except ImportError:
        raise AetrackError("--ray needs Ray, which is not installed: pip install 'aetrack[ray]'") from None
    return ray


def _run_ray(inputs: Sequence[BatchInput], *, out_dir: Path, settings: TrackSettings, workers: int,
             address: str | None, on_done: Callable[[InputOutcome], None]) -> list[InputOutcome]:
    """One Ray task per input, each reserving ``settings.threads`` CPUs. A task whose worker or
    node died is run again by Ray (``max_retries``); one that raised is submitted again here
    (Ray's own ``retry_exceptions`` would print the first traceback over the progress bar)."""
    import logging

    ray = import_ray()
    threads = settings.threads or 1
    started = not ray.is_initialized()
    if started:
        if address is None:  # a local Ray on this machine, sized for `workers` tasks at a time
            ray.init(num_cpus=workers * threads, include_dashboard=False, logging_level=logging.ERROR,
                     log_to_driver=False)
        else:
            ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
    try:
        task = ray.remote(track_one).options(num_cpus=threads, max_retries=ATTEMPTS - 1, retry_exceptions=False)
        out = str(out_dir.resolve())  # tasks may run in another folder, or on another node

        def submit(item: BatchInput) -> Any:
            return task.remote(_absolute(item), out, settings)

        pending = {submit(item): (item, 1) for item in inputs}
        outcomes: list[InputOutcome] = []
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                item, attempt = pending.pop(ref)
                try:
                    outcome = _with_attempts(ray.get(ref), attempt)
                except ray.exceptions.RayTaskError as err:  # track_one raised: try once more
                    if attempt < ATTEMPTS:
                        pending[submit(item)] = (item, attempt + 1)
                        continue
                    cause = err.cause if isinstance(err.cause, BaseException) else err
                    outcome = InputOutcome(name=item.name, source=item.source, attempts=attempt,
                                           error=error_text(cause))
                except ray.exceptions.RayError as err:  # its worker or node died twice (Ray retried)
                    outcome = InputOutcome(name=item.name, source=item.source, attempts=ATTEMPTS,
                                           error=error_text(err))
                outcomes.append(outcome)
                on_done(outcome)
        return outcomes
    finally:
        if started:
            ray.shutdown()


def _absolute(item: BatchInput) -> BatchInput:
    """``item`` with absolute paths (its outcome keeps the source as the user gave it)."""
    dets = None if item.dets is None else str(Path(item.dets).resolve())
    return BatchInput(source=str(Path(item.source).resolve()), name=item.name, dets=dets)


# -- listing -------------------------------------------------------------------------------------

def _is_glob(s: str) -> bool:
    return any(c in _GLOB_CHARS for c in s)


def _is_input(p: Path) -> bool:
    """A video file, a MOT sequence folder or a folder of images."""
    if p.is_file():
        return p.suffix.lower() in VIDEO_EXTENSIONS
    return p.is_dir() and (is_mot_sequence(p) or _has_images(p))


def _is_input_folder(p: Path) -> bool:
    """A folder holding inputs, rather than being one (a sequence folder or an image folder)."""
    return p.is_dir() and not is_mot_sequence(p) and not _has_images(p) and any(_is_input(c) for c in p.iterdir())


def _has_images(p: Path) -> bool:
    return any(c.suffix.lower() in IMAGE_EXTENSIONS for c in p.iterdir())


def _dets_of(p: Path, settings: TrackSettings) -> str | None:
    if settings.dets is None:
        return None
    if Path(settings.dets).is_absolute():
        raise AetrackError(f"--dets {settings.dets}: with several inputs, give a path inside each sequence "
                           "folder, e.g. det/det.txt")
    if not p.is_dir():
        raise AetrackError(f"{p}: --dets with several inputs is read inside each sequence folder, and this "
                           "is not a folder")
    return str(p / settings.dets)
