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

    ``label_smoothing`` eps replaces the target distribution q by (1 - eps) q + eps / K,
    for class indices and soft targets alike (torch's ``cross_entropy`` does this for
    both); reported losses include it, as Keras reports them.
    """

    metric = "acc"

    def __init__(self, label_smoothing: float = 0.0):
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"loss.label_smoothing: must be in [0, 1), got {label_smoothing}")
        self.label_smoothing = float(label_smoothing)

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if target.dim() == 2:
            target = target.to(logits.dtype)  # soft targets: float probabilities of logits' dtype
        return F.cross_entropy(logits, target, label_smoothing=self.label_smoothing)

    def hard_target(self, target: torch.Tensor) -> torch.Tensor:
        return target if target.dim() == 1 else target.argmax(1)

    def correct(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Number of correct predictions, as a device tensor (no host sync)."""
        return (logits.argmax(1) == self.hard_target(target)).sum()


def build_task(name: str = "classification", label_smoothing: float = 0.0):
    """The task called ``name``; ``label_smoothing`` (``[loss]``) only where the task has it."""
    if label_smoothing:
        return tasks.get(name)(label_smoothing=label_smoothing)
    return tasks.get(name)()
