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


@pytest.fixture(scope="session")
def pg_url():
    """A real PostgreSQL server on loopback for this test session (or $PARETOMOO_TEST_PG_URL).

    .ci/run installs the server packages when they are missing, so in CI this
    never skips.
    """
    import os
    import shutil
    import socket
    import subprocess

    if os.environ.get("PARETOMOO_TEST_PG_URL"):
        yield os.environ["PARETOMOO_TEST_PG_URL"]
        return
    pg = _pg_bin()
    if pg is None:
        pytest.skip("PostgreSQL server binaries not found (apt-get install postgresql, or set PARETOMOO_TEST_PG_URL)")
    import tempfile

    # not under pytest's tmp dir: the server runs as the postgres user, who cannot enter root's 0700 folders
    data = Path(tempfile.mkdtemp(prefix="paretomoo-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(data, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = dict(check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run([*as_user, str(pg / "initdb"), "-D", str(data / "db"), "-U", "postgres", "-A", "trust"], **run)
    opts = f"-p {port} -c listen_addresses=127.0.0.1 -k {data} -c fsync=off"
    subprocess.run([*as_user, str(pg / "pg_ctl"), "-D", str(data / "db"), "-o", opts, "-l", str(data / "log"), "-w", "start"], **run)
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, str(pg / "pg_ctl"), "-D", str(data / "db"), "-m", "immediate", "-w", "stop"], check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(data, ignore_errors=True)


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
