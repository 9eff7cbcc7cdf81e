"""λ-conditioned models: one training for the whole front (``[search] optimizer = "conditioned"``).

``Mixture`` holds R models of T weight-mixed anchors; ``train_mixture`` trains
them on λ drawn from a Dirichlet; ``measure_mixture`` measures them at many λ at
once; ``screen`` chooses which; ``run_conditioned`` does it all for a study and stores every λ as a trial;
``next_checks`` chooses the points retrained exactly; ``ConditionedModel`` is
what an export of a conditioned point loads back (``paretomoo.load_model``).
"""

from __future__ import annotations

from paretomoo.conditioned._mixing import ConditionedModel, Mixed, Mixture
from paretomoo.conditioned._screen import Screening, evaluation_points, screen
from paretomoo.conditioned._study import Conditioned, Gap, conditioned_lines, gaps, next_checks, run_conditioned
from paretomoo.conditioned._train import measure_mixture, sample_lambda, train_mixture

__all__ = [
    "Conditioned",
    "ConditionedModel",
    "Gap",
    "Mixed",
    "Mixture",
    "Screening",
    "conditioned_lines",
    "evaluation_points",
    "gaps",
    "measure_mixture",
    "next_checks",
    "run_conditioned",
    "sample_lambda",
    "screen",
    "train_mixture",
]
