"""Knowledge distillation (Hinton et al. 2015): a student learns from a trained teacher's
softened outputs as well as from the labels.

``distill_task`` wraps the student's task when ``distill.teacher`` is set (the API does this
while building the trainer, before any folder exists), and ``distill_summary`` puts teacher,
baseline student and distilled student side by side at the end of training.
"""

from __future__ import annotations

import torch
from torch import nn

from netcoach.config import ConfigError
from netcoach.distill.loss import distillation_loss
from netcoach.distill.task import DistillTask
from netcoach.distill.teacher import Teacher, baseline_record, load_teacher
from netcoach.tasks import Task
from netcoach.train.final import test_metrics

__all__ = ["DistillTask", "Teacher", "distill_summary", "distill_task", "distillation_loss", "load_teacher"]


def distill_task(task: Task, config, bundle, model: nn.Module, device, train_loader) -> Task:
    """``task`` itself, or with ``distill.teacher`` a ``DistillTask`` whose teacher sees every
    training batch of ``model``; the teacher and ``distill.baseline`` are checked here. With
    ``train_loader`` unaugmented (in memory), the teacher's logits of its samples are computed once."""
    dc = config.distill
    if not dc.teacher:
        return task
    if bundle.normalizer is not None:  # the teacher maps the student's inputs back per channel
        raise ConfigError(f"distill.teacher: the student's data.normalize {config.data.normalize} is not "
                          f"an affine map per channel, which distillation re-normalizes through; use "
                          f"data.normalize per_channel, or none for the student")
    student = {"scale": bundle.scale, "mean": bundle.mean, "std": bundle.std}
    teacher = load_teacher(dc.teacher, config, student, task.num_outputs(bundle), bundle.input_shape, device)
    baseline_record(dc.baseline, config)  # a bad baseline fails before training, not after
    wrapped = DistillTask(task, teacher, dc.temperature, dc.alpha)
    wrapped.cache_for(train_loader)
    wrapped.attach(model)
    return wrapped


@torch.no_grad()
def distill_summary(trainer, config) -> dict:
    """``{"distill": ...}``: the teacher's test metrics on the student's test split, the
    baseline's from its summary, the distilled student's, each with its parameter count."""
    task = trainer.task
    if not isinstance(task, DistillTask):
        return {}
    loader = trainer.loaders["test"]
    logits = torch.cat([task.teacher.logits(x).float().cpu() for x, _ in loader])
    teacher = {"path": str(task.teacher.path), "kind": task.teacher.kind,
               "parameters": task.teacher.parameters,
               "test": test_metrics(task.inner, logits, loader.split.y.cpu())}
    train = trainer.loaders["train"]
    cache = (f"computed once for the {len(train.split)} training samples (no augmentation)" if task.cached
             else f"computed for every training batch ({'augmentation on' if train.transform else 'streamed data'})")
    return {"distill": {"temperature": task.temperature, "alpha": task.alpha, "teacher": teacher,
                        "teacher_logits": cache,
                        "baseline": baseline_record(config.distill.baseline, config),
                        "primary": f"test_{task.primary_metric}"}}
