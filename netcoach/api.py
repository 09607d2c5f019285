"""The Python API; it mirrors the CLI and is the composition root: it builds every piece
from the config, passes collaborators to constructors, and leaves the run-folder format
to ``RunFolder``, resuming to ``train.resume`` and the summary to ``train.final``.

Example:
    >>> import netcoach
    >>> cfg = netcoach.load_config(overrides={"model.name": "mlp", "train.epochs": "3"})
    >>> result = netcoach.train(cfg, save=False)           # doctest: +SKIP
    >>> result.summary["test"]["test_acc"] > 0.9            # doctest: +SKIP
    True
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional

import torch
from torch import nn

from netcoach import diagnose
from netcoach.augment import build_augment
from netcoach.augment.preview import preview_png
from netcoach.config import Config, ConfigError, NetcoachError, load_toml
from netcoach.config.loader import validate
from netcoach.data import DataBundle, build_data, build_loaders
from netcoach.data.build import user_bundle
from netcoach.data.preprocess import normalize_record
from netcoach.data.decode import reporting as decode_progress
from netcoach.distill import distill_summary, distill_task
from netcoach.distributed import reduce as dist_reduce
from netcoach.distributed.setup import convert_sync_bn, seed_rank
from netcoach.ensemble.snapshots import snapshot_plan, snapshot_savers, snapshot_summary
from netcoach.integrations.mlflow import MLflowLogger, finish_tracking, mlflow_client_class
from netcoach.models import build_model
from netcoach.models.network import as_network
from netcoach.models.registry import count_parameters
from netcoach.models.summary import model_summary, summary_record
from netcoach.optim import build_optimizer, build_schedule
from netcoach.optim.optimizers import FULL_BATCH
from netcoach.optim.regularize import build_update_rules
from netcoach.tasks import build_task, validate_bundle
from netcoach.train import BestCheckpoint, Callback, MetricsLogger, ProgressBar, RunFolder, Trainer
from netcoach.train.averaging import build_averagers
from netcoach.train.builtin import Checkpointer, DiskSchedule, StepCheckpointer
from netcoach.train.early_stopping import EarlyStopping
from netcoach.train.final import summarize
from netcoach.train.guard import NanGuard
from netcoach.train.load import load_run
from netcoach.train.monitor import early_stop_monitor, plateau_monitor, resolve_monitor
from netcoach.train.loggers import CSVLogger, StepsLogger, TensorBoardLogger, summary_writer_class
from netcoach.train.resume import restore_run, resume_config, with_overrides
from netcoach.train.run import DATA, ENV, MODEL, MODEL_SUMMARY, NORMALIZER, PREPROCESSING, PREVIEW
from netcoach.transfer.setup import prepare as prepare_transfer
from netcoach.utils.runtime import Runtime, seed_everything, set_threads

__all__ = ["RunResult", "best_checkpoint", "build_trainer", "default_callbacks", "load_config", "load_run",
           "model_summary", "resume_config", "train"]


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
        from netcoach.report.notebook import result_html  # imported where used: `import netcoach` stays cheap

        return result_html(self)

    def report(self) -> Path:
        """The run's report.html (built if missing); shown in the page inside a notebook."""
        if self.run_dir is None:
            raise ValueError("this run was trained with save=False: it has no run folder or report")
        from netcoach.report.notebook import show_report

        return show_report(self.run_dir)


def load_config(path: str | Path | None = None, overrides: Optional[Mapping[str, Any]] = None) -> Config:
    """Defaults, then a TOML file, then ``{"section.key": value}`` overrides (values
    may be strings as on the command line, or typed values)."""
    return with_overrides(load_toml(path) if path else Config(), overrides)


def _bundle(config: Config, device: torch.device, data, stratify: bool = True) -> DataBundle:
    return build_data(config, device, user_bundle(data, config, stratify), stratify=stratify)


def data_record(bundle: DataBundle, task) -> dict:
    """What prediction needs to reuse this run's data handling (written to data.json)."""
    return {"name": bundle.name, "task": task.name, "input_shape": list(bundle.input_shape),
            "num_outputs": task.num_outputs(bundle), "task_state": task.state(),
            "num_classes": bundle.num_classes, "class_names": bundle.class_names,
            "scale": bundle.scale, "mean": bundle.mean, "std": bundle.std,
            "normalize": normalize_record(bundle),
            "dtype": str(bundle.train.x.dtype),  # the stored form raw inputs come in (export)
            "sizes": {"train": len(bundle.train), "val": len(bundle.val), "test": len(bundle.test)},
            "skipped_files": list(bundle.info.get("skipped", [])),
            "input_layout": bundle.info.get("input_layout"), "notes": list(bundle.info.get("notes", []))}


def build_trainer(config: Config, *, model: Optional[nn.Module] = None, data=None,
                  callbacks: Iterable[Callback] = (), runtime: Optional[Runtime] = None) -> Trainer:
    """Everything a run needs, built and validated (no files written)."""
    tc = validate(config).train  # also a Config built in Python, not loaded through the loader
    runtime = runtime or Runtime.local(tc.device)
    seed_everything(tc.seed, tc.deterministic)
    set_threads(tc.threads)
    task = build_task(config.task, config.loss)
    task.check_config(config)
    if config.data.sampler == "balanced" and not task.has_classes:
        raise ConfigError(f"data.sampler balanced: task {task.name} has no classes to balance; "
                          "use data.sampler shuffle")
    bundle = task.learn_from(_bundle(config, runtime.device, data, stratify=task.stratify))
    validate_bundle(task, bundle)
    task.fit(bundle.train.y, task.num_outputs(bundle))  # class prior, target statistics: train split only
    if model is None:
        check_model_fits(config, bundle.model_input_shape, task.num_outputs(bundle), runtime.device)
    torch.manual_seed(tc.seed)  # model init does not depend on how data was loaded
    model = (model or build_model(config.model, bundle.model_input_shape,
                                  task.num_outputs(bundle))).to(runtime.device)
    if config.model.bias_init == "prior":
        task.init_output_bias(as_network(model, "model.bias_init prior").head_layer)
    if tc.channels_last:
        model = model.to(memory_format=torch.channels_last)
    model = convert_sync_bn(model, runtime, config.dist.sync_bn)
    seed_rank(tc.seed, runtime)  # dropout and other draws of torch's generator differ per rank
    transfer = prepare_transfer(model, config)  # model.init_from weights, [transfer] lr parts
    # parameter groups: no decay on biases/norms; every parameter placed, also those frozen later
    optimizer = build_optimizer(model, config.optim, lr_scales=transfer.lr_scales)
    loaders = build_loaders(config, bundle,
                            transform=build_augment(config.augment, num_classes=bundle.num_classes),
                            rank=runtime.rank, world_size=runtime.world_size)
    # distill.teacher: the teacher joins the loss (its logits cached per training sample without augmentation)
    task = distill_task(task, config, bundle, model, runtime.device, loaders["train"])
    if config.optim.name in FULL_BATCH:  # gradient descent: the whole training split is one batch
        loaders["train"].batch_size = len(bundle.train)
    steps_per_epoch = -(-len(loaders["train"]) // max(tc.grad_accum, 1))  # optimizer steps
    schedule = build_schedule(optimizer, config.schedule, tc.epochs, steps_per_epoch,
                              loader=loaders["train"], monitor=plateau_monitor(config))
    rules = build_update_rules(model, config, n_train=len(bundle.train), optimizer=optimizer)
    guard = None if tc.nan_guard == "off" else NanGuard(
        tc.nan_guard, tc.check_grads, tc.rollback_lr_factor, tc.max_rollbacks)
    trainer = Trainer(model, loaders, task, optimizer, schedule, tc.epochs, callbacks, rules=rules,
                      grad_accum=tc.grad_accum, precision=tc.precision, channels_last=tc.channels_last,
                      compile=tc.compile, guard=guard, data=bundle, config=config, runtime=runtime,
                      transfer=transfer)
    return trainer


Reporter = Callable[[str, Any], None]  # (event, value): see ``train``'s ``reporter``


# weights, gradients and two optimizer moments (Adam), in fp32
BYTES_PER_PARAMETER = 4 * 4


def check_model_fits(config: Config, input_shape, num_outputs: int, device: torch.device) -> None:
    """Refuse a configured model whose parameters alone would not fit in memory, before
    allocating it: it is built on torch's meta device, which allocates nothing."""
    try:
        with torch.device("meta"):
            n = count_parameters(build_model(config.model, tuple(input_shape), num_outputs), False)
    except Exception:  # noqa: BLE001 - the real build below raises the real error
        return
    if device.type == "cuda":
        memory = torch.cuda.get_device_properties(device).total_memory
    else:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if n * BYTES_PER_PARAMETER > memory:
        mc = config.model
        raise ConfigError(f"model: {mc.name} with model.width {mc.width}, model.depth {mc.depth} has "
                          f"{n:.3g} parameters ({n * BYTES_PER_PARAMETER / 1e9:.0f} GB for weights, "
                          f"gradients and optimizer moments) but {device} has {memory / 1e9:.0f} GB; "
                          f"lower model.width or model.depth")


def check_outputs(model: nn.Module, bundle: DataBundle, num_outputs: int) -> None:
    """A user's model must give one score per output the task needs (a label past its
    outputs would fail later, deep in torch). One sample, eval mode, no gradients: it
    changes no state and draws no random numbers."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(bundle.train.x[:1].to(next(model.parameters()).device).float())
    except Exception:  # noqa: BLE001 - the first training step reports the model's own error
        return
    finally:
        model.train(was_training)
    if out.dim() != 2 or out.shape[1] != num_outputs:
        raise NetcoachError(f"model: your model gives outputs of shape {tuple(out.shape)} for one "
                            f"sample, but this data needs (1, {num_outputs}) ({bundle.num_classes} "
                            f"classes: labels 0..{bundle.num_classes - 1}); make its last layer "
                            f"output {num_outputs}")


def check_monitors(config: Config, trainer: Trainer, monitors) -> None:
    """Each monitored metric must be one the epoch logs will hold (a typo otherwise fails
    after the first epoch, with the run folder written)."""
    known = {"lr", "epoch_time", "samples_per_s"} | {
        f"{split}_{m}{avg}" for split in ("train", "val") for m in ("loss", *trainer.task.metric_names)
        for avg in ("", "_ema", "_polyak", "_swa")}
    for option, name in monitors:
        if name is not None and name not in known:
            raise ConfigError(f"{option}: {name!r} is not a metric of this run; valid: "
                              f"{', '.join(sorted(k for k in known if k.startswith('val_')))} "
                              f"(or their train_ versions)")


def train(config: Optional[Config] = None, *, model: Optional[nn.Module] = None, data=None,
          callbacks: Iterable[Callback] = (), progress: Optional[bool] = None, save: bool = True,
          resume: str | Path | None = None, runtime: Optional[Runtime] = None,
          reporter: Optional[Reporter] = None) -> RunResult:
    """Train as configured and evaluate the best checkpoint on the test split.

    Args:
        config: the run's config (default: ``Config()``; with ``resume``: the run's own,
            see ``resume_config``).
        model: your own module mapping a batch to (batch, outputs) scores (default: ``config.model``).
        data: a ``DataBundle``, an ``(x, y)`` pair of arrays, or a dict of explicit
            ``train``/``val``/``test`` pairs (default: ``config.data``); images may be NCHW
            or NHWC, uint8 or float in [0, 1] (see ``netcoach.data.from_arrays``).
        callbacks: extra callbacks, called after the built-in ones.
        progress: show progress bars and a line per epoch; None (default) shows them when
            the output is a terminal or a notebook, as Keras's ``fit`` does.
        save: write a run folder under ``config.run.dir``.
        resume: a run folder to continue from its last checkpoint (also mid-epoch); pass
            the same ``model``/``data`` the run was started with, if any.
        runtime: this process's device and rank (default: one process on ``train.device``);
            a process that is not the main one trains but writes no files. Every process
            of a multi-process job calls ``train`` (see ``netcoach.distributed``); the
            preflight checks run once, on the main process.
        reporter: told what happens before epoch 1, as ``reporter(event, value)``:
            ``("stage", text)`` before each slow step, ``("decode", {"done", "total"})`` as
            image files are decoded (after each chunk of images), ``("preflight", checks)``
            with the check records, ``("resume", {"epoch", "step", "batches_done",
            "batches"})`` where a resumed run continues.
            The command line prints these; the library itself never does.

    Raises:
        PreflightFailed: with ``diagnose.strict``, a preflight check FAILed; raised before
            any run folder or checkpoint is written.
    """
    started = time.perf_counter()
    config = resume_config(resume, config) if resume is not None else (config or Config())
    if config.ensemble.members > 1:
        raise ConfigError(f"ensemble.members: {config.ensemble.members} asks for several runs; "
                          "netcoach.train trains one: netcoach.ensemble.seeds.train_members(config) "
                          "trains them and their ensemble (as netcoach train does)")
    say = reporter or (lambda event, value: None)
    say("stage", f"loading data ({config.data.name}) and building the model ({config.model.name})")
    with decode_progress(lambda done, total: say("decode", {"done": done, "total": total})):
        trainer = build_trainer(config, model=model, data=data, runtime=runtime)
    # monitors first: an unreadable metric name leaves no folder
    monitor = resolve_monitor(config, trainer.task.default_monitor)
    stopper = early_stopping(config, trainer.task.default_monitor)
    if model is not None:  # the preflight's output_layer check reports it too, but after the folder
        check_outputs(trainer.model, trainer.data, trainer.task.num_outputs(trainer.data))
    callbacks = list(callbacks)
    # a user's callback may log metrics of its own; netcoach's (the CLI's Ctrl-C handler) do not
    if all(type(cb).__module__.startswith("netcoach.") for cb in callbacks):
        plateau = plateau_monitor(config)
        check_monitors(config, trainer, [("train.monitor", monitor.monitor),
                                         ("early_stop.monitor", stopper and stopper.monitor),
                                         ("schedule.monitor", plateau and plateau.monitor)])
    snapshot_plan(config, trainer)  # a schedule without enough cycles leaves no folder either
    main = trainer.runtime.is_main
    checks = []
    if config.diagnose.preflight and main:  # before the folder: a strict FAIL leaves none
        say("stage", f"preflight checks: {', '.join(config.diagnose.checks)}")
        checks = diagnose.preflight(trainer, config)
        say("preflight", checks)
        diagnose.enforce_strict(checks, config.diagnose)
    run = open_run(config, trainer, resume, save, custom_model=model)
    try:  # the run folder's lock is given back also when training fails (disk full, ...)
        best = best_checkpoint(config, monitor, run)
        first, tail = default_callbacks(config, trainer, best, stopper, run)
        trainer.set_callbacks(first + list(callbacks) + tail
                              + ([ProgressBar()] if show_progress(progress) and trainer.runtime.is_main else []))
        resumed_from = restore_run(trainer, run) if resume is not None else None
        if resumed_from is not None:
            train_loader = trainer.loaders["train"]  # restored: its position is the next epoch's first batch
            say("resume", {**resumed_from, "batches_done": train_loader.state_dict()["position"],
                           "batches": len(train_loader)})
        history = trainer.fit()
        cut = trainer.interrupted and trainer.epoch < trainer.epochs  # not when the last epoch had ended
        if cut and run is not None and run.writes:
            save_interrupted(trainer, run)
        summary = summarize(trainer, best, stopper, run, started, resumed_from)
        summary.update(snapshot_summary(trainer))
        summary.update(distill_summary(trainer, config))
        if cut:
            summary["interrupted"] = {"epoch": trainer.epoch, "step": trainer.step,
                                      "resume": f"netcoach train --resume {run.path}" if run else None}
        summary["preflight"] = checks
        summary["notes"] = summary.get("notes", []) + transfer_notes(trainer)
        if trainer.transfer is not None:
            summary["transfer"] = trainer.transfer.record()
        summary["doctor"] = diagnose.doctor(history, summary, config)
        if run is not None:
            run.write_data(data_record(trainer.data, trainer.task))  # with what calibration chose
            run.write_summary(summary)
            if config.report.enabled and run.writes:
                from netcoach.report import write_report  # imported where used: `import netcoach` stays cheap

                write_report(run.path)
            finish_tracking(trainer.callbacks, summary)  # after the report, which MLflow receives
    finally:
        if run is not None:
            run.release()
    dist_reduce.barrier()  # no process leaves before the main one has written the run's records
    return RunResult(config, trainer.model, history, summary, trainer.data,
                     run.path if run else None, trainer)


def save_interrupted(trainer: Trainer, run: RunFolder) -> None:
    """Write the ``last`` checkpoint of a run stopped mid-epoch (before the best weights are
    restored for the test evaluation), so ``--resume`` continues after its last step."""
    saver = next((cb for cb in trainer.callbacks if isinstance(cb, Checkpointer)), None)
    if saver is not None:
        saver.save(trainer)
        saver.disk.flush()  # on disk before the summary says it can be resumed


def transfer_notes(trainer: Trainer) -> list[str]:
    """The ``model.init_from`` line (what loaded, what did not) for the summary's notes."""
    return trainer.transfer.notes() if trainer.transfer is not None else []


def show_progress(progress: Optional[bool]) -> bool:
    """``progress``, or when None: whether the output is a terminal or a notebook."""
    if progress is not None:
        return progress
    from rich.console import Console  # imported where used: `import netcoach` stays cheap

    console = Console()
    return console.is_terminal or console.is_jupyter


def open_run(config: Config, trainer: Trainer, resume, save: bool,
             custom_model: Optional[nn.Module]) -> Optional[RunFolder]:
    """The run folder to write: the resumed one, a new one (only now, after everything
    was validated, so a bad config leaves no folder), or None without ``save``."""
    if config.log.tensorboard and (save or resume is not None):
        summary_writer_class()  # a missing optional package fails before any folder exists
    if config.log.mlflow and (save or resume is not None):
        mlflow_client_class()
    if resume is not None:
        run = RunFolder(resume, trainer.runtime).lock()
        run.write_config(config)  # train.epochs may have grown: the record says what ran
        write_records(run, config, trainer, custom_model, missing_only=True)
        return run
    if not save:
        return None
    run = RunFolder.create(config.run.dir, config.run.name, default_run_name(config), trainer.runtime)
    if trainer.runtime.distributed:  # every process names the main one's folder
        path = dist_reduce.broadcast_text(str(run.path))
        if not run.writes:  # the main process keeps its folder object, which holds the lock
            run = RunFolder(path, trainer.runtime)
    run.write_config(config)
    write_records(run, config, trainer, custom_model)
    return run


def write_records(run: RunFolder, config: Config, trainer: Trainer, custom_model: Optional[nn.Module],
                  missing_only: bool = False) -> None:
    """env.json, data.json, model.json, model_summary.json and the augmentation preview.
    ``missing_only`` (a resume): only those a run killed while its folder was being made
    never wrote; they follow from the config and the data, so they come out the same."""
    def wanted(name: str) -> bool:
        return not (missing_only and run.file(name).exists())

    if wanted(ENV):
        run.write_env(trainer.device, config.train.seed)
    if wanted(DATA):
        run.write_data(data_record(trainer.data, trainer.task))
    if trainer.data.normalizer is not None and wanted(NORMALIZER):  # data.normalize's fitted tensors
        run.write_normalizer(trainer.data.normalizer)
    if "preprocessing" in trainer.data.info and wanted(PREPROCESSING):  # the fitted CSV transform
        run.write_preprocessing(trainer.data.info["preprocessing"])
    if wanted(MODEL):
        run.write_model(model_record(config, custom_model))
    if wanted(MODEL_SUMMARY):
        run.write_model_summary(summary_record(trainer.model, tuple(trainer.data.model_input_shape)))
    if config.augment.transforms and len(trainer.data.input_shape) == 3 and run.writes and wanted(PREVIEW):
        run.write_bytes(PREVIEW, preview_png(trainer.data, config.augment, config.train.seed))


def default_run_name(config: Config) -> str:
    return f"{config.data.name}-{config.model.name}-{time.strftime('%Y%m%d-%H%M%S')}"


def model_record(config: Config, custom_model: Optional[nn.Module]) -> dict:
    """``model.json``: whether ``load_run`` can rebuild the model from the config alone."""
    if custom_model is None:
        return {"source": "config", "name": config.model.name}
    cls = type(custom_model)
    return {"source": "custom", "class": f"{cls.__module__}.{cls.__qualname__}"}


def early_stopping(config: Config, default_monitor: str) -> Optional[EarlyStopping]:
    """Early stopping as configured (``early_stop.enabled``), or None."""
    es = config.early_stop
    if not es.enabled:
        return None
    return EarlyStopping(early_stop_monitor(config, default_monitor), patience=es.patience, min_epochs=es.min_epochs,
                         restore_best=es.restore_best)


def best_checkpoint(config: Config, monitor, run: Optional[RunFolder]) -> BestCheckpoint:
    """The best-weights tracker for ``monitor`` (a ``Monitor`` or a metric name), with the
    run's checkpoint writer (shared with the ``Checkpointer`` that ``default_callbacks``
    adds, so writes never overlap)."""
    ck = config.checkpoint
    writer = run.background_writer() if run is not None and ck.background else None
    return BestCheckpoint(monitor, run=run, disk=DiskSchedule(ck.min_interval_s, writer))


def default_callbacks(config: Config, trainer: Trainer, best: BestCheckpoint,
                      stopper: Optional[EarlyStopping],
                      run: Optional[RunFolder]) -> tuple[list[Callback], list[Callback]]:
    """The built-in callbacks: (those called before the user's, those called after).

    Averagers come first (they add ``*_ema``/``*_swa`` metrics that the best-weights
    tracker and the loggers see); the NaN guard's snapshot and the checkpoint come
    last, so they capture every other callback's state of the epoch.
    """
    first: list[Callback] = build_averagers(config, trainer.model, run) + [best]
    first += snapshot_savers(config, trainer, run)
    first += [stopper] if stopper is not None else []
    if run is not None:
        first.append(MetricsLogger(run))
        first += [StepsLogger(run)] if config.log.steps else []
        first += [CSVLogger(run)] if config.log.csv else []
        first += [TensorBoardLogger(run)] if config.log.tensorboard and run.writes else []
        first += [MLflowLogger(run.path, config)] if config.log.mlflow and run.writes else []
    first += diagnose.monitor_callbacks(config, run)
    first += trainer.transfer.callbacks() if trainer.transfer is not None else []
    tail: list[Callback] = [trainer.guard] if trainer.guard is not None else []
    if run is not None:
        ck = config.checkpoint
        disk = DiskSchedule(ck.min_interval_s, best.disk.writer)
        tail.append(StepCheckpointer(run, ck.every_epochs, ck.every_steps, disk) if ck.every_steps
                    else Checkpointer(run, ck.every_epochs, disk))
    return first, tail
