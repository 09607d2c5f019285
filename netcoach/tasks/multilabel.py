"""Multi-label classification: K independent 0/1 labels per sample, one logit each."""

from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from netcoach.config import ConfigError
from netcoach.tasks.base import Task, bce_expected, binary_values, labels_np, logit, on_device, tasks

THRESHOLD = 0.5  # a label is predicted present when its probability reaches this


@tasks.register("multilabel")
class Multilabel(Task):
    """K labels, each present (1) or absent (0), from K logits s_k: p_k = sigmoid(s_k).

    The loss is binary cross-entropy per label, averaged over samples and labels
    (``binary_cross_entropy_with_logits``); ``pos_weight`` (``loss.pos_weight``) weights
    the positives of every label. A label is predicted present when p_k >= 1/2.

    Metrics: ``subset_acc`` (all K labels right; device sums); ``f1_micro`` (pooled over
    every label decision), ``f1_macro`` (mean of the per-label F1) and ``auc_macro``
    (mean ROC AUC over the labels that have both values in the split) from scikit-learn.
    The report adds a per-label table.
    """

    name = "multilabel"
    metric_names = ("subset_acc",)
    epoch_metric_names = ("f1_micro", "f1_macro", "auc_macro")
    primary_metric = "subset_acc"
    curve_metrics = ("subset_acc", "f1_micro", "f1_macro")
    default_monitor = "val_loss"
    stratify = False
    accuracy_like = False  # subset accuracy is low even for good models: the doctor reads the losses
    chance_text = "ln 2 per label (p = 1/2 everywhere)"
    report_sections = ("per_label",)
    prediction_key = "probs"
    has_classes = False
    output_kind = "logits"

    def __init__(self, pos_weight: Optional[float] = None):
        if pos_weight is not None and not (math.isfinite(pos_weight) and pos_weight > 0):
            raise ConfigError(f"loss.pos_weight: must be a positive number, got {pos_weight}")
        self.pos_weight = None if pos_weight is None else float(pos_weight)
        self.prior: Optional[np.ndarray] = None  # per-label fraction of positives in training (fit)
        self.bias_at_prior = False
        self._cache: dict = {}

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        pw = None if self.pos_weight is None else on_device(self._cache, "pw", self.pos_weight, outputs)
        return F.binary_cross_entropy_with_logits(outputs, targets.to(outputs.dtype), pos_weight=pw)

    def metric_sums(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, torch.Tensor]:
        right = (outputs >= 0) == (targets >= 0.5)  # sigmoid(s) >= 1/2  <=>  s >= 0
        return {"subset_acc": right.all(1).sum()}

    def epoch_metrics(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        from sklearn.metrics import f1_score

        y = labels_np(targets >= 0.5).astype(np.int64)
        pred = labels_np(outputs >= 0).astype(np.int64)
        aucs = per_label_auc(y, labels_np(torch.sigmoid(outputs.double())))
        known = [a for a in aucs if not math.isnan(a)]
        return {"f1_micro": float(f1_score(y, pred, average="micro", zero_division=0)),
                "f1_macro": float(f1_score(y, pred, average="macro", zero_division=0)),
                "auc_macro": float(np.mean(known)) if known else math.nan}

    def fit(self, y_train: torch.Tensor, num_outputs: int) -> None:
        self.prior = labels_np(y_train).astype(np.float64).mean(0)

    def postprocess(self, outputs: torch.Tensor) -> torch.Tensor:
        """Per-label probabilities, shape (N, K)."""
        return torch.sigmoid(outputs.float())

    def outputs_from_predictions(self, predictions: torch.Tensor) -> torch.Tensor:
        p = predictions.clamp(1e-12, 1 - 1e-12)
        return p.log() - (-p).log1p()

    def prediction_table(self, predictions, class_names) -> dict[str, list]:
        """Per label: ``<label>`` (0/1 at 1/2) and ``p_<label>``."""
        p = labels_np(predictions).astype(np.float64)
        names = label_names(class_names, p.shape[1])
        table: dict[str, list] = {}
        for k, name in enumerate(names):
            table[name] = (p[:, k] >= THRESHOLD).astype(int).tolist()
            table[f"p_{name}"] = p[:, k].tolist()
        return table

    def validate_labels(self, y, num_outputs: int) -> None:
        arr = labels_np(y)
        if arr.ndim != 2:
            raise ValueError(f"task multilabel: labels must be a (N, K) matrix of 0/1, got shape {arr.shape}; "
                             "for one class index per sample use task.name classification (or binary)")
        if arr.shape[1] != num_outputs:
            raise ValueError(f"task multilabel: labels have {arr.shape[1]} columns but the model has "
                             f"{num_outputs} outputs")
        if arr.size and not binary_values(arr):
            bad = arr[~np.isin(arr, (0, 1))].flat[0].item()
            raise ValueError(f"task multilabel: labels must be 0 or 1, found {bad}; for numeric "
                             "targets use task.name regression")

    def init_output_bias(self, layer: torch.nn.Linear) -> None:
        """Bias_k = logit(p_k), so each label starts at its training frequency."""
        if layer.bias is None or self.prior is None:
            raise ConfigError("model.bias_init prior: the output layer has no bias")
        with torch.no_grad():
            layer.bias.copy_(torch.as_tensor([logit(float(p)) for p in self.prior]))
        self.bias_at_prior = True

    def expected_initial_loss(self, num_outputs: int, prior: Optional[Sequence[float]] = None) -> float:
        """The mean over labels of the expected binary cross-entropy (``bce_expected``):
        ln 2 for p = 1/2, the mean per-label prior entropy with the biases at logit(p_k)."""
        p = self.prior if self.prior is not None else (np.asarray(prior) if prior is not None
                                                       else np.full(num_outputs, 0.5))
        q = np.asarray(prior) if prior is not None else (p if self.bias_at_prior else np.full(len(p), 0.5))
        pw = self.pos_weight or 1.0
        return float(np.mean([bce_expected(float(a), float(b), pw) for a, b in zip(p, q)]))

    def chance_name(self, num_outputs: int) -> str:
        return "the mean per-label prior entropy" if self.bias_at_prior else self.chance_text

    def num_outputs(self, bundle) -> int:
        y = bundle.train.y
        return int(y.shape[1]) if y.dim() == 2 else 1

    def state(self) -> dict:
        return {"prior": None if self.prior is None else [float(v) for v in self.prior],
                "threshold": THRESHOLD}

    def load_state(self, state: dict) -> None:
        if state.get("prior") is not None:
            self.prior = np.asarray(state["prior"], dtype=np.float64)


def per_label_auc(y: np.ndarray, p: np.ndarray) -> list[float]:
    """ROC AUC of each label (scikit-learn); NaN for a label with one value only."""
    from sklearn.metrics import roc_auc_score

    return [float(roc_auc_score(y[:, k], p[:, k])) if len(np.unique(y[:, k])) == 2 else math.nan
            for k in range(y.shape[1])]


def label_names(class_names: Sequence[str], k: int) -> list[str]:
    """The run's label names, or ``label_0`` .. ``label_{K-1}``."""
    names = list(class_names or [])
    return names if len(names) == k else [f"label_{i}" for i in range(k)]
