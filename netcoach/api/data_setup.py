"""The task and the data of a run, built from the config (no files written): the task
first, because it decides how the data is split and what the targets are."""

from __future__ import annotations

import torch

from netcoach.config import Config, ConfigError
from netcoach.data import DataBundle, build_data
from netcoach.data.build import user_bundle
from netcoach.data.preprocess import normalize_record
from netcoach.tasks import Task, build_task, validate_bundle


def build_task_and_data(config: Config, device: torch.device, data=None) -> tuple[Task, DataBundle]:
    """The configured task and its data bundle on ``device``, labels checked and the task
    fitted on the training split (class prior, target statistics)."""
    task = build_task(config.task, config.loss)
    task.check_config(config)
    if config.data.sampler == "balanced" and not task.has_classes:
        raise ConfigError(f"data.sampler balanced: task {task.name} has no classes to balance; "
                          "use data.sampler shuffle")
    bundle = task.learn_from(build_bundle(config, device, data, stratify=task.stratify))
    validate_bundle(task, bundle)
    task.fit(bundle.train.y, task.num_outputs(bundle))  # train split only
    return task, bundle


def build_bundle(config: Config, device: torch.device, data, stratify: bool = True) -> DataBundle:
    """``data`` given by the user (arrays, splits, a bundle), else ``config.data``'s source."""
    return build_data(config, device, user_bundle(data, config, stratify), stratify=stratify)


def data_record(bundle: DataBundle, task: Task) -> dict:
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
