"""The scikit-learn tabular sets as data sources: sizes, target forms, and features
standardized with statistics of the training split only."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import netcoach
from netcoach.cli import main
from netcoach.config import DataConfig
from netcoach.data import build_data, datasets


@pytest.mark.parametrize("name, n, d, dtype, classes", [
    ("diabetes", 442, 10, torch.float32, ["progression"]),
    ("breast_cancer", 569, 30, torch.int64, ["malignant", "benign"]),
    ("wine", 178, 13, torch.int64, ["class_0", "class_1", "class_2"]),
])
def test_sklearn_sets_have_their_sizes_targets_and_names(name, n, d, dtype, classes):
    bundle = datasets.get(name)(DataConfig(), stratify=dtype == torch.int64)
    assert sum(len(s) for s in (bundle.train, bundle.val, bundle.test)) == n
    assert bundle.input_shape == (d,) and bundle.train.x.dtype == torch.float32
    assert bundle.train.y.dtype == dtype and bundle.class_names == classes


def test_tabular_features_are_standardized_with_training_statistics_only():
    cfg = netcoach.load_config(overrides={"data.name": "diabetes", "task.name": "regression"})
    bundle = build_data(cfg, torch.device("cpu"), stratify=False)
    x = bundle.train.x.double().numpy()
    assert bundle.mean == pytest.approx(x.mean(0).tolist(), rel=1e-6)
    assert bundle.std == pytest.approx(x.std(0).tolist(), rel=1e-6)
    everything = torch.cat([bundle.train.x, bundle.val.x, bundle.test.x]).double().numpy()
    assert not np.allclose(bundle.mean, everything.mean(0), rtol=1e-4)  # not the whole set's
    # the diabetes features are the raw ones (age in years), not scikit-learn's pre-scaled copy
    assert 18 <= bundle.train.x[:, 0].min() and bundle.train.x[:, 0].max() <= 80


def test_data_info_describes_numeric_targets(capsys):
    assert main(["data", "info", "diabetes", "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["targets"] == "one number per sample" and s["counts"]["train"] == []
    assert sum(s["sizes"].values()) == 442
    assert main(["data", "info", "diabetes"]) == 0
    assert "diabetes: targets: one number per sample" in capsys.readouterr().out
