"""The distillation term of Hinton, Vinyals & Dean (2015), "Distilling the Knowledge in a
Neural Network".

With teacher logits t, student logits s and temperature T::

    L_distill = T^2 * KL(softmax(t / T) || softmax(s / T)),   averaged over the batch

The T^2 keeps the term's gradients at the same scale for every T (the gradient of the KL
alone shrinks as 1/T^2 for large T): d L_distill / d s = T (softmax(s/T) - softmax(t/T)) / N.
torch's ``kl_div`` computes it from log-probabilities (``log_target``: no log of a rounded
zero), with ``batchmean`` the reduction that matches the mathematical KL per sample.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """T^2 KL(softmax(teacher / T) || softmax(student / T)), mean over the batch (see module docstring)."""
    t = float(temperature)
    return F.kl_div(F.log_softmax(student / t, dim=1), F.log_softmax(teacher.to(student.dtype) / t, dim=1),
                    reduction="batchmean", log_target=True) * (t * t)
