"""task.name autoencoder: its loss and metrics against hand-computed values, its targets (the
inputs), the wrong uses it refuses before any run folder, and the doctor's wording."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

import netcoach
from netcoach.api import build_trainer
from netcoach.config import ConfigError
from netcoach.data import DataBundle, Split
from netcoach.diagnose.doctor import diagnose_history
from netcoach.tasks import build_task


def _task(**options):
    return build_task("autoencoder", **options)


def test_mse_and_psnr_per_sample_by_hand():
    task = _task()
    outputs = torch.tensor([[0.5, 0.5], [0.0, 1.0]])
    targets = torch.tensor([[1.0, 0.0], [0.0, 0.9]])
    # sample 0: errors 0.5, 0.5 -> mse 0.25, psnr 10 log10(4) = 6.0206; sample 1: mse 0.01/2 = 0.005,
    # psnr 10 log10(200) = 23.0103
    sums = task.metric_sums(outputs, targets)
    assert float(sums["mse"]) == pytest.approx(0.25 + 0.005)
    assert float(sums["psnr"]) == pytest.approx(6.020599913279624 + 23.010299956639813)
    assert float(task.loss(outputs, targets)) == pytest.approx((0.25 + 0.25 + 0 + 0.01) / 4)


def test_bce_loss_is_the_mean_pixel_cross_entropy_of_sigmoid_outputs():
    task = _task(loss_name="bce")
    outputs = torch.tensor([[0.0, math.log(3.0)]])   # sigmoid: 1/2 and 3/4
    targets = torch.tensor([[1.0, 0.5]])
    # -(1 ln 1/2) and -(0.5 ln 3/4 + 0.5 ln 1/4): mean over the 2 values
    expected = (math.log(2) + -(0.5 * math.log(0.75) + 0.5 * math.log(0.25))) / 2
    assert float(task.loss(outputs, targets)) == pytest.approx(expected)
    assert torch.allclose(task.postprocess(outputs), torch.tensor([[0.5, 0.75]]))
    # the reconstruction error is measured on sigmoid(outputs): (1/2)^2 and (1/4)^2
    assert float(task.metric_sums(outputs, targets)["mse"]) == pytest.approx((0.25 + 0.0625) / 2)
    assert task.expected_initial_loss(2) == pytest.approx(math.log(2))


def _bundle(n: int = 6, scale: float = 255.0) -> DataBundle:
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 1, 2, 2), generator=g, dtype=torch.uint8)
    y = torch.arange(n) % 3
    return DataBundle("toy", Split(x, y), Split(x[:2], y[:2]), Split(x[2:4], y[2:4]), 3,
                      ["a", "b", "c"], scale=scale)


def test_targets_are_the_stored_inputs_read_in_units_of_the_scale():
    task = _task()
    bundle = task.learn_from(_bundle())
    assert bundle.train.y is bundle.train.x and bundle.test.y is bundle.test.x  # no copy
    assert task.scale == 255.0 and task.input_shape == (1, 2, 2) and task.num_outputs(bundle) == 4
    stored = torch.tensor([[0, 51, 255, 102]], dtype=torch.uint8)
    assert torch.allclose(task.output_targets(stored), torch.tensor([[0.0, 0.2, 1.0, 0.4]]))
    # outputs equal to the [0, 1] values reconstruct exactly: psnr at its 100 dB floor
    sums = task.metric_sums(torch.tensor([[0.0, 0.2, 1.0, 0.4]]), stored)
    assert float(sums["mse"]) == pytest.approx(0.0, abs=1e-12) and float(sums["psnr"]) == pytest.approx(100.0)
    assert task.postprocess(torch.zeros(5, 4)).shape == (5, 1, 2, 2)  # reconstructions in the input shape


def test_initial_loss_is_the_mean_squared_target_of_the_training_split():
    task = _task()
    bundle = task.learn_from(_bundle())
    task.fit(bundle.train.y, 4)
    t = bundle.train.x.double() / 255.0
    assert task.expected_initial_loss(4) == pytest.approx(float((t * t).mean()))
    assert task.state()["initial_loss"] == task.expected_initial_loss(4)


def test_kept_predictions_are_a_few_samples_and_every_samples_error():
    task = _task()
    task.learn_from(_bundle())
    preds = torch.full((100, 1, 2, 2), 0.5)
    labels = torch.zeros((100, 1, 2, 2), dtype=torch.uint8)
    kept = task.kept_predictions(preds, labels)
    assert kept["reconstructions"].shape == (64, 1, 2, 2) and kept["labels"].shape == (64, 1, 2, 2)
    assert kept["errors"].shape == (100,) and torch.allclose(kept["errors"], torch.full((100,), 0.25))


@pytest.mark.parametrize("targets, loss, found", [
    (torch.arange(6), "mse", "targets must be the inputs themselves"),
    (torch.full((6, 4), 1.5), "bce", "loss.name bce needs inputs in [0, 1]"),
    (torch.full((6, 4), math.nan), "mse", "NaN or inf"),
])
def test_targets_that_are_not_inputs_are_refused_with_the_reason(targets, loss, found):
    with pytest.raises(ValueError, match=re.escape(found)):
        _task(loss_name=loss).validate_labels(targets, 4)


@pytest.mark.parametrize("overrides, found", [
    ({"loss.label_smoothing": "0.1"}, "loss.label_smoothing: task autoencoder has no such option"),
    ({"loss.class_weights": "auto"}, "loss.class_weights: task autoencoder has no such option"),
    ({"loss.name": "huber"}, "loss.name: task autoencoder has losses mse, bce, got 'huber'"),
    ({"augment.transforms": "mixup"}, "augment.transforms: mixup mixes class labels"),
    ({"augment.tta": "true"}, "augment.tta: test-time augmentation averages class predictions"),
    ({"data.sampler": "balanced"}, "data.sampler balanced: task autoencoder has no classes"),
    ({"model.bias_init": "prior"}, "model.bias_init prior: task autoencoder has no class prior"),
    ({"ensemble.snapshots": "2"}, "task autoencoder is not supported"),
])
def test_classification_only_options_fail_before_any_run_folder(tmp_path, overrides, found):
    cfg = netcoach.load_config(overrides={"task.name": "autoencoder", "model.name": "mlp_ae",
                                          "run.dir": str(tmp_path), "train.epochs": "1", **overrides})
    with pytest.raises(ConfigError, match=found):
        netcoach.train(cfg)
    assert list(tmp_path.iterdir()) == []


def test_an_autoencoder_model_with_a_classification_task_says_what_to_use(tmp_path):
    cfg = netcoach.load_config(overrides={"model.name": "mlp_ae", "run.dir": str(tmp_path)})
    with pytest.raises(ValueError, match="model mlp_ae: an autoencoder outputs one value per input value "
                                         r"\(64 .*task.name autoencoder.*model.name mlp"):
        netcoach.train(cfg)
    assert list(tmp_path.iterdir()) == []


def test_augmentation_corrupts_the_training_inputs_and_leaves_the_targets_clean():
    cfg = netcoach.load_config(overrides={"task.name": "autoencoder", "model.name": "mlp_ae",
                                          "augment.transforms": "noise", "augment.noise_std": "0.3"})
    trainer = build_trainer(cfg)
    train, val = trainer.loaders["train"], trainer.loaders["val"]
    x, y = next(iter(train))
    assert y.dtype == trainer.data.train.x.dtype  # the stored clean images
    clean = train.normalize(train.prepare(y))
    assert not torch.allclose(x, clean)
    assert (x - clean).std() > 0.3 * float(min(trainer.data.std))  # noise of 0.3 in [0, 1] units
    xv, yv = next(iter(val))
    assert torch.allclose(xv, val.normalize(val.prepare(yv)))  # evaluation inputs are the clean images


def _history(train, val):
    return [{"epoch": i + 1, "train_loss": t, "val_loss": v} for i, (t, v) in enumerate(zip(train, val))]


def test_the_doctor_speaks_of_reconstruction_error_for_an_autoencoder():
    cfg = netcoach.load_config(overrides={"task.name": "autoencoder"})
    found = diagnose_history(_history([0.09, 0.05, 0.03, 0.02], [0.08, 0.05, 0.035, 0.03]), {}, cfg)
    assert found[0]["label"] == "healthy"
    assert "validation reconstruction error fell from 0.0800" in found[0]["evidence"]
    rising = diagnose_history(_history([0.09, 0.03, 0.01, 0.005, 0.002], [0.05, 0.02, 0.03, 0.04, 0.05]),
                              {}, cfg)
    assert rising[0]["label"] == "overfitting"
    assert "validation reconstruction error turned at epoch 2" in rising[0]["evidence"]
    assert "training reconstruction error went from" in rising[0]["evidence"]
    classifier = diagnose_history(_history([0.09, 0.05, 0.03, 0.02], [0.08, 0.05, 0.035, 0.03]), {},
                                  netcoach.load_config())
    assert "validation loss fell" in classifier[0]["evidence"]


def test_a_low_initial_loss_is_no_leak_when_the_targets_are_the_inputs():
    preflight = [{"check": "initial_loss", "status": "warn",
                  "details": {"measured": 0.01, "expected": 0.1, "ratio": 0.1}}]
    history = _history([0.09, 0.05, 0.03, 0.02], [0.08, 0.05, 0.035, 0.03])
    ae = diagnose_history(history, {"preflight": preflight}, netcoach.load_config(overrides={"task.name": "autoencoder"}))
    clf = diagnose_history(history, {"preflight": preflight}, netcoach.load_config())
    assert "data_leakage" not in [f["label"] for f in ae]
    assert "data_leakage" in [f["label"] for f in clf]


def test_preflight_explains_initial_loss_and_the_one_batch_fit_in_reconstruction_terms(tmp_path):
    from netcoach.diagnose.checks import check_initial_loss
    from netcoach.diagnose.overfit import check_overfit_batch
    from netcoach.diagnose.preflight import sample_batch

    ae, clf = build_task("autoencoder"), build_task("classification")
    for measured in (0.01, 0.15, 0.5):  # below half, a bit off, beyond twice the expected 0.1
        text = check_initial_loss(measured, 0.1, 16, ae.chance_name(4), ae.preflight_words)["reason"]
        assert "reconstruct" in text and "outputting zeros" in text, text
        assert not re.search(r"labels|uniform|class|chance", text), text
    assert "labels leaking" in check_initial_loss(0.01, 2.3, 16, "ln 10", clf.preflight_words)["reason"]
    trainer = build_trainer(netcoach.load_config(overrides={
        "task.name": "autoencoder", "model.name": "mlp_ae", "run.dir": str(tmp_path / "runs"),
        "diagnose.preflight": "false", "report.enabled": "false"}))
    x, y = sample_batch(trainer, 8)
    found = check_overfit_batch(trainer, x, y, steps=300, lr=1e-2)
    assert re.match(r"(reconstructed 8 samples in \d+ steps|learning, but did not reconstruct 8 samples)",
                    found["reason"]), found["reason"]
