"""The end of a run: choose the weights, evaluate them on the test split, keep the
predictions (so reports can be rebuilt from the run folder alone), and summarise."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import torch

from netcoach.augment.tta import tta_metrics
from netcoach.data.loader import DeviceLoader
from netcoach.train.averaging import WeightAverage
from netcoach.train.monitor import restore_best
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
    found = task.epoch_metrics(outputs, labels)
    return {f"{prefix}_loss": loss, **{f"{prefix}_{k}": float(v) / n for k, v in sums.items()},
            **{f"{prefix}_{k}": v for k, v in found.items()}}


def calibrate(trainer) -> None:
    """Let the task choose its decision parameters (binary: the threshold) on the
    validation split's outputs of the chosen weights, before the test evaluation."""
    if not trainer.task.calibrates:
        return
    loader, model = trainer.loaders["val"], trainer.model
    was_training = model.training
    model.eval()
    with torch.no_grad():  # this process's share of the split (all of it with one process)
        pairs = [(model(x).float(), y) for x, y in loader]
    model.train(was_training)
    outputs, targets = trainer.host_outputs([o for o, _ in pairs], [y for _, y in pairs],
                                             getattr(loader, "world_size", 1) > 1)
    trainer.task.calibrate(outputs, targets)


def save_predictions(path: Path, loader: DeviceLoader, outputs: torch.Tensor, task) -> None:
    """``predictions.safetensors``: the task's test predictions (``probs`` (N, K) for
    classification) and labels; for classification also the stored inputs of the
    ``WORST_KEPT`` most confidently misclassified samples with their indices."""
    from safetensors.torch import save as st_save  # imported where used: `import netcoach` stays cheap

    labels = loader.split.y.cpu()
    preds = task.postprocess(outputs)
    tensors = task.kept_predictions(preds, labels)
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
    with trainer.inference_precision():
        outputs = predict(trainer.model, loader)
        tta = tta_metrics(trainer, loader)  # augment.tta: test_<metric>_tta, reported separately
    if run_path is not None:
        save_predictions(run_path / "predictions.safetensors", loader, outputs, trainer.task)
    return {**test_metrics(trainer.task, outputs, loader.split.y.cpu()), **tta}


def averages_on_test(trainer) -> dict:
    """Validation (last epoch) and test metrics of each weight average (EMA, Polyak, SWA)."""
    out = {}
    for cb in trainer.callbacks:
        module = cb.module(trainer) if isinstance(cb, WeightAverage) else None
        if module is not None:
            with trainer.inference_precision():
                logits = predict(module, trainer.loaders["test"])
            test = test_metrics(trainer.task, logits, trainer.loaders["test"].split.y.cpu())
            out[cb.kind] = {**{k[:-len(cb.kind) - 1]: v for k, v in cb.last_logs.items()}, **test}
    return out


def failure_message(trainer, run) -> Optional[str]:
    """The NaN guard's message, plus how to continue when a good checkpoint exists."""
    if not trainer.failure:
        return None
    if run is None or not run.has_checkpoint("last"):
        return trainer.failure
    return (f"{trainer.failure} The last good checkpoint {run.checkpoints / 'last.json'} is intact; "
            f"continue with --resume {run.path} (perhaps with a lower LR in a new run).")


def summarize(trainer, best, stopper, run, started: float, resumed_from: Optional[dict]) -> dict:
    """Restore the chosen weights, evaluate them on the test split (predictions kept in
    the run folder), evaluate the weight averages, and return ``summary.json``'s content."""
    config = trainer.config
    notes = restore_best(trainer, best, stopper,
                         test_last=config is not None and config.train.test_weights == "last")
    diverged_early = trainer.failure and best.best_epoch is None
    if not diverged_early and all(torch.isfinite(p).all() for p in trainer.model.parameters()):
        calibrate(trainer)
        test = evaluate_final(trainer, run.path if run is not None and run.writes else None)
    else:  # no epoch ended before the run diverged: the weights' "test accuracy" means nothing
        test = {}
        notes.append("no test metrics: the run diverged before its first epoch ended, so no "
                     "weights were worth testing")
    by_epoch = {h["epoch"]: h for h in trainer.history}
    summary = {
        "best_epoch": best.best_epoch,
        "monitor": best.monitor,
        "best_value": best.best_value,
        "best": by_epoch.get(best.best_epoch, {}),
        "final": trainer.history[-1] if trainer.history else {},
        "test": test,
        "epochs_run": trainer.epoch,
        "steps": trainer.step,
        "parameters": sum(p.numel() for p in trainer.model.parameters() if p.requires_grad),
        "wall_time_s": time.perf_counter() - started,
        "averages": averages_on_test(trainer),
        "notes": notes + (trainer.guard.events if trainer.guard is not None else []),
        "failure": failure_message(trainer, run),
        "task": {"name": trainer.task.name, **trainer.task.state()},
    }
    if resumed_from is not None:
        summary["resumed_from"] = resumed_from
    return summary
