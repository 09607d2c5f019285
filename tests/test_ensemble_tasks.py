"""Ensembles of regression runs average the predicted values, ensembles of multi-label runs
the per-label probabilities; the metrics are those of the averages (checked with sklearn),
and the diversity of members is the mean absolute difference of their predictions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from sklearn.metrics import f1_score, mean_absolute_error, mean_squared_error, r2_score

import netcoach
from netcoach.ensemble import build_ensemble, load_ensemble
from netcoach.predict import predict


def _train(parent: Path, name: str, seed: int, **extra) -> Path:
    over = {"model.name": "mlp", "model.width": "16", "train.epochs": "4", "optim.lr": "0.01",
            "run.dir": str(parent), "run.name": name, "train.seed": str(seed), "diagnose.preflight": "false",
            "report.enabled": "false", **extra}
    return netcoach.train(netcoach.load_config(overrides=over), progress=False).run_dir


def _stored(run: Path, key: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The test predictions a run stored at its end, and the test labels."""
    stored = load_file(str(run / "predictions.safetensors"))
    return stored[key].double(), stored["labels"]


@pytest.fixture(scope="module")
def regression(tmp_path_factory) -> list[Path]:
    parent = tmp_path_factory.mktemp("regression")
    return [_train(parent, f"r{s}", s, **{"task.name": "regression", "data.name": "diabetes"}) for s in (0, 1)]


@pytest.fixture(scope="module")
def multilabel(tmp_path_factory) -> list[Path]:
    from sklearn.datasets import make_multilabel_classification

    parent = tmp_path_factory.mktemp("multilabel")
    x, y = make_multilabel_classification(n_samples=400, n_features=10, n_classes=4, random_state=0)
    file = parent / "labels.npz"
    np.savez(file, x=x.astype(np.float32), y=y.astype(np.float32))
    return [_train(parent, f"m{s}", s, **{"task.name": "multilabel", "data.name": "npz", "data.path": str(file)})
            for s in (0, 1, 2)]


def test_regression_ensemble_scores_the_mean_of_the_members_values(regression, tmp_path):
    result = build_ensemble(regression, name="reg", out_dir=tmp_path)
    (a, y), (b, _) = (_stored(r, "values") for r in regression)
    mean = ((a + b) / 2).numpy()
    ens = result.summary["ensemble"]
    assert ens["test_mse"] == pytest.approx(mean_squared_error(y.numpy(), mean), rel=1e-6)
    assert ens["test_mae"] == pytest.approx(mean_absolute_error(y.numpy(), mean), rel=1e-6)
    assert ens["test_r2"] == pytest.approx(r2_score(y.numpy(), mean), rel=1e-6)
    assert result.summary["primary"] == "test_mse"
    # lower is better for mse: the gain is the best member's mse minus the ensemble's
    best = min(m["test"]["test_mse"] for m in result.summary["members"])
    assert result.summary["gain_over_best"] == pytest.approx(best - ens["test_mse"])
    dis = result.summary["disagreement"]
    assert dis["measure"] == "mean absolute difference of predictions"
    assert dis["mean"] == pytest.approx(float((a - b).abs().mean()), rel=1e-6)
    stored = load_file(str(result.path / "predictions.safetensors"))
    np.testing.assert_allclose(stored["values"].numpy(), mean, rtol=1e-5)


def test_regression_ensemble_predicts_the_mean_value_in_the_targets_units(regression, tmp_path):
    path = build_ensemble(regression, name="reg", out_dir=tmp_path).path
    x = np.random.default_rng(0).normal(size=(5, 10)).astype(np.float32)
    members = [predict(r, x) for r in regression]
    torch.testing.assert_close(predict(path, x), (members[0] + members[1]) / 2, atol=1e-4, rtol=1e-5)
    assert float(members[0].abs().mean()) > 10  # diabetes targets are in the tens/hundreds, not standardized


def test_multilabel_ensemble_averages_per_label_probabilities(multilabel, tmp_path):
    result = build_ensemble(multilabel, name="ml", out_dir=tmp_path)
    probs = [_stored(r, "probs") for r in multilabel]
    y = probs[0][1].numpy().astype(int)
    mean = sum(p for p, _ in probs) / 3
    assert mean.shape == (len(y), 4)
    hard = (mean.numpy() >= 0.5).astype(int)
    ens = result.summary["ensemble"]
    assert ens["test_subset_acc"] == pytest.approx((hard == y).all(axis=1).mean())
    assert ens["test_f1_micro"] == pytest.approx(f1_score(y, hard, average="micro"), rel=1e-6)
    assert ens["test_f1_macro"] == pytest.approx(f1_score(y, hard, average="macro", zero_division=0), rel=1e-6)
    stored = load_file(str(result.path / "predictions.safetensors"))
    torch.testing.assert_close(stored["probs"].double(), mean, atol=1e-6, rtol=0)
    dis = result.summary["disagreement"]
    assert dis["measure"] == "mean absolute difference of predictions"
    assert dis["matrix"][0][1] == pytest.approx(float((probs[0][0] - probs[1][0]).abs().mean()), rel=1e-6)


def test_multilabel_ensemble_model_is_the_mean_of_member_sigmoids(multilabel, tmp_path):
    model = load_ensemble(build_ensemble(multilabel, name="ml", out_dir=tmp_path).path)
    x = torch.randn(6, 10)
    with torch.no_grad():
        expected = sum(torch.sigmoid(netcoach.load_run(r)[1](x)) for r in multilabel) / 3
        torch.testing.assert_close(model(x), expected, atol=1e-6, rtol=1e-6)
        # the task's outputs of the mean are logits whose sigmoid is the mean again
        torch.testing.assert_close(torch.sigmoid(model.outputs(x)), expected, atol=1e-6, rtol=1e-6)
