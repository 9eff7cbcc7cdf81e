"""The study spec: typed, frozen sections loaded from TOML.

Every key is checked: an unknown key, a wrong type, an unknown task or metric, or
infeasible λ bounds raise :class:`~paretomoo.errors.UserError` with one line that
names the key and the fix. The names a spec accepts (metrics, data sources,
models, optimizers) come from their registries. Reading a spec loads neither
torch nor Optuna.
"""

from __future__ import annotations

from paretomoo.spec._parse import CONDITIONED_CHECKS, check_optimizer, load_spec, parse_repeats, parse_spec
from paretomoo.spec._sections import DataSpec, LambdaSpec, ModelSpec, SearchSpec, StudySpec, TaskSpec, TrainingSpec

__all__ = [
    "CONDITIONED_CHECKS",
    "DataSpec",
    "LambdaSpec",
    "ModelSpec",
    "SearchSpec",
    "StudySpec",
    "TaskSpec",
    "TrainingSpec",
    "check_optimizer",
    "load_spec",
    "parse_repeats",
    "parse_spec",
]
