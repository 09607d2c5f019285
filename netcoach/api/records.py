"""The run folder of a run: opened (or created, only after everything was validated),
its records written, and the ``last`` checkpoint of a run stopped mid-epoch."""

from __future__ import annotations

import time
from typing import Optional

from torch import nn

from netcoach.api.data_setup import data_record
from netcoach.augment.preview import preview_png
from netcoach.config import Config
from netcoach.distributed import reduce as dist_reduce
from netcoach.integrations.mlflow import mlflow_client_class
from netcoach.models.summary import summary_record
from netcoach.train import RunFolder, Trainer
from netcoach.train.builtin import Checkpointer
from netcoach.train.loggers import summary_writer_class
from netcoach.train.run import DATA, ENV, MODEL, MODEL_SUMMARY, NORMALIZER, PREPROCESSING, PREVIEW


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


def save_interrupted(trainer: Trainer, run: RunFolder) -> None:
    """Write the ``last`` checkpoint of a run stopped mid-epoch (before the best weights are
    restored for the test evaluation), so ``--resume`` continues after its last step."""
    saver = next((cb for cb in trainer.callbacks if isinstance(cb, Checkpointer)), None)
    if saver is not None:
        saver.save(trainer)
        saver.disk.flush()  # on disk before the summary says it can be resumed


