"""Every study of a storage, one row each: what ``paretomoo studies`` shows (Optuna's ``optuna studies``, for paretomoo)."""

from __future__ import annotations

import datetime
import tomllib
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from paretomoo.errors import UserError
from paretomoo.store._storage import open_storage, sqlite_file

BASELINES = ":baselines"  # a study's baselines live in the study "<name>:baselines" (paretomoo.store._baselines)
_STATES = {TrialState.COMPLETE: "complete", TrialState.FAIL: "failed", TrialState.PRUNED: "pruned"}


@dataclass(frozen=True)
class StudyInfo:
    """One study of a storage.

    ``kind`` is ``"paretomoo"`` (a λ study), ``"baselines"`` (the baseline trainings of the study ``parent``) or
    ``"optuna"`` (a study paretomoo did not make). ``trials`` counts trials by state: paretomoo's states for a λ
    study (as ``paretomoo status`` counts them), Optuna's otherwise. ``front`` and ``hypervolume`` (validation, the
    reference point ``status`` uses) and ``optimizer`` are None but for λ studies; ``methods`` are the baseline
    methods stored; ``updated`` is when a trial last started or finished (None for a study without trials);
    ``problem`` says why a λ study's stored spec could not be read (its front is then unknown).
    """

    name: str
    kind: str
    parent: str | None
    trials: dict[str, int]
    front: int | None = None
    hypervolume: float | None = None
    optimizer: str | None = None
    updated: datetime.datetime | None = None
    methods: list[str] = field(default_factory=list)
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "parent": self.parent,
            "trials": self.trials,
            "front": self.front,
            "hypervolume": self.hypervolume,
            "optimizer": self.optimizer,
            "updated": None if self.updated is None else self.updated.isoformat(timespec="seconds"),
            "methods": self.methods,
            "problem": self.problem,
        }


def open_existing(url: str) -> optuna.storages.RDBStorage:
    """The storage at ``url``; a one-line error (and no empty database left behind) when a SQLite file does not exist."""
    db = sqlite_file(url)
    if db is not None and not db.is_file():
        raise UserError(f"no study database at {db}; check --storage")
    return open_storage(url)


def list_studies(storage: str) -> list[StudyInfo]:
    """Every study in the storage ``storage`` (a SQLAlchemy URL), each study's baselines right after it.

    Args:
        storage: SQLAlchemy URL, e.g. ``sqlite:///runs/ecommerce.db`` or ``postgresql://user@host/db``.

    Returns:
        One :class:`StudyInfo` per Optuna study, sorted by name with each ``<name>:baselines`` after ``<name>``.

    Example::

        for s in paretomoo.list_studies("sqlite:///runs/ecommerce.db"):
            print(s.name, s.trials, s.front, s.hypervolume)
    """
    rdb = open_existing(storage)
    try:
        summaries = optuna.get_all_study_summaries(rdb, include_best_trial=False)
        names = {s.study_name for s in summaries}
        rows = [_info(rdb, s, names) for s in summaries]
    finally:
        rdb.engine.dispose()
    return sorted(rows, key=lambda r: (r.parent or r.name, r.kind == "baselines", r.name))


def _info(rdb: optuna.storages.RDBStorage, s: optuna.study.StudySummary, names: set[str]) -> StudyInfo:
    trials = rdb.get_all_trials(s._study_id, deepcopy=False)
    times = [t for tr in trials for t in (tr.datetime_start, tr.datetime_complete) if t is not None]
    updated = max(times) if times else None
    name = s.study_name
    if name.endswith(BASELINES) and "spec_text" not in s.user_attrs and name[: -len(BASELINES)]:
        methods = sorted({str(t.user_attrs["method"]) for t in trials if "method" in t.user_attrs})
        return StudyInfo(name, "baselines", name[: -len(BASELINES)], _optuna_counts(trials), updated=updated, methods=methods)
    if "spec_text" not in s.user_attrs:
        return StudyInfo(name, "optuna", None, _optuna_counts(trials), updated=updated)
    return _paretomoo_info(rdb, name, s.user_attrs, trials, updated)


def _paretomoo_info(
    rdb: optuna.storages.RDBStorage, name: str, attrs: dict[str, Any], trials: list[FrozenTrial], updated: datetime.datetime | None
) -> StudyInfo:
    from paretomoo.spec import parse_spec
    from paretomoo.store import Store
    from paretomoo.summary import summarize

    text = str(attrs["spec_text"])
    try:
        spec = parse_spec(tomllib.loads(text), source_text=text, base=attrs.get("spec_base", ""))
    except (UserError, tomllib.TOMLDecodeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return StudyInfo(
            name, "paretomoo", None, _optuna_counts(trials), updated=updated, problem=f"its stored spec cannot be read ({first})"
        )
    store = Store(spec, rdb, optuna.load_study(study_name=name, storage=rdb))
    summary = summarize(spec, store.records(), noise=False)
    return StudyInfo(
        name,
        "paretomoo",
        None,
        dict(sorted(summary.counts().items())),
        front=len(summary.front),
        hypervolume=summary.hv,
        optimizer=spec.search.optimizer,
        updated=updated,
    )


def _optuna_counts(trials: list[FrozenTrial]) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in trials:
        key = _STATES.get(t.state, t.state.name.lower())
        out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items()))


def table(rows: list[StudyInfo]) -> list[str]:
    """The rows as an aligned text table (``paretomoo studies``)."""
    if not rows:
        return ["no studies"]
    head = ["study", "kind", "trials", "front", "hypervolume", "optimizer", "updated"]
    body = []
    for r in rows:
        kind = r.kind
        if r.kind == "baselines":
            kind = f"baselines of {r.parent}" + ("" if r.parent in {x.name for x in rows} else " (gone)")
        trials = ", ".join(f"{n} {k}" for k, n in r.trials.items()) or "none"
        body.append(
            [
                r.name,
                kind,
                trials,
                "" if r.front is None else str(r.front),
                "" if r.hypervolume is None else f"{r.hypervolume:.4g}",
                r.optimizer or (", ".join(r.methods) if r.methods else ""),
                "" if r.updated is None else r.updated.strftime("%Y-%m-%d %H:%M"),
            ]
        )
    widths = [max(len(row[i]) for row in [head, *body]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [head, *body]]
    lines += [f"  {r.name}: {r.problem}" for r in rows if r.problem]
    return lines
