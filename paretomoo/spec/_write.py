"""A study spec as TOML text: what a study built in Python (``paretomoo.create_study``) stores, so that a worker,
``status`` or ``open_study`` reads it back as it reads a spec file."""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from paretomoo.errors import UserError

if TYPE_CHECKING:
    from paretomoo.spec._sections import StudySpec


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


def replaced_text(text: str, spec: StudySpec, sections: Mapping[str, Any]) -> str:
    """The TOML of ``spec``, made from the spec text ``text`` by ``spec.replace(**sections)``: the sections named are
    written again from ``spec``, the others kept as ``text`` has them. So a study stores the spec it ran."""
    doc: dict[str, Any] = tomllib.loads(text)
    for key in sections:
        if key in ("name", "storage", "artifacts"):
            doc["study"] = {"name": spec.name, "storage": spec.storage, "artifacts": spec.artifacts}
        elif key == "tasks":
            doc["tasks"] = [{f.name: _plain(getattr(t, f.name)) for f in dataclasses.fields(t) if f.name != "base"} for t in spec.tasks]
        elif key == "model":
            m = spec.model
            doc["model"] = {
                f.name: _plain(getattr(m, f.name), pairs=f.name == "options")
                for f in dataclasses.fields(m)
                if f.name != "base" and m.type in f.metadata.get("for", (m.type,))
            }
        elif key == "data":
            doc["data"] = _data(doc.get("data", {}), spec, sections["data"])
        elif key in ("training", "search"):
            doc[key] = {
                **doc.get(key, {}),
                **{k: _plain(getattr(getattr(spec, key), k)) for k in _changed(sections[key], getattr(spec, key))},
            }
            if key == "search":
                s = spec.search
                doc["search"].pop("adaptive", None)
                doc["search"]["repeats"] = f"front:{s.repeats}" if s.adaptive else s.repeats
        elif key in ("lambda", "lam"):
            lam = spec.lam
            table = {"max_ratio": lam.max_ratio, "bounds": {t: [lo, hi] for t, lo, hi in lam.bounds}, "fixed": dict(lam.fixed)}
            doc["lambda"] = {k: v for k, v in table.items() if v != {}}
    return to_toml(doc)


def _changed(value: Any, section: Any) -> list[str]:
    """The fields an override names: a mapping's keys, or every field of a whole section."""
    return list(value) if isinstance(value, Mapping) else [f.name for f in dataclasses.fields(section)]


def _data(table: Mapping[str, Any], spec: StudySpec, value: Any) -> dict[str, Any]:
    """``[data]`` after an override: a mapping's keys set in the file's table (another source, or a whole section:
    the table written again), as the spec file writes them."""
    d = spec.data
    whole = not isinstance(value, Mapping) or d.source != table.get("source", "synthetic")
    out: dict[str, Any] = {"source": d.source, "seed": d.seed} if whole else dict(table)
    if whole and d.split != type(d)().split:
        out["split"] = list(d.split)
    derived = {"base", "keys"} | ({"labels"} if d.source == "python" else set())
    names = [f.name for f in dataclasses.fields(d.options) if f.name not in derived] if whole and d.options is not None else list(value)
    for name in names:
        if name in ("source", "seed", "split"):
            out[name] = _plain(getattr(d, name))
        elif name == "loader_options":  # the key `options` of source = "python"
            out["options"] = _plain(getattr(d.options, name), pairs=True)
        elif name == "labels":
            out["labels"] = dict(getattr(d.options, name))
        else:
            out[name] = _plain(getattr(d.options, name))
    return out


def _plain(v: Any, pairs: bool = False) -> Any:
    """A spec value as TOML writes it: tuples as arrays; with ``pairs``, a frozen table (``freeze``'s sorted pairs)."""
    if isinstance(v, tuple):
        return {str(k): _plain(x) for k, x in v} if pairs else [_plain(x) for x in v]
    return v
