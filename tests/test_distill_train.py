"""Distillation in training: the teacher is frozen (weights and batch-norm statistics), sees
the student's batches with its own normalization, and is reported beside the students."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import netcoach
from netcoach.config import ConfigError
from netcoach.ensemble import build_ensemble
from netcoach.predict import prepare_inputs


def _over(parent: Path, name: str, **extra) -> dict:
    return {"model.name": "mlp", "model.width": "16", "train.epochs": "2", "optim.lr": "0.003",
            "run.dir": str(parent), "run.name": name, "diagnose.preflight": "false",
            "report.enabled": "false", **extra}


@pytest.fixture(scope="module")
def teacher(tmp_path_factory) -> Path:
    """A wider MLP with batch norm (running statistics that must not move)."""
    parent = tmp_path_factory.mktemp("teacher")
    over = _over(parent, "teacher", **{"model.width": "64", "model.norm": "batch", "train.epochs": "3"})
    return netcoach.train(netcoach.load_config(overrides=over), progress=False).run_dir


@pytest.fixture(scope="module")
def baseline(teacher) -> Path:
    return netcoach.train(netcoach.load_config(overrides=_over(teacher.parent, "scratch")), progress=False).run_dir


def test_teacher_weights_and_batchnorm_statistics_do_not_change(teacher, baseline, tmp_path):
    over = _over(tmp_path, "student", **{"distill.teacher": str(teacher), "distill.baseline": str(baseline),
                                         "report.enabled": "true"})
    result = netcoach.train(netcoach.load_config(overrides=over), progress=False)
    frozen = result.trainer.task.teacher.model
    saved = load_file(str(teacher / "checkpoints" / "best.safetensors"))
    state = frozen.state_dict()
    assert any("running_mean" in k for k in state) and any("num_batches_tracked" in k for k in state)
    for key, value in saved.items():
        assert torch.equal(state[key].cpu(), value), f"teacher's {key} changed during distillation"
    assert not frozen.training and not any(p.requires_grad for p in frozen.parameters())
    assert not any(p is q for p in frozen.parameters() for q in result.model.parameters())

    distill = result.summary["distill"]
    assert distill["teacher"]["parameters"] == sum(v.numel() for k, v in saved.items()
                                                   if "running" not in k and "num_batches" not in k)
    assert distill["baseline"]["test"] == json.loads((baseline / "summary.json").read_text())["test"]
    teacher_test = json.loads((teacher / "summary.json").read_text())["test"]
    assert distill["teacher"]["test"]["test_acc"] == pytest.approx(teacher_test["test_acc"])
    assert result.summary["parameters"] < distill["teacher"]["parameters"]
    html = (result.run_dir / "report.html").read_text()
    assert "Distillation" in html and "student from scratch" in html and "distilled student" in html


def test_distilled_training_loss_differs_and_validation_loss_is_the_task_loss(teacher, tmp_path):
    plain = netcoach.train(netcoach.load_config(overrides=_over(tmp_path, "p", **{"run.name": None})),
                           progress=False, save=False)
    over = _over(tmp_path, "d", **{"distill.teacher": str(teacher), "distill.alpha": "1.0"})
    distilled = netcoach.train(netcoach.load_config(overrides=over), progress=False, save=False)
    # same seed, same init: the first epoch's training losses differ only through the teacher term
    assert distilled.history[0]["train_loss"] != pytest.approx(plain.history[0]["train_loss"])
    trainer = distilled.trainer
    recomputed = trainer.evaluate(trainer.loaders["val"], "val")["val_loss"]
    ce = torch.nn.functional.cross_entropy(
        torch.cat([trainer.model.eval()(x) for x, _ in trainer.loaders["val"]]),
        trainer.loaders["val"].split.y).item()
    assert recomputed == pytest.approx(ce, rel=1e-5)


def test_teacher_sees_its_own_normalization_of_the_student_batch(teacher, tmp_path):
    over = _over(tmp_path, "raw", **{"distill.teacher": str(teacher), "data.normalize": "none"})
    trainer = netcoach.build_trainer(netcoach.load_config(overrides=over))
    loader = trainer.loaders["test"]
    raw = loader.split.x[:16]
    student_inputs = loader.normalize(loader.prepare(raw))  # as the student's loader gives them
    record = json.loads((teacher / "data.json").read_text())
    _, model = netcoach.load_run(teacher)
    with torch.no_grad():
        expected = model(prepare_inputs(raw, record))
    torch.testing.assert_close(trainer.task.teacher.logits(student_inputs), expected, atol=1e-5, rtol=1e-5)
    assert trainer.loaders["test"].mean is None and record["mean"] is not None  # the stats really differ


def test_an_ensemble_teacher_gives_log_mean_probabilities(teacher, baseline, tmp_path):
    ens = build_ensemble([teacher, baseline], name="ens", out_dir=tmp_path).path
    over = _over(tmp_path, "s", **{"distill.teacher": str(ens)})
    trainer = netcoach.build_trainer(netcoach.load_config(overrides=over))
    x = next(iter(trainer.loaders["test"]))[0][:8]
    (_, a), (_, b) = netcoach.load_run(teacher), netcoach.load_run(baseline)
    with torch.no_grad():
        mean = (a(x).softmax(1) + b(x).softmax(1)) / 2
    assert trainer.task.teacher.kind == "ensemble"
    torch.testing.assert_close(trainer.task.teacher.logits(x), mean.log(), atol=1e-5, rtol=1e-5)


def test_bad_teacher_or_baseline_is_one_config_error_and_no_folder(teacher, tmp_path):
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "config.toml").write_text((teacher / "config.toml").read_text())
    cases = [({"distill.teacher": str(tmp_path / "none")}, r"distill.teacher: .*none: not a run or ensemble folder"),
             ({"distill.teacher": str(teacher), "data.split_seed": "3"},
              r"distill.teacher: .* was trained with data.split_seed 0, the student has 3"),
             ({"distill.teacher": str(teacher), "distill.baseline": str(unfinished)},
              r"distill.baseline: .*unfinished has no summary.json"),
             ({"distill.teacher": str(teacher), "distill.baseline": str(tmp_path / "gone")},
              r"distill.baseline: .*gone.*config file not found"),
             ({"distill.temperature": "0"}, r"distill.temperature: must be > 0"),
             ({"distill.alpha": "1.5"}, r"distill.alpha: must be in \[0, 1\]")]
    for extra, message in cases:
        with pytest.raises(ConfigError, match=message) as info:
            netcoach.train(netcoach.load_config(overrides=_over(tmp_path / "runs", "x", **extra)), progress=False)
        assert "\n" not in str(info.value)
    assert not (tmp_path / "runs").exists()
