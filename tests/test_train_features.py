"""Trainer features: gradient accumulation, early stopping, the NaN guard, weight
averaging, precision switches and logs."""

from __future__ import annotations

import copy
import json

import pytest
import torch

import netcoach
from netcoach.data.base import Split
from netcoach.data.loader import DeviceLoader
from netcoach.optim.schedules import Schedule
from netcoach.tasks import Classification, build_task
from netcoach.train import Callback, EarlyStopping, Trainer
from netcoach.utils.runtime import make_generator


pytestmark = pytest.mark.usefixtures("one_thread")  # bit-exact CPU runs


def quick(tmp_path, **extra) -> netcoach.Config:
    over = {"model.name": "mlp", "model.width": "32", "train.epochs": "3",
            "run.dir": str(tmp_path / "runs"), "diagnose.preflight": "false", "report.enabled": "false"}
    over.update({k: str(v) for k, v in extra.items()})
    return netcoach.load_config(overrides=over)


# ----------------------------------------------------------------------------- accumulation

class GradsAtStep(Callback):
    """Copies of the gradients seen right after each optimizer step."""

    def __init__(self):
        self.grads = []

    def on_batch_end(self, trainer, batch):
        if batch["stepped"]:
            self.grads.append([p.grad.clone() for p in trainer.model.parameters()])


def accumulation_trainer(model, batch_size, k, x, y):
    split = Split(x, y)
    loaders = {"train": DeviceLoader(split, batch_size, shuffle=True, generator=make_generator(0, 1)),
               "val": DeviceLoader(split, 64)}
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    spy = GradsAtStep()
    return Trainer(model, loaders, build_task(), opt, Schedule(None), epochs=2, callbacks=[spy],
                   grad_accum=k), spy


def test_accumulating_k_micro_batches_equals_one_k_times_larger_batch():
    torch.manual_seed(0)
    x, y = torch.randn(50, 12), torch.randint(0, 4, (50,))
    model = torch.nn.Sequential(torch.nn.Linear(12, 16), torch.nn.Tanh(), torch.nn.Linear(16, 4))
    # batches of 10 in groups of 3 -> steps over 30 and 20 samples (the last group is short)
    small, spy_small = accumulation_trainer(copy.deepcopy(model), 10, 3, x, y)
    big, spy_big = accumulation_trainer(copy.deepcopy(model), 30, 1, x, y)
    small.fit()
    big.fit()
    assert small.step == big.step == 4
    for step_small, step_big in zip(spy_small.grads, spy_big.grads):
        for a, b in zip(step_small, step_big):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    for a, b in zip(small.model.parameters(), big.model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert small.history[-1]["train_loss"] == pytest.approx(big.history[-1]["train_loss"], rel=1e-5)


# ----------------------------------------------------------------------------- early stopping

def test_early_stopping_stops_patience_epochs_after_best_and_restores_it(tmp_path):
    cfg = quick(tmp_path, **{"train.epochs": 40, "early_stop.enabled": "true", "early_stop.patience": 2,
                             "early_stop.monitor": "val_loss", "early_stop.mode": "min",
                             "early_stop.min_delta": 0.02, "optim.lr": 0.01})
    result = netcoach.train(cfg)
    losses = [h["val_loss"] for h in result.history]
    stopper = next(cb for cb in result.trainer.callbacks if isinstance(cb, EarlyStopping))
    assert stopper.stopped_epoch is not None and len(losses) < 40, "should have stopped early"
    assert len(losses) == stopper.best_epoch + 2
    # the best is the last epoch that beat the previous best by more than min_delta
    best, best_epoch = None, None
    for epoch, loss in enumerate(losses, 1):
        if best is None or loss < best - 0.02:
            best, best_epoch = loss, epoch
    assert stopper.best_epoch == best_epoch
    again = result.trainer.evaluate(result.trainer.loaders["val"], "val")
    assert again["val_loss"] == losses[best_epoch - 1]  # exactly the best epoch's metric
    assert any(f"best epoch {best_epoch}" in note for note in result.summary["notes"])
    assert "early stopping after epoch" in result.summary["notes"][0]
    # resuming a run that early stopping ended does not train further
    from netcoach.api import resume_config

    again = netcoach.train(resume_config(result.run_dir, overrides={"train.epochs": 60}),
                           resume=result.run_dir)
    assert len(again.history) == len(losses)
    assert again.summary["test"] == result.summary["test"]


# ----------------------------------------------------------------------------- NaN guard

def nan_loss_at(monkeypatch, call: int):
    """Make the training loss NaN at the ``call``-th training forward pass."""
    real = Classification.loss
    count = {"n": 0}

    def loss(self, logits, target):
        out = real(self, logits, target)
        if torch.is_grad_enabled():
            count["n"] += 1
            if count["n"] == call:
                return out * float("nan")
        return out

    monkeypatch.setattr(Classification, "loss", loss)


def test_nan_loss_stops_within_one_step_and_best_checkpoint_still_works(tmp_path, monkeypatch):
    nan_loss_at(monkeypatch, 17 * 2 + 5)  # epoch 3, 5th batch
    result = netcoach.train(quick(tmp_path, **{"train.epochs": 5}))
    failure = result.summary["failure"]
    assert result.trainer.step == 17 * 2 + 4  # the NaN step was not taken
    assert result.trainer.epoch == 2 and len(result.history) == 2
    assert "non-finite loss at epoch 3" in failure and "learning rate" in failure
    assert "precision" in failure and "intact" in failure
    config, model = netcoach.load_run(result.run_dir, "best")
    trainer = result.trainer
    trainer.model.load_state_dict(model.state_dict())
    val = trainer.evaluate(trainer.loaders["val"], "val")
    assert val["val_acc"] == result.summary["best_value"]
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_nan_gradient_names_the_parameter(tmp_path):
    class PoisonGrad(Callback):
        def on_batch_end(self, trainer, batch):
            if trainer.step == 3:
                weight = trainer.model.backbone[1].weight
                weight.register_hook(lambda g: g * float("nan"))

    result = netcoach.train(quick(tmp_path, **{"train.check_grads": "true"}), callbacks=[PoisonGrad()],
                            save=False)
    assert "non-finite gradient of parameter(s) backbone.1.weight" in result.summary["failure"]
    assert result.trainer.step == 3  # stopped at the very step whose gradient was NaN


def test_rollback_restores_last_good_state_and_lowers_lr(tmp_path, monkeypatch):
    nan_loss_at(monkeypatch, 17 + 3)
    result = netcoach.train(quick(tmp_path, **{"train.nan_guard": "rollback"}), save=False)
    assert result.summary["failure"] is None
    assert [h["epoch"] for h in result.history] == [1, 2, 3]
    assert result.history[1]["lr"] == pytest.approx(0.5e-3)
    assert "rollback 1" in " ".join(result.summary["notes"])


# ----------------------------------------------------------------------------- averaging

class WeightsSpy(Callback):
    def __init__(self):
        self.per_step, self.per_epoch = [], []

    def on_batch_end(self, trainer, batch):
        self.per_step.append([p.detach().clone() for p in trainer.model.parameters()])

    def on_epoch_end(self, trainer, logs):
        self.per_epoch.append([p.detach().clone() for p in trainer.model.parameters()])


def test_ema_polyak_swa_are_the_right_averages_and_are_reported(tmp_path):
    spy = WeightsSpy()
    cfg = quick(tmp_path, **{"average.ema": "true", "average.ema_decay": 0.9, "average.polyak": "true",
                             "average.swa": "true", "average.swa_start": 2})
    result = netcoach.train(cfg, callbacks=[spy])
    averagers = {cb.kind: cb for cb in result.trainer.callbacks if hasattr(cb, "averaged")}
    ema = [w.clone() for w in spy.per_step[0]]
    for weights in spy.per_step[1:]:
        ema = [0.9 * e + 0.1 * w for e, w in zip(ema, weights)]
    polyak = [torch.stack(ws).mean(0) for ws in zip(*spy.per_step)]
    swa = [torch.stack(ws).mean(0) for ws in zip(*spy.per_epoch[1:])]
    for kind, expected in (("ema", ema), ("polyak", polyak), ("swa", swa)):
        got = list(averagers[kind].averaged.module.parameters())
        for a, b in zip(got, expected):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
        assert result.summary["averages"][kind]["test_acc"] > 0
        assert (result.run_dir / "checkpoints" / f"{kind}.safetensors").exists()
    assert "val_acc_swa" not in result.history[0] and "val_acc_swa" in result.history[1]
    assert "val_acc_ema" in result.history[0]


def test_swa_recomputes_batchnorm_statistics(tmp_path):
    cfg = quick(tmp_path, **{"model.name": "cnn", "model.width": 16, "train.epochs": 2,
                             "average.swa": "true", "average.swa_start": 1})
    result = netcoach.train(cfg, save=False)
    swa = next(cb for cb in result.trainer.callbacks if getattr(cb, "kind", "") == "swa")
    bn_avg = swa.module(result.trainer).backbone[1]
    bn_raw = result.trainer.model.backbone[1]
    assert bn_avg.num_batches_tracked.item() > 0  # recomputed by update_bn
    assert not torch.equal(bn_avg.running_mean, bn_raw.running_mean)
    assert result.history[-1]["val_acc_swa"] > 0.2


# ----------------------------------------------------------------------------- precision and logs

def test_bf16_autocast_and_channels_last_train_on_cpu(tmp_path):
    base = {"model.name": "cnn", "model.width": 16, "train.epochs": 2, "optim.lr": 0.01}
    fp32 = netcoach.train(quick(tmp_path, **base), save=False)
    bf16 = netcoach.train(quick(tmp_path, **base, **{"train.precision": "bf16",
                                                      "train.channels_last": "true"}), save=False)
    conv = bf16.model.backbone[0].weight
    assert conv.is_contiguous(memory_format=torch.channels_last)
    a, b = fp32.history[-1]["train_loss"], bf16.history[-1]["train_loss"]
    assert a != b and abs(a - b) < 0.1 * a  # autocast changed the arithmetic, not the result
    assert bf16.history[-1]["val_acc"] > 0.5
    with pytest.raises(ValueError, match="fp16 needs a CUDA device"):
        netcoach.train(quick(tmp_path, **{"train.precision": "fp16", "train.device": "cpu"}), save=False)


def test_logs_steps_csv_and_tensorboard_option(tmp_path):
    cfg = quick(tmp_path, **{"log.csv": "true", "schedule.name": "step", "schedule.step_size": 1,
                             "schedule.gamma": 0.5})
    result = netcoach.train(cfg)
    steps = [json.loads(line) for line in (result.run_dir / "steps.jsonl").read_text().splitlines()]
    assert [s["step"] for s in steps] == list(range(1, 3 * 17 + 1))
    assert {s["lr"] for s in steps if s["epoch"] == 3} == {0.25e-3}
    epoch1 = [s["loss"] for s in steps if s["epoch"] == 1]
    sizes = [64] * 16 + [result.trainer.loaders["train"].split.y.shape[0] - 16 * 64]
    assert sum(l * n for l, n in zip(epoch1, sizes)) / sum(sizes) == pytest.approx(
        result.history[0]["train_loss"], rel=1e-6)
    header = (result.run_dir / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"epoch", "lr", "train_loss", "val_acc", "epoch_time", "samples_per_s"} <= set(header)
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        with pytest.raises(ValueError, match="optional dependency 'tensorboard'"):
            netcoach.train(quick(tmp_path, **{"log.tensorboard": "true", "run.name": "tb"}))
        assert not (tmp_path / "runs" / "tb").exists()  # nothing written for a config error
    else:
        run = netcoach.train(quick(tmp_path, **{"log.tensorboard": "true", "train.epochs": 1}))
        assert list((run.run_dir / "tb").glob("events.out.tfevents.*"))


def test_progress_prints_one_line_per_epoch_when_not_a_terminal(tmp_path):
    import io

    from rich.console import Console

    from netcoach.train import ProgressBar

    buf = io.StringIO()
    bar = ProgressBar(Console(file=buf, force_terminal=False, force_jupyter=False, width=200))
    netcoach.train(quick(tmp_path), callbacks=[bar], save=False)
    lines = buf.getvalue().splitlines()
    assert [line.split()[:2] for line in lines] == [["epoch", "1"], ["epoch", "2"], ["epoch", "3"]]
    assert all("val_acc" in line and "lr" in line for line in lines)


def test_every_n_epochs_keeps_numbered_weights(tmp_path):
    result = netcoach.train(quick(tmp_path, **{"train.epochs": 4, "checkpoint.every_epochs": 2}))
    names = sorted(p.name for p in (result.run_dir / "checkpoints").glob("*.safetensors"))
    assert names == ["best.safetensors", "epoch-2.safetensors", "epoch-4.safetensors", "last.safetensors"]
    _, model = netcoach.load_run(result.run_dir, "epoch-4")
    last = netcoach.load_run(result.run_dir, "last")[1]
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), last.state_dict().values()))


def test_lagged_loss_watch_reports_a_nan_one_step_later():
    from netcoach.train.guard import LossWatch

    watch = LossWatch(torch.device("meta"))  # any non-CPU, non-CUDA device: lagged mode
    assert watch.mode == "lagged"
    assert watch.watch(torch.tensor(1.0)) and watch.watch(torch.tensor(float("nan")))
    assert not watch.watch(torch.tensor(2.0))  # the NaN of the step before
    assert watch.flush()
    assert LossWatch(torch.device("cpu")).watch(torch.tensor(float("inf"))) is False
