"""Distillation as a task: the student's own task, with the teacher's softened outputs
added to its training loss, so the trainer's one step is unchanged.

``DistillTask`` wraps the student's task and delegates everything to it (metrics,
post-processing, labels, splits, the monitored metric), except the training loss::

    loss = a * T^2 * KL(softmax(t / T) || softmax(s / T)) + (1 - a) * task loss

The teacher's logits t come from a forward pre-hook on the student: whenever the student
runs in training mode, the hook gives the same batch to the teacher (``Teacher.logits``:
eval mode, no gradients, its own normalization) and the next ``loss`` call consumes them.
In eval mode (validation, test, the doctor's checks) no teacher runs and the loss is the
task's, so ``val_loss`` stays comparable with a student trained from scratch.

With augmentation off (``cache_for``), a training sample is the same input every epoch, so
the teacher's logits for the whole training split are computed once, at the first training
batch, and each batch takes its rows by the sample positions its loader reports
(``DeviceLoader.batch_indices``); that costs N x K numbers on the device. A training-mode
forward of any other batch (the preflight's sample, an augmented batch) gets the live
teacher. With augmentation on, every batch goes to the live teacher.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import nn

from netcoach.config import ConfigError
from netcoach.distill.loss import distillation_loss
from netcoach.distill.teacher import Teacher
from netcoach.tasks import Task

DELEGATED = ("name", "metric_names", "primary_metric", "default_monitor", "stratify", "accuracy_like",
             "chance_text", "report_sections", "prediction_key", "has_classes", "output_kind")


class DistillTask(Task):
    """The student's ``task`` plus the distillation term from ``teacher`` (see the module docstring).

    Args:
        task: the student's task (classification: the term compares softmax distributions).
        teacher: the frozen teacher.
        temperature: T > 0.
        alpha: a in [0, 1], the weight of the distillation term.
    """

    def __init__(self, task: Task, teacher: Teacher, temperature: float, alpha: float):
        if task.output_kind != "logits":
            raise ConfigError(f"distill.teacher: distillation compares softmax distributions of logits; "
                              f"task {task.name} has outputs of kind {task.output_kind!r} (use classification)")
        self.inner, self.teacher = task, teacher
        self.temperature, self.alpha = float(temperature), float(alpha)
        for attr in DELEGATED:
            setattr(self, attr, getattr(task, attr))
        self._teacher_logits: Optional[torch.Tensor] = None
        self._loader = None                          # the training loader whose samples are cached
        self._cache: Optional[torch.Tensor] = None   # teacher logits of every training sample

    @property
    def cached(self) -> bool:
        """Whether the teacher's logits of the training split are computed once (augmentation off)."""
        return self._loader is not None

    def cache_for(self, loader) -> bool:
        """Cache the teacher's logits of ``loader``'s split when its batches are the stored samples
        unchanged: no augmentation, and the split held in memory as one tensor (a streamed split
        is decoded per batch); returns whether it will."""
        in_memory = isinstance(loader.split.x, torch.Tensor)
        self._loader = loader if in_memory and loader.transform is None else None
        self._cache = None
        return self.cached

    def attach(self, model: nn.Module):
        """Feed the teacher every training-mode batch of ``model``; returns the hook's handle.

        The hook is a closure (not a bound method), so a deep copy of the model (the overfit
        check's twin) shares this task and its cache instead of copying them."""
        def observe(module: nn.Module, args: tuple) -> None:
            self._teacher_logits = self.teacher_logits(args[0]) if module.training else None
        return model.register_forward_pre_hook(observe)

    def teacher_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The teacher's logits for a training batch ``x``: cached rows when ``x`` is the batch the
        cached loader yielded last, the live teacher otherwise."""
        idx = self._loader.batch_indices(x) if self._loader is not None else None
        if idx is None:
            return self.teacher.logits(x)
        if self._cache is None:
            self._cache = self._split_logits(self._loader)
        return self._cache[idx]

    def _split_logits(self, loader) -> torch.Tensor:
        """Teacher logits of every sample of ``loader.split``, prepared as the loader prepares
        an unaugmented batch, in chunks of the loader's batch size."""
        split, size = loader.split, loader.batch_size
        return torch.cat([self.teacher.logits(loader.normalize(loader.prepare(split.x[i:i + size])))
                          for i in range(0, len(split), size)])

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        base = self.inner.loss(outputs, targets)
        teacher, self._teacher_logits = self._teacher_logits, None  # each batch's logits are used once
        if teacher is None:
            return base
        if teacher.shape != outputs.shape:
            raise ValueError(f"distillation: teacher logits {tuple(teacher.shape)} do not match the "
                             f"student's outputs {tuple(outputs.shape)}")
        return self.combined(outputs, teacher, base)

    def combined(self, outputs: torch.Tensor, teacher: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
        """a T^2 KL(teacher || student) + (1 - a) task loss."""
        a = self.alpha
        return a * distillation_loss(outputs, teacher, self.temperature) + (1.0 - a) * base

    def metric_sums(self, outputs, targets):
        return self.inner.metric_sums(outputs, targets)

    def postprocess(self, outputs):
        return self.inner.postprocess(outputs)

    def outputs_from_predictions(self, predictions):
        return self.inner.outputs_from_predictions(predictions)

    def validate_labels(self, y, num_outputs: int) -> None:
        self.inner.validate_labels(y, num_outputs)

    def expected_initial_loss(self, num_outputs: int, prior: Optional[Sequence[float]] = None) -> float:
        return self.inner.expected_initial_loss(num_outputs, prior)

    def chance_name(self, num_outputs: int) -> str:
        return self.inner.chance_name(num_outputs)

    def num_outputs(self, bundle) -> int:
        return self.inner.num_outputs(bundle)

    def prediction_table(self, predictions, class_names):
        return self.inner.prediction_table(predictions, class_names)

    def describe(self) -> dict:
        return {**self.inner.describe(), "distill": {"teacher": str(self.teacher.path),
                                                     "temperature": self.temperature, "alpha": self.alpha}}
