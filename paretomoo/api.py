"""The public API: everything the command line does, from a notebook.

    import paretomoo
    study = paretomoo.open_study("studies/ecommerce.toml")
    study.trials_dataframe()                 # every trial: λ, validation and test metrics, P(front)
    study.front()                            # the non-dominated trials
    p = study.pick(constraints=["fraud_pr_auc>=0.3"])
    print(p.reason, *p.lines(), sep="\\n")
    study.export("exports/ecommerce")        # λ, metrics, spec and weights of the pick
    study.report()                           # one self-contained HTML file

The command line (``paretomoo.cli``) is a thin layer over this module.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from paretomoo._baseline_runs import train_baselines
from paretomoo._imports import target_of
from paretomoo._results import WITHIN_SHOWN, Exported, Pick
from paretomoo._stored_study import Study, Weights
from paretomoo.spec import parse_spec
from paretomoo.spec._write import to_toml
from paretomoo.store import Store

__all__ = ["WITHIN_SHOWN", "Exported", "Pick", "Study", "Weights", "create_study", "open_study", "train_baselines"]


def open_study(spec_or_name: str | os.PathLike[str], storage: str | None = None) -> Study:
    """Open a stored study.

    Args:
        spec_or_name: a spec file (which names its storage), or a study name (with ``storage``).
        storage: SQLAlchemy URL of the study store (default: the spec's).

    Returns:
        The study; it reads the store when asked, so it sees trials other processes add
        (call ``refresh()`` for the latest).
    """
    return Study(Store.open(os.fspath(spec_or_name), storage))


def create_study(
    name: str,
    *,
    model: Callable[..., Any],
    data: Callable[..., Any],
    tasks: Sequence[Mapping[str, Any]],
    storage: str | None = None,
    model_options: Mapping[str, Any] | None = None,
    data_options: Mapping[str, Any] | None = None,
    training: Mapping[str, Any] | None = None,
    search: Mapping[str, Any] | None = None,
    lam: Mapping[str, Any] | None = None,
    device: str | None = None,
) -> Study:
    """Create (or resume) and run a study of your own model and data, without a spec file.

    Args:
        name: the study's name.
        model: a module-level function returning your ``nn.Module`` (``[model] factory``).
        data: a module-level function returning ``{"train", "val", "test"}`` (``[data] loader``).
        tasks: one mapping per task, the keys of a ``[[tasks]]`` table (``name``, ``label``, ``loss``, ``metric``, ...).
        storage: SQLAlchemy URL of the study store (default ``sqlite:///runs/<name>.db``).
        model_options, data_options: keyword arguments of ``model`` and ``data``.
        training, search, lam: the keys of ``[training]``, ``[search]`` and ``[lambda]``.
        device: overrides ``training.device``.

    Returns:
        The study, run until ``search.trials`` trials have finished. It stores the spec
        as TOML with the import paths of ``model``, ``data`` and any loss or metric, so that
        ``paretomoo worker``, ``paretomoo status`` and :func:`open_study` reopen it.
        A lambda or a function defined in ``__main__`` is a one-line error: those
        processes could not import it again.

    Example::

        from my_model import build, load        # module-level functions in my_model.py
        study = paretomoo.create_study("mine", model=build, data=load,
                                       tasks=[{"name": "click", "metric": "auc"}, {"name": "buy", "metric": "auc"}])
    """
    from paretomoo.study import run_study  # torch: only to train; opening a study reads the store alone

    doc: dict[str, Any] = {
        "study": {"name": name, "storage": storage},
        "data": {"source": "python", "loader": target_of(data, "data"), "options": dict(data_options or {})},
        "tasks": [{k: (target_of(v, f"tasks.{k}") if callable(v) else v) for k, v in t.items()} for t in tasks],
        "model": {"type": "module", "factory": target_of(model, "model"), "options": dict(model_options or {})},
    }
    for section, keys in (("training", training), ("search", search), ("lambda", lam)):
        if keys:
            doc[section] = dict(keys)
    text = to_toml(doc)
    spec = parse_spec(tomllib.loads(text), source_text=text, base=os.getcwd())
    return Study(run_study(spec, device=device))
