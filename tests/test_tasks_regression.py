"""The regression task: standardized targets from training statistics, losses (mse, mae,
huber) against hand values, metrics in the targets' units against scikit-learn, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

import netcoach
from netcoach.config import ConfigError
from netcoach.tasks import build_task


def _fitted(loss_name=None, width=1, **kw):
    g = torch.Generator().manual_seed(0)
    y = (50.0 * torch.randn(120, width, generator=g) + 300.0).double()
    y = y.squeeze(1) if width == 1 else y
    task = build_task("regression", loss_name=loss_name, **kw)
    task.fit(y, width)
    out = torch.randn(120, width, generator=g).double()
    return task, out, y


def test_regression_standardizes_with_training_statistics_and_reports_original_units():
    task, out, y = _fitted()
    mu, sigma = y.numpy().mean(), y.numpy().std()  # ddof 0
    assert task.state()["target_mean"] == [pytest.approx(mu)] and task.state()["target_std"] == [pytest.approx(sigma)]
    z = (y.numpy() - mu) / sigma
    assert float(task.loss(out, y)) == pytest.approx(np.mean((out.squeeze(1).numpy() - z) ** 2), rel=1e-9)
    pred = task.postprocess(out).double().numpy()
    assert pred == pytest.approx(mu + sigma * out.squeeze(1).numpy(), rel=1e-6)
    sums = task.metric_sums(out, y)
    assert float(sums["mse"]) / len(y) == pytest.approx(mean_squared_error(y, mu + sigma * out.squeeze(1)), rel=1e-9)
    assert float(sums["mae"]) / len(y) == pytest.approx(mean_absolute_error(y, mu + sigma * out.squeeze(1)), rel=1e-9)
    got = task.epoch_metrics(out, y)
    assert got["r2"] == pytest.approx(r2_score(y, mu + sigma * out.squeeze(1)), rel=1e-9)
    assert got["rmse"] == pytest.approx(float(np.sqrt(float(sums["mse"]) / len(y))), rel=1e-9)
    # an untrained model predicting the mean has MSE 1 on standardized targets
    assert task.expected_initial_loss(1) == pytest.approx(1.0, rel=1e-12)


def test_regression_mae_and_huber_losses_against_hand_values():
    task, out, y = _fitted("mae")
    z = task.output_targets(y)
    assert float(task.loss(out, y)) == pytest.approx(float((out - z).abs().mean()), rel=1e-9)
    assert task.expected_initial_loss(1) == pytest.approx(float(z.abs().mean()), rel=1e-9)
    task, out, y = _fitted("huber", huber_delta=0.5)
    d = (out - task.output_targets(y)).abs()
    hand = torch.where(d <= 0.5, 0.5 * d ** 2, 0.5 * (d - 0.25)).mean()  # delta (|d| - delta / 2)
    assert float(task.loss(out, y)) == pytest.approx(float(hand), rel=1e-9)


def test_regression_with_several_targets_averages_over_them():
    task, out, y = _fitted(width=2)
    pred = task.postprocess(out).double().numpy()
    assert pred.shape == (120, 2)
    assert task.epoch_metrics(out, y)["r2"] == pytest.approx(r2_score(y.numpy(), pred), rel=1e-6)
    assert float(task.metric_sums(out, y)["mse"]) / 120 == pytest.approx(mean_squared_error(y.numpy(), pred), rel=1e-6)
    assert list(task.prediction_table(torch.as_tensor(pred), ["a", "b"])) == ["value_a", "value_b"]


def test_regression_label_errors_name_the_task_to_use():
    task = build_task("regression")
    with pytest.raises(ValueError, match=r"task regression: targets must be floats, got dtype int64.*"
                                         r"task.name classification"):
        task.validate_labels(torch.tensor([1, 2, 3]), 1)
    with pytest.raises(ValueError, match=r"targets contain NaN or inf \(first in row 1\)"):
        task.validate_labels(torch.tensor([1.0, float("nan")]), 1)
    with pytest.raises(ValueError, match="targets have 2 columns but the model has 1 outputs"):
        task.validate_labels(torch.zeros(4, 2), 1)


def test_loss_options_that_do_not_fit_the_task_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"loss.name: task classification has no such option "
                                          r"\(it applies to task.name autoencoder or regression\)"):
        build_task("classification", loss_name="mae")
    with pytest.raises(ConfigError, match="loss.huber_delta: applies to loss.name huber only"):
        build_task("regression", huber_delta=2.0)
    with pytest.raises(ConfigError, match=r"loss.class_weights: task regression has no such option "
                                          r"\(it applies to task.name binary or classification\)"):
        build_task("regression", class_weights="auto")
    cfg = netcoach.load_config(overrides={"data.name": "diabetes", "task.name": "regression",
                                          "loss.pos_weight": "2", "run.dir": str(tmp_path)})
    with pytest.raises(ConfigError, match="loss.pos_weight: task regression"):
        netcoach.train(cfg)
    assert list(tmp_path.iterdir()) == []


def test_a_dataset_trained_with_the_wrong_task_names_the_task_to_use(tmp_path):
    cfg = netcoach.load_config(overrides={"data.name": "diabetes", "run.dir": str(tmp_path)})
    with pytest.raises(ValueError, match="choose the task.name that fits"):
        netcoach.train(cfg)
    cfg = netcoach.load_config(overrides={"data.name": "wine", "task.name": "binary", "run.dir": str(tmp_path)})
    with pytest.raises(ValueError, match="label 2 is not 0 or 1; for more than two classes use task.name classification"):
        netcoach.train(cfg)
    assert list(tmp_path.iterdir()) == []
