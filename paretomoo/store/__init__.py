"""The study store: an Optuna storage (SQLite by default, any SQLAlchemy URL).

One Optuna trial per evaluated λ:
  * params       ``logit_<task>`` for each free task (the proposers' coordinates)
  * values       the natural validation metric of every task, in spec order
                 (``study.metric_names`` holds their names)
  * user attrs   ``lambda`` {task: weight}, ``val`` and ``test`` {task: {metric: value}},
                 ``run`` {seed, seconds, device}, ``worker`` {host, pid} that ran it,
                 ``fail_reason`` for a failed trial, and the queue's own (``_queue``)
  * artifact     the trained weights (Optuna's artifact store, a folder; ``_weights``)

The study's user attributes hold the spec (``spec_text``, ``spec_hash``), the
weights folder, the model's shape, the paretomoo version that made it, a
fingerprint of its data and, for sources that read files, the data folder.

A proposal batch is enqueued as WAITING trials before any is trained, so an
interrupted batch is finished on resume, and ``optuna-dashboard <url>`` shows
every paretomoo study as it runs. Nothing here loads torch until weights are
saved or loaded.
"""

from __future__ import annotations

import time
import tomllib
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from paretomoo.errors import StudyWarning, UserError
from paretomoo.front import signs
from paretomoo.proposers import Batch
from paretomoo.space import LambdaSpace
from paretomoo.spec import StudySpec, load_spec, parse_spec
from paretomoo.store._baselines import BaselineRecord, Baselines
from paretomoo.store._bulk import add_finished_trials
from paretomoo.store._queue import MAX_ATTEMPTS, Snapshot, TrialQueue
from paretomoo.store._records import Record, dumps, record_of, state_name
from paretomoo.store._repeats import aggregate, done_seeds, target_seeds
from paretomoo.store._storage import artifacts_folder, open_storage, safe_url, sqlite_file
from paretomoo.store._weights import CheckpointError, Weights

__all__ = [
    "MAX_ATTEMPTS",
    "BaselineRecord",
    "Baselines",
    "CheckpointError",
    "Record",
    "Snapshot",
    "Store",
    "TrialQueue",
    "Weights",
    "dumps",
    "open_storage",
    "state_name",
]


class Store:
    """One study in an Optuna storage, created from a spec or opened by name.

    ``queue`` hands trials to workers (``TrialQueue``), ``weights`` keeps the
    trained weights (``Weights``), ``baselines`` the adaptive-weighting methods'
    trainings (``Baselines``); the store itself writes and reads results.
    """

    def __init__(self, spec: StudySpec, storage: optuna.storages.RDBStorage, study: optuna.Study) -> None:
        kept = study.user_attrs.get("population_mode")  # a user module's members run as the study's first run chose
        if kept is not None and spec.model.type == "module" and spec.model.population == "auto":
            spec = spec.replace(model={"population": kept[0]})
        self.spec = spec
        self.storage = storage
        self.study = study
        self.space = LambdaSpace(spec.task_names, spec.lam)
        self.queue = TrialQueue(study, storage, self.space, spec.name)
        self.artifacts = str(study.user_attrs.get("artifacts") or artifacts_folder(storage.url, spec.name, spec.artifacts))
        self.weights = Weights(study, storage, self.artifacts)
        self.baselines = Baselines(spec, storage)

    # -- opening ---------------------------------------------------------------

    @classmethod
    def create_or_resume(
        cls, spec: StudySpec, storage_url: str | None = None, heartbeat: int | None = None, data: dict[str, Any] | None = None
    ) -> Store:
        """Open the spec's study, creating it if new; refuse one made from another spec.

        ``data`` describes the data the trials are trained on: ``fingerprint``
        (``Dataset.fingerprint()``) and ``root`` (the folder of its files, for
        sources that read files). A new study stores both; resuming one whose
        data or paretomoo version differ warns (``StudyWarning``).
        """
        from paretomoo._version import __version__

        url = storage_url or spec.storage
        storage = open_storage(url, heartbeat)
        data = data or {}
        if spec.name in optuna.get_all_study_names(storage):
            study = optuna.load_study(study_name=spec.name, storage=storage)
            stored = _wait_for_attr(study, "spec_hash")
            if stored != spec.result_hash() and stored == spec.result_hash(standardised_labels=False):
                raise UserError(
                    f"study {spec.name!r} in {safe_url(url)} was trained by a paretomoo before 0.2, which did not standardise "
                    "regression labels, so new trials would not compare with its own; give the study a new [study] name"
                )
            if stored != spec.result_hash():
                raise UserError(
                    f"study {spec.name!r} in {safe_url(url)} was made from a different spec (data, tasks, model, training or "
                    f"lambda changed); give the study a new [study] name, or use another --storage"
                )
            _warn_if_changed(study, spec.name, __version__, data.get("fingerprint"))
        else:
            directions = [
                optuna.study.StudyDirection.MINIMIZE if d == "minimize" else optuna.study.StudyDirection.MAXIMIZE for d in spec.directions
            ]
            study = optuna.create_study(study_name=spec.name, storage=storage, directions=directions, load_if_exists=True)
            with warnings.catch_warnings():  # experimental in Optuna, read by optuna-dashboard
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                study.set_metric_names(spec.objectives)
            attrs: dict[str, Any] = {
                "spec_hash": spec.result_hash(),
                "spec_text": spec.source_text,
                "artifacts": str(artifacts_folder(url, spec.name, spec.artifacts)),
                "paretomoo_version": __version__,
                "spec_base": spec.base,  # the spec file's folder: the user's import paths and relative data paths start there
            }
            if data.get("fingerprint") is not None:
                attrs["data_fingerprint"] = data["fingerprint"]
            if data.get("root") is not None:
                attrs["data_dir"] = str(data["root"])
            for key, value in attrs.items():
                study.set_user_attr(key, value)
        return cls(spec, storage, study)

    @classmethod
    def open(cls, target: str, storage_url: str | None = None, heartbeat: int | None = None) -> Store:
        """Open an existing study: ``target`` is a spec file or a study name (with ``storage_url``)."""
        spec: StudySpec | None = None
        if target.endswith(".toml") or Path(target).is_file():
            spec = load_spec(target)
            name, url = spec.name, storage_url or spec.storage
        else:
            if storage_url is None:
                raise UserError(f"{target!r} is not a spec file; pass a spec file, or a study name with --storage URL")
            name, url = target, storage_url
        db = sqlite_file(url)
        if db is not None and not db.is_file():  # reading a study must not leave an empty database behind
            raise UserError(f"no study database at {db}; run the study first (paretomoo run SPEC) or check --storage")
        storage = open_storage(url, heartbeat)
        if name not in optuna.get_all_study_names(storage):
            raise UserError(f"no study named {name!r} in {safe_url(url)}; run it first (paretomoo run SPEC) or check --storage")
        study = optuna.load_study(study_name=name, storage=storage)
        text = study.user_attrs.get("spec_text")
        if text is None:
            raise UserError(f"study {name!r} in {safe_url(url)} was not made by paretomoo (it has no stored spec)")
        if spec is None or spec.result_hash() != study.user_attrs.get("spec_hash"):
            # The stored spec is the truth about what the trials computed; its data folder is the one the study was made with.
            spec = parse_spec(tomllib.loads(text), source_text=text, base=study.user_attrs.get("spec_base", ""))
            if study.user_attrs.get("data_dir"):
                spec = spec.replace(data={"data_dir": study.user_attrs["data_dir"]})
        elif study.user_attrs.get("data_dir"):
            from paretomoo.data import data_root

            # the spec file's data folder is gone (the study was run with --data-dir): the folder the study was made with
            root = data_root(spec.data)
            if root is not None and not root.is_dir():
                spec = spec.replace(data={"data_dir": study.user_attrs["data_dir"]})
        return cls(spec, storage, study)

    # -- results ---------------------------------------------------------------

    def n_finished(self) -> int:
        """λ that count against the budget: complete, failed for a reason of their own, or pruned for good (a λ's repeats,
        and the earlier rungs of a λ that went on, do not count)."""
        ts = self.queue.trials()
        chains = self.queue.chains(ts)
        return sum(1 for t in ts if chains.ended(t))

    def history(self, before: int | None = None) -> list[Batch]:
        """Finished proposal batches below ``before``, in minimisation form (``TrialQueue.history``), each λ
        at its mean over every seed trained so far."""
        values: dict[int, list[float]] = {}
        for r in self.records():
            v = r.values if r.state == "complete" else r.rung_values(self.spec.tasks)  # a pruned λ: where it stopped
            if v is not None:
                values[r.number] = v
        return self.queue.history(signs(self.spec.directions), values, before)

    # -- results ---------------------------------------------------------------

    def seeds(self, attrs: Mapping[str, Any]) -> tuple[list[int], dict[int, dict[str, Any]]]:
        """The seeds a trial (its user attributes) trains under, and what those already trained gave."""
        return target_seeds(attrs, [self.spec.training.seed]), done_seeds(attrs)

    def keep_seeds(self, trial: optuna.Trial, done: dict[int, dict[str, Any]]) -> None:
        """Store what the trial's seeds trained so far gave (before the rest train): a resume trains only the others."""
        trial.set_user_attr("by_seed", {str(s): v for s, v in sorted(done.items())})

    def finish(self, trial: optuna.Trial, done: dict[int, dict[str, Any]], device: str) -> None:
        """Close a trial whose seeds have all trained: the mean over seeds, each metric's standard error.

        If another worker already gave the trial up (its heartbeat was late),
        the result is dropped: the retry queued for it stands.
        """
        try:
            self._finish(trial, done, device)
        except optuna.exceptions.UpdateFinishedTrialError:
            pass

    def _finish(self, trial: optuna.Trial, done: dict[int, dict[str, Any]], device: str) -> None:
        lam = self.space.to_lambda(self.queue.x_of(trial))[0]
        attrs, values = self._result(lam, done, device)
        for key, value in attrs.items():
            trial.set_user_attr(key, value)
        if values is None:
            self.storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
            return
        epochs = trial.user_attrs.get("epochs")
        if epochs is not None:  # successive halving: this rung's metrics, and the intermediate values of every rung so far
            self._keep_rung(trial, int(epochs), values, lam)
        # The storage call rather than study.tell: the study's own sampler never
        # proposes (proposals are enqueued), and this saves a third of the cost.
        if epochs is not None and int(epochs) < self.spec.training.epochs:
            self.storage.set_trial_state_values(trial._trial_id, TrialState.PRUNED)
        else:
            self.storage.set_trial_state_values(trial._trial_id, TrialState.COMPLETE, values)

    def conditioned_indices(self) -> set[int]:
        """The indices of the conditioned points stored so far (``paretomoo.conditioned``)."""
        return {int(t.user_attrs["conditioned"]) for t in self.queue.trials() if "conditioned" in t.user_attrs}

    def add_conditioned(self, rows: list[tuple[int, np.ndarray, dict[int, dict[str, Any]]]], device: str) -> None:
        """Store λ measured on the conditioned models: one finished trial per ``(index, logits, by_seed)``, marked
        ``conditioned`` (its index), written whole (one transaction: all of them or none)."""
        from optuna.trial import create_trial

        trials = []
        for index, x, by_seed in rows:
            params = {p: float(v) for p, v in zip(self.space.params, x, strict=True)}
            attrs, values = self._result(self.space.to_lambda(x)[0], by_seed, device)
            attrs.update(conditioned=int(index), logits=list(params.values()))
            if not any("test" in r for r in by_seed.values()):
                attrs["measured_test"] = False  # screened on validation only: never shown with test figures
            state = TrialState.FAIL if values is None else TrialState.COMPLETE
            trials.append(create_trial(state=state, params=params, distributions=self.queue.dists, values=values, user_attrs=attrs))
        add_finished_trials(self.study, self.storage, trials)

    def _result(self, lam: np.ndarray, done: Mapping[int, Mapping[str, Any]], device: str) -> tuple[dict[str, Any], list[float] | None]:
        """What a finished λ stores, from what its seeds gave: its user attributes (with ``fail_reason`` if it
        failed; the means over seeds and their standard errors if not) and its natural validation values (None if
        it failed)."""
        agg = aggregate(done)
        attrs: dict[str, Any] = {
            "lambda": dict(zip(self.spec.task_names, map(float, lam), strict=True)),
            "by_seed": {str(s): v for s, v in sorted(done.items())},
            "run": {"seed": min(done), "seeds": sorted(done), "seconds": round(agg.seconds, 4), "device": device},
        }
        first = done[min(done)]
        if "population" in first:  # "native" (a built-in model), "vmap" or "sequential" (a user module), and the pass's size
            attrs["run"].update(population=first["population"], members=first.get("members"))
        if agg.failed is not None:
            return {**attrs, "fail_reason": agg.failed}, None
        attrs.update(val=agg.val, test=agg.test, val_se=agg.val_se, test_se=agg.test_se)
        return attrs, [agg.val[t.name][t.metric] for t in self.spec.tasks]

    def _keep_rung(self, trial: optuna.Trial, epochs: int, values: list[float], lam: np.ndarray) -> None:
        """Successive halving: add this rung's validation values to the trial's ``rungs`` ({epochs, values}, one per
        rung of its chain) and write them as Optuna intermediate values.

        Optuna keeps one float per step and trial, so the intermediate value at
        step = epochs trained is the λ-weighted objective in minimisation form,
        ``Σ λ_i s_i v_i`` (``s_i`` = −1 for a maximised metric), the curve
        optuna-dashboard draws; every objective's value is in ``rungs``.
        """
        rungs = [*trial.user_attrs.get("rungs", []), {"epochs": epochs, "values": values}]
        trial.set_user_attr("rungs", rungs)
        sign = signs(self.spec.directions)
        for r in rungs:
            self.storage.set_trial_intermediate_value(trial._trial_id, int(r["epochs"]), float(np.dot(lam, sign * np.asarray(r["values"]))))

    def records(self) -> list[Record]:
        """Every trial of the study, a λ's repeats (``repeat_of``) folded into the trial they repeat."""
        trials = self.queue.trials()
        chains = self.queue.chains(trials)
        retried = self.queue.retried(trials)
        extra: dict[int, dict[int, dict[str, Any]]] = {}
        for t in trials:
            if "repeat_of" in t.user_attrs and t.state == TrialState.COMPLETE:
                extra.setdefault(int(t.user_attrs["repeat_of"]), {}).update(done_seeds(t.user_attrs))
        out = []
        for t in trials:
            lam = t.user_attrs.get("lambda")
            if lam is None and all(p in t.params for p in self.space.params):
                lam = dict(zip(self.spec.task_names, map(float, self.space.to_lambda(self.queue.x_of(t))[0]), strict=True))
            out.append(record_of(t, lam or {}, self.spec.tasks, retried, extra.get(t.number, {}), promoted=t.number in chains.promoted))
        return out

    def record(self, number: int) -> Record:
        recs = self.records()
        if not 0 <= number < len(recs):
            raise UserError(f"study {self.spec.name!r} has no trial {number}; it has trials 0..{len(recs) - 1}")
        return recs[number]


def _warn_if_changed(study: optuna.Study, name: str, version: str, fingerprint: dict[str, Any] | None) -> None:
    """Warn when a study resumes under another paretomoo version or on other data: its trials may not compare."""
    made_by = study.user_attrs.get("paretomoo_version")
    if made_by != version:
        was = f"paretomoo {made_by}" if made_by else "a paretomoo version before 0.2"
        warnings.warn(
            f"study {name!r} was made by {was} and resumes under {version}; trials of different versions may differ "
            "for the same λ, so start a new [study] name for a clean comparison",
            StudyWarning,
            stacklevel=3,
        )
    stored = study.user_attrs.get("data_fingerprint")
    if stored is None or fingerprint is None or stored == fingerprint:
        return
    changed = [key for key in sorted(set(stored) | set(fingerprint)) if stored.get(key) != fingerprint.get(key)]
    warnings.warn(
        f"study {name!r} resumes on data that differ from its earlier trials' ({', '.join(changed)} changed: "
        f"{changed[0]} was {stored.get(changed[0])}, now {fingerprint.get(changed[0])}); new trials will not compare with old ones, "
        "so start a new [study] name",
        StudyWarning,
        stacklevel=3,
    )


def _wait_for_attr(study: optuna.Study, key: str, seconds: float = 5.0) -> Any:
    """A study attribute that a process creating the study at this moment may not have written yet."""
    deadline = time.monotonic() + seconds
    while (value := study.user_attrs.get(key)) is None and time.monotonic() < deadline:
        time.sleep(0.2)
    return value
