"""The averaged predictor: several trained networks answering as one.

``EnsembleModel(x)`` is the weighted mean of the members' post-processed outputs
(``task.postprocess``: class probabilities for classification, values for
regression, per-label probabilities for multi-label), because averaging in that space
is what makes an ensemble of probabilistic predictors calibrated and task-agnostic;
averaging raw logits would weight confident members more and mean nothing for
sigmoid outputs. ``outputs(x)`` maps the mean back to the task's output space
(``task.outputs_from_predictions``: log-probabilities for classification), so the
task's loss and metrics, and a distillation student, read it like one network's.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import nn

from netcoach.tasks import Task


def normalized_weights(weights: Optional[Sequence[float]], count: int) -> list[float]:
    """``weights`` scaled to sum to 1 (uniform when None); a wrong count or a weight that is
    not a positive finite number is a ValueError naming ``--weights``."""
    if count < 1:
        raise ValueError("an ensemble needs at least one member")
    if weights is None:
        return [1.0 / count] * count
    values = [float(w) for w in weights]
    if len(values) != count:
        raise ValueError(f"--weights: {len(values)} weights given for {count} members; give one per member")
    bad = [w for w in values if not (w > 0 and w != float("inf"))]
    if bad:
        raise ValueError(f"--weights: every weight must be a positive finite number, got {bad[0]}")
    total = sum(values)
    return [w / total for w in values]


class EnsembleModel(nn.Module):
    """Weighted mean of ``task.postprocess(member(x))`` over the members.

    Inputs are normalized as the members were trained (they share preprocessing;
    ``record`` is their ``data.json``, which ``netcoach.predict`` applies to raw inputs).

    Args:
        models: the members' networks (evaluated in eval mode).
        weights: one positive weight per member (normalized to sum 1; default uniform).
        task: the members' task.
        record: the members' shared data record (input shape, classes, normalization).
        paths: the members' run folders, when they came from folders.
    """

    def __init__(self, models: Sequence[nn.Module], task: Task, weights: Optional[Sequence[float]] = None,
                 record: Optional[dict] = None, paths: Sequence = ()):
        super().__init__()
        if len(models) < 1:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(models)
        self.weights = normalized_weights(weights, len(models))
        self.task = task
        self.record = dict(record or {})
        self.paths = list(paths)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The weighted mean of the members' predictions (probabilities for classification)."""
        total = None
        for w, model in zip(self.weights, self.members):
            part = self.task.postprocess(model(x)) * w
            total = part if total is None else total + part
        return total

    def outputs(self, x: torch.Tensor) -> torch.Tensor:
        """The mean prediction in the task's output space (log-probabilities act as logits)."""
        return self.task.outputs_from_predictions(self.forward(x))
