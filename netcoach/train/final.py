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
    """Logits for every sample of ``loader`` in order, (N, K) on CPU."""
    was_training = model.training
    model.eval()
    outs = [model(x).float().cpu() for x, _ in loader]
    model.train(was_training)
    return torch.cat(outs)


def test_metrics(task, logits: torch.Tensor, labels: torch.Tensor, prefix: str = "test") -> dict:
    n = len(labels)
    loss = task.loss(logits.double(), labels).item()
    return {f"{prefix}_loss": loss, f"{prefix}_{task.metric}": task.correct(logits, labels).item() / n}


def save_predictions(path: Path, loader: DeviceLoader, logits: torch.Tensor) -> None:
    """``predictions.safetensors``: test probs (N, K), labels (N,), and the stored inputs
    of the ``WORST_KEPT`` most confidently misclassified samples with their indices."""
    labels = loader.split.y.cpu()
    probs = logits.softmax(1)
    conf, pred = probs.max(1)
    wrong = (pred != labels).nonzero().flatten()
    worst = wrong[conf[wrong].argsort(descending=True)][:WORST_KEPT]
    tensors = {"probs": probs.contiguous(), "labels": labels.contiguous(),
               "worst_index": worst.contiguous(),
               "worst_inputs": loader.split.x[worst.to(loader.split.x.device)].cpu().contiguous()}
    atomic_write_bytes(path, st_save(tensors))


def evaluate_final(trainer, run_path: Optional[Path] = None) -> dict:
    """Test metrics of the model as it is now (the caller restored the best weights)."""
    loader = trainer.loaders["test"]
    logits = predict(trainer.model, loader)
    labels = loader.split.y.cpu()
    if run_path is not None:
        save_predictions(run_path / "predictions.safetensors", loader, logits)
    metrics = test_metrics(trainer.task, logits, labels)
    metrics.update(tta_metrics(trainer, loader))  # augment.tta: test_acc_tta, reported separately
    return metrics
