"""The doctor: hand-made curves for every label, then real runs that must be labelled correctly."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import netcoach
from netcoach.diagnose.doctor import REMEDIES, chance_loss, diagnose_history

from helpers.curves import curve_rows

LN10 = math.log(10)


def _labels(findings):
    return [f["label"] for f in findings]


def test_overfitting_curve_names_the_turning_epoch():
    train = [1.0, 0.6, 0.4, 0.3, 0.2, 0.1, 0.05, 0.02]
    val = [1.1, 0.8, 0.6, 0.55, 0.6, 0.7, 0.8, 0.9]
    [f] = diagnose_history(curve_rows(train, val), {"num_classes": 10})
    assert f["label"] == "overfitting" and f["epochs"] == [4, 8]
    assert "turned at epoch 4" in f["evidence"] and "0.5500" in f["evidence"]
    assert any("weight decay" in r for r in f["remedies"]) and any("dropout" in r for r in f["remedies"])
    assert any("augment" in r for r in f["remedies"]) and any("more training data" in r for r in f["remedies"])
    assert any("stop early" in r for r in f["remedies"])


def test_nan_and_rising_loss_are_diverging_and_oscillation_is_lr_too_high():
    [f] = diagnose_history(curve_rows([2.3, 5.0, float("nan")], [2.3, 9.0, float("nan")]), {})
    assert f["label"] == "diverging" and f["epochs"] == [3] and "nan at epoch 3" in f["evidence"]
    [f] = diagnose_history(curve_rows([2.0, 2.5, 3.0], [2.0, 2.6, 3.1]), {})
    assert f["label"] == "diverging" and "rose from 2 (epoch 1) to 3 (epoch 3)" in f["evidence"]
    assert any("lower the learning rate" in r for r in f["remedies"])
    osc = [1.0, 1.5, 0.9, 1.4, 0.8, 1.3, 0.9]
    [f] = diagnose_history(curve_rows(osc, osc), {})
    assert f["label"] == "lr_too_high" and "oscillates" in f["evidence"] and f["epochs"] == [2, 4, 6]
    assert any("LR finder" in r for r in f["remedies"])


def test_slow_linear_decrease_is_lr_too_low():
    train = [2.30 - 0.02 * i for i in range(10)]
    [f] = diagnose_history(curve_rows(train, [t + 0.01 for t in train]), {"num_classes": 10})
    assert f["label"] == "lr_too_low"


def test_high_flat_small_gap_is_underfitting_and_flat_low_is_plateau():
    train = [2.0, 1.8, 1.75, 1.74, 1.735, 1.733]
    found = diagnose_history(curve_rows(train, [t + 0.1 for t in train], [0.3] * 6, [0.28] * 6),
                             {"num_classes": 10})
    assert "underfitting" in _labels(found)
    assert any("bigger model" in r for r in REMEDIES["underfitting"])
    train = [1.0, 0.3, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2]
    found = diagnose_history(curve_rows(train, [t + 0.05 for t in train], [0.95] * 9, [0.93] * 9), {})
    assert _labels(found) == ["plateau"]


def test_chance_loss_from_preflight_or_class_count():
    pre = {"preflight": [{"check": "initial_loss", "status": "pass", "reason": "",
                          "details": {"expected": LN10}}]}
    assert chance_loss(pre) == pytest.approx(LN10)
    assert chance_loss({"num_classes": 4}) == pytest.approx(math.log(4))
    assert chance_loss({}) is None


# ---------------------------------------------------------------------------------- real runs

def _train(data=None, **over):
    base = {"model.name": "mlp", "report.enabled": "false", "diagnose.monitor": "false",
            "diagnose.checks": "initial_loss"}
    return netcoach.train(netcoach.load_config(overrides={**base, **over}), data=data, save=False)


def test_small_data_without_regularization_is_overfitting():
    from sklearn.datasets import load_digits

    digits = load_digits()
    idx = np.random.RandomState(0).permutation(len(digits.target))[:200]  # 120 training samples
    x, y = digits.images.astype(np.uint8)[idx][:, None], digits.target[idx]
    result = _train(data=(x, y), **{"model.width": "256", "train.epochs": "40", "data.batch_size": "32"})
    found = {f["label"]: f for f in result.summary["doctor"]}
    assert "overfitting" in found, result.summary["doctor"]
    turn = found["overfitting"]["epochs"][0]
    val = [h["val_loss"] for h in result.history]
    assert val[turn - 1] == min(val) and turn < 40
    assert f"turned at epoch {turn}" in found["overfitting"]["evidence"]


def test_learning_rate_10_is_too_high():
    result = _train(**{"optim.lr": "10", "train.epochs": "4"})
    assert _labels(result.summary["doctor"]) == ["lr_too_high"]


def test_tiny_sgd_learning_rate_is_too_low_and_the_monitor_agrees():
    result = _train(**{"optim.name": "sgd", "optim.lr": "1e-4", "optim.momentum": "0",
                       "train.epochs": "6", "diagnose.monitor": "true"})
    assert _labels(result.summary["doctor"]) == ["lr_too_low"], result.summary["doctor"]
    mon = next(cb for cb in result.trainer.callbacks if type(cb).__name__ == "Monitor")
    assert any("too low" in w for w in mon.records[-1]["warnings"])


def test_well_tuned_digits_run_is_healthy():
    result = _train(**{"train.epochs": "10"})
    assert _labels(result.summary["doctor"]) == ["healthy"], result.summary["doctor"]
    assert result.summary["test"]["test_acc"] > 0.9


def test_tiny_linear_model_on_cifar10_is_underfitting(shared_datasets):
    from studies.shared_data import cifar10

    x, y = cifar10(per_class=200, root=shared_datasets / "cifar10")  # 2,000 images
    # 4x4 average pooling: a tiny linear model on 3x8x8 inputs (1,930 parameters).
    # Divided by 255: float images are taken in [0, 1] (0..255 floats are refused, not guessed).
    small = torch.nn.functional.avg_pool2d(torch.as_tensor(x).float(), 4).numpy() / 255.0
    result = _train(data=(small, y), **{"model.name": "linear", "train.epochs": "10"})
    labels = _labels(result.summary["doctor"])
    assert labels == ["underfitting"], result.summary["doctor"]
    assert "bigger model" in result.summary["doctor"][0]["remedies"][0]
