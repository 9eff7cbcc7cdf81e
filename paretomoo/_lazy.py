"""Registries name their implementations as ``"module:attribute"`` and load them on first use."""

from __future__ import annotations

import importlib
from typing import Any


def import_target(target: str) -> Any:
    """The attribute a ``"package.module:name"`` string names, its module imported now."""
    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)
