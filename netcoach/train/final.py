"""The end of a run: evaluate the chosen weights on the test split and keep the
predictions, so reports (confusion matrix, worst mistakes) can be rebuilt from
the run folder alone."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch
from safetensors.torch import save as st_save

from netcoach.augment.tta import tta_metrics
from netcoach.data.loader import DeviceLoader
from netcoach.utils.io import atomic_write_bytes

WORST_KEPT = 32  # most confidently wrong test images stored for the report


@torch.no_grad()
def predict(model: torch.nn.Module, loader: DeviceLoader) -> torch.Tensor:
    """Raw outputs for every sample of ``loader`` in order, on CPU (the task postprocesses them)."""
    was_training = model.training
    model.eval()
    outs = [model(x).float().cpu() for x, _ in loader]
    model.train(was_training)
    return torch.cat(outs)


def test_metrics(task, outputs: torch.Tensor, labels: torch.Tensor, prefix: str = "test") -> dict:
    """``{prefix}_loss`` and ``{prefix}_<metric>`` for every metric of ``task``."""
    n = max(len(labels), 1)
    loss = task.loss(outputs.double(), labels).item()
    sums = task.metric_sums(outputs, labels)
    return {f"{prefix}_loss": loss, **{f"{prefix}_{k}": float(v) / n for k, v in sums.items()}}


def save_predictions(path: Path, loader: DeviceLoader, outputs: torch.Tensor, task) -> None:
    """``predictions.safetensors``: the task's test predictions (``probs`` (N, K) for
    classification) and labels; for classification also the stored inputs of the
    ``WORST_KEPT`` most confidently misclassified samples with their indices."""
    labels = loader.split.y.cpu()
    preds = task.postprocess(outputs)
    tensors = {task.prediction_key: preds.contiguous(), "labels": labels.contiguous()}
    if "mistakes" in task.report_sections:
        conf, pred = preds.max(1)
        wrong = (pred != labels).nonzero().flatten()
        worst = wrong[conf[wrong].argsort(descending=True)][:WORST_KEPT]
        tensors["worst_index"] = worst.contiguous()
        tensors["worst_inputs"] = loader.split.x[worst.to(loader.split.x.device)].cpu().contiguous()
    atomic_write_bytes(path, st_save(tensors))


def evaluate_final(trainer, run_path: Optional[Path] = None) -> dict:
    """Test metrics of the model as it is now (the caller restored the best weights)."""
    loader = trainer.loaders["test"]
    outputs = predict(trainer.model, loader)
    labels = loader.split.y.cpu()
    if run_path is not None:
        save_predictions(run_path / "predictions.safetensors", loader, outputs, trainer.task)
    metrics = test_metrics(trainer.task, outputs, labels)
    metrics.update(tta_metrics(trainer, loader))  # augment.tta: test_<metric>_tta, reported separately
    return metrics
