"""A study spec as TOML text: what a study built in Python (``paretomoo.create_study``) stores, so that a worker,
``status`` or ``open_study`` reads it back as it reads a spec file."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from paretomoo.errors import UserError


def to_toml(doc: Mapping[str, Any]) -> str:
    """``{"study": {...}, "data": {...}, "tasks": [{...}, ...], ...}`` → TOML text (tables, arrays of tables,
    inline tables for nested mappings)."""
    lines: list[str] = []
    for section, body in doc.items():
        if isinstance(body, list):
            for item in body:
                lines.append(f"[[{section}]]")
                lines.extend(f"{k} = {_value(v, f'{section}.{k}')}" for k, v in item.items() if v is not None)
                lines.append("")
        else:
            lines.append(f"[{section}]")
            lines.extend(f"{k} = {_value(v, f'{section}.{k}')}" for k, v in body.items() if v is not None)
            lines.append("")
    return "\n".join(lines)


def _value(v: Any, where: str) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise UserError(f"{where}: {v} cannot be stored in a spec; give a finite number")
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # a TOML basic string: JSON's escapes are TOML's
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x, where) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {_value(x, f'{where}.{k}')}" for k, x in v.items()) + " }"
    raise UserError(f"{where}: {type(v).__name__} values cannot be stored in a spec; give numbers, strings, lists or tables")


def _key(k: Any) -> str:
    k = str(k)
    return k if k.replace("_", "").replace("-", "").isalnum() and k.isascii() else json.dumps(k)
