"""What is being learned: the loss and the metrics that go with an output layer.

Kept pluggable per task (classification now; regression and multi-label later),
so the trainer never hard-codes cross-entropy or accuracy.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from netcoach.registry import Registry

tasks: Registry = Registry("task")


@tasks.register("classification")
class Classification:
    """K-class classification from raw scores (logits).

    The loss is softmax cross-entropy, L = -1/N sum_n log softmax(s_n)[y_n]; targets
    are class indices (N,) or probabilities (N, K) (soft targets from mixup/cutmix).
    The metric is accuracy (``acc``) against the hard label (argmax of soft targets).
    """

    metric = "acc"

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, target)

    def hard_target(self, target: torch.Tensor) -> torch.Tensor:
        return target if target.dim() == 1 else target.argmax(1)

    def correct(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Number of correct predictions, as a device tensor (no host sync)."""
        return (logits.argmax(1) == self.hard_target(target)).sum()


def build_task(name: str = "classification"):
    return tasks.get(name)()
