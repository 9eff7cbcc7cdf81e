"""Finished trials written many at a time: one transaction, a few multi-row inserts.

A conditioned search stores a thousand λ or more at once. Optuna's ``add_trial``
writes one trial per transaction and checks each parameter against every
trial of the study, so 1,029 trials took 16 s on SQLite, the cost growing with
the square of the trials. This writes the same rows Optuna's own
``add_trial`` writes (``tests/test_store.py`` reads both back and compares
them) through Optuna's storage models, in one transaction that holds the
study's row lock while numbering the trials, as ``add_trial`` does. Where those
models differ from what this expects (another Optuna version), it falls back
to ``add_trials``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import optuna
from optuna.trial import FrozenTrial


def add_finished_trials(study: optuna.Study, storage: optuna.storages.BaseStorage, trials: Sequence[FrozenTrial]) -> None:
    """Append finished trials (``optuna.trial.create_trial``) to ``study``, as ``study.add_trials`` would."""
    if not trials:
        return
    try:
        from optuna.distributions import distribution_to_json
        from optuna.storages._rdb import models
        from optuna.storages._rdb.storage import _create_scoped_session
        from sqlalchemy import insert

        scoped = storage.scoped_session  # type: ignore[attr-defined]
    except (ImportError, AttributeError):
        study.add_trials(trials)
        return
    with _create_scoped_session(scoped) as session:
        models.StudyModel.find_or_raise_by_id(study._study_id, session, for_update=True)
        first = session.query(models.TrialModel).filter(models.TrialModel.study_id == study._study_id).count()
        rows = [
            models.TrialModel(
                study_id=study._study_id,
                number=first + i,
                state=t.state,
                datetime_start=t.datetime_start,
                datetime_complete=t.datetime_complete,
            )
            for i, t in enumerate(trials)
        ]
        session.add_all(rows)
        session.flush()  # the trial ids
        params, values, attrs = [], [], []
        for row, t in zip(rows, trials, strict=True):
            for name, value in t.params.items():
                dist = t.distributions[name]
                params.append(
                    {
                        "trial_id": row.trial_id,
                        "param_name": name,
                        "param_value": dist.to_internal_repr(value),
                        "distribution_json": distribution_to_json(dist),
                    }
                )
            for objective, value in enumerate(t.values or []):
                stored, kind = models.TrialValueModel.value_to_stored_repr(value)
                values.append({"trial_id": row.trial_id, "objective": objective, "value": stored, "value_type": kind})
            for key, value in t.user_attrs.items():
                attrs.append({"trial_id": row.trial_id, "key": key, "value_json": json.dumps(value)})
        for model, batch in ((models.TrialParamModel, params), (models.TrialValueModel, values), (models.TrialUserAttributeModel, attrs)):
            if batch:
                session.execute(insert(model), batch)
