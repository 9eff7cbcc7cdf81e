"""Looking after a storage: ``studies`` lists it, ``delete`` removes a study, ``gc`` removes the files a study no longer
needs and never one that a reader or a queued trial does, on SQLite and PostgreSQL.

The studies run successive halving (3 epochs, eta 3: rungs of 1 and 3 epochs) on closed-form metrics, so every
trial stores weights or a checkpoint as a trained one would, in a fraction of a second.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

import paretomoo
from paretomoo.cli import main
from paretomoo.errors import UserError
from paretomoo.spec import load_spec
from paretomoo.store import Store
from paretomoo.summary import summarize

from ._closed_form import ClosedForm, run_loop
from .conftest import copy_study, tiny_text

HALVING = 'fidelity = "epochs"\neta = 3'


def call(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(params=["sqlite", "postgresql"])
def storage(request, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/studies.db"
    return request.getfixturevalue("pg_storage")


def halving_study(root: Path, storage: str, name: str = "tiny") -> Path:
    """A finished study of 4 λ (2 pruned at the first rung for good, 2 gone on to complete); its spec file."""
    path = root / f"{name}.toml"
    path.write_text(tiny_text(root, name=name, epochs=3, trials=4, batch=4, extra=HALVING))
    run_loop(load_spec(path), storage)
    return path


@pytest.fixture(scope="module")
def _made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The studies "tiny" and "other" in one SQLite storage, made once for the module."""
    root = tmp_path_factory.mktemp("made")
    for name in ("tiny", "other"):
        halving_study(root, f"sqlite:///{root}/studies.db", name)
    return root


@pytest.fixture
def made(request, storage: str, tmp_path: Path) -> str:
    """``tmp_path/tiny.toml`` and ``tmp_path/other.toml``, finished halving studies in ``storage``."""
    if storage.startswith("sqlite"):
        copy_study(request.getfixturevalue("_made"), tmp_path)
    else:
        for name in ("tiny", "other"):
            halving_study(tmp_path, storage, name)
    for name in ("tiny", "other"):
        (tmp_path / f"{name}.toml").write_text(tiny_text(tmp_path, name=name, epochs=3, trials=4, batch=4, extra=HALVING))
    return storage


def files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


def checkpoints(store: Store) -> dict[int, list[str]]:
    """Trial number → the artifact ids of its checkpoints."""
    from optuna.artifacts import get_all_artifact_meta

    out = {}
    for t in store.queue.trials():
        ids = [m.artifact_id for m in get_all_artifact_meta(t, storage=store.storage) if m.filename.startswith("checkpoint_")]
        if ids:
            out[t.number] = ids
    return out


def weights_of_complete(store: Store) -> set[str]:
    from optuna.artifacts import get_all_artifact_meta

    ids = set()
    for t in store.queue.trials((TrialState.COMPLETE,)):
        ids |= {m.artifact_id for m in get_all_artifact_meta(t, storage=store.storage) if m.filename.startswith("trial_")}
    return ids


def orphan(folder: Path, age_s: float = 7200) -> Path:
    """A file named like an artifact that nothing records, last written ``age_s`` ago."""
    path = folder / str(uuid.uuid4())
    path.write_bytes(b"x" * 100)
    past = path.stat().st_mtime - age_s
    os.utime(path, (past, past))
    return path


# -- studies --------------------------------------------------------------------------------


def test_studies_lists_every_study_with_its_baselines(made: str, tmp_path: Path, capsys) -> None:
    storage = made
    store = Store.open("tiny", storage)
    store.baselines.add("uw", 0, val={}, test={}, val_se={}, test_se={}, weights={}, seconds=1.0, device="cpu", failed="diverged")
    optuna.create_study(study_name="plain", storage=store.storage).optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)

    rows = paretomoo.list_studies(storage)
    assert [(r.name, r.kind, r.parent) for r in rows] == [
        ("other", "paretomoo", None),
        ("plain", "optuna", None),
        ("tiny", "paretomoo", None),
        ("tiny:baselines", "baselines", "tiny"),
    ]
    _, plain, tiny, base = rows
    s = summarize(store.spec, store.records(), noise=False)
    assert tiny.trials == s.counts() == {"complete": 2, "promoted": 2, "pruned": 2}
    assert tiny.front == len(s.front) and tiny.front >= 1 and tiny.hypervolume == pytest.approx(s.hv) and s.hv > 0
    assert tiny.optimizer == "nsga2" and tiny.updated is not None
    assert plain.trials == {"complete": 2} and plain.front is None and base.trials == {"failed": 1} and base.methods == ["uw"]

    code, out, _ = call(capsys, "studies", "--storage", storage)
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["study", "kind", "trials", "front", "hypervolume", "optimizer", "updated"]
    assert lines[3].startswith("tiny ") and "2 complete, 2 promoted, 2 pruned" in lines[3] and f"{s.hv:.4g}" in lines[3]
    assert lines[4].startswith("tiny:baselines") and "baselines of tiny" in lines[4] and "1 failed" in lines[4]
    code, out, _ = call(capsys, "studies", "--storage", storage, "--json")
    assert code == 0 and [d["name"] for d in json.loads(out)] == ["other", "plain", "tiny", "tiny:baselines"]
    assert json.loads(out)[2]["trials"] == {"complete": 2, "promoted": 2, "pruned": 2}


def test_studies_of_a_missing_database_is_one_line_and_creates_nothing(tmp_path: Path, capsys) -> None:
    code, out, err = call(capsys, "studies", "--storage", f"sqlite:///{tmp_path}/none.db")
    assert code == 2 and err.startswith("paretomoo: error: no study database at") and len(err.splitlines()) == 1
    assert not (tmp_path / "none.db").exists()


# -- delete ---------------------------------------------------------------------------------


def test_delete_says_what_it_would_remove_then_removes_it(made: str, tmp_path: Path, capsys) -> None:
    storage, spec, other = made, tmp_path / "tiny.toml", tmp_path / "other.toml"
    store = Store.open(str(spec), storage)
    store.baselines.add("uw", 0, val={}, test={}, val_se={}, test_se={}, weights={}, seconds=1.0, device="cpu", failed="diverged")
    folder, kept = tmp_path / "tiny.artifacts", files(tmp_path / "other.artifacts")
    before = files(folder)
    assert len(before) == 6  # 4 checkpoints of the first rung, the weights of the 2 complete trials

    code, out, _ = call(capsys, "delete", "tiny", "--storage", storage)
    assert code == 0 and "would remove 'tiny:baselines' and 'tiny' and 6 files" in out and "--yes" in out
    assert sum(str(folder) in line for line in out.splitlines()) == 6
    assert files(folder) == before and [r.name for r in paretomoo.list_studies(storage)] == ["other", "tiny", "tiny:baselines"]

    code, out, _ = call(capsys, "delete", str(spec), "--storage", storage, "--yes")
    assert code == 0 and "removed 'tiny:baselines' and 'tiny' and 6 files" in out
    assert not folder.exists() and [r.name for r in paretomoo.list_studies(storage)] == ["other"]
    assert files(tmp_path / "other.artifacts") == kept and Store.open(str(other), storage).n_finished() == 4

    code, _, err = call(capsys, "delete", "tiny", "--storage", storage, "--yes")
    assert code == 2 and "no study named 'tiny'" in err


@pytest.mark.parametrize("storage", ["sqlite"], indirect=True)
def test_delete_keeps_a_folder_that_holds_an_export_and_refuses_a_baselines_study(made: str, tmp_path: Path, capsys) -> None:
    storage, spec = made, tmp_path / "tiny.toml"
    Store.open(str(spec), storage).baselines.add(
        "uw", 0, val={}, test={}, val_se={}, test_se={}, weights={}, seconds=1.0, device="cpu", failed="diverged"
    )
    code, _, err = call(capsys, "delete", "tiny:baselines", "--storage", storage, "--yes")
    assert code == 2 and "holds the baselines of 'tiny'; delete 'tiny'" in err
    export = tmp_path / "tiny.artifacts" / "best"
    export.mkdir()
    (export / "model.pt").write_bytes(b"weights")
    plan = paretomoo.delete_study("tiny", storage, yes=True)
    assert plan.removed and len(plan.files) == 6 and files(tmp_path / "tiny.artifacts") == {"best"}
    assert (export / "model.pt").read_bytes() == b"weights"


# -- gc -------------------------------------------------------------------------------------


class StopsAtTheSecondRung(ClosedForm):
    """Trains the first rung, then stops as a killed worker would when its trials go on from their checkpoints."""

    def fit(self, lam, k, seeds=None, start=None, epochs=None):  # type: ignore[no-untyped-def]
        if start is not None:
            raise KeyboardInterrupt
        return super().fit(lam, k, seeds, start, epochs)


def test_gc_keeps_what_queued_continuations_and_complete_trials_need(storage: str, tmp_path: Path, capsys) -> None:
    path = tmp_path / "tiny.toml"
    path.write_text(tiny_text(tmp_path, epochs=3, trials=4, batch=4, extra=HALVING))
    spec = load_spec(path)
    with pytest.raises(KeyboardInterrupt):
        run_loop(spec, storage, StopsAtTheSecondRung(spec))
    store = Store.open(str(path), storage)
    folder = tmp_path / "tiny.artifacts"
    waiting = store.queue.trials((TrialState.WAITING,))
    going_on = {int(t.user_attrs["continues"]) for t in waiting}
    assert len(going_on) == 2 and len(checkpoints(store)) == 4  # the rung's 2 survivors queued (again) to go on
    young, old = orphan(folder, age_s=0), orphan(folder)
    export = folder / "exports" / "tiny-trial0"
    export.mkdir(parents=True)
    (export / "model.pt").write_bytes(b"weights")

    code, out, _ = call(capsys, "gc", str(path), "--storage", storage)  # a dry run
    assert code == 0 and "would remove 3 files" in out and "--yes" in out
    pruned = sorted(n for n in checkpoints(store) if n not in going_on)
    for n in pruned:
        assert f"trial {n}'s checkpoint: its λ was pruned for good at 1 epoch)" in out
    assert str(old) in out and str(young) not in out and "exports" not in out
    assert files(folder) >= {old.name, young.name, "exports"} and len(files(folder)) == 7

    code, out, _ = call(capsys, "gc", str(path), "--storage", storage, "--yes")
    assert code == 0 and "removed 3 files" in out and out.count("  removed ") == 3
    left = files(folder)
    assert not old.exists() and young.exists() and (export / "model.pt").read_bytes() == b"weights"
    assert {a for n in going_on for a in checkpoints(store)[n]} <= left
    assert not {a for n in pruned for a in checkpoints(store)[n]} & left

    # the continuations go on from the checkpoints gc kept, and complete; then those checkpoints are spent too
    done = run_loop(spec, storage)
    complete = done.queue.trials((TrialState.COMPLETE,))
    assert {int(t.user_attrs["continues"]) for t in complete} == going_on and done.n_finished() == 4
    plan = paretomoo.gc_study(str(path), storage, yes=True)
    assert len(plan.files) == 2 and all("went on as trial" in i.why for i in plan.files)
    assert weights_of_complete(done) <= files(folder)
    for t in complete:
        assert set(done.weights.load(t.number)) == {"lam", "seed"}
    assert paretomoo.gc_study(str(path), storage).files == []


@pytest.mark.parametrize("storage", ["sqlite"], indirect=True)
def test_gc_killed_midway_leaves_a_readable_study_and_the_next_gc_finishes(made: str, tmp_path: Path, capsys) -> None:
    storage, spec = made, tmp_path / "tiny.toml"
    folder = tmp_path / "tiny.artifacts"
    for _ in range(3):
        orphan(folder)
    planned = paretomoo.gc_study(str(spec), storage).files
    assert len(planned) == 4 + 3  # every checkpoint (2 pruned for good, 2 gone on), the 3 unreferenced files
    # gc removes in order; this one stops after its first removal until it is killed
    script = (
        "import sys, time, paretomoo\n"
        "def stop(item):\n"
        "    print(item.path, flush=True)\n"
        "    time.sleep(600)\n"
        f"paretomoo.gc_study({str(spec)!r}, {storage!r}, yes=True, on_remove=stop)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        first = proc.stdout.readline().strip() if proc.stdout else ""
    finally:
        proc.kill()
        proc.wait()
    assert first == str(planned[0].path) and not planned[0].path.exists() and all(i.path.exists() for i in planned[1:])

    code, out, _ = call(capsys, "status", str(spec), "--storage", storage)
    assert code == 0 and out.startswith("study tiny: 2 complete, 2 promoted, 2 pruned; front")
    code, out, _ = call(capsys, "gc", str(spec), "--storage", storage, "--yes")
    assert code == 0 and "removed 6 files" in out and not any(i.path.exists() for i in planned)
    code, out, _ = call(capsys, "gc", str(spec), "--storage", storage)
    assert code == 0 and "nothing to remove" in out


@pytest.mark.parametrize("storage", ["sqlite"], indirect=True)
def test_gc_names_a_study_as_the_other_commands_do(made: str, tmp_path: Path, capsys) -> None:
    storage = made
    code, out, _ = call(capsys, "gc", "tiny", "--storage", storage, "--json")
    plan = json.loads(out)
    assert code == 0 and plan["study"] == "tiny" and plan["removed"] is False and len(plan["files"]) == 4
    assert plan["bytes"] == sum(f["bytes"] for f in plan["files"]) > 0
    code, _, err = call(capsys, "gc", "tiny")
    assert code == 2 and "pass a spec file, or a study name with --storage" in err
    with pytest.raises(UserError, match="no study named 'nope'"):
        paretomoo.gc_study("nope", storage)
