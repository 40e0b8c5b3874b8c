"""Linker settings as a YAML file: what ``aetrack tune`` writes and ``--linker-config`` reads.

The file is a mapping of :class:`LinkerConfig` keys (``kalman`` a nested mapping of
:class:`KalmanNoise` keys); the keys it names replace those of a base config, the others keep
the base's values::

    # aetrack tune: best of 60 trials, objective HOTA 51.2 on the first half of MOT17-train
    high_score: 0.55
    lost_time_s: 2.0
    kalman:
      position_noise: 0.2

An unknown key (or a bad value) is an :class:`AetrackError` naming the file and the nearest
valid key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from aetrack.config import from_dict, load_yaml, renamed_error, to_dict, unknown_keys_message
from aetrack.errors import AetrackError
from aetrack.io.atomic import atomic_write
from aetrack.linker.config import LinkerConfig


def merge_linker_settings(base: LinkerConfig, settings: dict[str, Any], *, where: str) -> LinkerConfig:
    """``base`` with the keys of ``settings`` replaced (``kalman`` merged key by key)."""
    data = to_dict(base)
    for key in settings:
        err = renamed_error(LinkerConfig, key, where=where)
        if err is not None:
            raise err
    unknown = [k for k in settings if k not in data]
    if unknown:
        raise AetrackError(f"{where}: {unknown_keys_message(unknown, data, noun='linker key')}")
    for key, value in settings.items():
        if key == "kalman" and isinstance(value, dict):
            data["kalman"] = {**data["kalman"], **value}
        else:
            data[key] = value
    return from_dict(LinkerConfig, data, where=where)


def load_linker_config(path: str | Path, *, base: LinkerConfig | None = None) -> LinkerConfig:
    """The linker settings of a YAML file on top of ``base`` (default ``LinkerConfig()``)."""
    data = load_yaml(path)
    if set(data) == {"linker"} and isinstance(data["linker"], dict):  # an experiment-style section
        data = data["linker"]
    return merge_linker_settings(LinkerConfig() if base is None else base, data, where=str(path))


def write_linker_config(path: str | Path, settings: dict[str, Any], *, header: str = "") -> Path:
    """Write ``settings`` (LinkerConfig keys) as YAML atomically, ``header`` lines as comments first.

    The settings are checked first (:func:`merge_linker_settings` on the defaults), so a file
    written here always loads."""
    merge_linker_settings(LinkerConfig(), settings, where=str(path))
    comment = "".join(f"# {line}\n" for line in header.splitlines())
    p = Path(path)
    with atomic_write(p) as f:
        f.write(comment + yaml.safe_dump(settings, sort_keys=True))
    return p
