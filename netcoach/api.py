"""The Python API; it mirrors the CLI.

Example:
    >>> import netcoach
    >>> cfg = netcoach.load_config(overrides={"model.name": "mlp", "train.epochs": "3"})
    >>> result = netcoach.train(cfg, save=False)           # doctest: +SKIP
    >>> result.summary["test"]["test_acc"] > 0.9            # doctest: +SKIP
    True
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

import torch
from torch import nn

from netcoach import diagnose
from netcoach.augment import build_augment
from netcoach.config import Config, apply_overrides, load_toml
from netcoach.data import DataBundle, build_data, build_loaders, from_arrays
from netcoach.models import build_model, count_parameters
from netcoach.optim import build_optimizer, build_schedule
from netcoach.tasks import build_task
from netcoach.train import BestCheckpoint, Callback, CallbackList, MetricsLogger, ProgressBar, RunFolder, Trainer
from netcoach.optim.regularize import build_update_rules
from netcoach.report import write_report
from netcoach.train.checkpoint import load_into
from netcoach.train.final import evaluate_final
from netcoach.utils.io import atomic_write_json
from netcoach.utils.runtime import resolve_device, seed_everything


@dataclass
class RunResult:
    """What ``train`` gives back: the trained model (best weights), its records and data."""

    config: Config
    model: nn.Module
    history: list[dict]
    summary: dict
    data: DataBundle
    run_dir: Optional[Path] = None
    trainer: Optional[Trainer] = field(default=None, repr=False)


def load_config(path: str | Path | None = None, overrides: Optional[Mapping[str, Any]] = None) -> Config:
    """Defaults, then a TOML file, then ``{"section.key": value}`` overrides (values
    may be strings as on the command line, or typed values)."""
    config = load_toml(path) if path else Config()
    if overrides:
        config = apply_overrides(config, {k: v if isinstance(v, str) else _as_text(v)
                                          for k, v in overrides.items()})
    return config


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(_as_text(v) for v in value)
    return "none" if value is None else str(value)


def _bundle(config: Config, device: torch.device, data) -> DataBundle:
    if data is None or isinstance(data, DataBundle):
        return build_data(config, device, data)
    x, y = data
    return build_data(config, device, from_arrays(x, y, config.data))


def data_record(bundle: DataBundle) -> dict:
    """What prediction needs to reuse this run's data handling (written to data.json)."""
    return {"name": bundle.name, "task": bundle.task, "input_shape": list(bundle.input_shape),
            "num_classes": bundle.num_classes, "class_names": bundle.class_names,
            "scale": bundle.scale, "mean": bundle.mean, "std": bundle.std,
            "sizes": {"train": len(bundle.train), "val": len(bundle.val), "test": len(bundle.test)}}


def build_trainer(config: Config, *, model: Optional[nn.Module] = None, data=None,
                  callbacks: Iterable[Callback] = ()) -> Trainer:
    """Everything a run needs, built and validated (no files written)."""
    device = resolve_device(config.train.device)
    seed_everything(config.train.seed, config.train.deterministic)
    bundle = _bundle(config, device, data)
    torch.manual_seed(config.train.seed)  # model init does not depend on how data was loaded
    model = (model or build_model(config.model, bundle.input_shape, bundle.num_classes)).to(device)
    optimizer = build_optimizer(model.parameters(), config.optim)
    loaders = build_loaders(config, bundle,
                            transform=build_augment(config.augment, num_classes=bundle.num_classes))
    schedule = build_schedule(optimizer, config.schedule, config.train.epochs, len(loaders["train"]))
    task = build_task(bundle.task, label_smoothing=config.loss.label_smoothing)
    trainer = Trainer(model, loaders, task, optimizer, schedule,
                      config.train.epochs, callbacks, rules=build_update_rules(model, config))
    trainer.data, trainer.config, trainer.device = bundle, config, device
    return trainer


def _default_name(config: Config) -> str:
    return f"{config.data.name}-{config.model.name}-{time.strftime('%Y%m%d-%H%M%S')}"


def train(config: Optional[Config] = None, *, model: Optional[nn.Module] = None, data=None,
          callbacks: Iterable[Callback] = (), progress: bool = False, save: bool = True) -> RunResult:
    """Train as configured and evaluate the best checkpoint on the test split.

    Args:
        config: the run's config (default: ``Config()``).
        model: your own module mapping a batch to (batch, classes) scores (default: ``config.model``).
        data: a ``DataBundle`` or an ``(x, y)`` pair of arrays (default: ``config.data``).
        callbacks: extra callbacks, called after the built-in ones.
        progress: show a progress bar and a line per epoch.
        save: write a run folder under ``config.run.dir``.
    """
    config = config or Config()
    started = time.perf_counter()
    trainer = build_trainer(config, model=model, data=data)
    best = BestCheckpoint(config.train.monitor, config.train.mode)
    run = None
    if save:  # only after everything validated, so a bad config leaves no folder behind
        run = RunFolder.create(config.run.dir, config.run.name, _default_name(config))
        best.run = run
        run.write_config(config)
        run.write_env(trainer.device, config.train.seed)
        atomic_write_json(run.path / "data.json", data_record(trainer.data))
        # -- augmentation preview (issue 4): what the model sees, from its own generator
        if config.augment.transforms and len(trainer.data.input_shape) == 3:
            from netcoach.augment.preview import write_preview

            write_preview(run.path / "augment_preview.png", trainer.data, config.augment, config.train.seed)
        # -- end augmentation preview
    builtin = [best] + ([MetricsLogger(run)] if run else [])
    monitors = diagnose.monitor_callbacks(config, run)
    trainer.callbacks = CallbackList(builtin + monitors + list(callbacks)
                                     + ([ProgressBar()] if progress else []))
    checks = diagnose.preflight(trainer, config) if config.diagnose.preflight else []
    history = trainer.fit()
    summary = _finish(trainer, best, started, run)
    summary["preflight"] = checks
    summary["doctor"] = diagnose.doctor(history, summary, config)
    if run is not None:
        run.write_summary(summary)
        if config.report.enabled:
            write_report(run.path)
    return RunResult(config, trainer.model, history, summary, trainer.data,
                     run.path if run else None, trainer)


def _finish(trainer: Trainer, best: BestCheckpoint, started: float, run: Optional[RunFolder]) -> dict:
    """Restore the best weights, evaluate them on the test split, and summarise."""
    if best.best_state is not None:
        trainer.model.load_state_dict(best.best_state)
    test = evaluate_final(trainer, run.path if run else None)
    by_epoch = {h["epoch"]: h for h in trainer.history}
    return {
        "best_epoch": best.best_epoch,
        "monitor": best.monitor,
        "best_value": best.best_value,
        "best": by_epoch.get(best.best_epoch, {}),
        "final": trainer.history[-1] if trainer.history else {},
        "test": test,
        "epochs_run": trainer.epoch,
        "steps": trainer.step,
        "parameters": count_parameters(trainer.model),
        "wall_time_s": time.perf_counter() - started,
    }


def load_run(run_dir: str | Path, which: str = "best", device: str = "cpu") -> tuple[Config, nn.Module]:
    """Rebuild a run's model from its folder alone (config + data.json + weights)."""
    import json

    run = RunFolder(run_dir)
    config = run.config()
    record = json.loads((run.path / "data.json").read_text(encoding="utf-8"))
    model = build_model(config.model, tuple(record["input_shape"]), record["num_classes"])
    load_into(model, run.checkpoints / f"{which}.safetensors")
    return config, model.to(device).eval()
