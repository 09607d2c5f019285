"""The teacher's logits cached once per training sample when augmentation is off: the same
loss as the live teacher, the teacher run once per sample for the whole run, and no cache
with augmentation on or for a batch the loader did not yield."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import netcoach
from netcoach.distill import DistillTask


def _over(parent: Path, name: str, **extra) -> dict:
    return {"model.name": "mlp", "model.width": "16", "train.epochs": "2", "optim.lr": "0.003",
            "run.dir": str(parent), "run.name": name, "diagnose.preflight": "false",
            "report.enabled": "false", "data.batch_size": "100", **extra}


@pytest.fixture(scope="module")
def teacher(tmp_path_factory) -> Path:
    parent = tmp_path_factory.mktemp("teacher")
    over = _over(parent, "teacher", **{"model.width": "64", "model.norm": "batch"})
    return netcoach.train(netcoach.load_config(overrides=over), progress=False).run_dir


def _trainer(teacher: Path, tmp_path: Path, **extra):
    over = _over(tmp_path, "student", **{"distill.teacher": str(teacher), **extra})
    return netcoach.build_trainer(netcoach.load_config(overrides=over))


def _count_teacher_calls(task: DistillTask) -> list[int]:
    """Wrap the teacher's ``logits`` to record the batch size of every call."""
    calls, live = [], task.teacher.logits

    def counted(x):
        calls.append(len(x))
        return live(x)
    task.teacher.logits = counted
    return calls


def test_loader_reports_the_split_positions_of_the_batch_it_yielded(teacher, tmp_path):
    loader = _trainer(teacher, tmp_path).loaders["train"]
    for x, y in loader:
        idx = loader.batch_indices(x)
        assert torch.equal(loader.split.y[idx], y)
        torch.testing.assert_close(loader.normalize(loader.prepare(loader.split.x[idx])), x)
        assert loader.batch_indices(x.clone()) is None  # equal values, another tensor: no entry
    assert loader.batch_indices(x) is None  # after the epoch nothing is pending


def test_cached_logits_give_the_live_teachers_loss_on_a_shuffled_batch(teacher, tmp_path):
    trainer = _trainer(teacher, tmp_path)
    task, loader, model = trainer.task, trainer.loaders["train"], trainer.model
    assert isinstance(task, DistillTask) and task.cached
    batches = iter(loader)
    next(batches)
    x, y = next(batches)  # the second batch of a shuffled epoch: positions far from 0..99
    idx = loader.batch_indices(x)
    assert not torch.equal(idx.sort().values, torch.arange(len(x)))
    model.train()
    out = model(x)  # the hook takes the cached rows
    cached_loss = task.loss(out, y)
    live = task.teacher.logits(x)
    live_loss = task.combined(out, live, task.inner.loss(out, y))
    torch.testing.assert_close(task.teacher_logits(x), live, atol=1e-5, rtol=1e-5)
    assert cached_loss.item() == pytest.approx(live_loss.item(), rel=1e-6)
    assert cached_loss.item() != pytest.approx(task.inner.loss(out, y).item(), rel=1e-3)  # the term is there


def test_with_augmentation_off_the_teacher_runs_once_per_training_sample(teacher, tmp_path):
    trainer = _trainer(teacher, tmp_path)
    calls = _count_teacher_calls(trainer.task)
    trainer.fit()
    n, bs = len(trainer.loaders["train"].split), trainer.loaders["train"].batch_size
    assert sum(calls) == n and len(calls) == -(-n // bs)  # one pass over the split, 2 epochs trained


def test_cached_and_live_teacher_train_the_same_student(teacher, tmp_path, monkeypatch):
    cached = _trainer(teacher, tmp_path)
    cached.fit()
    monkeypatch.setattr(DistillTask, "cache_for", lambda self, loader: False)
    live = _trainer(teacher, tmp_path)
    assert not live.task.cached
    live.fit()
    for a, b in zip(cached.history, live.history):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-4)


def test_with_augmentation_on_every_batch_goes_to_the_live_teacher(teacher, tmp_path):
    over = _over(tmp_path, "aug", **{"distill.teacher": str(teacher), "augment.transforms": "translate",
                                     "train.epochs": "1"})
    result = netcoach.train(netcoach.load_config(overrides=over), progress=False)
    assert not result.trainer.task.cached
    assert result.summary["distill"]["teacher_logits"] == "computed for every training batch (augmentation on)"
    trainer = _trainer(teacher, tmp_path, **{"augment.transforms": "translate"})
    calls = _count_teacher_calls(trainer.task)
    trainer.fit()
    loader = trainer.loaders["train"]
    assert calls == [loader.global_size(j) for j in range(len(loader))] * 2  # every batch, both epochs


def test_the_summary_and_report_say_the_teacher_logits_were_computed_once(teacher, tmp_path):
    over = _over(tmp_path, "once", **{"distill.teacher": str(teacher), "train.epochs": "1",
                                      "report.enabled": "true"})
    result = netcoach.train(netcoach.load_config(overrides=over), progress=False)
    n = len(result.trainer.loaders["train"].split)
    expected = f"computed once for the {n} training samples (no augmentation)"
    assert result.summary["distill"]["teacher_logits"] == expected
    assert f"Teacher logits: {expected}." in (result.run_dir / "report.html").read_text()


def test_a_batch_built_outside_the_loader_gets_the_live_teacher(teacher, tmp_path):
    trainer = _trainer(teacher, tmp_path)
    task, loader = trainer.task, trainer.loaders["train"]
    x = loader.normalize(loader.prepare(loader.split.x[:8]))  # as the preflight samples a batch
    calls = _count_teacher_calls(task)
    task.teacher_logits(x)
    assert calls == [8]  # the live teacher on these 8 samples, no pass over the split


def test_a_streamed_training_split_goes_to_the_live_teacher(tmp_path):
    from tests.test_data_folder import make_folder

    root = make_folder(tmp_path / "imgs", per_class=10)
    common = {"data.name": "folder", "data.path": str(root), "data.cache_dir": str(tmp_path / "c"),
              "data.num_workers": "0", "data.batch_size": "8", "train.epochs": "1"}
    teacher = netcoach.train(netcoach.load_config(overrides=_over(tmp_path, "t", **common)), progress=False)
    over = _over(tmp_path, "s", **common, **{"data.streaming": "true", "distill.teacher": str(teacher.run_dir)})
    result = netcoach.train(netcoach.load_config(overrides=over), progress=False)
    assert not result.trainer.task.cached
    assert result.summary["distill"]["teacher_logits"] == "computed for every training batch (streamed data)"
