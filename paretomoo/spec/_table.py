"""Reading a TOML table with typed getters: every wrong type, bad value or unknown key is a one-line error naming the key and the fix."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

from paretomoo.errors import UserError


class Table:
    """A TOML table being read: typed getters, and unknown keys reported."""

    def __init__(self, raw: Any, where: str) -> None:
        if not isinstance(raw, dict):
            raise UserError(f"spec key '{where}': expected a table, got {show(raw)}")
        self.raw = raw
        self.where = where
        self.seen: set[str] = set()

    def key(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def get(self, key: str, kind: type | tuple[type, ...], default: Any, hint: str) -> Any:
        self.seen.add(key)
        if key not in self.raw:
            if default is REQUIRED:
                raise UserError(f"spec key '{self.key(key)}' is missing; add it, e.g. {hint}")
            return default
        value = self.raw[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) and bool not in kinds:
            raise UserError(f"spec key '{self.key(key)}': expected {_kind_name(kinds)}, got {show(value)}; write e.g. {hint}")
        if not isinstance(value, kinds):
            raise UserError(f"spec key '{self.key(key)}': expected {_kind_name(kinds)}, got {show(value)}; write e.g. {hint}")
        return value

    def positive(self, key: str, kind: type | tuple[type, ...], default: Any, hint: str, *, allow_zero: bool = False) -> Any:
        value = self.get(key, kind, default, hint)
        if value < 0 or (value == 0 and not allow_zero) or (isinstance(value, float) and not math.isfinite(value)):
            bound = ">= 0" if allow_zero else "> 0"
            raise UserError(f"spec key '{self.key(key)}' must be {bound}, got {value}; write e.g. {hint}")
        return value

    def choice(self, key: str, choices: Sequence[str], default: Any) -> str:
        value = self.get(key, str, default, f'{key} = "{choices[0]}"')
        if value not in choices:
            raise UserError(f"spec key '{self.key(key)}': unknown value {value!r}; choose one of {', '.join(choices)}")
        return value

    def int_list(self, key: str, default: tuple[int, ...], hint: str) -> tuple[int, ...]:
        value = self.get(key, list, list(default), hint)
        if not value or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value):
            raise UserError(
                f"spec key '{self.key(key)}': expected a non-empty list of positive integers, got {show(value)}; write e.g. {hint}"
            )
        return tuple(value)

    def str_list(self, key: str, default: Any, hint: str) -> Any:
        value = self.get(key, list, default, hint)
        if value is default:
            return default
        if not all(isinstance(v, str) for v in value):
            raise UserError(f"spec key '{self.key(key)}': expected a list of strings, got {show(value)}; write e.g. {hint}")
        dup = sorted({v for v in value if value.count(v) > 1})
        if dup:
            raise UserError(f"spec key '{self.key(key)}': {dup[0]!r} is listed twice; list it once")
        return tuple(value)

    def only_for(self, cls: type, kind: str, selector: str) -> None:
        """Refuse keys of ``cls`` that do not apply to ``kind`` (see the fields' ``for`` metadata)."""
        for f in dataclasses.fields(cls):
            kinds = f.metadata.get("for")
            if f.name in self.raw and kinds and kind not in kinds:
                which = " or ".join(f'{selector} = "{k}"' for k in kinds)
                raise UserError(f"spec key '{self.key(f.name)}' only applies to {which}; remove it")

    def done(self) -> None:
        unknown = sorted(set(self.raw) - self.seen)
        if unknown:
            known = ", ".join(sorted(self.seen))
            raise UserError(f"spec key '{self.key(unknown[0])}' is not known; remove it (known keys here: {known})")


REQUIRED = object()


def _kind_name(kinds: tuple[type, ...]) -> str:
    names = {int: "an integer", float: "a number", str: "a string", list: "a list", dict: "a table", bool: "true or false"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
