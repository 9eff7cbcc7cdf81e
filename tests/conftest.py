from __future__ import annotations

import os
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
def quick_gp(monkeypatch: pytest.MonkeyPatch) -> None:
    """Optuna's GP sampler with a smaller acquisition search and fewer samples of the running points' outcomes (its
    private knobs; defaults 2048, 10 and 128), for tests of what the optimizer wrappers and the loop do with
    proposals, not of how well the GP chooses: at the defaults the GP's proposals took minutes of the suite (most of
    it one box decomposition of the front per sample, for each point of a batch)."""
    import optuna

    init = optuna.samplers.GPSampler.__init__

    def smaller(self: optuna.samplers.GPSampler, *args: object, **kwargs: object) -> None:
        init(self, *args, **kwargs)
        for knob in ("_n_preliminary_samples", "_n_local_search", "_n_qmc_samples_ehvi"):
            assert hasattr(self, knob), knob
        self._n_preliminary_samples, self._n_local_search, self._n_qmc_samples_ehvi = 128, 2, 16

    monkeypatch.setattr(optuna.samplers.GPSampler, "__init__", smaller)


@pytest.fixture
def write_spec(tmp_path: Path):
    """Write a small, fast study spec under tmp_path; keyword arguments override its values."""

    def make(filename: str = "tiny.toml", **kw: object) -> Path:
        p = tmp_path / filename
        p.write_text(tiny_text(tmp_path, **kw))
        return p

    return make


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (``scripts/test.sh`` runs one test process per core), each process keeps to one core:
    torch on one thread, and so are the processes its tests start (workers, ``paretomoo run``)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(var, "1")
        import torch

        torch.set_num_threads(1)


class TrainedStudies:
    """Tiny studies trained once per test process (``paretomoo run`` on a ``tiny_text`` spec), copied into each test
    that asks for one: the copy is the study that test would have trained, in its own folder, and is its own to change."""

    def __init__(self, factory: pytest.TempPathFactory) -> None:
        self.factory = factory
        self.built: dict[tuple[object, ...], Path] = {}

    def copy(self, dest: Path, filename: str, argv: tuple[str, ...], kw: dict[str, object]) -> Path:
        """The study of ``tiny_text(dest, **kw)`` in ``dest/filename``, as ``paretomoo run <spec> *argv`` leaves it."""
        from paretomoo.cli import main

        key = (filename, argv, tuple(sorted((k, repr(v)) for k, v in kw.items())))
        root = self.built.get(key)
        if root is None:
            root = self.factory.mktemp("trained")
            spec = root / filename
            spec.write_text(tiny_text(root, **kw))
            code = main(["run", str(spec), *argv])
            assert code == 0, f"training the shared study {key} failed"
            self.built[key] = root
        copy_study(root, dest)
        (dest / filename).write_text(tiny_text(dest, **kw))
        return dest / filename


def copy_study(src: Path, dest: Path) -> None:
    """Copy a folder of SQLite studies and their weights; the paths the databases hold (spec text, weights folder)
    are moved from ``src`` to ``dest``."""
    import shutil
    import sqlite3

    dest.mkdir(parents=True, exist_ok=True)
    for entry in src.iterdir():
        if entry.is_dir():
            shutil.copytree(entry, dest / entry.name)
        elif entry.suffix == ".db":
            with sqlite3.connect(entry) as a, sqlite3.connect(dest / entry.name) as b:
                a.backup(b)  # what the write-ahead log holds too
                for table, column in _text_columns(b):
                    for old, new in {(str(src.resolve()), str(dest.resolve())), (str(src), str(dest))}:
                        b.execute(f'UPDATE "{table}" SET "{column}" = replace("{column}", ?, ?)', (old, new))
            a.close()
            b.close()


def _text_columns(db: object) -> list[tuple[str, str]]:
    tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]  # type: ignore[attr-defined]
    return [
        (t, c[1])
        for t in tables
        for c in db.execute(f'PRAGMA table_info("{t}")')  # type: ignore[attr-defined]
        if "CHAR" in c[2].upper() or "TEXT" in c[2].upper()
    ]


@pytest.fixture(scope="session")
def _trained_studies(tmp_path_factory: pytest.TempPathFactory) -> TrainedStudies:
    return TrainedStudies(tmp_path_factory)


@pytest.fixture
def trained_study(_trained_studies: TrainedStudies, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """A trained tiny study in tmp_path, as ``paretomoo run <spec> *argv`` leaves it after ``write_spec(filename, **kw)``:
    trained once per test process, copied for each test (so tests may change it)."""

    def make(filename: str = "tiny.toml", argv: tuple[str, ...] = ("--quiet",), **kw: object) -> Path:
        path = _trained_studies.copy(tmp_path, filename, argv, kw)
        capsys.readouterr()  # what training printed is not the test's
        return path

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
        import subprocess
        import tempfile

        self.bin = bin_dir
        # not under pytest's tmp dir: the server runs as the postgres user, who cannot enter root's 0700 folders
        self.dir = Path(tempfile.mkdtemp(prefix="paretomoo-pg-"))
        self.as_user: list[str] = []
        if os.geteuid() == 0:  # initdb refuses to run as root
            shutil.chown(self.dir, "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.port = self._free_port()
        self.started = False
        subprocess.run(
            [*self.as_user, str(bin_dir / "initdb"), "-D", str(self.dir / "db"), "-U", "postgres", "-A", "trust"],
            check=True,
            capture_output=True,
        )

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"  # as users write it: no driver named

    @staticmethod
    def _free_port() -> int:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])

    def _ctl(self, *args: str, check: bool = True) -> None:
        import subprocess

        subprocess.run([*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.dir / "db"), *args], check=check, capture_output=True)

    def start(self) -> None:
        """Start the server; the first start takes another free port if another process took this one meanwhile
        (several test processes start servers at once); a restart keeps its port, so its URL holds."""
        import subprocess

        for attempt in range(3):
            opts = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} -c fsync=off"
            try:
                self._ctl("-o", opts, "-l", str(self.dir / "log"), "-w", "start")
                break
            except subprocess.CalledProcessError:
                if self.started or attempt == 2:
                    raise
                self.port = self._free_port()
        self.started = True

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

    # test processes of one run (pytest-xdist) may share a server ($PARETOMOO_TEST_PG_URL): each its own names
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    name = f"t{worker}_" + re.sub(r"[^a-z0-9]", "_", request.node.name.lower())[:50]
    admin = sqlalchemy.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        c.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    base = pg_url.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with admin.connect() as c:
        c.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
