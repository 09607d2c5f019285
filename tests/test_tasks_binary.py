"""The binary task against scikit-learn and hand values: loss, metrics, the threshold chosen
on the validation split, label errors, and the expected initial loss."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score, log_loss, precision_score, recall_score, roc_auc_score

from netcoach.config import ConfigError
from netcoach.tasks import build_task


def _sample(n=300, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = (torch.rand(n, generator=g) < 0.3).long()
    s = (2.0 * y - 1.0 + 1.5 * torch.randn(n, generator=g)).unsqueeze(1)  # informative logits
    return s.double(), y


def test_binary_loss_is_sklearn_log_loss_and_class_weights_weight_each_sample():
    s, y = _sample()
    p = torch.sigmoid(s).squeeze(1).numpy()
    assert float(build_task("binary").loss(s, y)) == pytest.approx(log_loss(y.numpy(), p), rel=1e-9)
    task = build_task("binary", class_weights="1,3")
    task.fit(y, 1)
    w = np.where(y.numpy() == 1, 3.0, 1.0)
    assert float(task.loss(s, y)) == pytest.approx(log_loss(y.numpy(), p, sample_weight=w), rel=1e-9)


def test_binary_pos_weight_multiplies_the_positive_terms():
    s, y = torch.tensor([[0.3], [-1.2], [2.0]], dtype=torch.float64), torch.tensor([1, 0, 1])
    p = 1 / (1 + np.exp(-s.squeeze(1).numpy()))
    # l = -[pw y log p + (1 - y) log(1 - p)], pw = 4
    hand = -(4 * np.log(p[0]) + np.log(1 - p[1]) + 4 * np.log(p[2])) / 3
    assert float(build_task("binary", pos_weight=4.0).loss(s, y)) == pytest.approx(hand, rel=1e-12)


def test_binary_metrics_match_sklearn_at_the_tasks_threshold():
    s, y = _sample()
    task = build_task("binary")
    task.threshold = 0.4
    p = torch.sigmoid(s.float()).squeeze(1).numpy()
    pred = (p >= 0.4).astype(int)
    got = task.epoch_metrics(s, y)
    assert got["auc"] == pytest.approx(roc_auc_score(y.numpy(), p), abs=1e-12)
    assert got["f1"] == pytest.approx(f1_score(y.numpy(), pred))
    assert got["precision"] == pytest.approx(precision_score(y.numpy(), pred))
    assert got["recall"] == pytest.approx(recall_score(y.numpy(), pred))
    assert int(task.metric_sums(s, y)["acc"]) == int((pred == y.numpy()).sum())


def test_binary_calibrate_picks_the_threshold_of_largest_validation_f1():
    s, y = _sample(200, seed=4)
    task = build_task("binary")
    task.calibrate(s, y)
    p = torch.sigmoid(s.float()).squeeze(1).numpy()  # float32, as the task's probabilities
    best = max(f1_score(y.numpy(), (p >= t).astype(int)) for t in np.unique(p))  # every candidate
    assert f1_score(y.numpy(), (p >= task.threshold).astype(int)) == pytest.approx(best)
    assert task.threshold != 0.5 and task.threshold_rule == "max F1 on the validation split"
    # the state carries it to prediction
    other = build_task("binary")
    other.load_state(task.state())
    assert other.threshold == task.threshold
    table = other.prediction_table(torch.tensor([task.threshold, task.threshold - 1e-6], dtype=torch.float64),
                                   ["no", "yes"])
    assert table["prediction"] == ["yes", "no"] and table["p_yes"][0] == pytest.approx(task.threshold)


def test_binary_expected_initial_loss_is_ln2_or_the_prior_entropy():
    task = build_task("binary")
    assert task.expected_initial_loss(1) == pytest.approx(math.log(2))
    task.fit(torch.tensor([1] * 5 + [0] * 95), 1)
    assert task.expected_initial_loss(1) == pytest.approx(math.log(2))  # outputs still start at 1/2
    layer = torch.nn.Linear(3, 1)
    task.init_output_bias(layer)
    assert float(layer.bias.detach()) == pytest.approx(math.log(0.05 / 0.95), rel=1e-6)
    # H(0.05) = -(0.05 ln 0.05 + 0.95 ln 0.95)
    assert task.expected_initial_loss(1) == pytest.approx(0.19851524334587697, rel=1e-9)


@pytest.mark.parametrize("labels, found, use", [
    (np.array([0.0, 1.0, 1.0], dtype=np.float32), "got dtype float32", "task.name regression"),
    (np.array([0, 1, 2]), "label 2 is not 0 or 1", "task.name classification"),
    (np.zeros((3, 2), dtype=np.int64), "got shape (3, 2)", "task.name multilabel"),
])
def test_binary_label_errors_name_the_task_to_use(labels, found, use):
    with pytest.raises(ValueError) as err:
        build_task("binary").validate_labels(torch.as_tensor(labels), 1)
    assert "task binary" in str(err.value) and found in str(err.value) and use in str(err.value)


def test_binary_options_are_checked():
    with pytest.raises(ConfigError, match="loss.pos_weight: must be a positive number"):
        build_task("binary", pos_weight=-1.0)
    with pytest.raises(ConfigError, match="loss.class_weights: expected auto or numbers"):
        build_task("binary", class_weights="heavy")
    task = build_task("binary", class_weights="1,2,3")
    with pytest.raises(ConfigError, match="3 weights given for 2 classes"):
        task.fit(torch.tensor([0, 1, 1]), 1)


def test_classification_prediction_table_gives_the_class_name_and_every_probability():
    table = build_task("classification").prediction_table(torch.tensor([[0.2, 0.7, 0.1]]), ["a", "b", "c"])
    assert table == {"prediction": ["b"], "p_a": [pytest.approx(0.2)], "p_b": [pytest.approx(0.7)],
                     "p_c": [pytest.approx(0.1)]}
