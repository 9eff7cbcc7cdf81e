"""The conversion task's loss: paretomoo calls it on one member's rows and applies λ and the NaN mask itself."""

from __future__ import annotations

import torch


def focal(scores: torch.Tensor, labels: torch.Tensor, gamma: float = 2.0, alpha: float = 0.5) -> torch.Tensor:
    """Focal loss (Lin et al., 2017) per row: ``scores`` probabilities [B], ``labels`` 0/1 [B] -> [B].

    Rows the model already gets right weigh (1 - p_t)^gamma as much as in the log loss.
    """
    p = scores.clamp(1e-6, 1 - 1e-6)
    pt = torch.where(labels > 0.5, p, 1 - p)
    weight = torch.where(labels > 0.5, alpha, 1 - alpha)
    return -weight * (1 - pt) ** gamma * torch.log(pt)
