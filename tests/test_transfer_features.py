"""Backbone features for scikit-learn: the FeatureExtractor transformer and `netcoach features`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

import netcoach
from netcoach.cli import main
from netcoach.config import ConfigError
from netcoach.predict import prepare_inputs
from netcoach.transfer.features import make_classifier, run_data_config, split_features


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    runs = tmp_path_factory.mktemp("features") / "runs"
    cfg = netcoach.load_config(overrides={"model.name": "mlp", "model.width": "32", "train.epochs": "4",
                                          "run.dir": str(runs), "run.name": "src", "optim.lr": "0.01",
                                          "diagnose.preflight": "false", "report.enabled": "false"})
    return netcoach.train(cfg, progress=False).run_dir


def _digits():
    x, y = load_digits(return_X_y=True)
    return x.reshape(-1, 1, 8, 8), y


def test_feature_extractor_of_a_run_equals_the_backbone_on_normalized_inputs(source):
    x, _ = _digits()
    feats = netcoach.FeatureExtractor(str(source)).fit(x).transform(x[:50])
    _, model = netcoach.load_run(source)
    record = json.loads((source / "data.json").read_text())
    with torch.no_grad():
        expected = model.features(prepare_inputs(x[:50], record)).numpy()
    assert feats.shape == (50, 32) and feats.dtype == np.float32
    np.testing.assert_array_equal(feats, expected)


def test_feature_extractor_works_inside_a_sklearn_pipeline(source):
    x, y = _digits()
    pipe = make_pipeline(netcoach.FeatureExtractor(str(source)), LogisticRegression(max_iter=500))
    pipe.fit(x[:1200], y[:1200])
    assert pipe.score(x[1200:], y[1200:]) > 0.85
    assert clone(pipe).get_params()["featureextractor__run_or_model"] == str(source)


def test_feature_extractor_takes_a_network_and_refuses_transform_before_fit(source):
    _, model = netcoach.load_run(source)
    x = torch.randn(7, 1, 8, 8)
    extractor = netcoach.FeatureExtractor(model)
    with pytest.raises(NotFittedError):
        extractor.transform(x.numpy())
    out = extractor.fit(x.numpy()).transform(x.numpy())
    with torch.no_grad():
        np.testing.assert_array_equal(out, model.features(x).numpy())
    with pytest.raises(TypeError, match="run folder or a netcoach Network"):
        netcoach.FeatureExtractor(42).fit(x)


def test_split_features_head_accuracy_equals_the_runs_own_test_accuracy(source):
    splits = split_features(source, run_data_config(source))
    feats, outs, labels = splits["test"]
    summary = json.loads((source / "summary.json").read_text())
    assert float((outs.argmax(1) == labels).mean()) == pytest.approx(summary["test"]["test_acc"], abs=1e-12)
    sizes = json.loads((source / "data.json").read_text())["sizes"]
    assert {s: len(splits[s][2]) for s in splits} == sizes


def test_features_cli_writes_npz_and_compares_the_classifier_with_the_head(tmp_path, source, capsys):
    out = tmp_path / "f.npz"
    assert main(["features", str(source), "--out", str(out), "--classifier", "logreg"]) == 0
    printed = capsys.readouterr().out
    arrays = np.load(out)
    sizes = json.loads((source / "data.json").read_text())["sizes"]
    assert sorted(arrays.files) == ["test_x", "test_y", "train_x", "train_y", "val_x", "val_y"]
    assert arrays["train_x"].shape == (sizes["train"], 32) and arrays["test_y"].shape == (sizes["test"],)
    head = json.loads((source / "summary.json").read_text())["test"]["test_acc"]
    assert f"test: logreg " in printed and f"network head {head:.4f}" in printed


def test_unknown_classifier_and_config_flag_are_refused(tmp_path, source, capsys):
    with pytest.raises(ConfigError, match="valid: logreg, svm, knn, rf"):
        make_classifier("boost")
    assert main(["features", str(source), "--config", str(tmp_path / "x.toml")]) == 2
    assert "--config is not used" in capsys.readouterr().err
