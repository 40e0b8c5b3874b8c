"""The search space of ``aetrack tune``: which linker settings vary, and over what.

A space is a mapping from a linker setting (a :class:`~aetrack.linker.LinkerConfig` key, or
``kalman.<key>`` for the Kalman noise) to its range, as YAML::

    high_score: {low: 0.3, high: 0.8}             # float, uniform
    kalman.position_noise: {low: 0.1, high: 0.8, log: true}
    min_hits: {low: 1, high: 3}                   # int when both ends are ints
    output_box: {choices: [kalman, detection]}    # categorical

:data:`DEFAULT_SPACE` is used without a file. Anything else (an unknown setting, a range
without low/high or choices, low above high, an extra key) is an :class:`AetrackError` naming
the entry and listing what is valid.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aetrack.config import load_yaml, renamed_error, unknown_keys_message
from aetrack.errors import AetrackError
from aetrack.linker.config import LinkerConfig
from aetrack.linker.kalman import KalmanNoise

#: Settings a space may vary: every LinkerConfig field except the nested Kalman noise, whose
#: fields are named ``kalman.<field>``.
TUNABLE = tuple(sorted([f.name for f in dataclasses.fields(LinkerConfig) if f.name != "kalman"]
                       + [f"kalman.{f.name}" for f in dataclasses.fields(KalmanNoise)]))

#: The built-in space: thresholds of every model-free stage, time budgets, the motion ideas
#: (score fusion, observation-centric re-update, direction consistency, common motion) and the
#: Kalman noise in time units: the ranges of issue 27's search for the one default
#: (aetrack/bench/reports/linker.md "Linker default (issue 27)").
DEFAULT_SPACE: dict[str, dict[str, Any]] = {
    "high_score": {"low": 0.3, "high": 0.8},
    "low_score": {"low": 0.05, "high": 0.3},
    "new_track_score": {"low": 0.4, "high": 0.95},
    "iou_threshold_high": {"low": 0.5, "high": 0.95},
    "iou_threshold_low": {"low": 0.3, "high": 0.9},
    "iou_threshold_tentative": {"low": 0.4, "high": 0.95},
    "min_hits": {"low": 1, "high": 4},
    "confirm_s": {"low": 0.0, "high": 0.3},
    "lost_time_s": {"low": 0.5, "high": 4.0},
    "output_box": {"choices": ["kalman", "detection"]},
    "fuse_score": {"choices": [False, True]},
    "observation_recovery": {"choices": [False, True]},
    "direction_weight": {"low": 0.0, "high": 0.5},
    "direction_s": {"low": 0.03, "high": 0.5, "log": True},
    "common_motion": {"choices": [False, True]},
    "common_motion_radius": {"low": 0.3, "high": 2.0},
    "common_motion_velocity_gain": {"low": 0.0, "high": 1.0},
    "kalman.measurement_weight": {"low": 0.025, "high": 0.1, "log": True},
    "kalman.position_noise": {"low": 0.09, "high": 0.82, "log": True},
    "kalman.velocity_noise": {"low": 0.1, "high": 3.1, "log": True},
    "kalman.initial_velocity": {"low": 0.3, "high": 6.0, "log": True},
}


@dataclass(frozen=True)
class Param:
    """One dimension: a float or int range (``log`` = sampled on a log scale) or ``choices``."""

    name: str
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    choices: tuple[Any, ...] | None = None

    @property
    def kind(self) -> str:
        if self.choices is not None:
            return "categorical"
        return "int" if isinstance(self.low, int) and isinstance(self.high, int) else "float"


def parse_space(data: dict[str, Any], *, where: str = "search space") -> list[Param]:
    """Check and parse a space mapping (see the module docstring)."""
    if not isinstance(data, dict) or not data:
        raise AetrackError(f"{where}: expected a non-empty mapping of linker settings to ranges; "
                           f"valid settings: {', '.join(TUNABLE)}")
    params = []
    for name, spec in data.items():
        if name not in TUNABLE:
            section, _, key = name.rpartition(".")
            err = renamed_error(KalmanNoise if section == "kalman" else LinkerConfig, key, where=where)
            if err is not None:
                raise err
            raise AetrackError(f"{where}: {unknown_keys_message([name], TUNABLE, noun='setting')}")
        entry = f"{where}: {name}"
        if not isinstance(spec, dict):
            raise AetrackError(f"{entry}: expected a mapping with low and high (and log), or choices; got {spec!r}")
        extra = sorted(set(map(str, spec)) - {"low", "high", "log", "choices"})
        if extra:
            raise AetrackError(f"{entry}: unknown key(s) {', '.join(extra)}; valid keys: choices, high, log, low")
        if "choices" in spec:
            choices = spec["choices"]
            if set(spec) != {"choices"} or not isinstance(choices, list) or not choices:
                raise AetrackError(f"{entry}: choices must be a non-empty list, alone; got {spec!r}")
            params.append(Param(name=name, choices=tuple(choices)))
            continue
        low, high, log = spec.get("low"), spec.get("high"), spec.get("log", False)
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high))
        if not numbers or not isinstance(log, bool):
            raise AetrackError(f"{entry}: low and high must be numbers (log true or false); got {spec!r}")
        if not low < high:
            raise AetrackError(f"{entry}: low ({low}) must be below high ({high})")
        if log and low <= 0:
            raise AetrackError(f"{entry}: a log range needs low > 0, got {low}")
        params.append(Param(name=name, low=low, high=high, log=log))
    return params


def load_space(path: str | Path | None) -> list[Param]:
    """The space of a YAML file, or :data:`DEFAULT_SPACE` for None."""
    if path is None:
        return parse_space(DEFAULT_SPACE, where="default search space")
    return parse_space(load_yaml(path), where=str(path))


def settings_of(values: dict[str, Any]) -> dict[str, Any]:
    """Flat ``{"kalman.x": v, "high_score": w}`` -> linker settings ``{"kalman": {"x": v}, "high_score": w}``."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name.startswith("kalman."):
            out.setdefault("kalman", {})[name.split(".", 1)[1]] = value
        else:
            out[name] = value
    return out
