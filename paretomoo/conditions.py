"""The small condition language of labels, task filters and pick constraints, and its one operator table.

A condition is ``COLUMN OP VALUE``, comparisons joined by ``&``: ``"click == 1"``,
``"status == 'paid' & price > 10"``. A column is a plain name (letters, digits,
``_`` and ``.``) or any name in backquotes (`` `marital-status` ``); a quoted
value is compared as text, a bare number numerically. Nothing is ``eval``-ed.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# The comparison operators of every condition and constraint, applied elementwise
# (they work on numpy arrays as on numbers).
OPS: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
ORDERS = (">=", "<=", ">", "<")  # the operators that need numbers

_PLAIN = r"[A-Za-z0-9_.]+"
_COLUMN = rf"(?:`(?P<qcol>[^`]+)`|(?P<col>{_PLAIN}))"
_VALUE = r"(?P<val>'[^']*'|\"[^\"]*\"|[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)"
_OP = "|".join(re.escape(op) for op in sorted(OPS, key=len, reverse=True))
_COMPARISON = re.compile(rf"\s*{_COLUMN}\s*(?P<op>{_OP})\s*{_VALUE}\s*")
_BARE = re.compile(rf"\s*{_COLUMN}\s*")
_TOKEN = re.compile(r"\s*([^\s=!<>&`'\"]+)")


@dataclass(frozen=True)
class Condition:
    """``column op value``: a quoted value is compared as text, a bare number numerically."""

    column: str
    op: str  # one of OPS
    value: str | float


def parse_conditions(text: str) -> tuple[Condition, ...]:
    """Parse ``"a == 'x' & b > 3"``: comparisons joined by ``&``.

    Raises ``ValueError`` with the reason and the fix; the caller names the spec key.
    """
    out = []
    pos = 0
    while True:
        m = _COMPARISON.match(text, pos)
        if m is None:
            raise ValueError(_cannot_read(text, pos))
        raw = m["val"]
        value: str | float = raw[1:-1] if raw[0] in "'\"" else float(raw)
        if isinstance(value, str) and m["op"] in ORDERS:
            raise ValueError(f"{m['op']} needs a number, got the text {raw}")
        out.append(Condition(m["qcol"] or m["col"], m["op"], value))
        pos = m.end()
        if pos == len(text):
            return tuple(out)
        if text[pos] != "&":
            raise ValueError(f"unexpected {text[pos:]!r}; join comparisons with &")
        pos += 1


def _cannot_read(text: str, pos: int) -> str:
    token = _TOKEN.match(text, pos)
    name = token[1] if token else ""
    if name and not re.fullmatch(_PLAIN, name) and not re.fullmatch(r"[-+0-9.eE]+", name):
        return (
            f"cannot read {text[pos:].strip() or text!r}: the column name {name!r} holds characters other than letters, digits, "
            f"'_' and '.', so write it in backquotes: `{name}`"
        )
    return (
        f"cannot read {text[pos:] or text!r} as COLUMN OP VALUE (OP one of {' '.join(OPS)}, text values in quotes, comparisons joined by &)"
    )


def bare_column(text: str) -> str | None:
    """The column of a label written as a bare column name (its values are the label), else None."""
    m = _BARE.fullmatch(text)
    return (m["qcol"] or m["col"]) if m else None


def label_columns(expr: str) -> list[str]:
    """The data columns a label expression reads (a bare column, or the columns of its conditions)."""
    bare = bare_column(expr)
    return [bare] if bare is not None else [c.column for c in parse_conditions(expr)]
