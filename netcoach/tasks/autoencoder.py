"""Autoencoder: learn to output the inputs themselves (unsupervised; the labels are not used).

The targets are the inputs in [0, 1] units (stored values divided by the data's scale),
not the normalized values the model reads: a reconstruction is then an image, whatever
normalization the run uses. ``learn_from`` gives each split its inputs as targets (the same
tensor, no copy), so the loader, the trainer and the final evaluation run unchanged.

Denoising needs nothing of its own here: every ``[augment]`` transform changes the
training inputs only while the targets stay the clean images (``augment.transforms noise``
is Gaussian input noise), and ``model.input_dropout`` drops input values in training
(the autoencoder models apply it before the encoder; see ``models/autoencoder.py``).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from netcoach.config import ConfigError
from netcoach.data.base import Split
from netcoach.tasks.base import PreflightWords, Task, labels_np, tasks

LOSSES = ("mse", "bce")
KEPT = 64                # test inputs and reconstructions kept in predictions.safetensors (report)
PSNR_FLOOR = 1e-10       # per-sample MSE floor: a perfect reconstruction has PSNR 100 dB, not inf
FIT_CHUNK = 4096         # training samples converted to float at a time in ``fit``
LABEL_TRANSFORMS = ("mixup", "cutmix")  # transforms that rewrite the targets as class mixtures


@tasks.register("autoencoder")
class Autoencoder(Task):
    """Reconstruct the D input values from D outputs.

    ``loss_name`` ``mse`` (default): the mean squared error between the outputs and the
    targets t in [0, 1]; the outputs are the reconstruction. ``bce``: binary cross-entropy
    between sigmoid(outputs) and t (for images in [0, 1], each pixel read as a probability);
    the reconstruction is sigmoid(outputs).

    Metrics, on the reconstruction r in [0, 1] units, averaged over the samples:
    ``mse`` (1/D sum_d (r_d - t_d)^2 per sample) and ``psnr`` (10 log10(1 / mse) per sample,
    in dB, peak value 1). Chance level: the loss of outputting 0 everywhere (mse: the mean of
    t^2 on the training split; bce: ln 2, every pixel at probability 1/2).
    """

    name = "autoencoder"
    metric_names = ("mse", "psnr")
    primary_metric = "mse"
    curve_metrics = ("psnr",)
    default_monitor = "val_loss"
    stratify = False
    accuracy_like = False
    report_sections = ("reconstructions", "learned_features")
    prediction_key = "reconstructions"
    has_classes = False
    targets_are_inputs = True
    loss_text = "reconstruction error"
    preflight_words = PreflightWords(
        too_high=("the untrained reconstructions are far from the inputs (outputs far too large: check "
                  "the init scale of the decoder's last layer)"),
        too_low=("the untrained model already reconstructs far better than outputting zeros (does the "
                 "input reach the output directly, e.g. a skip connection past the bottleneck?)"),
        off="the untrained reconstructions are not close to outputting zeros",
        fitted="reconstructed", fit="reconstruct")

    def __init__(self, loss_name: Optional[str] = None):
        loss_name = loss_name or "mse"
        if loss_name not in LOSSES:
            raise ConfigError(f"loss.name: task autoencoder has losses {', '.join(LOSSES)}, got {loss_name!r}")
        self.loss_name = loss_name
        self.output_kind = "logits" if loss_name == "bce" else "values"
        self.chance_text = ("ln 2 (every value predicted 1/2)" if loss_name == "bce"
                            else "the loss of outputting zeros")
        self.scale = 1.0                       # stored value that means 1.0 (learn_from)
        self.input_shape: Optional[tuple[int, ...]] = None
        self.initial_loss: Optional[float] = None

    # ------------------------------------------------------------------ data
    def learn_from(self, bundle):
        """Every split's inputs become its targets (the same tensor); the scale and the
        input shape are kept to read stored targets and to shape the reconstructions."""
        self.scale, self.input_shape = float(bundle.scale), tuple(bundle.input_shape)
        return replace(bundle, train=Split(bundle.train.x, bundle.train.x),
                       val=Split(bundle.val.x, bundle.val.x), test=Split(bundle.test.x, bundle.test.x))

    def targets(self, inputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Evaluation on another set: the inputs ([0, 1] floats) are the targets."""
        return inputs

    def check_config(self, config) -> None:
        """Options that need labels or class scores are refused, naming what to do instead."""
        aug = config.augment
        mixing = [t for t in aug.transforms if t in LABEL_TRANSFORMS]
        if mixing:
            raise ConfigError(f"augment.transforms: {mixing[0]} mixes class labels, and task autoencoder "
                              f"has none (its targets are the clean inputs); use input corruptions such "
                              f"as noise, cutout or erase for a denoising autoencoder")
        if aug.tta:
            raise ConfigError("augment.tta: test-time augmentation averages class predictions; task "
                              "autoencoder reconstructs each input as it is: set augment.tta false")
        if config.distill.teacher:
            raise ConfigError("distill.teacher: distillation matches class distributions; task "
                              "autoencoder has none: leave distill.teacher unset")
        if config.ensemble.members > 1 or config.ensemble.snapshots > 0:
            raise ConfigError("ensemble.members/ensemble.snapshots: ensembles average class or value "
                              "predictions scored against labels; task autoencoder is not supported: "
                              "leave ensemble.members 1 and ensemble.snapshots 0")

    # ------------------------------------------------------------------ units
    def _unit(self, targets: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """Targets as (N, D) values in [0, 1]: float targets are taken as they are, stored
        integers are divided by the data's scale."""
        t = targets.flatten(1)
        dtype = torch.promote_types(like.dtype, torch.float32)
        if t.is_floating_point():
            return t.to(dtype)
        return t.to(dtype) / self.scale

    def output_targets(self, targets: torch.Tensor) -> torch.Tensor:
        return self._unit(targets, torch.zeros(()))

    def _reconstruction(self, outputs: torch.Tensor) -> torch.Tensor:
        out = outputs.flatten(1)
        return torch.sigmoid(out) if self.loss_name == "bce" else out

    # ------------------------------------------------------------------ training
    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        out = outputs.flatten(1)
        t = self._unit(targets, out)
        out = out.to(t.dtype)
        if self.loss_name == "bce":
            return F.binary_cross_entropy_with_logits(out, t)
        return F.mse_loss(out, t)

    def sample_errors(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Per-sample reconstruction MSE in [0, 1] units, (N,) float64."""
        recon = self._reconstruction(outputs).double()
        err = recon - self._unit(targets, recon)
        return (err * err).mean(1)

    def metric_sums(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, torch.Tensor]:
        mse = self.sample_errors(outputs, targets)
        psnr = -10.0 * torch.log10(mse.clamp_min(PSNR_FLOOR))
        return {"mse": mse.sum(), "psnr": psnr.sum()}

    def fit(self, y_train: torch.Tensor, num_outputs: int) -> None:
        """The initial loss of outputting zeros on the training split: mean(t^2) for mse
        (summed in float64 over chunks, so a large split is never converted at once)."""
        if self.loss_name == "bce":
            self.initial_loss = math.log(2.0)
            return
        total, count = 0.0, 0
        for start in range(0, len(y_train), FIT_CHUNK):
            t = self._unit(y_train[start:start + FIT_CHUNK], torch.zeros((), dtype=torch.float64))
            total += float((t * t).sum())
            count += t.numel()
        self.initial_loss = total / max(count, 1)

    # ------------------------------------------------------------------ outputs
    def postprocess(self, outputs: torch.Tensor) -> torch.Tensor:
        """The reconstruction in [0, 1] units, in the inputs' shape (N, *input_shape)."""
        recon = self._reconstruction(outputs).float()
        if self.input_shape is not None and math.prod(self.input_shape) == recon.shape[1]:
            return recon.reshape(-1, *self.input_shape)
        return recon

    def outputs_from_predictions(self, predictions: torch.Tensor) -> torch.Tensor:
        p = predictions.flatten(1).double()
        if self.loss_name == "bce":
            p = p.clamp(1e-12, 1 - 1e-12)
            return torch.log(p) - torch.log1p(-p)
        return p

    def prediction_table(self, predictions, class_names) -> dict[str, list]:
        """One column per reconstructed value, ``value_<d>`` (flattened in the inputs' order)."""
        v = labels_np(predictions).astype(np.float64).reshape(len(predictions), -1)
        return {f"value_{d}": v[:, d].tolist() for d in range(v.shape[1])}

    def kept_predictions(self, predictions: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """The first ``KEPT`` test reconstructions and inputs (``labels``, stored values) for
        the report, and every test sample's reconstruction MSE (``errors``): the whole test
        split's reconstructions would be as large as the split itself."""
        flat = predictions.flatten(1).double()
        errors = ((flat - self._unit(labels, flat)) ** 2).mean(1)
        return {self.prediction_key: predictions[:KEPT].contiguous(), "labels": labels[:KEPT].contiguous(),
                "errors": errors.float().contiguous()}

    # ------------------------------------------------------------------ checks
    def validate_labels(self, y, num_outputs: int) -> None:
        """The targets must be the D inputs per sample: stored values in [0, scale], or
        floats (in [0, 1] for bce), all finite."""
        t = y if isinstance(y, torch.Tensor) else torch.as_tensor(np.asarray(y))
        width = math.prod(t.shape[1:]) if t.dim() > 1 else 1
        if t.dim() < 2 or width != num_outputs:
            raise ValueError(f"task autoencoder: targets must be the inputs themselves ({num_outputs} values "
                             f"per sample), got shape {tuple(t.shape)}; class labels belong to task.name "
                             "classification")
        if not t.numel():
            return
        lo, hi = float(t.min()), float(t.max())
        top = 1.0 if t.is_floating_point() else self.scale
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise ValueError("task autoencoder: inputs contain NaN or inf; drop or fill those samples")
        if self.loss_name == "bce" and (lo < 0 or hi > top):
            stored = "" if t.is_floating_point() else f" (stored values 0..{top:g})"
            raise ValueError(f"task autoencoder: loss.name bce needs inputs in [0, 1]{stored}, found "
                             f"[{lo:g}, {hi:g}]; use loss.name mse for other ranges")

    def expected_initial_loss(self, num_outputs: int, prior: Optional[Sequence[float]] = None) -> float:
        """``fit``'s loss of zero outputs; before it, that of uniform [0, 1] targets (1/3)
        for mse and ln 2 for bce."""
        if self.initial_loss is not None:
            return self.initial_loss
        return math.log(2.0) if self.loss_name == "bce" else 1.0 / 3.0

    def num_outputs(self, bundle) -> int:
        return math.prod(bundle.input_shape)

    def state(self) -> dict:
        return {"loss": self.loss_name, "scale": self.scale, "initial_loss": self.initial_loss,
                "input_shape": list(self.input_shape) if self.input_shape is not None else None}

    def load_state(self, state: dict) -> None:
        self.scale = float(state.get("scale", self.scale))
        shape = state.get("input_shape")
        self.input_shape = tuple(shape) if shape else self.input_shape
        self.initial_loss = state.get("initial_loss", self.initial_loss)
