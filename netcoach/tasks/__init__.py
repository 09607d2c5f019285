"""What is being learned: the task seam between the data, the model's outputs and everything
that reads them.

A task owns the loss, the metrics it reports, the post-processing from outputs to
predictions, the validation of the labels, the split strategy, the default monitored
metric, the loss an untrained model should start at (preflight, doctor), and which
task-specific report sections apply (see ``tasks.base.Task``). The trainer, final
evaluation, TTA, prediction, preflight, doctor, progress line and report ask the task
instead of assuming softmax and accuracy.

Tasks: ``classification`` (softmax), ``binary`` (one logit), ``multilabel`` (K logits),
``regression`` (standardized targets), ``autoencoder`` (the inputs are the targets). Add one by subclassing ``Task`` and registering it
with ``@tasks.register("name")``; ``task.name`` in the config then selects it.
"""

from __future__ import annotations

import inspect
from typing import Optional

from netcoach.config import ConfigError
from netcoach.registry import RegistryError
from netcoach.tasks.autoencoder import Autoencoder
from netcoach.tasks.base import Task, tasks
from netcoach.tasks.binary import Binary
from netcoach.tasks.classification import Classification
from netcoach.tasks.multilabel import Multilabel
from netcoach.tasks.regression import Regression

# Constructor parameters whose [loss] key has another name.
CONFIG_KEYS = {"loss_name": "name"}


def loss_options(loss) -> dict:
    """The ``[loss]`` options a run sets (those left at their off value are left out, so a
    task needs to support only what is used)."""
    if loss is None:
        return {}
    found = {"label_smoothing": float(getattr(loss, "label_smoothing", 0.0) or 0.0),
             "class_weights": getattr(loss, "class_weights", "") or None,
             "pos_weight": getattr(loss, "pos_weight", None),
             "loss_name": None if getattr(loss, "name", "default") == "default" else loss.name,
             "huber_delta": None if getattr(loss, "huber_delta", 1.0) == 1.0 else float(loss.huber_delta)}
    return {k: v for k, v in found.items() if v}


def validate_bundle(task: Task, bundle) -> None:
    """``task.validate_labels`` on every split of ``bundle``; the error names the split."""
    k = task.num_outputs(bundle)
    for split in ("train", "val", "test"):
        try:
            task.validate_labels(getattr(bundle, split).y, k)
        except ValueError as exc:
            raise ValueError(f"{split} split: {exc}") from None


def build_task(section=None, loss=None, **options) -> Task:
    """The task of ``section`` (a ``TaskConfig``, or a name), built with the ``[loss]``
    options it takes (``loss``: a ``LossConfig``) or with explicit ``options``.

    Example:
        >>> build_task("classification").default_monitor
        'val_acc'
        >>> build_task("classification", label_smoothing=0.1).label_smoothing
        0.1
    """
    name = getattr(section, "name", section) or "classification"
    try:
        cls = tasks.get(name)
    except RegistryError:
        raise ConfigError(f"task.name: unknown task {name!r}; valid: {', '.join(tasks.names())}") from None
    options = {**loss_options(loss), **options}
    for key in [k for k, v in options.items() if not v]:
        options.pop(key)  # an option left at its off value needs no support from the task
    unknown = [k for k in options if not _accepts(cls, k)]
    if unknown:
        key = CONFIG_KEYS.get(unknown[0], unknown[0])
        users = [n for n in tasks.names() if _accepts(tasks.get(n), unknown[0])]
        raise ConfigError(f"loss.{key}: task {name} has no such option (it applies to task.name "
                          f"{' or '.join(users) or 'none'}); leave it at its default")
    return cls(**options)


def _accepts(cls, option: str) -> bool:
    return option in inspect.signature(cls.__init__).parameters


def task_of_run(config, data_record: Optional[dict]) -> Task:
    """The task of a finished run: built from its ``Config`` (``task``, ``loss``) with the
    state its ``data.json`` record stores (threshold, target statistics, prior), so
    predictions and decisions are the run's own."""
    task = build_task(config.task, config.loss)
    task.load_state(((data_record or {}).get("task_state")) or {})
    return task


def task_of_config(config: Optional[dict], data: Optional[dict] = None) -> Task:
    """The task a run folder's ``config.toml`` (parsed as a dict) names, with the state
    stored in its ``data.json`` (``data``: the threshold, target statistics, prior);
    classification when the section is absent (runs written before tasks were configurable)."""
    name = ((config or {}).get("task") or {}).get("name") or "classification"
    task = build_task(name)
    task.load_state(((data or {}).get("task_state")) or {})
    return task


__all__ = ["Autoencoder", "Binary", "Classification", "Multilabel", "Regression", "Task", "build_task", "loss_options",
           "task_of_config", "task_of_run", "tasks", "validate_bundle"]
