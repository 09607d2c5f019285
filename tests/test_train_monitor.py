"""The monitored metric: direction from the name, best checkpoint, early stopping,
the one place best weights are restored, and the early-stopping note in the report."""

from __future__ import annotations

import pytest
import torch

import netcoach
from netcoach.config import ConfigError
from netcoach.train import BestCheckpoint, EarlyStopping
from netcoach.train.checkpoint import load_weights
from netcoach.train.monitor import Monitor, direction, early_stop_monitor, resolve_monitor, restore_best


pytestmark = pytest.mark.usefixtures("one_thread")  # bit-exact CPU runs


@pytest.mark.parametrize("name, expected", [
    ("val_loss", "min"), ("train_loss", "min"), ("val_error", "min"), ("val_mae", "min"),
    ("val_mse", "min"), ("val_rmse", "min"), ("val_loss_ema", "min"),
    ("val_acc", "max"), ("train_acc", "max"), ("val_f1", "max"), ("val_auc", "max"),
    ("val_r2", "max"), ("val_precision", "max"), ("val_recall", "max"), ("val_acc_swa", "max"),
])
def test_direction_of_each_known_metric_name(name, expected):
    assert direction(name) == expected


def test_unknown_metric_with_auto_asks_for_an_explicit_mode_naming_the_option():
    with pytest.raises(ConfigError, match=r"train\.mode: cannot tell whether 'val_score'.*set train\.mode to min or max"):
        Monitor("val_score", "auto", option="train.mode")
    assert Monitor("val_score", "max").mode == "max"       # an explicit mode is enough
    assert Monitor("val_loss", "max").mode == "max"        # and wins over the name
    with pytest.raises(ConfigError, match="early_stop.mode: unknown 'up'; valid: auto, min, max"):
        Monitor("val_loss", "up", option="early_stop.mode")


def test_unknown_metric_fails_before_any_run_folder_exists(tmp_path, quick_overrides):
    cfg = netcoach.load_config(overrides={**quick_overrides, "train.monitor": "val_score"})
    with pytest.raises(ConfigError, match="train.mode"):
        netcoach.train(cfg)
    assert not (tmp_path / "runs").exists()


def test_monitor_improves_by_more_than_min_delta_in_its_direction():
    m = Monitor("val_loss", min_delta=0.1)
    assert m.update(1.0, 1) and m.best == 1.0
    assert not m.update(0.95, 2)           # lower, but not by more than 0.1
    assert not m.update(float("nan"), 3)   # NaN never improves
    assert m.update(0.85, 4) and m.best_epoch == 4
    up = Monitor("val_acc", min_delta=0.01)
    assert up.update(0.5, 1) and not up.update(0.505, 2) and up.update(0.52, 3)


def test_config_defaults_resolve_through_one_place(quick_overrides):
    cfg = netcoach.load_config(overrides=quick_overrides)
    assert (resolve_monitor(cfg, "val_acc").monitor, resolve_monitor(cfg, "val_acc").mode) == ("val_acc", "max")
    assert resolve_monitor(cfg, "val_rmse").mode == "min"  # empty train.monitor: the task's default
    cfg = netcoach.load_config(overrides={**quick_overrides, "train.monitor": "val_loss"})
    assert resolve_monitor(cfg, "val_acc").mode == "min"
    es = early_stop_monitor(cfg, "val_acc")                      # empty early_stop.monitor: the run's
    assert (es.monitor, es.mode) == ("val_loss", "min")
    cfg = netcoach.load_config(overrides={**quick_overrides, "train.monitor": "val_score",
                                          "train.mode": "min"})
    assert early_stop_monitor(cfg, "val_acc").mode == "min"      # an explicit train.mode carries over
    cfg = netcoach.load_config(overrides={**quick_overrides, "early_stop.monitor": "val_loss"})
    assert early_stop_monitor(cfg, "val_acc").mode == "min"      # its own metric: from its own name


# ------------------------------------------------------------------ scripted epochs


class Scripted:
    """A stand-in trainer: a one-weight model whose weight is the epoch number."""

    def __init__(self):
        self.model = torch.nn.Linear(1, 1, bias=False)
        self.stop_training = False


def play(callbacks, val_losses):
    trainer = Scripted()
    for epoch, loss in enumerate(val_losses, 1):
        with torch.no_grad():
            trainer.model.weight.fill_(epoch)
        for cb in callbacks:
            cb.on_eval_end(trainer, {"epoch": epoch, "val_loss": loss})
        if trainer.stop_training:
            break
    for cb in callbacks:
        cb.on_fit_end(trainer, {})
    return trainer, epoch


def test_best_checkpoint_on_val_loss_without_mode_keeps_the_lowest_epoch():
    best = BestCheckpoint("val_loss")
    play([best], [1.0, 0.6, 0.8, 0.5, 0.7, 0.9])
    assert (best.best_epoch, best.best_value) == (4, 0.5)
    assert best.best_state["weight"].item() == 4.0


def test_early_stopping_on_val_loss_waits_patience_epochs_without_a_lower_loss():
    stopper = EarlyStopping("val_loss", patience=2)
    # 0.8 and 0.7 are worse than 0.6 once each, then 0.55 improves: no stop at epoch 4
    trainer, last = play([stopper], [1.0, 0.6, 0.8, 0.55, 0.7, 0.9, 0.4])
    assert (stopper.best_epoch, stopper.stopped_epoch, last) == (4, 6, 6)
    notes = restore_best(trainer, BestCheckpoint("val_loss"), stopper)
    assert trainer.model.weight.item() == 4.0
    assert notes == ["early stopping after epoch 6: val_loss did not improve by more than 0 for "
                     "2 epoch(s); restored the weights of the best epoch 4 (val_loss 0.5500)"]


def test_restore_best_without_early_stopping_uses_the_best_checkpoint():
    best = BestCheckpoint("val_loss")
    trainer, _ = play([best], [1.0, 0.3, 0.8])
    assert restore_best(trainer, best) == ["restored the weights of the best epoch 2 "
                                           "(val_loss 0.3000) for the test evaluation"]
    assert trainer.model.weight.item() == 2.0


def test_restore_best_leaves_the_last_weights_when_early_stopping_does_not_restore():
    stopper = EarlyStopping("val_loss", patience=1, restore_best=False)
    trainer, last = play([stopper], [1.0, 0.3, 0.8])
    assert restore_best(trainer, BestCheckpoint("val_loss"), stopper) == [stopper.message]
    assert trainer.model.weight.item() == last == 3


# ------------------------------------------------------------------ a real digits run


def test_val_loss_run_keeps_lowest_epoch_stops_after_patience_and_reports_it(quick_overrides):
    cfg = netcoach.load_config(overrides={
        **quick_overrides, "model.width": "32", "train.epochs": "30", "train.monitor": "val_loss",
        "early_stop.enabled": "true", "early_stop.patience": "2", "optim.lr": "0.03",
        "checkpoint.every_epochs": "1", "report.enabled": "true"})
    result = netcoach.train(cfg)
    losses = [h["val_loss"] for h in result.history]
    low = losses.index(min(losses)) + 1
    assert result.summary["best_epoch"] == low and result.summary["monitor"] == "val_loss"
    assert low < len(losses), "this setting should overfit, so the last epoch is not the best"
    # stopped exactly `patience` epochs after the lowest val_loss, none of them lower
    assert len(losses) == low + 2 and min(losses[low:]) > losses[low - 1]
    # the final weights are the best epoch's, bit for bit, as saved after that epoch
    saved = load_weights(result.run_dir / "checkpoints" / f"epoch-{low}.safetensors")
    for key, value in result.model.state_dict().items():
        assert torch.equal(value.cpu(), saved[key]), key
    best_file = load_weights(result.run_dir / "checkpoints" / "best.safetensors")
    assert all(torch.equal(best_file[k], saved[k]) for k in saved)
    note = (f"early stopping after epoch {low + 2}: val_loss did not improve by more than 0 for "
            f"2 epoch(s); restored the weights of the best epoch {low} (val_loss {losses[low - 1]:.4f})")
    assert result.summary["notes"][0] == note
    assert note in (result.run_dir / "report.html").read_text()
