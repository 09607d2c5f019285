"""Scoring an ensemble on its members' common test split.

The test split is rebuilt from a member's own config (data source, split seed and
fractions; downloads off) and normalized with the statistics in its ``data.json``,
exactly as the member saw it. Member predictions are computed once and combined,
so each member's score, the ensemble's and the diversity of members come from the
same numbers.
"""

from __future__ import annotations

from dataclasses import replace
from itertools import combinations
from typing import Optional, Sequence

import torch

from netcoach.augment.tta import View, predict_tta
from netcoach.data import build_data
from netcoach.data.loader import DeviceLoader
from netcoach.ensemble.members import Member, MemberError
from netcoach.tasks import Task
from netcoach.train.final import predict, test_metrics
from netcoach.train.run import RunFolder


def test_loader(member: Member, batch_size: Optional[int] = None) -> DeviceLoader:
    """The member's test split, rebuilt from its config, normalized with its recorded statistics."""
    config = replace(member.config, data=replace(member.config.data, download=False))
    try:
        bundle = build_data(config, torch.device("cpu"), stratify=member.task.stratify)
    except (OSError, ValueError) as exc:
        raise MemberError(f"ensemble member {member.path}: its test split could not be rebuilt "
                          f"from config.toml ({str(exc).splitlines()[0]})") from None
    expected = (member.record.get("sizes") or {}).get("test")
    if expected is not None and len(bundle.test) != expected:
        raise MemberError(f"ensemble member {member.path}: the rebuilt test split has {len(bundle.test)} "
                          f"samples but the run recorded {expected}; the data at data.path changed")
    rec = member.record
    return DeviceLoader(bundle.test, batch_size or config.data.eval_batch_size, scale=rec["scale"],
                        mean=rec.get("mean"), std=rec.get("std"), normalizer=RunFolder(member.path).normalizer())


def member_predictions(model: torch.nn.Module, task: Task, loader: DeviceLoader,
                       tta: Optional[list[tuple[str, View]]] = None) -> torch.Tensor:
    """``task.postprocess`` of the model's outputs on every sample of ``loader`` (CPU);
    with ``tta`` (views of ``augment.tta``) the mean over the image and those views."""
    if tta is not None:
        return predict_tta(model, loader, tta, task.postprocess)
    return task.postprocess(predict(model, loader))


def weighted_mean(predictions: Sequence[torch.Tensor], weights: Sequence[float]) -> torch.Tensor:
    total = predictions[0].double() * weights[0]
    for p, w in zip(predictions[1:], weights[1:]):
        total = total + p.double() * w
    return total


def score(task: Task, predictions: torch.Tensor, labels: torch.Tensor, prefix: str = "test") -> dict:
    """The task's loss and metrics of (averaged) predictions, as for one network's outputs."""
    return test_metrics(task, task.outputs_from_predictions(predictions.double()), labels, prefix)


def decisions(task: Task, predictions: torch.Tensor) -> Optional[torch.Tensor]:
    """The hard answer each prediction implies: the class (argmax) when the task has classes;
    None for tasks whose predictions are values."""
    return predictions.argmax(1) if task.has_classes and predictions.dim() == 2 else None


def disagreement(task: Task, predictions: Sequence[torch.Tensor]) -> dict:
    """Pairwise diversity of the members on the test split.

    With classes: the fraction of samples on which two members predict different classes
    (the diversity measure of Kuncheva & Whitaker 2003). Otherwise: the mean absolute
    difference of their predictions. ``mean`` averages the pairs.
    """
    hard = [decisions(task, p) for p in predictions]
    kind = "fraction of test samples with different predicted classes" if hard[0] is not None \
        else "mean absolute difference of predictions"
    k = len(predictions)
    matrix = [[0.0] * k for _ in range(k)]
    for i, j in combinations(range(k), 2):
        if hard[0] is not None:
            value = float((hard[i] != hard[j]).double().mean())
        else:
            value = float((predictions[i].double() - predictions[j].double()).abs().mean())
        matrix[i][j] = matrix[j][i] = value
    pairs = [matrix[i][j] for i, j in combinations(range(k), 2)]
    return {"measure": kind, "matrix": matrix, "mean": sum(pairs) / len(pairs) if pairs else 0.0}
