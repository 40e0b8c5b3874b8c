"""Evaluate tracking results against MOTChallenge ground truth, as the official devkit does.

Two entry points return the same :class:`EvalReport`:

* :func:`evaluate` reads a gt root (a folder of sequence folders, or one sequence folder) and a
  results folder holding ``<SEQ>.txt`` per sequence;
* :func:`evaluate_tables` takes :class:`~aetrack.data.mot.MotTable` objects already in memory
  (e.g. straight after tracking).

Each sequence is preprocessed once (:mod:`aetrack.eval.preprocess`); HOTA / DetA / AssA come
from trackeval (:mod:`aetrack.eval.hota`), MOTA, MOTP, IDF1, IDP, IDR, IDSW, FP, FN, MT, ML and
Frag from motmetrics (:mod:`aetrack.eval.clear_id`). Ratios are percentages, counts ints.
A sequence without results counts as an empty result (devkit behaviour) and adds a warning.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aetrack.data.mot import FrameRange, MotTable, find_sequences, half_range, parse_frame_range, read_mot_file
from aetrack.errors import AetrackError
from aetrack.eval.clear_id import CLEAR_ID_NAMES, clear_id_metrics
from aetrack.eval.hota import HOTA_NAMES, hota_metrics
from aetrack.eval.preprocess import PreparedSequence, parse_benchmark, prepare_sequence
from aetrack.io.atomic import atomic_write

#: Every reported metric, in table order.
METRIC_NAMES: tuple[str, ...] = HOTA_NAMES + CLEAR_ID_NAMES

#: Metrics that are counts (ints); all others are percentages.
COUNT_NAMES = frozenset({"IDSW", "FP", "FN", "MT", "ML", "Frag"})


@dataclass(frozen=True)
class EvalReport:
    """Metrics per sequence and combined over all sequences.

    ``sequences[name][metric]`` and ``combined[metric]``: percentages (0-100) for ratios, ints
    for counts (:data:`COUNT_NAMES`); NaN where a ratio is undefined (e.g. IDP with no results).
    ``benchmarks[name]`` is the rule set applied (``"MOT15"``, ``"MOT17"``, ...), ``removed[name]``
    the tracker boxes dropped on distractors, ``warnings`` one line each (missing results files).
    ``frames`` is the frame range applied to every sequence; ``half`` (``"first"`` /
    ``"second"``) says each sequence was restricted to that half of its own frames instead.
    """

    sequences: dict[str, dict[str, float]]
    combined: dict[str, float]
    benchmarks: dict[str, str]
    removed: dict[str, int] = field(default_factory=dict)
    frames: FrameRange | None = None
    warnings: tuple[str, ...] = ()
    half: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict: ``metrics``, ``sequences``, ``combined``, ``benchmarks``, ``frames``, ``warnings``."""

        def clean(row: Mapping[str, float]) -> dict[str, float | int | None]:
            out: dict[str, float | int | None] = {}
            for name in METRIC_NAMES:
                v = row[name]
                if name in COUNT_NAMES:
                    out[name] = int(v)
                else:
                    out[name] = float(v) if math.isfinite(v) else None
            return out

        return {
            "metrics": list(METRIC_NAMES),
            "units": {name: ("count" if name in COUNT_NAMES else "percent") for name in METRIC_NAMES},
            "sequences": {name: clean(row) for name, row in self.sequences.items()},
            "combined": clean(self.combined),
            "benchmarks": dict(self.benchmarks),
            "removed_on_distractors": dict(self.removed),
            "frames": None if self.frames is None else str(self.frames),
            "half": self.half,
            "warnings": list(self.warnings),
        }

    def to_json(self, *, indent: int = 2) -> str:
        """:meth:`as_dict` as JSON text (undefined ratios are ``null``)."""
        return json.dumps(self.as_dict(), indent=indent, allow_nan=False)

    def write_json(self, path: str | Path) -> None:
        """Write :meth:`to_json` to ``path`` atomically."""
        with atomic_write(path) as f:
            f.write(self.to_json() + "\n")


def _as_range(frames: FrameRange | str | None) -> FrameRange | None:
    if frames is None or isinstance(frames, FrameRange):
        return frames
    if isinstance(frames, str):
        return parse_frame_range(frames)
    raise AetrackError(f"frames must be 'A:B' or a FrameRange, got {frames!r}")


def sequence_windows(
    lengths: Mapping[str, int | None], *, frames: FrameRange | None, half: str | None
) -> dict[str, FrameRange | None]:
    """The frames evaluated per sequence: ``frames`` for all, or with ``half`` that half of each
    sequence's own ``lengths[name]`` frames (:func:`aetrack.data.mot.half_range`)."""
    if half is None:
        return {name: frames for name in lengths}
    if frames is not None:
        raise AetrackError("give a frame range or a half, not both")
    out: dict[str, FrameRange | None] = {}
    for name, length in lengths.items():
        if length is None:
            raise AetrackError(f"{name}: the sequence length is needed to take its {half} half")
        out[name] = half_range(length, half)
    return out


def _report(
    prepared: list[PreparedSequence], frames: FrameRange | None, warnings: list[str], half: str | None = None
) -> EvalReport:
    if not prepared:
        raise AetrackError("no sequences to evaluate")
    hota_seq, hota_all = hota_metrics(prepared)
    clear_seq, clear_all = clear_id_metrics(prepared)
    return EvalReport(
        sequences={s.name: {**hota_seq[s.name], **clear_seq[s.name]} for s in prepared},
        combined={**hota_all, **clear_all},
        benchmarks={s.name: s.benchmark for s in prepared},
        removed={s.name: s.removed for s in prepared},
        frames=frames,
        warnings=tuple(warnings),
        half=half,
    )


def evaluate(
    gt_root: str | Path,
    results_dir: str | Path,
    *,
    benchmark: str | None = None,
    frames: FrameRange | str | None = None,
    half: str | None = None,
) -> EvalReport:
    """Evaluate ``results_dir/<SEQ>.txt`` against every sequence under ``gt_root``.

    ``benchmark`` (MOT15, MOT16, MOT17, MOT20) overrides the rules picked from each gt file's
    columns; ``frames`` (``"A:B"``, inclusive, 1-based) restricts gt and results. Rows beyond a
    sequence's ``seqLength``, duplicate ids in a frame and malformed rows are AetrackErrors.
    ``half`` (``"first"`` / ``"second"``) evaluates that half of every sequence instead.
    """
    rules = parse_benchmark(benchmark)
    window = _as_range(frames)
    seqs = find_sequences(gt_root)
    windows = sequence_windows({seq.name: seq.info.length for seq in seqs}, frames=window, half=half)
    res_dir = Path(results_dir)
    if not res_dir.is_dir():
        raise AetrackError(f"{res_dir}: results folder not found")
    prepared: list[PreparedSequence] = []
    warnings: list[str] = []
    for seq in seqs:
        gt = read_mot_file(seq.gt_path, kind="gt")
        res_path = res_dir / f"{seq.name}.txt"
        if res_path.is_file():
            results = read_mot_file(res_path, kind="results")
        else:
            warnings.append(f"{res_path}: no results file for sequence {seq.name}; counted as empty")
            results = MotTable.empty()
        prepared.append(
            prepare_sequence(
                gt=gt,
                results=results,
                name=seq.name,
                benchmark=rules,
                frames=windows[seq.name],
                num_frames=seq.info.length,
                gt_label=str(seq.gt_path),
                results_label=str(res_path),
            )
        )
    return _report(prepared, window, warnings, half)


def evaluate_tables(
    *,
    gt: Mapping[str, MotTable],
    results: Mapping[str, MotTable],
    benchmark: str | None = None,
    frames: FrameRange | str | None = None,
    num_frames: Mapping[str, int] | None = None,
    half: str | None = None,
) -> EvalReport:
    """Evaluate in-memory tables: ``gt[name]`` and ``results[name]`` per sequence.

    Same rules and numbers as :func:`evaluate`. A sequence in ``gt`` without ``results`` is an
    empty result (with a warning); results for a sequence absent from ``gt`` are an error.
    ``num_frames[name]`` (optional) is the sequence length used to reject out-of-range rows;
    ``half`` evaluates that half of each sequence (its length from ``num_frames``).
    """
    rules = parse_benchmark(benchmark)
    window = _as_range(frames)
    extra = sorted(set(results) - set(gt))
    if extra:
        raise AetrackError(f"results for sequence {extra[0]!r} have no ground truth")
    lengths = dict(num_frames or {})
    windows = sequence_windows({name: lengths.get(name) for name in gt}, frames=window, half=half)
    prepared: list[PreparedSequence] = []
    warnings: list[str] = []
    for name, gt_table in gt.items():
        if not isinstance(gt_table, MotTable):
            raise AetrackError(f"ground truth for {name!r} must be a MotTable, got {type(gt_table).__name__}")
        res_table = results.get(name)
        if res_table is None:
            warnings.append(f"{name}: no results for this sequence; counted as empty")
            res_table = MotTable.empty()
        elif not isinstance(res_table, MotTable):
            raise AetrackError(f"results for {name!r} must be a MotTable, got {type(res_table).__name__}")
        prepared.append(
            prepare_sequence(
                gt=gt_table, results=res_table, name=name, benchmark=rules, frames=windows[name],
                num_frames=lengths.get(name),
            )
        )
    return _report(prepared, window, warnings, half)
