"""Opening an Optuna RDB storage from a URL as users type it: the driver checked first, SQLite tuned for several processes."""

from __future__ import annotations

import importlib.util
import logging
import re
import time
import warnings
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy
import sqlalchemy.exc
from sqlalchemy.engine import make_url

from paretomoo.errors import UserError

optuna.logging.set_verbosity(optuna.logging.WARNING)


class _NoQueryFallbackNotice(logging.Filter):
    """Drop Optuna's "Caught an error from sqlalchemy ... Falling back to a slower alternative".

    Optuna reads any ``OperationalError`` while listing trials as a query with
    too many variables, logs that (with the driver's multi-line message) and
    queries again. When the database is gone, the second query fails too and
    the worker's retry and its one-line error take over; the notice would only
    put a misleading traceback-like block before it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Caught an error from sqlalchemy")


logging.getLogger("optuna.storages._rdb.storage").addFilter(_NoQueryFallbackNotice())

# The extra that installs a dialect's driver, for the message when it is missing.
_EXTRAS = {"postgresql": "pip install 'paretomoo[postgres]'"}


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"://([^:/@]+):[^@/]*@", r"://\1:***@", url)


def with_driver(url: str) -> str:
    """The URL with a database driver that is installed, or a one-line ``UserError`` naming the package to install.

    ``postgresql://`` means psycopg 3 to SQLAlchemy 2.1 (what ``paretomoo[postgres]``
    installs); where only psycopg2 is installed, the URL is read as
    ``postgresql+psycopg2://``, so both spellings work with either driver.
    """
    try:
        parsed = make_url(url)
        dialect = parsed.get_dialect()
    except Exception as exc:  # NoSuchModuleError, ArgumentError: not a URL SQLAlchemy knows
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(
            f"cannot open storage {safe_url(url)} ({first}); write a SQLAlchemy URL, e.g. sqlite:///runs/study.db or postgresql://user@host/db"
        ) from None
    if parsed.drivername == "postgresql" and importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2"):
        return parsed.set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        package = getattr(exc, "name", None) or dialect.driver
        fix = _EXTRAS.get(parsed.get_backend_name(), f"pip install {package}")
        raise UserError(f"storage {safe_url(url)} needs the database driver {package!r}, which is not installed; {fix}") from None
    return url


def open_storage(url: str, heartbeat: int | None = None) -> optuna.storages.RDBStorage:
    """An Optuna RDB storage; SQLite files get their folder created.

    ``heartbeat`` (seconds) turns on Optuna's trial heartbeats: a RUNNING trial
    whose process stops beating for three intervals is stale (see
    ``TrialQueue.fail_stale``).
    """
    url = with_driver(url)
    engine_kwargs: dict[str, Any] = {}
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        if path and path != ":memory:":
            folder = Path(path).parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise UserError(f"cannot create the folder {folder} for storage {url} ({exc.strerror}); choose a writable path") from None
            if Path(path).is_dir():
                raise UserError(f"storage {url} names a folder, not a database file; write e.g. sqlite:///{path.rstrip('/')}/study.db")
        # Several local processes share one file: wait for its lock instead of failing.
        engine_kwargs["connect_args"] = {"timeout": 60}
    else:
        engine_kwargs["pool_pre_ping"] = True
        if url.startswith("postgresql"):
            engine_kwargs["connect_args"] = {"connect_timeout": 10}  # a vanished server must not hang a worker
    try:
        for attempt in range(5):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    storage = optuna.storages.RDBStorage(
                        url,
                        engine_kwargs=engine_kwargs,
                        heartbeat_interval=heartbeat,
                        grace_period=None if heartbeat is None else 3 * heartbeat,
                    )
                if url.startswith("sqlite:///"):
                    _sqlite_wal(storage)
                return storage
            except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError, sqlalchemy.exc.OperationalError) as exc:
                # Workers starting together on a new database race to create Optuna's
                # tables; the loser finds them made a moment later.
                racing = not isinstance(exc, sqlalchemy.exc.OperationalError) or "already exists" in str(exc)
                if attempt == 4 or not racing:
                    raise
                time.sleep(0.5 * (attempt + 1))
        raise AssertionError("unreachable")
    except Exception as exc:  # SQLAlchemy raises many types for bad URLs and unreachable servers
        text = str(getattr(exc, "orig", None) or exc).strip()
        first = text.splitlines()[0] if text else type(exc).__name__
        raise UserError(f"cannot open storage {safe_url(url)} ({first}); check the URL and that the database is reachable") from None


def _sqlite_wal(storage: optuna.storages.RDBStorage) -> None:
    """Write-ahead logging: readers do not block the writer, and a commit costs no fsync of the database.

    WAL is a property of the file (set once); ``synchronous=NORMAL`` is per
    connection, so it is set on every new one. A power cut can lose the last
    commits, never corrupt the study.
    """

    def on_connect(dbapi_conn: Any, _: Any) -> None:
        dbapi_conn.execute("PRAGMA synchronous=NORMAL")

    sqlalchemy.event.listen(storage.engine, "connect", on_connect)
    storage.engine.dispose()  # reconnect so that every pooled connection gets the pragma
    with storage.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA journal_mode=WAL")


def sqlite_file(url: str) -> Path | None:
    """The database file of a ``sqlite:///`` URL (None for other databases and in-memory SQLite)."""
    path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else ""
    return Path(path) if path and path != ":memory:" else None


def artifacts_folder(url: str, name: str, explicit: str | None) -> Path:
    """Where a study's trained weights go: the spec's ``study.artifacts`` if it names one, else
    beside a SQLite database (``runs/x.db`` → ``runs/x.artifacts``), else ``runs/<name>.artifacts``.

    So a ``--storage`` override moves the weights with the study.
    """
    if explicit is not None:
        return Path(explicit).expanduser().resolve()
    db = sqlite_file(url)
    if db is not None:
        return db.with_suffix(".artifacts").resolve()
    return Path("runs", f"{name}.artifacts").resolve()
