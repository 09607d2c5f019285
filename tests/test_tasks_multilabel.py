"""The multi-label task against scikit-learn: loss, subset accuracy, micro/macro F1 and
per-label AUC, label errors, and the expected initial loss."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score

from netcoach.tasks import build_task


def _sample(n=200, k=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = (torch.rand(n, k, generator=g) < torch.tensor([0.5, 0.3, 0.2, 0.6])).float()
    s = (2.0 * y - 1.0 + 1.5 * torch.randn(n, k, generator=g)).double()
    return s, y


def test_multilabel_loss_is_the_mean_of_the_per_label_log_losses():
    s, y = _sample()
    p = torch.sigmoid(s).numpy()
    per_label = [log_loss(y[:, k].numpy(), p[:, k]) for k in range(4)]
    assert float(build_task("multilabel").loss(s, y)) == pytest.approx(np.mean(per_label), rel=1e-9)


def test_multilabel_metrics_match_sklearn():
    s, y = _sample()
    task = build_task("multilabel")
    pred = (torch.sigmoid(s).numpy() >= 0.5).astype(int)
    assert int(task.metric_sums(s, y)["subset_acc"]) == round(accuracy_score(y.numpy(), pred) * len(y))
    got = task.epoch_metrics(s, y)
    assert got["f1_micro"] == pytest.approx(f1_score(y.numpy(), pred, average="micro"))
    assert got["f1_macro"] == pytest.approx(f1_score(y.numpy(), pred, average="macro"))
    assert got["auc_macro"] == pytest.approx(roc_auc_score(y.numpy(), torch.sigmoid(s).numpy(), average="macro"))


def test_multilabel_expected_initial_loss_is_ln2_or_the_mean_label_entropy():
    task = build_task("multilabel")
    assert task.expected_initial_loss(3) == pytest.approx(math.log(2))
    y = torch.tensor([[1, 0, 0], [1, 1, 0], [1, 0, 0], [0, 0, 1]], dtype=torch.float32)  # p = 3/4, 1/4, 1/4
    task.fit(y, 3)
    layer = torch.nn.Linear(2, 3)
    task.init_output_bias(layer)
    assert layer.bias.tolist() == pytest.approx([math.log(3), -math.log(3), -math.log(3)], rel=1e-6)
    h = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))  # the same entropy for 3/4 and 1/4
    assert task.expected_initial_loss(3) == pytest.approx(h, rel=1e-9)


@pytest.mark.parametrize("labels, found, use", [
    (np.array([0, 1, 2]), "got shape (3,)", "task.name classification"),
    (np.array([[0, 2.5], [1, 0]]), "found 2.5", "task.name regression"),
])
def test_multilabel_label_errors_name_the_task_to_use(labels, found, use):
    with pytest.raises(ValueError) as err:
        build_task("multilabel").validate_labels(torch.as_tensor(labels), 2)
    assert "task multilabel" in str(err.value) and found in str(err.value) and use in str(err.value)


def test_multilabel_prediction_table_names_every_label():
    table = build_task("multilabel").prediction_table(torch.tensor([[0.7, 0.2]]), ["cat", "dog"])
    assert table == {"cat": [1], "p_cat": [pytest.approx(0.7)], "dog": [0], "p_dog": [pytest.approx(0.2)]}
