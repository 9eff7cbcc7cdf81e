"""paretomoo: the Pareto front of a multi-task model over its loss weights."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from paretomoo._version import __version__ as __version__
from paretomoo.errors import UserError

if TYPE_CHECKING:
    from paretomoo.admin import delete_study, gc_study, list_studies
    from paretomoo.api import Study, create_study, open_study, train_baselines
    from paretomoo.comparison import compare
    from paretomoo.export import evaluate_export, export_trial, load_model
    from paretomoo.spec import StudySpec, load_spec
    from paretomoo.store import Store
    from paretomoo.study import run_study

__all__ = [
    "Store",
    "Study",
    "StudySpec",
    "UserError",
    "compare",
    "create_study",
    "delete_study",
    "evaluate_export",
    "export_trial",
    "gc_study",
    "list_studies",
    "load_model",
    "load_spec",
    "open_study",
    "run_study",
    "train_baselines",
]

# Loaded on first use (PEP 562): importing torch, Optuna and pymoo takes 1.5 s, which the
# command line need not pay for --help, a bad flag or a bad spec.
_LAZY = {
    "open_study": "paretomoo.api",
    "create_study": "paretomoo.api",
    "Study": "paretomoo.api",
    "train_baselines": "paretomoo.api",
    "compare": "paretomoo.comparison",
    "list_studies": "paretomoo.admin",
    "delete_study": "paretomoo.admin",
    "gc_study": "paretomoo.admin",
    "evaluate_export": "paretomoo.export",
    "export_trial": "paretomoo.export",
    "load_model": "paretomoo.export",
    "StudySpec": "paretomoo.spec",
    "load_spec": "paretomoo.spec",
    "Store": "paretomoo.store",
    "run_study": "paretomoo.study",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'paretomoo' has no attribute {name!r}")
