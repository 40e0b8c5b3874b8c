"""Lazy module attributes (PEP 562): a package names what it exports, the modules load on use.

``import aetrack`` and the CLI's start-up must stay cheap (DESIGN.md): torch, OpenCV,
motmetrics and trackeval take seconds to import, so a package's public names that need them
are looked up on first access instead of at import::

    __getattr__, __dir__ = lazy_attributes(__name__, {"Tracker": "aetrack.tracker"})
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_attributes(
    package: str, names: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for module ``package``: attribute ``name`` is
    ``getattr(import_module(names[name]), name)``, imported on first access and then stored in
    the module (later look-ups do not reach ``__getattr__``)."""

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(names[name]), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *names})

    return __getattr__, __dir__
