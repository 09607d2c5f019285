"""The distillation loss: Hinton et al.'s a T^2 KL(softmax(t/T) || softmax(s/T)) + (1 - a) task
loss, checked against hand-computed values and its analytic gradient."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from netcoach.distill import DistillTask, Teacher, distillation_loss
from netcoach.tasks import build_task


class FixedTeacher(Teacher):
    """A teacher that answers given logits (the loss tests need no network)."""

    def __init__(self, logits: torch.Tensor):
        self.fixed, self.path, self.kind = logits, Path("fixed"), "run"

    def logits(self, x):
        return self.fixed


def _task(teacher_logits, temperature, alpha) -> DistillTask:
    return DistillTask(build_task("classification"), FixedTeacher(teacher_logits), temperature, alpha)


def _with_teacher(task: DistillTask, s: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    model = torch.nn.Identity().train()
    task.attach(model)
    return task.loss(model(s), y)


def test_loss_is_zero_when_student_equals_teacher_and_alpha_is_one():
    s = torch.randn(6, 4)
    y = torch.tensor([0, 1, 2, 3, 0, 1])
    for t in (1.0, 2.0, 8.0):
        assert distillation_loss(s, s.clone(), t).item() == pytest.approx(0.0, abs=1e-7)
        assert _with_teacher(_task(s.clone(), t, 1.0), s, y).item() == pytest.approx(0.0, abs=1e-7)


def test_loss_matches_a_hand_computed_value():
    s = torch.tensor([[1.0, 0.0, -1.0]])
    t = torch.tensor([[0.0, 2.0, 0.0]])
    T, a = 2.0, 0.7

    def softmax(v):
        e = [math.exp(x / T) for x in v]
        return [x / sum(e) for x in e]

    ps, pt = softmax([1, 0, -1]), softmax([0, 2, 0])
    kl = sum(q * math.log(q / p) for q, p in zip(pt, ps))
    ce = -math.log(math.exp(0) / sum(math.exp(x) for x in (1, 0, -1)))  # label 1, at T = 1
    expected = a * T * T * kl + (1 - a) * ce
    loss = _with_teacher(_task(t, T, a), s, torch.tensor([1]))
    assert loss.item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("temperature", [1.0, 3.0, 10.0])
def test_gradient_scales_with_temperature_as_the_formula_says(temperature):
    torch.manual_seed(0)
    n, k, a = 5, 7, 0.6
    s = torch.randn(n, k, dtype=torch.float64, requires_grad=True)
    t = torch.randn(n, k, dtype=torch.float64) * 3
    y = torch.randint(0, k, (n,))
    _with_teacher(_task(t, temperature, a), s, y).backward()
    T = temperature
    distill = (torch.softmax(s.detach() / T, 1) - torch.softmax(t / T, 1)) * T / n * a
    task = (torch.softmax(s.detach(), 1) - torch.nn.functional.one_hot(y, k)) / n * (1 - a)
    torch.testing.assert_close(s.grad, distill + task, atol=1e-12, rtol=1e-9)


def test_eval_mode_uses_the_task_loss_alone_and_logits_are_used_once():
    s, t = torch.randn(4, 3), torch.randn(4, 3)
    y = torch.tensor([0, 1, 2, 0])
    task = _task(t, 2.0, 0.5)
    model = torch.nn.Identity()
    task.attach(model)
    plain = torch.nn.functional.cross_entropy(s, y)
    assert task.loss(model.eval()(s), y).item() == pytest.approx(plain.item())
    mixed = task.loss(model.train()(s), y)
    assert mixed.item() != pytest.approx(plain.item())
    assert task.loss(s, y).item() == pytest.approx(plain.item())  # no forward since: no teacher term


def test_distillation_needs_a_logits_task():
    from netcoach.config import ConfigError

    class Values(type(build_task("classification"))):
        name, output_kind = "values", "values"

    with pytest.raises(ConfigError, match="distill.teacher: distillation compares softmax .* task values"):
        DistillTask(Values(), FixedTeacher(torch.zeros(1, 2)), 2.0, 0.5)
