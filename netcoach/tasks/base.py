"""The ``Task`` interface, the task registry, and helpers the tasks share.

A task owns the loss, the metrics it reports, the post-processing from outputs to
predictions, the validation of the labels, the split strategy, the default monitored
metric, the loss an untrained model should start at (preflight, doctor), and which
task-specific report sections apply.

Metrics come in two kinds:

- ``metric_sums``: per-batch sums kept as device tensors and divided by the sample count
  once per epoch (exact for accuracy, MSE, MAE); measured on every split, training included;
- ``epoch_metrics``: metrics that need all outputs of a split at once (ROC AUC, F1, R²),
  computed with scikit-learn from the outputs the trainer gathers on the device and moves
  to the host once per epoch (training, validation) and in the final test evaluation.

What a task learns from the training targets (``fit``: the class prior, the target
statistics) and chooses on the validation split after training (``calibrate``: the
decision threshold) is its ``state``, stored in the run's ``data.json`` so prediction
uses the same values.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch

from netcoach.config import ConfigError
from netcoach.registry import Registry

tasks: Registry = Registry("task")


@dataclass(frozen=True)
class PreflightWords:
    """How preflight explains, in the task's terms, an initial loss far from the expected
    one (``too_high``, ``too_low``, ``off``) and the overfit-one-batch result: "<fitted> 32
    samples in 40 steps", "did not <fit> 32 samples". The defaults speak of class scores."""

    too_high: str = ("the untrained model is confidently wrong (initial scores far too large: check "
                     "the init scale of the last layer)")
    too_low: str = "far better than chance before training (labels leaking into the inputs?)"
    off: str = "predictions at init are not close to uniform"
    fitted: str = "memorised"
    fit: str = "memorise"


class Task(ABC):
    """The interface every task implements (class attributes describe it).

    Attributes:
        name: the registry name (``task.name``).
        metric_names: the metrics ``metric_sums`` returns, logged as ``train_<m>``/``val_<m>``.
        epoch_metric_names: the metrics ``epoch_metrics`` returns, logged as ``train_<m>``,
            ``val_<m>`` and ``test_<m>`` (empty: the trainer gathers no outputs).
        primary_metric: the headline metric (progress line, doctor, report headline); one
            of ``metric_names``, so every split has it.
        curve_metrics: the metrics the report's learning-curve panel shows (one scale).
        default_monitor: the metric that selects the best checkpoint by default.
        stratify: whether train/val/test splits keep the label proportions.
        accuracy_like: True when ``primary_metric`` is a fraction in [0, 1] that is better when
            larger (the doctor's train-val gap rules read it as 1 - error); False skips them.
        chance_text: how the doctor names ``expected_initial_loss`` in its evidence
            (``chance_name(k)`` is the same for a known number of outputs).
        report_sections: the task-specific report sections that apply (see ``report.entry``).
        prediction_key: the name of the postprocessed test outputs in ``predictions.safetensors``.
        has_classes: labels are class indices (class-balance check, class names, balanced sampler).
        output_kind: what the outputs are, for preflight's output-layer check: ``logits``
            (unbounded scores, one per class or label) or ``values`` (unbounded values that
            must reach the targets' range, in the units ``output_targets`` gives).
        calibrates: ``calibrate`` chooses something on the validation split after training
            (the final evaluation then runs one extra pass over that split).
        targets_are_inputs: the task learns to output its inputs (``learn_from`` makes them
            the targets); the labels of the data are not used.
        loss_text: what the doctor calls the loss in its verdicts ("training loss", or for the
            autoencoder "training reconstruction error").
        preflight_words: how preflight's initial-loss and overfit-one-batch messages read.
    """

    name: str = ""
    metric_names: tuple[str, ...] = ()
    epoch_metric_names: tuple[str, ...] = ()
    primary_metric: str = ""
    curve_metrics: tuple[str, ...] = ()
    default_monitor: str = "val_loss"
    stratify: bool = False
    accuracy_like: bool = False
    chance_text: str = "the loss of an untrained model"
    preflight_words: PreflightWords = PreflightWords()
    report_sections: tuple[str, ...] = ()
    prediction_key: str = "predictions"
    has_classes: bool = False
    output_kind: str = "values"
    calibrates: bool = False
    targets_are_inputs: bool = False
    loss_text: str = "loss"

    @abstractmethod
    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        ...

    @abstractmethod
    def metric_sums(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-metric sums over the batch, as device tensors (never read on the host here)."""
        ...

    def epoch_metrics(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        """Metrics of a whole split from all its outputs and targets (on the host)."""
        return {}

    @abstractmethod
    def postprocess(self, outputs: torch.Tensor) -> torch.Tensor:
        """Raw model outputs -> predictions as a user reads them."""
        ...

    @abstractmethod
    def outputs_from_predictions(self, predictions: torch.Tensor) -> torch.Tensor:
        """Outputs whose ``postprocess`` gives ``predictions`` back (to score averaged
        predictions, e.g. TTA, with the same loss and metrics)."""
        ...

    def output_targets(self, targets: torch.Tensor) -> torch.Tensor:
        """The targets in the units of the model's outputs (what preflight compares the
        outputs' range with); the targets themselves unless the task rescales them."""
        return targets

    @abstractmethod
    def validate_labels(self, y: torch.Tensor, num_outputs: int) -> None:
        """Raise ValueError naming what was found and the task that fits it."""
        ...

    def learn_from(self, bundle):
        """The ``DataBundle`` whose targets this task learns: the bundle itself (its labels)
        unless the task makes its own targets (the autoencoder's are its inputs)."""
        return bundle

    def targets(self, inputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The targets of a set scored outside training (``evaluate``), from its inputs in
        [0, 1] units and its labels: the labels unless the task makes its own targets."""
        return labels

    def check_config(self, config) -> None:
        """Refuse, with a ConfigError naming the key, options of ``config`` that do not apply
        to this task (checked before any run folder exists)."""

    def kept_predictions(self, predictions: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """The test predictions and labels kept in ``predictions.safetensors`` (all of them
        unless the task keeps fewer)."""
        return {self.prediction_key: predictions.contiguous(), "labels": labels.contiguous()}

    def fit(self, y_train: torch.Tensor, num_outputs: int) -> None:
        """Learn what the task needs from the training split's targets (no other split);
        ``num_outputs`` is ``num_outputs(bundle)``."""

    def calibrate(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        """Choose decision parameters on the validation split's outputs after training."""

    def init_output_bias(self, layer: torch.nn.Linear) -> None:
        """``model.bias_init prior``: start the output layer's bias at the class prior."""
        raise ConfigError(f"model.bias_init prior: task {self.name} has no class prior; "
                          "use bias_init default or zeros")

    def state(self) -> dict:
        """What ``fit`` and ``calibrate`` learned, as JSON (stored in the run's data.json)."""
        return {}

    def load_state(self, state: dict) -> None:
        """Take back what ``state`` returned (prediction with a finished run)."""

    @abstractmethod
    def expected_initial_loss(self, num_outputs: int, prior: Optional[Sequence[float]] = None) -> float:
        ...

    def chance_name(self, num_outputs: int) -> str:
        return self.chance_text

    @abstractmethod
    def num_outputs(self, bundle) -> int:
        """How many outputs the model's last layer needs for ``bundle``."""
        ...

    @abstractmethod
    def prediction_table(self, predictions: torch.Tensor, class_names: Sequence[str]) -> dict[str, list]:
        """Postprocessed predictions as named columns for a CSV (column -> values)."""
        ...

    def describe(self) -> dict:
        """The task as a JSON-able record (what readers of a run folder need)."""
        return {"name": self.name, "metrics": list(self.metric_names),
                "epoch_metrics": list(self.epoch_metric_names), "primary": self.primary_metric,
                "monitor": self.default_monitor, "report_sections": list(self.report_sections)}


# ---------------------------------------------------------------------- shared helpers

def labels_np(y) -> np.ndarray:
    return y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)


def parse_class_weights(text: Optional[str]) -> Optional[str | list[float]]:
    """``loss.class_weights``: "" (off), "auto" (inverse class frequency on the training
    split) or comma-separated positive numbers, one per class."""
    if text is None or not str(text).strip():
        return None
    text = str(text).strip()
    if text == "auto":
        return "auto"
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"loss.class_weights: expected auto or numbers separated by commas, "
                          f"got {text!r}") from None
    if not values or any(not math.isfinite(v) or v <= 0 for v in values):
        raise ConfigError(f"loss.class_weights: every weight must be a positive number, got {text!r}")
    return values


def class_weight_values(spec, counts: np.ndarray) -> Optional[np.ndarray]:
    """The per-class weights of ``spec`` (``parse_class_weights``) for training-split class
    ``counts``. ``auto`` is scikit-learn's "balanced" rule, w_c = N / (K n_c), computed by
    ``compute_class_weight``; a class without training samples gets weight 0."""
    if spec is None:
        return None
    k = len(counts)
    if spec == "auto":
        from sklearn.utils.class_weight import compute_class_weight

        present = np.flatnonzero(counts)
        y = np.repeat(present, counts[present])
        weights = np.zeros(k)
        weights[present] = compute_class_weight("balanced", classes=present, y=y)
        return weights
    if len(spec) != k:
        raise ConfigError(f"loss.class_weights: {len(spec)} weights given for {k} classes; "
                          f"give one per class or use auto")
    return np.asarray(spec, dtype=np.float64)


def on_device(cache: dict, name: str, values, like: torch.Tensor) -> torch.Tensor:
    """A constant tensor (weights, statistics) on ``like``'s device and dtype, made once."""
    key = (name, like.device, like.dtype)
    if key not in cache:
        cache[key] = torch.as_tensor(values, dtype=like.dtype).to(like.device)
    return cache[key]


def bce_expected(p: float, q: float, pos_weight: float = 1.0, w0: float = 1.0, w1: float = 1.0) -> float:
    """Expected binary cross-entropy when every prediction is q and a fraction p of the
    targets is 1: [w1 pw p (-ln q) + w0 (1 - p)(-ln(1 - q))] / (w1 p + w0 (1 - p)).

    With q = p (output bias at the logit of the prior) and no weights this is the prior's
    entropy H(p) = -p ln p - (1 - p) ln(1 - p); with q = 1/2 it is ln 2.
    """
    q = min(max(q, 1e-12), 1 - 1e-12)
    num = w1 * pos_weight * p * -math.log(q) + w0 * (1 - p) * -math.log(1 - q)
    return num / (w1 * p + w0 * (1 - p))


def logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def binary_values(arr: np.ndarray) -> bool:
    """Whether every entry is exactly 0 or 1."""
    return bool(np.isin(arr, (0, 1)).all())
