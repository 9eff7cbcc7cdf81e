"""Removing what a storage holds: a whole study (``delete_study``) or the files a study no longer needs (``gc_study``).

Both first make a :class:`Plan` (what would go, and why), then remove it in an order where every prefix leaves the
study readable: a ``gc`` killed half-way leaves fewer files, none that a reader or a queued trial needs, and the next
``gc`` removes the rest. Files are the Optuna artifacts of ``paretomoo.store._weights`` (one flat file per
artifact id in the study's artifacts folder); exports, and any other file or folder a user keeps there, are never
touched.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from paretomoo.admin._listing import BASELINES, open_existing
from paretomoo.errors import UserError
from paretomoo.store._storage import artifacts_folder, safe_url
from paretomoo.store._weights import CHECKPOINT

_PREFIX = "artifacts:"  # Optuna's system attribute of an uploaded artifact: artifacts:<id> → {"filename", ...}
# A file nothing refers to is left alone this long: an upload writes the file first and records it a moment later.
ORPHAN_AGE_S = 3600


@dataclass(frozen=True)
class Item:
    """One file to remove: its path, its size in bytes, and why it can go."""

    path: Path
    bytes: int
    why: str

    def line(self) -> str:
        return f"{self.path}  {human(self.bytes)}  ({self.why})"


@dataclass(frozen=True)
class Plan:
    """What a removal takes away: ``files`` (in removal order), then the Optuna ``studies`` (delete only); ``removed``
    says whether it was done or only planned (a dry run)."""

    study: str
    storage: str
    files: list[Item]
    studies: list[str] = field(default_factory=list)
    removed: bool = False

    @property
    def bytes(self) -> int:
        return sum(i.bytes for i in self.files)

    def to_dict(self) -> dict[str, Any]:
        return {
            "study": self.study,
            "storage": self.storage,
            "removed": self.removed,
            "studies": self.studies,
            "files": [{"path": str(i.path), "bytes": i.bytes, "why": i.why} for i in self.files],
            "bytes": self.bytes,
        }


def human(n: int) -> str:
    """Bytes as people read them: ``1.5 MB``."""
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{n} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


# -- artifacts ------------------------------------------------------------------------------


def artifact_files(attrs: dict[str, Any]) -> dict[str, str]:
    """Artifact id → the file name it was uploaded as, from a trial's or a study's system attributes."""
    out = {}
    for key, value in attrs.items():
        if key.startswith(_PREFIX):
            try:
                out[key[len(_PREFIX) :]] = str(json.loads(value).get("filename", ""))
            except (TypeError, ValueError, AttributeError):
                out[key[len(_PREFIX) :]] = ""
    return out


def referenced(rdb: optuna.storages.RDBStorage) -> set[str]:
    """Every artifact id any study of the storage (and any of its trials) records."""
    ids: set[str] = set()
    for s in rdb.get_all_studies():
        ids |= set(artifact_files(rdb.get_study_system_attrs(s._study_id)))
        for t in rdb.get_all_trials(s._study_id, deepcopy=False):
            ids |= set(artifact_files(t.system_attrs))
    return ids


def _size(path: Path) -> int | None:
    """A regular file's size; None when it is gone (an earlier removal) or is not a plain file."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return None
    return st.st_size if path.is_file() and not path.is_symlink() else None


def _folder(study: optuna.Study, url: str) -> Path:
    """Where the study's artifacts lie (as ``Store`` finds them)."""
    from paretomoo.spec import parse_spec

    attrs = study.user_attrs
    if attrs.get("artifacts"):
        return Path(str(attrs["artifacts"]))
    import tomllib

    spec = parse_spec(tomllib.loads(attrs["spec_text"]), base=attrs.get("spec_base", ""))
    return artifacts_folder(url, study.study_name, spec.artifacts)


def execute(plan: Plan, on_remove: Callable[[Item], None] | None = None) -> Plan:
    """Remove ``plan``'s files in order (each one reported to ``on_remove`` once it is gone), then its studies."""
    for item in plan.files:
        try:
            item.path.unlink()
        except FileNotFoundError:  # removed by another gc meanwhile
            pass
        if on_remove is not None:
            on_remove(item)
    if plan.studies:
        rdb = open_existing(plan.storage)
        try:
            for name in plan.studies:  # the baselines first: the study itself goes last
                optuna.delete_study(study_name=name, storage=rdb)
        finally:
            rdb.engine.dispose()
    return Plan(plan.study, plan.storage, plan.files, plan.studies, removed=True)


# -- delete ---------------------------------------------------------------------------------


def delete_study(name: str, storage: str, *, yes: bool = False, on_remove: Callable[[Item], None] | None = None) -> Plan:
    """Remove a study from its storage: its trained weights and checkpoints, its baselines study, then the study.

    Without ``yes`` nothing is removed: the returned plan says what would be. The artifact files go first, so a
    removal cut short leaves the study listed (``status`` still reads it) and running the same call again finishes
    it. The artifacts folder itself is removed only if nothing else is left in it (exports and other studies'
    files stay). Stop the study's workers first.

    Args:
        name: the study's name (``paretomoo studies`` lists them).
        storage: SQLAlchemy URL of its storage.
        yes: remove; otherwise only plan.
        on_remove: called with each file once it is removed.

    Returns:
        The :class:`Plan`, ``removed`` True when done.
    """
    rdb = open_existing(storage)
    try:
        names = set(optuna.get_all_study_names(rdb))
        if name not in names:
            raise UserError(f"no study named {name!r} in {safe_url(storage)}; paretomoo studies --storage URL lists them")
        study = optuna.load_study(study_name=name, storage=rdb)
        if "spec_text" not in study.user_attrs:
            parent = name[: -len(BASELINES)] if name.endswith(BASELINES) else ""
            if parent in names:
                raise UserError(f"study {name!r} holds the baselines of {parent!r}; delete {parent!r} (it removes both)")
            raise UserError(f"study {name!r} in {safe_url(storage)} was not made by paretomoo; remove it with optuna delete-study")
        folder = _folder(study, storage)
        studies = [n for n in (name + BASELINES, name) if n in names]
        files: list[Item] = []
        for sid in (rdb.get_study_id_from_name(n) for n in studies):
            owners = [rdb.get_study_system_attrs(sid), *(t.system_attrs for t in rdb.get_all_trials(sid, deepcopy=False))]
            for attrs in owners:
                for artifact, filename in artifact_files(attrs).items():
                    path = folder / artifact
                    size = _size(path)
                    if size is not None:
                        files.append(Item(path, size, filename or "artifact"))
    finally:
        rdb.engine.dispose()
    plan = Plan(name, storage, files, studies)
    if not yes:
        return plan
    done = execute(plan, on_remove)
    try:
        folder.rmdir()  # only when empty: exports or another study's files keep it
    except OSError:
        pass
    return done


# -- gc -------------------------------------------------------------------------------------


def gc_study(target: str, storage: str | None = None, *, yes: bool = False, on_remove: Callable[[Item], None] | None = None) -> Plan:
    """Remove the files a study no longer needs: checkpoints of successive halving that no trial will go on from,
    and files in its artifacts folder that no study of the storage refers to.

    Kept, always: every trial's weights (complete, failed or interrupted), the study's conditioned models, a
    checkpoint whose rung is still to be decided or whose continuation is queued or running, exports and any file
    or folder not named like an artifact, and unreferenced files younger than an hour (an upload in progress).
    Without ``yes`` nothing is removed (a dry run). Every removal is independent of the others, so a run cut short
    leaves a readable study, and the next run removes the rest.

    Args:
        target: a spec file, or a study name (with ``storage``), as for :func:`paretomoo.open_study`.
        storage: SQLAlchemy URL (default: the spec's).
        yes: remove; otherwise only plan.
        on_remove: called with each file once it is removed.

    Returns:
        The :class:`Plan`: the files (checkpoints first, then unreferenced files), ``removed`` True when done.
    """
    from paretomoo.store import Store

    store = Store.open(target, storage)
    try:
        folder = Path(store.artifacts)
        trials = store.queue.trials()
        files = _spent_checkpoints(store, trials, folder)
        files += _orphans(store.storage, folder)
    finally:
        store.storage.engine.dispose()
    plan = Plan(store.spec.name, store.storage.url, files)
    return execute(plan, on_remove) if yes else plan


def _spent_checkpoints(store: Any, trials: list[FrozenTrial], folder: Path) -> list[Item]:
    """Checkpoints no trial will go on from: of a λ pruned for good, or whose next rung has stored its result.

    A checkpoint is kept while its rung's survivors are still to be chosen, and while a trial that goes on from
    it is waiting, running, or interrupted but not yet queued again.
    """
    from paretomoo.store import MAX_ATTEMPTS

    chains = store.queue.chains(trials)
    after: dict[int, list[FrozenTrial]] = {}
    for t in trials:
        if "continues" in t.user_attrs:
            after.setdefault(int(t.user_attrs["continues"]), []).append(t)

    def pending(c: FrozenTrial) -> bool:  # a continuation that may still load the checkpoint
        if c.state in (TrialState.WAITING, TrialState.RUNNING):
            return True
        interrupted = c.state == TrialState.FAIL and "fail_reason" not in c.user_attrs and c.number not in chains.retried
        return interrupted and int(c.user_attrs.get("attempt", 1)) < MAX_ATTEMPTS

    pruned: list[Item] = []
    went_on: list[Item] = []
    for t in trials:
        checkpoints = {a: f for a, f in artifact_files(t.system_attrs).items() if f.startswith(CHECKPOINT)}
        if not checkpoints or t.state != TrialState.PRUNED or chains.awaiting(t):
            continue
        if t.number in chains.promoted:
            if any(pending(c) for c in after.get(t.number, [])):
                continue
            why, into = f"trial {t.number}'s checkpoint: its λ went on as trial {after[t.number][-1].number}", went_on
        else:
            e = t.user_attrs.get("epochs", "?")
            why, into = f"trial {t.number}'s checkpoint: its λ was pruned for good at {e} epoch{'' if e == 1 else 's'}", pruned
        for artifact in sorted(checkpoints):
            size = _size(folder / artifact)
            if size is not None:
                into.append(Item(folder / artifact, size, why))
    return pruned + went_on


def _orphans(rdb: optuna.storages.RDBStorage, folder: Path) -> list[Item]:
    """Files of the folder named like artifacts that no study of the storage refers to, older than ``ORPHAN_AGE_S``."""
    if not folder.is_dir():
        return []
    known = referenced(rdb)
    now = time.time()
    out = []
    for path in sorted(folder.iterdir()):
        if path.name in known or not _artifact_name(path.name):
            continue
        size = _size(path)
        if size is None or now - path.stat().st_mtime < ORPHAN_AGE_S:
            continue
        out.append(Item(path, size, "no trial or study refers to it"))
    return out


def _artifact_name(name: str) -> bool:
    """Named as Optuna names an artifact (a UUID)."""
    try:
        return str(uuid.UUID(name)) == name
    except ValueError:
        return False
