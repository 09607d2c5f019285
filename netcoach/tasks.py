"""What is being learned: the task seam between the data, the model's outputs and everything
that reads them.

A task owns the loss, the metrics it reports (as device-side sums that the trainer divides
by the sample count once per epoch), the post-processing from outputs to predictions, the
validation of the labels, the split strategy, the default monitored metric, the loss an
untrained model should start at (preflight, doctor), and which task-specific report
sections apply. The trainer, final evaluation, TTA, prediction, preflight, doctor, progress
line and report ask the task instead of assuming softmax and accuracy.

Add a task by subclassing ``Task`` and registering it with ``@tasks.register("name")``;
``task.name`` in the config then selects it.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from netcoach.config import ConfigError
from netcoach.registry import Registry, RegistryError

tasks: Registry = Registry("task")


class Task:
    """The interface every task implements (class attributes describe it).

    Attributes:
        name: the registry name (``task.name``).
        metric_names: the metrics ``metric_sums`` returns, logged as ``train_<m>``/``val_<m>``.
        primary_metric: the headline metric (progress line, doctor, report headline).
        default_monitor: the metric that selects the best checkpoint by default.
        stratify: whether train/val/test splits keep the label proportions.
        accuracy_like: True when ``primary_metric`` is a fraction in [0, 1] that is better when
            larger (the doctor's train-val gap rules read it as 1 - error); False skips them.
        chance_text: how the doctor names ``expected_initial_loss`` in its evidence
            (``chance_name(k)`` is the same for a known number of outputs).
        report_sections: the task-specific report sections that apply (see ``report.entry``).
        prediction_key: the name of the postprocessed test outputs in ``predictions.safetensors``.
        has_classes: labels are class indices (class-balance check, class names).
        output_kind: what the outputs are, for preflight's output-layer check: ``logits``
            (unbounded scores, one per class, softmax applied by the loss) or ``values``
            (unbounded values that must reach the targets' range).
    """

    name: str = ""
    metric_names: tuple[str, ...] = ()
    primary_metric: str = ""
    default_monitor: str = "val_loss"
    stratify: bool = False
    accuracy_like: bool = False
    chance_text: str = "the loss of an untrained model"
    report_sections: tuple[str, ...] = ()
    prediction_key: str = "predictions"
    has_classes: bool = False
    output_kind: str = "values"

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def metric_sums(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-metric sums over the batch, as device tensors (never read on the host here)."""
        raise NotImplementedError

    def postprocess(self, outputs: torch.Tensor) -> torch.Tensor:
        """Raw model outputs -> predictions as a user reads them."""
        raise NotImplementedError

    def outputs_from_predictions(self, predictions: torch.Tensor) -> torch.Tensor:
        """Outputs whose ``postprocess`` gives ``predictions`` back (to score averaged
        predictions, e.g. TTA, with the same loss and metrics)."""
        raise NotImplementedError

    def validate_labels(self, y: torch.Tensor, num_outputs: int) -> None:
        """Raise ValueError naming what was found and the task that fits it."""
        raise NotImplementedError

    def expected_initial_loss(self, num_outputs: int, prior: Optional[Sequence[float]] = None) -> float:
        raise NotImplementedError

    def chance_name(self, num_outputs: int) -> str:
        return self.chance_text

    def num_outputs(self, bundle) -> int:
        """How many outputs the model's last layer needs for ``bundle``."""
        raise NotImplementedError

    def describe(self) -> dict:
        """The task as a JSON-able record (what readers of a run folder need)."""
        return {"name": self.name, "metrics": list(self.metric_names), "primary": self.primary_metric,
                "monitor": self.default_monitor, "report_sections": list(self.report_sections)}


def _labels_np(y) -> np.ndarray:
    return y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)


@tasks.register("classification")
class Classification(Task):
    """K-class classification from raw scores (logits).

    The loss is softmax cross-entropy, L = -1/N sum_n log softmax(s_n)[y_n]; targets
    are class indices (N,) or probabilities (N, K) (soft targets from mixup/cutmix).
    The metric is accuracy (``acc``) against the hard label (argmax of soft targets).

    ``label_smoothing`` eps replaces the target distribution q by (1 - eps) q + eps / K,
    for class indices and soft targets alike (torch's ``cross_entropy`` does this for
    both); reported losses include it, as Keras reports them.
    """

    name = "classification"
    metric_names = ("acc",)
    primary_metric = "acc"
    default_monitor = "val_acc"
    stratify = True
    accuracy_like = True
    chance_text = "chance level ln K"
    report_sections = ("confusion", "mistakes")
    prediction_key = "probs"
    has_classes = True
    output_kind = "logits"

    def __init__(self, label_smoothing: float = 0.0):
        if not 0.0 <= label_smoothing < 1.0:
            raise ConfigError(f"loss.label_smoothing: must be in [0, 1), got {label_smoothing}")
        self.label_smoothing = float(label_smoothing)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if targets.dim() == 2:
            targets = targets.to(outputs.dtype)  # soft targets: float probabilities of outputs' dtype
        return F.cross_entropy(outputs, targets, label_smoothing=self.label_smoothing)

    @staticmethod
    def hard_target(targets: torch.Tensor) -> torch.Tensor:
        return targets if targets.dim() == 1 else targets.argmax(1)

    def metric_sums(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"acc": (outputs.argmax(1) == self.hard_target(targets)).sum()}

    def postprocess(self, outputs: torch.Tensor) -> torch.Tensor:
        """Class probabilities, softmax over the K scores."""
        return outputs.float().softmax(1)

    def outputs_from_predictions(self, predictions: torch.Tensor) -> torch.Tensor:
        """Log-probabilities act as logits: softmax(log p) = p."""
        return predictions.clamp_min(1e-12).log()

    def validate_labels(self, y, num_outputs: int) -> None:
        """Class indices: a 1-D integer array with values in 0..K-1."""
        arr = _labels_np(y)
        if arr.ndim != 1:
            raise ValueError(f"task classification: labels must be a 1-D array of class indices, got "
                             f"shape {arr.shape}; for one 0/1 column per label use task.name multilabel, "
                             "for several numeric targets task.name regression")
        if not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"task classification: labels must be integers (class indices), got dtype "
                             f"{arr.dtype}; for numeric targets use task.name regression")
        if len(arr) and (arr.min() < 0 or arr.max() >= num_outputs):
            bad = int(arr.min()) if arr.min() < 0 else int(arr.max())
            raise ValueError(f"task classification: label {bad} is outside the classes 0..{num_outputs - 1}; "
                             "class indices must count from 0 (for numeric targets use task.name regression)")

    def expected_initial_loss(self, num_outputs: int, prior: Optional[Sequence[float]] = None) -> float:
        """ln K for uniform predictions; with the output bias at the log class prior p the
        predictions are p, and the expected cross-entropy is the prior's entropy -sum p log p."""
        if prior is None:
            return math.log(num_outputs)
        p = np.asarray(prior, dtype=np.float64)
        p = p[p > 0] / p.sum()
        return float(-(p * np.log(p)).sum())

    def chance_name(self, num_outputs: int) -> str:
        return f"ln {num_outputs}"

    def num_outputs(self, bundle) -> int:
        return int(bundle.num_classes)


def validate_bundle(task: Task, bundle) -> None:
    """``task.validate_labels`` on every split of ``bundle``; the error names the split."""
    k = task.num_outputs(bundle)
    for split in ("train", "val", "test"):
        try:
            task.validate_labels(getattr(bundle, split).y, k)
        except ValueError as exc:
            raise ValueError(f"{split} split: {exc}") from None


def build_task(section=None, loss=None, **options) -> Task:
    """The task of ``section`` (a ``TaskConfig``, or a name), built with the ``[loss]``
    options it takes (``loss``: a ``LossConfig``) or with explicit ``options``.

    Example:
        >>> build_task("classification").default_monitor
        'val_acc'
        >>> build_task("classification", label_smoothing=0.1).label_smoothing
        0.1
    """
    name = getattr(section, "name", section) or "classification"
    try:
        cls = tasks.get(name)
    except RegistryError:
        raise ConfigError(f"task.name: unknown task {name!r}; valid: {', '.join(tasks.names())}") from None
    if loss is not None and getattr(loss, "label_smoothing", 0.0):
        options = {"label_smoothing": float(loss.label_smoothing), **options}
    for key in [k for k, v in options.items() if not v]:
        options.pop(key)  # an option left at its off value needs no support from the task
    unknown = [k for k in options if not _accepts(cls, k)]
    if unknown:
        raise ConfigError(f"loss.{unknown[0]}: task {name} has no such option; leave it at its default")
    return cls(**options)


def _accepts(cls, option: str) -> bool:
    import inspect

    return option in inspect.signature(cls.__init__).parameters


def task_of_config(config: Optional[dict]) -> Task:
    """The task a run folder's ``config.toml`` (parsed as a dict) names; classification when
    the section is absent (runs written before tasks were configurable)."""
    name = ((config or {}).get("task") or {}).get("name") or "classification"
    return build_task(name)
