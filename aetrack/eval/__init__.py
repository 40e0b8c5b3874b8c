"""Evaluation with the official MOTChallenge metrics (numbers identical to the devkit's).

Example::

    from aetrack.eval import evaluate

    report = evaluate("MOT17-train", "results/")       # results/<SEQ>.txt per sequence
    print(report.combined["HOTA"], report.combined["IDF1"])   # percentages
    report.write_json("metrics.json")

:func:`evaluate_tables` does the same on in-memory :class:`~aetrack.data.mot.MotTable` objects.
The names are loaded on first use, so importing a sibling module (e.g. detection metrics) does
not pull in motmetrics, pandas and trackeval.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aetrack.lazy import lazy_attributes

if TYPE_CHECKING:
    from aetrack.eval.report import COUNT_NAMES, METRIC_NAMES, EvalReport, evaluate, evaluate_tables

__all__ = ["COUNT_NAMES", "METRIC_NAMES", "EvalReport", "evaluate", "evaluate_tables"]

__getattr__, __dir__ = lazy_attributes(__name__, dict.fromkeys(__all__, "aetrack.eval.report"))
