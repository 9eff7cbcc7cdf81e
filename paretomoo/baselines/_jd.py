"""PCGrad, MGDA and UPGrad through TorchJD's Gramian weightings (``torchjd.aggregation.*Weighting``).

Each weighting maps the Gramian ``G = J Jᵀ [T, T]`` of the shared parameters'
Jacobian to the weights ``w`` of the update ``Jᵀw``:

* ``pcgrad`` (Yu et al., NeurIPS 2020): every ``g_i`` projected in turn onto
  the normal plane of each ``g_j`` it conflicts with (random order), summed.
  TorchJD draws the order from torch's global generator; here it draws from a
  generator of its own, seeded with the training seed, so a training is
  reproducible and leaves the global generator as it was.
* ``mgda`` (Désidéri 2012; Sener and Koltun, NeurIPS 2018): the min-norm point
  of the gradients' convex hull, by the Frank-Wolfe solver of Sener and
  Koltun's Algorithm 2 (TorchJD's defaults: ε = 1e-3, 100 iterations).
* ``upgrad`` (Quinton and Rey, 2024): every ``g_i`` projected onto the dual cone
  of all the gradients (quadprog), averaged.

Importing this module needs torchjd, and UPGrad quadprog and qpsolvers
(``pip install 'paretomoo[baselines]'``).
"""

from __future__ import annotations

import torch
from torch import nn
from torchjd.aggregation import MGDAWeighting, PCGradWeighting, UPGradWeighting

from paretomoo.baselines._base import GramianMethod


class PCGrad(GramianMethod):
    """TorchJD's ``PCGradWeighting``, its projection order drawn from a generator seeded in ``setup``."""

    def __init__(self) -> None:
        self.weighting = PCGradWeighting()
        self.rng = torch.Generator()

    def setup(self, n_tasks: int, device: torch.device, seed: int) -> list[nn.Parameter]:
        self.rng.manual_seed(seed)
        return []

    def weights(self, gramian: torch.Tensor) -> torch.Tensor:
        with torch.random.fork_rng(devices=[]):
            torch.set_rng_state(self.rng.get_state())
            w = self.weighting(gramian)
            self.rng.set_state(torch.get_rng_state())
        return w


class MGDA(GramianMethod):
    """TorchJD's ``MGDAWeighting``: w on the simplex, ``Jᵀw`` the min-norm point of the gradients' hull."""

    def __init__(self) -> None:
        self.weighting = MGDAWeighting()

    def weights(self, gramian: torch.Tensor) -> torch.Tensor:
        return self.weighting(gramian)


class UPGrad(GramianMethod):
    """TorchJD's ``UPGradWeighting`` (mean preference, ``QuadprogProjector``)."""

    def __init__(self) -> None:
        self.weighting = UPGradWeighting()  # raises ImportError without quadprog / qpsolvers

    def weights(self, gramian: torch.Tensor) -> torch.Tensor:
        return self.weighting(gramian)
