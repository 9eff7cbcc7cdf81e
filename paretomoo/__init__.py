"""paretomoo: the Pareto front of a multi-task model over its loss weights."""

from __future__ import annotations

from paretomoo.errors import UserError
from paretomoo.export import evaluate_export, export_trial, load_model
from paretomoo.spec import StudySpec, load_spec
from paretomoo.store import Store
from paretomoo.study import run_study

__all__ = ["Store", "StudySpec", "UserError", "evaluate_export", "export_trial", "load_model", "load_spec", "run_study"]
__version__ = "0.1.0"
