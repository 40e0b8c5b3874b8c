"""Choosing linker settings on real data: cached detections, official scoring, Optuna search.

:mod:`aetrack.tune.protocol` links cached detections and scores them (one trial);
:mod:`aetrack.tune.space` parses search spaces; :mod:`aetrack.tune.search` runs the study
behind ``aetrack tune``.
"""
