"""Regression: one or more numeric targets, learned on standardized targets and reported
in the targets' own units."""

from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from netcoach.config import ConfigError
from netcoach.tasks.base import Task, labels_np, on_device, tasks

LOSSES = ("mse", "mae", "huber")


@tasks.register("regression")
class Regression(Task):
    """T numeric targets from T outputs.

    The targets are standardized with the training split's mean and standard deviation per
    target, z = (y - mu) / sigma (``fit``; stored in the run), and the model learns z: the
    loss is ``mse`` (mean squared error, the course's quadratic cost), ``mae`` (mean absolute
    error) or ``huber`` (squared below ``huber_delta``, linear above; in standardized units)
    between the outputs and z. Predictions come back as mu + sigma * output, so every metric
    is in the targets' units: ``mse``, ``mae`` (device sums), ``rmse`` and ``r2``
    (coefficient of determination, scikit-learn's ``r2_score`` averaged over the targets)
    from all outputs.

    An untrained model outputs about 0, the training mean: its MSE on standardized targets is
    1 (the variance of z), which preflight and the doctor use as chance level.
    """

    name = "regression"
    metric_names = ("mse", "mae")
    epoch_metric_names = ("rmse", "r2")
    primary_metric = "mse"
    curve_metrics = ("r2",)
    default_monitor = "val_loss"
    stratify = False
    accuracy_like = False
    chance_text = "the loss of predicting the training mean"
    report_sections = ("regression",)
    prediction_key = "values"
    has_classes = False
    output_kind = "values"

    def __init__(self, loss_name: Optional[str] = None, huber_delta: Optional[float] = None):
        loss_name = loss_name or "mse"
        if loss_name not in LOSSES:
            raise ConfigError(f"loss.name: task regression has losses {', '.join(LOSSES)}, got {loss_name!r}")
        if huber_delta is not None and loss_name != "huber":
            raise ConfigError("loss.huber_delta: applies to loss.name huber only")
        delta = 1.0 if huber_delta is None else float(huber_delta)
        if not (math.isfinite(delta) and delta > 0):
            raise ConfigError(f"loss.huber_delta: must be a positive number, got {huber_delta}")
        self.loss_name, self.huber_delta = loss_name, delta
        self.mean = np.zeros(1)
        self.std = np.ones(1)
        self.initial_loss: Optional[float] = None  # the loss of predicting the mean on training (fit)
        self._cache: dict = {}

    # ------------------------------------------------------------------ units
    def _stats(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return (on_device(self._cache, "mean", self.mean, like), on_device(self._cache, "std", self.std, like))

    def output_targets(self, targets: torch.Tensor) -> torch.Tensor:
        """Standardized targets z = (y - mu) / sigma, shape (N, T)."""
        y = _columns(targets).double()
        mean, std = self._stats(y)
        return (y - mean) / std

    def _values(self, outputs: torch.Tensor) -> torch.Tensor:
        """Outputs in the targets' units, (N, T) float64."""
        out = _columns(outputs).double()
        mean, std = self._stats(out)
        return out * std + mean

    # ------------------------------------------------------------------ training
    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        out = _columns(outputs)
        # float32 at least: standardized targets rounded to bf16 would lose ~0.4% (autocast)
        z = self.output_targets(targets).to(torch.promote_types(out.dtype, torch.float32))
        return _loss(self.loss_name, out, z, self.huber_delta)

    def metric_sums(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-sample squared and absolute errors (mean over the targets), summed, in the
        targets' units."""
        err = self._values(outputs) - _columns(targets).double()
        return {"mse": (err * err).mean(1).sum(), "mae": err.abs().mean(1).sum()}

    def epoch_metrics(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        from sklearn.metrics import r2_score

        pred = labels_np(self._values(outputs))
        y = labels_np(_columns(targets).double())
        rmse = float(np.sqrt(np.mean((pred - y) ** 2))) if len(y) else math.nan
        return {"rmse": rmse, "r2": float(r2_score(y, pred)) if len(y) >= 2 else math.nan}

    def fit(self, y_train: torch.Tensor, num_outputs: int) -> None:
        """Mean and standard deviation (ddof 0) of each target on the training split; a
        constant target keeps sigma = 1."""
        y = labels_np(y_train).astype(np.float64).reshape(len(y_train), -1)
        self.mean = y.mean(0)
        std = y.std(0)
        self.std = np.where(std > 1e-12, std, 1.0)
        self._cache.clear()
        z = torch.as_tensor((y - self.mean) / self.std)
        self.initial_loss = float(_loss(self.loss_name, torch.zeros_like(z), z, self.huber_delta))

    # ------------------------------------------------------------------ outputs
    def postprocess(self, outputs: torch.Tensor) -> torch.Tensor:
        """Predictions in the targets' units: (N,) for one target, (N, T) for several."""
        values = self._values(outputs).float()
        return values.squeeze(1) if values.shape[1] == 1 else values

    def outputs_from_predictions(self, predictions: torch.Tensor) -> torch.Tensor:
        return self.output_targets(predictions)

    def prediction_table(self, predictions, class_names) -> dict[str, list]:
        """``value`` for one target; ``value_<target>`` for several."""
        v = labels_np(predictions).astype(np.float64).reshape(len(predictions), -1)
        if v.shape[1] == 1:
            return {"value": v[:, 0].tolist()}
        names = list(class_names) if len(class_names or []) == v.shape[1] else [str(i) for i in range(v.shape[1])]
        return {f"value_{n}": v[:, i].tolist() for i, n in enumerate(names)}

    # ------------------------------------------------------------------ checks
    def validate_labels(self, y, num_outputs: int) -> None:
        arr = labels_np(y)
        if arr.ndim not in (1, 2):
            raise ValueError(f"task regression: targets must be (N,) or (N, T), got shape {arr.shape}")
        if not np.issubdtype(arr.dtype, np.floating):
            raise ValueError(f"task regression: targets must be floats, got dtype {arr.dtype} (class "
                             "indices?); for classes use task.name classification or binary, for numeric "
                             "targets pass them as floats")
        width = 1 if arr.ndim == 1 else arr.shape[1]
        if width != num_outputs:
            raise ValueError(f"task regression: targets have {width} columns but the model has "
                             f"{num_outputs} outputs")
        bad = ~np.isfinite(arr)
        if bad.any():
            row = int(np.argwhere(bad)[0][0])
            raise ValueError(f"task regression: targets contain NaN or inf (first in row {row}); "
                             "drop or fill those rows")

    def expected_initial_loss(self, num_outputs: int, prior: Optional[Sequence[float]] = None) -> float:
        """The loss of predicting 0 (the training mean) for the standardized training targets:
        1 for MSE; before ``fit``, that of standard normal targets (MAE sqrt(2/pi))."""
        if self.initial_loss is not None:
            return self.initial_loss
        if self.loss_name == "mse":
            return 1.0
        z = torch.as_tensor(_normal_quantiles())
        return float(_loss(self.loss_name, torch.zeros_like(z), z, self.huber_delta))

    def num_outputs(self, bundle) -> int:
        y = bundle.train.y
        return int(y.shape[1]) if y.dim() == 2 else 1

    def state(self) -> dict:
        return {"target_mean": [float(v) for v in self.mean], "target_std": [float(v) for v in self.std],
                "loss": self.loss_name, "initial_loss": self.initial_loss}

    def load_state(self, state: dict) -> None:
        if state.get("target_mean") is not None:
            self.mean = np.asarray(state["target_mean"], dtype=np.float64)
            self.std = np.asarray(state["target_std"], dtype=np.float64)
        self.initial_loss = state.get("initial_loss", self.initial_loss)
        self._cache.clear()


def _columns(t: torch.Tensor) -> torch.Tensor:
    """(N,) or (N, T) -> (N, T), without reading N (so an exported graph keeps a dynamic batch)."""
    return t.unsqueeze(1) if t.dim() == 1 else t.flatten(1)


def _loss(name: str, out: torch.Tensor, z: torch.Tensor, delta: float) -> torch.Tensor:
    if name == "mse":
        return F.mse_loss(out, z)
    if name == "mae":
        return F.l1_loss(out, z)
    return F.huber_loss(out, z, delta=delta)


def _normal_quantiles(n: int = 2001) -> np.ndarray:
    from scipy.stats import norm

    return norm.ppf((np.arange(n) + 0.5) / n)
