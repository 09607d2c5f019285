"""Prediction with a finished run: the run's own model and its stored normalization.

The training split's per-channel mean/std and the scale of the stored values are
written to ``data.json`` when a run starts; applying exactly those (never
statistics of the new inputs) keeps predictions consistent with training.

Example:
    >>> probs = predict("runs/mnist-cnn-20250101-120000", x_uint8)   # doctest: +SKIP
    >>> probs.shape                                                  # doctest: +SKIP
    torch.Size([16, 10])
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from netcoach.api import load_run
from netcoach.data.errors import DataError
from netcoach.ensemble import is_ensemble, load_ensemble
from netcoach.tasks import build_task
from netcoach.train.run import RunFolder


def load_normalization(run_dir: str | Path) -> dict:
    """``scale``, ``mean``, ``std`` and ``input_shape`` from the run's ``data.json``."""
    return RunFolder(run_dir).data_record()


def prepare_inputs(x, record: dict, device: str | torch.device = "cpu") -> torch.Tensor:
    """Raw inputs in the stored form (e.g. uint8 pixels, (N, C, H, W) or one (C, H, W)
    image) -> the normalized float batch the model saw during training."""
    x = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    shape = tuple(record["input_shape"])
    if tuple(x.shape) == shape:
        x = x.unsqueeze(0)
    if tuple(x.shape[1:]) != shape:
        raise DataError(f"inputs have shape {tuple(x.shape)}, but the run was trained on {shape} "
                        f"per sample (N, {', '.join(map(str, shape))})")
    x = x.to(device=device, dtype=torch.float32) / float(record["scale"])
    if record.get("mean") is not None:
        view = (1, -1) + (1,) * (x.dim() - 2)
        mean = torch.tensor(record["mean"], device=device).view(view)
        std = torch.tensor(record["std"], device=device).view(view)
        x = (x - mean) / std
    return x


@torch.no_grad()
def predict(run_dir: str | Path, x, which: str = "best", device: str = "cpu",
            batch_size: int = 1024) -> torch.Tensor:
    """The run's task's predictions for raw inputs ``x`` (``task.postprocess``: class
    probabilities (N, K) for classification), with the run's model and normalization.

    Args:
        run_dir: a run folder written by ``netcoach train``.
        x: inputs in the form the data source stores them (uint8 images 0..255, digits 0..16, floats).
        which: checkpoint to use (``best`` or ``last``).

    An ensemble folder (``netcoach ensemble``) answers like a run: the weighted mean of its
    members' predictions, with the checkpoint its record names.
    """
    if is_ensemble(run_dir):
        model = load_ensemble(run_dir, device=device)
        inputs = prepare_inputs(x, model.record, device)
        return torch.cat([model(inputs[i:i + batch_size]).float().cpu() for i in range(0, len(inputs), batch_size)])
    record = load_normalization(run_dir)
    config, model = load_run(run_dir, which=which, device=device)
    task = build_task(config.task, config.loss)
    inputs = prepare_inputs(x, record, device)
    outs = [task.postprocess(model(inputs[i:i + batch_size])).cpu() for i in range(0, len(inputs), batch_size)]
    return torch.cat(outs)
