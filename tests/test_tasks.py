"""The task seam: the classification task against reference values, every registered task
against the interface, and a minimal task defined here that trains end to end through the
trainer, final evaluation, preflight, doctor and report without any change to them."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import accuracy_score

import netcoach
from netcoach.api import build_trainer
from netcoach.config import ConfigError
from netcoach.tasks import Task, build_task, tasks
from netcoach.train.callbacks import Callback
from netcoach.train.state import capture, restore


def _classification_sample(n: int = 50, k: int = 7):
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, k, generator=g), torch.randint(0, k, (n,), generator=g), k


def _binary_sample(n: int = 50):
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, 1, generator=g), torch.randint(0, 2, (n,), generator=g), 1


def _multilabel_sample(n: int = 50, k: int = 4):
    g = torch.Generator().manual_seed(2)
    return torch.randn(n, k, generator=g), torch.randint(0, 2, (n, k), generator=g).float(), k


def _regression_sample(n: int = 50):
    g = torch.Generator().manual_seed(3)
    return torch.randn(n, 1, generator=g), 3.0 * torch.randn(n, generator=g) + 10.0, 1


def _autoencoder_sample(n: int = 50, d: int = 6):
    g = torch.Generator().manual_seed(4)
    return torch.randn(n, d, generator=g), torch.rand(n, d, generator=g), d


# Every registered task needs a sample here, so a new task is tested by the registry-wide tests.
SAMPLES = {"classification": _classification_sample, "binary": _binary_sample,
           "multilabel": _multilabel_sample, "regression": _regression_sample,
           "autoencoder": _autoencoder_sample}


def test_every_registered_task_has_a_sample():
    assert set(tasks.names()) <= set(SAMPLES), "add a sample for the new task to SAMPLES"


@pytest.mark.parametrize("name", tasks.names())
def test_task_implements_the_interface(name):
    task = build_task(name)
    outputs, targets, k = SAMPLES[name]()
    sums = task.metric_sums(outputs, targets)
    assert tuple(sums) == task.metric_names and task.primary_metric in sums
    assert all(isinstance(v, torch.Tensor) and v.dim() == 0 for v in sums.values())
    assert task.default_monitor in {"val_loss"} | {f"val_{m}" for m in task.metric_names}
    assert task.loss(outputs, targets).dim() == 0
    assert len(task.postprocess(outputs)) == len(outputs)
    task.validate_labels(targets, k)  # the sample's own labels are valid
    assert math.isfinite(task.expected_initial_loss(k))
    assert json.loads(json.dumps(task.describe()))["name"] == name


@pytest.mark.parametrize("name", tasks.names())
def test_task_scores_averaged_predictions_like_its_outputs(name):
    task = build_task(name)
    outputs, targets, _ = SAMPLES[name]()
    back = task.outputs_from_predictions(task.postprocess(outputs).double())
    assert torch.allclose(task.postprocess(back).double(), task.postprocess(outputs).double(), atol=1e-6)
    got, want = task.metric_sums(back, targets), task.metric_sums(outputs, targets)
    assert {k: float(v) for k, v in got.items()} == pytest.approx({k: float(v) for k, v in want.items()})


def test_classification_accuracy_sum_equals_sklearn_accuracy_times_n():
    logits, y, _ = _classification_sample(n=200, k=5)
    task = build_task("classification")
    expected = accuracy_score(y.numpy(), logits.argmax(1).numpy()) * len(y)
    assert int(task.metric_sums(logits, y)["acc"]) == round(expected)
    soft = F.one_hot(y, 5).float() * 0.7 + 0.06  # soft targets (mixup) score against their argmax
    assert int(task.metric_sums(logits, soft)["acc"]) == round(expected)


def test_classification_postprocess_is_softmax():
    logits = torch.tensor([[0.0, math.log(3.0)], [2.0, 2.0]])
    probs = build_task("classification").postprocess(logits)
    assert torch.allclose(probs, torch.tensor([[0.25, 0.75], [0.5, 0.5]]))


def test_classification_expected_initial_loss_is_ln_k_or_the_prior_entropy():
    task = build_task("classification")
    assert task.expected_initial_loss(10) == pytest.approx(2.302585092994046, abs=1e-12)
    # prior (1/2, 1/4, 1/4): -(1/2 ln 1/2 + 2 * 1/4 ln 1/4) = 1.5 ln 2 = 1.039720770839918
    assert task.expected_initial_loss(3, prior=[0.5, 0.25, 0.25]) == pytest.approx(1.039720770839918)
    assert task.expected_initial_loss(3, prior=[2, 1, 1]) == pytest.approx(1.039720770839918)


@pytest.mark.parametrize("labels, found, use", [
    (np.array([0.5, 1.0, 2.0], dtype=np.float32), "got dtype float32", "task.name regression"),
    (np.array([0, 3, 10]), "label 10 is outside the classes 0..9", "task.name regression"),
    (np.array([-1, 0, 1]), "label -1 is outside the classes 0..9", "count from 0"),
    (np.zeros((3, 4), dtype=np.int64), "got shape (3, 4)", "task.name multilabel"),
])
def test_classification_label_errors_say_what_was_found_and_the_task_to_use(labels, found, use):
    with pytest.raises(ValueError) as err:
        build_task("classification").validate_labels(torch.as_tensor(labels), 10)
    assert "task classification" in str(err.value) and found in str(err.value) and use in str(err.value)


def test_unknown_task_and_options_are_config_errors_listing_the_valid_ones(tmp_path):
    with pytest.raises(ConfigError, match=r"task.name: unknown task 'regresion'; valid: autoencoder, binary, classification, multilabel, regression"):
        build_task("regresion")
    with pytest.raises(ConfigError, match=r"loss.label_smoothing: must be in \[0, 1\)"):
        build_task("classification", label_smoothing=1.0)
    cfg = netcoach.load_config(overrides={"task.name": "nope", "run.dir": str(tmp_path)})
    with pytest.raises(ConfigError, match="task.name: unknown task 'nope'"):
        netcoach.train(cfg)
    assert list(tmp_path.iterdir()) == []  # validated before any run folder was written


def test_float_labels_for_classification_fail_before_any_folder(tmp_path):
    cfg = netcoach.load_config(overrides={"run.dir": str(tmp_path), "model.name": "mlp"})
    x, y = np.random.rand(60, 4).astype(np.float32), np.random.rand(60).astype(np.float32)
    with pytest.raises(ValueError, match="task.name"):
        netcoach.train(cfg, data=(x, y))
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------- a task defined by a user

class ToyMSE(Task):
    """One-output regression with mean squared error: a task that lives only in this test."""

    name = "toy_mse"
    metric_names = ("mse", "mae")
    primary_metric = "mse"
    default_monitor = "val_mse"
    prediction_key = "values"

    def loss(self, outputs, targets):
        return F.mse_loss(outputs.squeeze(1), targets.to(outputs.dtype))

    def metric_sums(self, outputs, targets):
        err = outputs.squeeze(1).double() - targets.double()
        return {"mse": (err ** 2).sum(), "mae": err.abs().sum()}

    def postprocess(self, outputs):
        return outputs.float().squeeze(1)

    def outputs_from_predictions(self, predictions):
        return predictions.unsqueeze(1)

    def validate_labels(self, y, num_outputs):
        if y.dim() != 1 or not y.is_floating_point():
            raise ValueError(f"task toy_mse: targets must be 1-D floats, got {tuple(y.shape)} {y.dtype}")

    def expected_initial_loss(self, num_outputs, prior=None):
        return 1.0  # standardized targets, outputs near 0 at init

    def num_outputs(self, bundle):
        return 1

    def prediction_table(self, predictions, class_names):
        return {"value": predictions.reshape(-1).tolist()}


@pytest.fixture
def toy_task(monkeypatch):
    monkeypatch.setitem(tasks._items, "toy_mse", ToyMSE)
    g = np.random.default_rng(0)
    x = g.normal(size=(240, 5)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5, 0.0, 1.5], dtype=np.float32)) / 2.8
    return x, y.astype(np.float32)


def _toy_config(tmp_path, **extra):
    over = {"task.name": "toy_mse", "model.name": "mlp", "model.width": "16", "train.epochs": "4",
            "optim.lr": "0.01", "data.batch_size": "32", "train.monitor": "val_loss",
            "train.mode": "min", "run.dir": str(tmp_path), "run.name": "toy"}
    over.update(extra)
    return netcoach.load_config(overrides=over)


def test_a_task_registered_outside_netcoach_trains_end_to_end(tmp_path, toy_task):
    x, y = toy_task
    result = netcoach.train(_toy_config(tmp_path), data=toy_task)
    h = result.history
    assert {"train_mse", "train_mae", "val_mse", "val_mae"} <= set(h[-1])
    assert "train_acc" not in h[-1] and "val_acc" not in h[-1]
    assert h[-1]["train_mse"] < h[0]["train_mse"]
    # the trainer divides the device-side sums by the sample count: val_mse is the mean squared error
    test = result.summary["test"]
    split = result.data.test
    preds = result.model.eval()(
        result.trainer.loaders["test"].normalize(split.x.float())).squeeze(1).detach()
    assert test["test_mse"] == pytest.approx(float(((preds - split.y) ** 2).mean()), rel=1e-5)
    assert test["test_loss"] == pytest.approx(test["test_mse"], rel=1e-5)
    # the split was not stratified (continuous targets) and the targets kept their float values
    assert split.y.dtype == torch.float32
    checks = {c["check"]: c for c in result.summary["preflight"]}
    assert checks["initial_loss"]["details"]["expected"] == 1.0
    assert checks["output_layer"]["status"] == "pass"
    run = result.run_dir
    assert json.loads((run / "data.json").read_text())["task"] == "toy_mse"
    from safetensors.torch import load_file

    stored = load_file(str(run / "predictions.safetensors"))
    assert set(stored) == {"values", "labels"} and stored["values"].shape == (len(split),)
    html = (run / "report.html").read_text(encoding="utf-8")
    assert "Confusion matrix" not in html and "Worst mistakes" not in html
    assert "val_mse" in html


def test_mid_epoch_resume_carries_every_metric_sum(tmp_path, toy_task):
    cfg = _toy_config(tmp_path, **{"train.epochs": "2", "diagnose.preflight": "false"})

    class Snapshot(Callback):
        state = None

        def on_batch_end(self, trainer, batch):
            if trainer.epoch == 1 and trainer.loaders["train"].position == 3 and self.state is None:
                Snapshot.state = copy.deepcopy(capture(trainer))

    straight = build_trainer(cfg, data=toy_task, callbacks=[Snapshot()])
    want = straight.fit()
    sums = Snapshot.state["partial"]["sums"]
    assert set(sums) == {"mse", "mae"} and float(sums["mse"]) > 0
    resumed = build_trainer(cfg, data=toy_task)
    restore(resumed, Snapshot.state)
    got = resumed.fit()
    keys = ("train_loss", "train_mse", "train_mae", "val_mse", "val_mae")
    assert [{k: e[k] for k in keys} for e in got] == [{k: e[k] for k in keys} for e in want]


def test_progress_line_shows_the_tasks_metrics():
    from netcoach.train.progress import format_logs

    logs = {"epoch": 3, "train_loss": 0.5, "train_mse": 0.5, "train_mae": 0.6, "val_loss": 0.7,
            "val_mse": 0.7, "val_mae": 0.8, "val_mse_ema": 0.65, "lr": 1e-3}
    line = format_logs(logs, ("mse", "mae"))
    assert line.split("  ")[2:9] == ["train_loss 0.5000", "train_mse 0.5000", "train_mae 0.6000",
                                    "val_loss 0.7000", "val_mse 0.7000", "val_mae 0.8000",
                                    "val_mse_ema 0.6500"]
    assert "acc" not in line


def test_doctor_uses_the_tasks_chance_loss_and_skips_accuracy_rules(toy_task, tmp_path):
    from netcoach.diagnose.doctor import diagnose_history

    # a loss that stays above the task's expected initial loss (1.0) reads as lr_too_high,
    # named with the task's own words, not "ln K"
    history = [{"epoch": e, "train_loss": 1.3 - 0.01 * e, "val_loss": 1.35, "train_acc": 0.1,
                "val_acc": 0.1} for e in range(1, 6)]
    summary = {"preflight": [{"check": "initial_loss", "details": {"expected": 1.0}}]}
    found = diagnose_history(history, summary, _toy_config(tmp_path))
    assert found[0]["label"] == "lr_too_high" and "ln K" not in found[0]["evidence"]
    assert "the loss of an untrained model = 1.000" in found[0]["evidence"]
    # a small regression loss is not mistaken for underfitting by the accuracy rule (train_acc
    # here would read as 10% accuracy if the doctor assumed classification)
    good = [{"epoch": e, "train_loss": 0.5 / e, "val_loss": 0.55 / e, "train_acc": 0.1,
             "val_acc": 0.1} for e in range(1, 6)]
    labels = [f["label"] for f in diagnose_history(good, summary, _toy_config(tmp_path))]
    assert "underfitting" not in labels and "overfitting" not in labels
    as_classification = [f["label"] for f in diagnose_history(good, summary, netcoach.load_config())]
    assert "underfitting" in as_classification


def test_an_unfinished_epoch_of_another_task_is_refused(toy_task, tmp_path):
    trainer = build_trainer(_toy_config(tmp_path, **{"diagnose.preflight": "false"}), data=toy_task)
    partial = {"losses": torch.ones(2), "sums": {"acc": torch.tensor(3)}, "sizes": [32, 32],
               "lrs": [0.01, 0.01], "lr0": 0.01}
    with pytest.raises(ValueError, match=r"sums of \['acc'\], but task toy_mse reports \['mse', 'mae'\]"):
        trainer.load_partial_state(partial, torch.device("cpu"))
    with pytest.raises(ValueError, match="no metric sums"):
        trainer.load_partial_state({k: v for k, v in partial.items() if k != "sums"}, torch.device("cpu"))


def test_split_strategy_follows_the_task():
    from sklearn.model_selection import train_test_split

    from netcoach.config import DataConfig
    from netcoach.data.sources import datasets
    from netcoach.data.splits import three_way

    y = np.array([0] * 90 + [1] * 10)
    tr, va, te = three_way(y, 0.2, 0.2, seed=0, stratify=True)
    assert [int(y[s].sum()) for s in (tr, va, te)] == [6, 2, 2]  # 10% of each split is class 1
    tr, va, te = three_way(y, 0.2, 0.2, seed=0, stratify=False)
    rest, test = train_test_split(np.arange(100), test_size=0.2, random_state=0)
    assert np.array_equal(te, np.sort(test))
    # a registered source splits as told: digits without stratification differs from with it
    plain = datasets.get("digits")(DataConfig(), stratify=False)
    strat = datasets.get("digits")(DataConfig(), stratify=True)
    assert len(plain.test) == len(strat.test) and not torch.equal(plain.test.y, strat.test.y)
    whole = torch.bincount(torch.cat([strat.train.y, strat.val.y, strat.test.y]), minlength=10)
    # stratified: each class holds test_fraction (0.2) of its samples in the test split, +-1
    assert (torch.bincount(strat.test.y, minlength=10) - 0.2 * whole).abs().max() <= 1
