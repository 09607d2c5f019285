"""K-class classification: softmax cross-entropy over K scores."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from netcoach.config import ConfigError
from netcoach.tasks.base import (Task, class_weight_values, labels_np, on_device, parse_class_weights,
                                 tasks)


@tasks.register("classification")
class Classification(Task):
    """K-class classification from raw scores (logits).

    The loss is softmax cross-entropy, L = -1/N sum_n log softmax(s_n)[y_n]; targets
    are class indices (N,) or probabilities (N, K) (soft targets from mixup/cutmix).
    The metric is accuracy (``acc``) against the hard label (argmax of soft targets).

    ``label_smoothing`` eps replaces the target distribution q by (1 - eps) q + eps / K,
    for class indices and soft targets alike (torch's ``cross_entropy`` does this for
    both); reported losses include it, as Keras reports them.

    ``class_weights`` (``loss.class_weights``: "auto" or one weight per class) weights each
    sample's loss by its class, L = sum_n w_{y_n} l_n / sum_n w_{y_n} (torch's weighted mean).
    """

    name = "classification"
    metric_names = ("acc",)
    primary_metric = "acc"
    curve_metrics = ("acc",)
    default_monitor = "val_acc"
    stratify = True
    accuracy_like = True
    chance_text = "chance level ln K"
    report_sections = ("confusion", "mistakes")
    prediction_key = "probs"
    has_classes = True
    output_kind = "logits"

    def __init__(self, label_smoothing: float = 0.0, class_weights: Optional[str] = None):
        if not 0.0 <= label_smoothing < 1.0:
            raise ConfigError(f"loss.label_smoothing: must be in [0, 1), got {label_smoothing}")
        self.label_smoothing = float(label_smoothing)
        self.class_weights_spec = parse_class_weights(class_weights)
        self.prior: Optional[np.ndarray] = None      # training-split class frequencies (fit)
        self.weights: Optional[np.ndarray] = None    # per-class loss weights (fit)
        self.bias_at_prior = False                   # init_output_bias ran
        self._cache: dict = {}

    def fit(self, y_train: torch.Tensor, num_outputs: int) -> None:
        """The class prior and (``class_weights``) the per-class weights of the training split."""
        counts = np.bincount(labels_np(y_train).astype(np.int64), minlength=num_outputs)
        self.prior = counts / max(counts.sum(), 1)
        self.weights = class_weight_values(self.class_weights_spec, counts)
        self._cache.clear()

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if targets.dim() == 2:
            targets = targets.to(outputs.dtype)  # soft targets: float probabilities of outputs' dtype
        weight = None
        if self.weights is not None:
            if len(self.weights) != outputs.shape[1]:
                raise ValueError(f"loss.class_weights: {len(self.weights)} weights for "
                                 f"{outputs.shape[1]} outputs")
            weight = on_device(self._cache, "weight", self.weights, outputs)
        return F.cross_entropy(outputs, targets, weight=weight, label_smoothing=self.label_smoothing)

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
        arr = labels_np(y)
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

    def init_output_bias(self, layer: torch.nn.Linear) -> None:
        """Bias b_c = log p_c, so softmax(b) is the training prior (a class without samples
        gets log 1e-6 instead of -inf)."""
        if layer.bias is None or self.prior is None:
            raise ConfigError("model.bias_init prior: the output layer has no bias" if layer.bias is None
                              else "model.bias_init prior: the task saw no training labels (fit)")
        with torch.no_grad():
            layer.bias.copy_(torch.as_tensor(np.log(np.maximum(self.prior, 1e-6))))
        self.bias_at_prior = True

    def expected_initial_loss(self, num_outputs: int, prior: Optional[Sequence[float]] = None) -> float:
        """ln K for uniform predictions. With the output bias at the log class prior p the
        predictions are p, and the expected cross-entropy is the prior's entropy
        -sum p log p; ``prior`` (or, after ``init_output_bias``, the fitted one) gives p.
        With class weights w the expectation is sum w_c p_c (-log q_c) / sum w_c p_c."""
        if prior is None and self.bias_at_prior:
            prior = self.prior
        if prior is None:
            q = np.full(num_outputs, 1.0 / num_outputs)
        else:
            q = np.asarray(prior, dtype=np.float64)
            q = q / q.sum()
        # the class frequencies the loss averages over: the training split's once fitted
        freq = q if self.prior is None else self.prior
        w = np.ones(len(q)) if self.weights is None else self.weights
        a = w * freq
        keep = a > 0
        return float((a[keep] * -np.log(q[keep])).sum() / a[keep].sum())

    def chance_name(self, num_outputs: int) -> str:
        return "the class prior's entropy" if self.bias_at_prior else f"ln {num_outputs}"

    def num_outputs(self, bundle) -> int:
        return int(bundle.num_classes)

    def state(self) -> dict:
        out = {}
        if self.prior is not None:
            out["prior"] = [float(v) for v in self.prior]
        if self.weights is not None:
            out["class_weights"] = [float(v) for v in self.weights]
        return out

    def load_state(self, state: dict) -> None:
        if state.get("prior") is not None:
            self.prior = np.asarray(state["prior"], dtype=np.float64)
        if state.get("class_weights") is not None:
            self.weights = np.asarray(state["class_weights"], dtype=np.float64)
        self._cache.clear()

    def prediction_table(self, predictions, class_names) -> dict[str, list]:
        """``prediction`` (the class name of the largest probability) and ``p_<class>``."""
        probs = labels_np(predictions)
        names = list(class_names) or [str(i) for i in range(probs.shape[1])]
        table = {"prediction": [names[i] for i in probs.argmax(1)]}
        table.update({f"p_{names[c]}": probs[:, c].tolist() for c in range(probs.shape[1])})
        return table

