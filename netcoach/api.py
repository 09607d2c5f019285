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
from netcoach.integrations.mlflow import MLflowLogger, finish_tracking, mlflow_client_class
from netcoach.models import build_model, count_parameters
from netcoach.models.summary import summarize, summary_record  # issue 5
from netcoach.optim import build_optimizer, build_schedule
from netcoach.optim.optimizers import FULL_BATCH
from netcoach.tasks import build_task
from netcoach.train import BestCheckpoint, Callback, CallbackList, MetricsLogger, ProgressBar, RunFolder, Trainer
from netcoach.optim.regularize import build_update_rules
from netcoach.report import write_report
from netcoach.train.averaging import build_averagers
from netcoach.train.builtin import Checkpointer, StepCheckpointer
from netcoach.train.checkpoint import load_into, load_training_state
from netcoach.train.early_stopping import EarlyStopping
from netcoach.train.final import evaluate_final, predict, test_metrics
from netcoach.train.guard import NanGuard
from netcoach.train.loggers import (CSVLogger, StepsLogger, TensorBoardLogger, summary_writer_class,
                                   truncate_jsonl)
from netcoach.train.state import restore
from netcoach.utils.io import atomic_write_json
from netcoach.utils.runtime import resolve_device, seed_everything, set_threads


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

    def _repr_html_(self) -> str:
        """Jupyter's rendering: summary table, learning curves and the doctor's verdict."""
        from netcoach.report.notebook import result_html

        return result_html(self)

    def report(self) -> Path:
        """The run's report.html (built if missing); shown in the page inside a notebook."""
        from netcoach.report.notebook import show_report

        if self.run_dir is None:
            raise ValueError("this run was trained with save=False: it has no run folder or report")
        return show_report(self.run_dir)


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
            "dtype": str(bundle.train.x.dtype),  # the stored form raw inputs come in (export)
            "sizes": {"train": len(bundle.train), "val": len(bundle.val), "test": len(bundle.test)},
            # issue 3: files skipped by data.skip_bad are counted in the run's record
            "skipped_files": list(bundle.info.get("skipped", []))}


def build_trainer(config: Config, *, model: Optional[nn.Module] = None, data=None,
                  callbacks: Iterable[Callback] = ()) -> Trainer:
    """Everything a run needs, built and validated (no files written)."""
    device = resolve_device(config.train.device)
    seed_everything(config.train.seed, config.train.deterministic)
    set_threads(config.train.threads)
    bundle = _bundle(config, device, data)
    torch.manual_seed(config.train.seed)  # model init does not depend on how data was loaded
    model = (model or build_model(config.model, bundle.input_shape, bundle.num_classes)).to(device)
    tc = config.train
    if tc.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(model, config.optim)  # parameter groups: no decay on biases/norms
    loaders = build_loaders(config, bundle,
                            transform=build_augment(config.augment, num_classes=bundle.num_classes))
    if config.optim.name in FULL_BATCH:  # gradient descent: the whole training split is one batch
        loaders["train"].batch_size = len(bundle.train)
    steps_per_epoch = -(-len(loaders["train"]) // max(tc.grad_accum, 1))  # optimizer steps
    schedule = build_schedule(optimizer, config.schedule, tc.epochs, steps_per_epoch,
                              loader=loaders["train"])
    rules = build_update_rules(model, config, n_train=len(bundle.train), optimizer=optimizer)
    guard = None if tc.nan_guard == "off" else NanGuard(
        tc.nan_guard, tc.check_grads, tc.rollback_lr_factor, tc.max_rollbacks)
    task = build_task(bundle.task, label_smoothing=config.loss.label_smoothing)
    trainer = Trainer(model, loaders, task, optimizer, schedule, tc.epochs, callbacks, rules=rules,
                      grad_accum=tc.grad_accum, precision=tc.precision,
                      channels_last=tc.channels_last, compile=tc.compile, guard=guard)
    trainer.data, trainer.config, trainer.device = bundle, config, device
    return trainer


def _default_name(config: Config) -> str:
    return f"{config.data.name}-{config.model.name}-{time.strftime('%Y%m%d-%H%M%S')}"


def train(config: Optional[Config] = None, *, model: Optional[nn.Module] = None, data=None,
          callbacks: Iterable[Callback] = (), progress: bool = False, save: bool = True,
          resume: str | Path | None = None) -> RunResult:
    """Train as configured and evaluate the best checkpoint on the test split.

    Args:
        config: the run's config (default: ``Config()``; with ``resume``: the run's own,
            see ``resume_config``).
        model: your own module mapping a batch to (batch, classes) scores (default: ``config.model``).
        data: a ``DataBundle`` or an ``(x, y)`` pair of arrays (default: ``config.data``).
        callbacks: extra callbacks, called after the built-in ones.
        progress: show progress bars and a line per epoch.
        save: write a run folder under ``config.run.dir``.
        resume: a run folder to continue from its last checkpoint (also mid-epoch); pass
            the same ``model``/``data`` the run was started with, if any.
    """
    started = time.perf_counter()
    run = RunFolder(resume) if resume is not None else None
    if run is not None:
        config = resume_config(run.path, config)
    config = config or Config()
    trainer = build_trainer(config, model=model, data=data)
    best = BestCheckpoint(config.train.monitor, config.train.mode)
    if config.log.tensorboard and (save or run is not None):
        summary_writer_class()  # a missing optional package fails before any folder exists
    if config.log.mlflow and (save or run is not None):
        mlflow_client_class()
    if save and run is None:  # only after everything validated, so a bad config leaves no folder
        run = RunFolder.create(config.run.dir, config.run.name, _default_name(config))
        run.write_config(config)
        run.write_env(trainer.device, config.train.seed)
        atomic_write_json(run.path / "data.json", data_record(trainer.data))
        # --- issue 5: per-layer shapes, parameters and MACs of the model being trained ---
        atomic_write_json(run.path / "model_summary.json",
                          summary_record(trainer.model, tuple(trainer.data.input_shape)))
        # --- end issue 5 ---
        # -- augmentation preview (issue 4): what the model sees, from its own generator
        if config.augment.transforms and len(trainer.data.input_shape) == 3:
            from netcoach.augment.preview import write_preview

            write_preview(run.path / "augment_preview.png", trainer.data, config.augment, config.train.seed)
        # -- end augmentation preview
    best.run = run
    builtin, tail = default_callbacks(config, trainer, best, run)
    monitors = diagnose.monitor_callbacks(config, run)
    trainer.callbacks = CallbackList(builtin + monitors + list(callbacks) + tail
                                     + ([ProgressBar()] if progress else []))
    checks = diagnose.preflight(trainer, config) if config.diagnose.preflight else []
    if resume is not None:
        _restore_run(trainer, run)
    history = trainer.fit()
    summary = _finish(trainer, best, started, run)
    summary["preflight"] = checks
    summary["doctor"] = diagnose.doctor(history, summary, config)
    if run is not None:
        run.write_summary(summary)
        if config.report.enabled:
            write_report(run.path)
        finish_tracking(trainer.callbacks, summary)  # after the report, which MLflow receives
    return RunResult(config, trainer.model, history, summary, trainer.data,
                     run.path if run else None, trainer)


def default_callbacks(config: Config, trainer: Trainer, best: BestCheckpoint,
                      run: Optional[RunFolder]) -> tuple[list[Callback], list[Callback]]:
    """The built-in callbacks: (those called first, those called after the user's).

    Averagers come first (they add ``*_ema``/``*_swa`` metrics that the best-weights
    tracker and the loggers see); the NaN guard's snapshot and the checkpoint come
    last, so they capture every other callback's state of the epoch.
    """
    first: list[Callback] = build_averagers(config, trainer.model, run) + [best]
    es = config.early_stop
    if es.enabled:
        first.append(EarlyStopping(es.monitor or config.train.monitor, es.mode or config.train.mode,
                                   es.patience, es.min_delta, es.min_epochs, es.restore_best))
    if run is not None:
        first.append(MetricsLogger(run))
        first += [StepsLogger(run)] if config.log.steps else []
        first += [CSVLogger(run)] if config.log.csv else []
        first += [TensorBoardLogger(run)] if config.log.tensorboard else []
        first += [MLflowLogger(run.path, config)] if config.log.mlflow else []
    tail: list[Callback] = [trainer.guard] if trainer.guard is not None else []
    if run is not None:
        ck = config.checkpoint
        tail.append(StepCheckpointer(run, ck.every_epochs, ck.every_steps) if ck.every_steps
                    else Checkpointer(run, ck.every_epochs))
        if trainer.guard is not None:
            trainer.guard.checkpoint = run.checkpoints / "last.json"
    return first, tail


RESUMABLE_CHANGES = ("train.epochs", "report.", "diagnose.", "log.csv", "log.tensorboard")


def resume_config(run_dir: str | Path, config: Optional[Config] = None,
                  overrides: Optional[Mapping[str, Any]] = None) -> Config:
    """The config to continue ``run_dir`` with: the run's own, with ``overrides``
    (``{"section.key": value}``) applied. Only options that keep the continuation
    exact may change (``train.epochs`` to train longer, reporting and logging)."""
    saved = RunFolder(run_dir).config()
    new = config or saved
    if overrides:
        new = apply_overrides(new, {k: v if isinstance(v, str) else _as_text(v)
                                    for k, v in overrides.items()})
    changed = [k for k, v in _flat(new).items() if _flat(saved).get(k) != v
               and not k.startswith(RESUMABLE_CHANGES) and not k.startswith("run.")]
    if changed:
        raise ValueError(f"--resume {run_dir}: cannot change {', '.join(changed)} when resuming "
                         f"(only {', '.join(RESUMABLE_CHANGES)} may change)")
    return new


def _flat(config: Config) -> dict:
    from netcoach.config import to_dict

    return {f"{section}.{key}": value for section, values in to_dict(config).items()
            for key, value in values.items()}


def _restore_run(trainer: Trainer, run: RunFolder) -> None:
    """Load the run's last checkpoint into ``trainer`` and cut the logs back to it.

    A run stopped before its first checkpoint restarts from the beginning: the trainer
    is exactly as freshly built, so the result still equals an uninterrupted run.
    """
    if (run.checkpoints / "last.json").exists():
        restore(trainer, load_training_state(run.checkpoints, "last"))
    trainer.resumed_from = {"epoch": trainer.epoch, "step": trainer.step}
    for name in ("metrics.jsonl", "steps.jsonl", "monitors.jsonl"):  # drop what came after it
        truncate_jsonl(run.path / name, trainer.epoch)


def _finish(trainer: Trainer, best: BestCheckpoint, started: float, run: Optional[RunFolder]) -> dict:
    """Restore the best weights (unless early stopping decided), evaluate them on the
    test split, evaluate the weight averages, and summarise."""
    stopper = next((cb for cb in trainer.callbacks if isinstance(cb, EarlyStopping)), None)
    notes = [stopper.message] if stopper is not None and stopper.message else []
    if stopper is None and best.best_state is not None:
        trainer.model.load_state_dict(best.best_state)
        notes.append(f"restored the weights of the best epoch {best.best_epoch} "
                     f"({best.monitor} {best.best_value:.4f}) for the test evaluation")
    test = evaluate_final(trainer, run.path if run else None)
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
        "parameters": count_parameters(trainer.model),
        "wall_time_s": time.perf_counter() - started,
        "averages": _averages_on_test(trainer),
        "notes": notes + (trainer.guard.events if trainer.guard is not None else []),
        "failure": trainer.failure,
    }
    if getattr(trainer, "resumed_from", None):
        summary["resumed_from"] = trainer.resumed_from
    return summary


def _averages_on_test(trainer: Trainer) -> dict:
    """Validation (last epoch) and test metrics of each weight average."""
    from netcoach.train.averaging import WeightAverage

    out = {}
    for cb in trainer.callbacks:
        module = cb.module(trainer) if isinstance(cb, WeightAverage) else None
        if module is not None:
            logits = predict(module, trainer.loaders["test"])
            test = test_metrics(trainer.task, logits, trainer.loaders["test"].split.y.cpu())
            out[cb.kind] = {**{k[:-len(cb.kind) - 1]: v for k, v in cb.last_logs.items()}, **test}
    return out


# --- issue 5: model summary from the Python API (``netcoach model summary``) ---
def model_summary(config: Optional[Config] = None, *, input_shape: Optional[tuple[int, ...]] = None,
                  num_classes: Optional[int] = None, model: Optional[nn.Module] = None) -> dict:
    """Per-layer output shapes, parameter counts and MACs per sample of ``config.model``.

    Input shape and class count default to those of ``config.data`` (which is then
    loaded); pass both to skip loading data. See ``netcoach.models.summary.summarize``.

    Example:
        >>> s = model_summary(load_config(overrides={"model.name": "lenet5"}),
        ...                   input_shape=(1, 32, 32), num_classes=10)
        >>> s["total_params"], s["formula_ok"]
        (61706, True)
    """
    config = config or Config()
    if input_shape is None or num_classes is None:
        bundle = build_data(config, torch.device("cpu"))
        input_shape = input_shape or tuple(bundle.input_shape)
        num_classes = num_classes or bundle.num_classes
    model = model or build_model(config.model, tuple(input_shape), num_classes)
    summary = summarize(model, tuple(input_shape))
    summary["model"] = config.model.name
    summary["num_classes"] = num_classes
    return summary
# --- end issue 5 ---


def load_run(run_dir: str | Path, which: str = "best", device: str = "cpu") -> tuple[Config, nn.Module]:
    """Rebuild a run's model from its folder alone (config + data.json + weights)."""
    import json

    run = RunFolder(run_dir)
    config = run.config()
    record = json.loads((run.path / "data.json").read_text(encoding="utf-8"))
    model = build_model(config.model, tuple(record["input_shape"]), record["num_classes"])
    load_into(model, run.checkpoints / f"{which}.safetensors")
    return config, model.to(device).eval()
