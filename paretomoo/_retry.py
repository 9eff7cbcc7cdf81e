"""Store calls that outlive a lost database connection: retried with backoff, then one ``StorageLost`` error."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import optuna
import sqlalchemy.exc

from paretomoo.errors import UserError

T = TypeVar("T")


class StorageLost(UserError):
    """The database stayed unreachable longer than the worker's patience."""

    exit_code = 3


# What a lost connection looks like: SQLAlchemy's errors, or Optuna's wrapper of them around a commit.
_DB_ERRORS = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.DisconnectionError,
    optuna.exceptions.StorageInternalError,
)


def _retry(call: Callable[[], T], patience: float) -> T:
    """Run ``call``, retrying database errors with backoff for up to ``patience`` seconds."""
    deadline = time.monotonic() + patience
    delay = 0.5
    while True:
        try:
            return call()
        except _DB_ERRORS as exc:
            if time.monotonic() + delay > deadline:
                cause = exc.__cause__ or exc  # Optuna wraps the driver's error
                text = str(getattr(cause, "orig", None) or cause).strip()
                first = text.splitlines()[0] if text else type(cause).__name__
                raise StorageLost(
                    f"lost the study database for more than {patience:.0f} s ({first}); the study is intact: "
                    f"run the same command again once the database is back"
                ) from None
            time.sleep(delay)
            delay = min(delay * 2, 10.0)
