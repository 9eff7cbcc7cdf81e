from __future__ import annotations

from pathlib import Path

import pytest

TINY = """
[study]
name = "{name}"
storage = "sqlite:///{root}/{name}.db"
artifacts = "{root}/{name}.artifacts"

[data]
rows = {rows}
seed = 0
conflict = 0.8

[[tasks]]
name = "click"
label = "click"
loss = "bce"
metric = "auc"

[[tasks]]
name = "ad_click"
label = "ad_click"
loss = "bce"
metric = "auc"

[[tasks]]
name = "search"
label = "relevance"
loss = "mse"
metric = "ndcg@10"
group = "query"

[[tasks]]
name = "fraud"
label = "fraud"
loss = "bce"
metric = "pr_auc"
pos_weight = 5.0

[model]
embedding_dim = 4
bottom = [16, 8]
tower = [8]

[training]
epochs = {epochs}
batch_size = 512
lr = {lr}
seed = 0
device = "cpu"
population = {population}

[search]
optimizer = "{optimizer}"
trials = {trials}
batch = {batch}
seed = 0
{extra}
"""


def tiny_text(root: Path, **kw: object) -> str:
    values = dict(name="tiny", root=root, rows=6000, epochs=1, lr=0.01, population=4, optimizer="nsga2", trials=8, batch=4, extra="")
    values.update(kw)
    return TINY.format(**values)


@pytest.fixture
def one_torch_thread():
    """Small kernels run fastest on one thread, and do not stall when other processes share the cores."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def write_spec(tmp_path: Path):
    """Write a small, fast study spec under tmp_path; keyword arguments override its values."""

    def make(filename: str = "tiny.toml", **kw: object) -> Path:
        p = tmp_path / filename
        p.write_text(tiny_text(tmp_path, **kw))
        return p

    return make


def _pg_bin() -> Path | None:
    import glob
    import shutil

    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(versions[-1]).parent if versions else None


def _no_postgres() -> None:
    """Without server binaries the PostgreSQL tests cannot run: they fail, naming the fix (scripts/test.sh installs them)."""
    pytest.fail(
        "PostgreSQL server binaries not found: run the tests with scripts/test.sh (it installs them), apt-get install postgresql, or set PARETOMOO_TEST_PG_URL"
    )


class PgServer:
    """A throw-away PostgreSQL server on loopback, started from the installed binaries."""

    def __init__(self, bin_dir: Path) -> None:
        import os
        import shutil
        import socket
        import subprocess
        import tempfile

        self.bin = bin_dir
        # not under pytest's tmp dir: the server runs as the postgres user, who cannot enter root's 0700 folders
        self.dir = Path(tempfile.mkdtemp(prefix="paretomoo-pg-"))
        self.as_user: list[str] = []
        if os.geteuid() == 0:  # initdb refuses to run as root
            shutil.chown(self.dir, "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        subprocess.run(
            [*self.as_user, str(bin_dir / "initdb"), "-D", str(self.dir / "db"), "-U", "postgres", "-A", "trust"],
            check=True,
            capture_output=True,
        )
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"  # as users write it: no driver named

    def _ctl(self, *args: str, check: bool = True) -> None:
        import subprocess

        subprocess.run([*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.dir / "db"), *args], check=check, capture_output=True)

    def start(self) -> None:
        opts = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} -c fsync=off"
        self._ctl("-o", opts, "-l", str(self.dir / "log"), "-w", "start")

    def stop(self) -> None:
        self._ctl("-m", "immediate", "-w", "stop", check=False)

    def remove(self) -> None:
        import shutil

        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_bin() -> Path:
    pg = _pg_bin()
    if pg is None:
        _no_postgres()
    return pg


@pytest.fixture(scope="session")
def pg_url():
    """A real PostgreSQL server on loopback for this test session (or $PARETOMOO_TEST_PG_URL).

    .ci/run installs the server packages when they are missing, so in CI this
    never skips.
    """
    import os

    if os.environ.get("PARETOMOO_TEST_PG_URL"):
        yield os.environ["PARETOMOO_TEST_PG_URL"]
        return
    pg = _pg_bin()
    if pg is None:
        _no_postgres()
    server = PgServer(pg)
    server.start()
    try:
        yield server.url
    finally:
        server.remove()


@pytest.fixture
def pg_storage(pg_url, request):
    """A fresh database on the session's server for one test; dropped afterwards."""
    import re

    import sqlalchemy

    name = "t_" + re.sub(r"[^a-z0-9]", "_", request.node.name.lower())[:50]
    admin = sqlalchemy.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        c.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    base = pg_url.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with admin.connect() as c:
        c.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
