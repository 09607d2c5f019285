"""Binary classification: one logit, binary cross-entropy, a decision threshold chosen
on the validation split."""

from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from netcoach.config import ConfigError
from netcoach.tasks.base import (Task, bce_expected, binary_values, class_weight_values, labels_np, logit,
                                 on_device, parse_class_weights, tasks)

THRESHOLD_RULE = "max F1 on the validation split"


@tasks.register("binary")
class Binary(Task):
    """Two classes (0 and 1) from one logit s: p = sigmoid(s) is the probability of class 1.

    The loss is binary cross-entropy on the logit (``binary_cross_entropy_with_logits``),
    l = -[pw y log p + (1 - y) log(1 - p)], with ``pos_weight`` pw (``loss.pos_weight``)
    weighting the positives; ``class_weights`` (w0, w1 or auto) weight each sample by its
    class, L = sum w_y l / sum w_y.

    A sample is predicted positive when p >= ``threshold``. During training the threshold
    is 1/2; after training ``calibrate`` sets it to the one that maximises F1 on the
    validation split (F1 is the positive-class metric reported here, and unlike accuracy
    it does not reward predicting the majority class under imbalance; Youden's J would
    weigh both error rates equally instead). The test metrics and ``predict`` use it.

    Metrics: ``acc`` (device sums); ``auc`` (ROC AUC, threshold-free), ``f1``,
    ``precision`` and ``recall`` at the threshold (scikit-learn, from all outputs).
    """

    name = "binary"
    metric_names = ("acc",)
    epoch_metric_names = ("auc", "f1", "precision", "recall")
    primary_metric = "acc"
    curve_metrics = ("acc", "auc")
    default_monitor = "val_loss"
    stratify = True
    accuracy_like = True
    chance_text = "ln 2 (p = 1/2 for every sample)"
    report_sections = ("roc_pr",)
    prediction_key = "probs"
    has_classes = True
    output_kind = "logits"
    calibrates = True

    def __init__(self, class_weights: Optional[str] = None, pos_weight: Optional[float] = None):
        if pos_weight is not None and not (math.isfinite(pos_weight) and pos_weight > 0):
            raise ConfigError(f"loss.pos_weight: must be a positive number, got {pos_weight}")
        self.pos_weight = None if pos_weight is None else float(pos_weight)
        self.class_weights_spec = parse_class_weights(class_weights)
        self.prior: Optional[float] = None           # fraction of positives in training (fit)
        self.weights: Optional[np.ndarray] = None    # (w0, w1) (fit)
        self.threshold = 0.5
        self.threshold_rule = "1/2 (not calibrated)"
        self.bias_at_prior = False
        self._cache: dict = {}

    # ------------------------------------------------------------------ training
    @staticmethod
    def _logit(outputs: torch.Tensor) -> torch.Tensor:
        return outputs.squeeze(1) if outputs.dim() == 2 else outputs

    @staticmethod
    def _target(targets: torch.Tensor) -> torch.Tensor:
        """Probability of class 1: the label, or column 1 of soft targets (mixup)."""
        return targets[:, 1] if targets.dim() == 2 else targets

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        s = self._logit(outputs)
        t = self._target(targets).to(s.dtype)
        pw = None if self.pos_weight is None else on_device(self._cache, "pw", self.pos_weight, s)
        if self.weights is None:
            return F.binary_cross_entropy_with_logits(s, t, pos_weight=pw)
        per = F.binary_cross_entropy_with_logits(s, t, pos_weight=pw, reduction="none")
        w0, w1 = (float(v) for v in self.weights)
        w = w0 + (w1 - w0) * t
        return (per * w).sum() / w.sum()

    def _decide(self, outputs: torch.Tensor) -> torch.Tensor:
        return self.postprocess(outputs) >= self.threshold

    def metric_sums(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"acc": (self._decide(outputs) == (self._target(targets) >= 0.5)).sum()}

    def epoch_metrics(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

        y = labels_np(self._target(targets) >= 0.5).astype(np.int64)
        p = labels_np(self.postprocess(outputs)).astype(np.float64)
        pred = (p >= self.threshold).astype(np.int64)
        both = len(np.unique(y)) == 2
        return {"auc": float(roc_auc_score(y, p)) if both else math.nan,
                "f1": float(f1_score(y, pred, zero_division=0)),
                "precision": float(precision_score(y, pred, zero_division=0)),
                "recall": float(recall_score(y, pred, zero_division=0))}

    def fit(self, y_train: torch.Tensor, num_outputs: int) -> None:
        y = labels_np(y_train).astype(np.int64)
        counts = np.bincount(y, minlength=2)[:2]
        self.prior = float(counts[1] / max(counts.sum(), 1))
        self.weights = class_weight_values(self.class_weights_spec, counts)
        self._cache.clear()

    def calibrate(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        """The threshold of largest F1 on the validation split (scikit-learn's
        precision-recall curve lists every distinct score as a candidate)."""
        from sklearn.metrics import precision_recall_curve

        y = labels_np(self._target(targets) >= 0.5).astype(np.int64)
        if len(np.unique(y)) < 2:
            self.threshold_rule = "1/2 (the validation split holds one class only)"
            return
        # float32 probabilities, as postprocess gives them: the chosen threshold is one of
        # them exactly, so predict decides every sample as here
        p = labels_np(self.postprocess(outputs)).astype(np.float64)
        precision, recall, thresholds = precision_recall_curve(y, p)
        f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
        self.threshold = float(thresholds[int(np.argmax(f1))])
        self.threshold_rule = THRESHOLD_RULE

    # ------------------------------------------------------------------ outputs
    def postprocess(self, outputs: torch.Tensor) -> torch.Tensor:
        """The probability of class 1, shape (N,)."""
        return torch.sigmoid(self._logit(outputs).float())

    def outputs_from_predictions(self, predictions: torch.Tensor) -> torch.Tensor:
        p = predictions.clamp(1e-12, 1 - 1e-12)
        return (p.log() - (-p).log1p()).unsqueeze(1)

    def prediction_table(self, predictions, class_names) -> dict[str, list]:
        """``prediction`` (class name at the run's threshold) and ``p_<class 1>``."""
        p = labels_np(predictions).astype(np.float64)
        names = list(class_names) if len(class_names) >= 2 else ["0", "1"]
        return {"prediction": [names[int(v >= self.threshold)] for v in p], f"p_{names[1]}": p.tolist()}

    # ------------------------------------------------------------------ checks
    def validate_labels(self, y, num_outputs: int) -> None:
        arr = labels_np(y)
        if arr.ndim != 1:
            raise ValueError(f"task binary: labels must be a 1-D array of 0/1, got shape {arr.shape}; "
                             "for several 0/1 labels per sample use task.name multilabel")
        if not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"task binary: labels must be integers 0 or 1, got dtype {arr.dtype}; "
                             "for numeric targets use task.name regression")
        if len(arr) and not binary_values(arr):
            bad = int(arr[~np.isin(arr, (0, 1))][0])
            raise ValueError(f"task binary: label {bad} is not 0 or 1; for more than two classes use "
                             "task.name classification")

    def init_output_bias(self, layer: torch.nn.Linear) -> None:
        """Bias = logit(p), so sigmoid(bias) is the training split's fraction of positives."""
        if layer.bias is None or self.prior is None:
            raise ConfigError("model.bias_init prior: the output layer has no bias")
        with torch.no_grad():
            layer.bias.fill_(logit(self.prior))
        self.bias_at_prior = True

    def expected_initial_loss(self, num_outputs: int, prior: Optional[Sequence[float]] = None) -> float:
        """ln 2 for p = 1/2 everywhere; the prior's entropy H(p) with the bias at logit(p)
        (``prior``: [p], or the fitted one after ``init_output_bias``); see ``bce_expected``."""
        p = self.prior if self.prior is not None else (float(prior[-1]) if prior is not None else 0.5)
        q = float(prior[-1]) if prior is not None else (p if self.bias_at_prior else 0.5)
        w0, w1 = self.weights if self.weights is not None else (1.0, 1.0)
        return bce_expected(p, q, self.pos_weight or 1.0, float(w0), float(w1))

    def chance_name(self, num_outputs: int) -> str:
        return "the prior's entropy H(p)" if self.bias_at_prior else self.chance_text

    def num_outputs(self, bundle) -> int:
        return 1

    def state(self) -> dict:
        return {"prior": self.prior, "threshold": self.threshold, "threshold_rule": self.threshold_rule,
                **({"class_weights": [float(v) for v in self.weights]} if self.weights is not None else {})}

    def load_state(self, state: dict) -> None:
        self.prior = state.get("prior", self.prior)
        self.threshold = float(state.get("threshold", self.threshold))
        self.threshold_rule = state.get("threshold_rule", self.threshold_rule)
        if state.get("class_weights") is not None:
            self.weights = np.asarray(state["class_weights"], dtype=np.float64)
