"""One run per task end to end: the report (with the task's own section), the doctor and
``netcoach compare`` work for each, and what the task stored (the binary threshold, the
regression target statistics) is what prediction uses."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

import netcoach
from netcoach.cli import main
from netcoach.predict import predict
from netcoach.report.browser import find_chromium, screenshot
from netcoach.tasks import task_of_config
from netcoach.train.run import RunFolder
from tests.test_report_html import _check_png


def _multilabel_data():
    from sklearn.datasets import make_multilabel_classification

    x, y = make_multilabel_classification(n_samples=300, n_features=10, n_classes=4, random_state=0)
    return x.astype(np.float32), y.astype(np.float32)


CASES = {  # task -> (data.name or arrays, the report section that only this task has)
    "classification": ("wine", "Confusion matrix and per-class accuracy"),
    "binary": ("breast_cancer", "ROC and precision-recall curves"),
    "multilabel": (None, "Per-label metrics"),
    "regression": ("diabetes", "Predicted vs true"),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("task_runs")
    out = {}
    for task, (data_name, _) in CASES.items():
        over = {"task.name": task, "model.name": "mlp", "model.width": "16", "train.epochs": "4",
                "optim.lr": "0.01", "run.dir": str(root), "run.name": task, "diagnose.overfit_steps": "50"}
        if data_name:
            over["data.name"] = data_name
        out[task] = netcoach.train(netcoach.load_config(overrides=over), progress=False,
                                   data=None if data_name else _multilabel_data())
    return out


@pytest.mark.parametrize("task", list(CASES))
def test_each_task_writes_a_report_with_its_own_section(runs, task):
    html = (runs[task].run_dir / "report.html").read_text(encoding="utf-8")
    assert CASES[task][1] in html
    for other, (_, title) in CASES.items():
        if other != task:
            assert title not in html
    assert "could not build" not in html and "could not draw" not in html
    summary = json.loads((runs[task].run_dir / "summary.json").read_text())
    assert summary["monitor"] == task_of_config({"task": {"name": task}}).default_monitor
    assert summary["task"]["name"] == task


@pytest.mark.parametrize("task", list(CASES))
def test_the_doctor_reads_each_tasks_run(runs, task, capsys):
    assert main(["doctor", str(runs[task].run_dir)]) == 0
    assert capsys.readouterr().out.strip()
    checks = {c["check"]: c for c in runs[task].summary["preflight"]}
    assert checks["initial_loss"]["status"] == "pass" and checks["output_layer"]["status"] == "pass"


def test_compare_puts_runs_of_every_task_side_by_side(runs, tmp_path, capsys):
    out = tmp_path / "cmp"
    assert main(["compare", *[str(r.run_dir) for r in runs.values()], "--out", str(out)]) == 0
    text = (out / "comparison.md").read_text()
    for key in ("test_acc", "test_auc", "test_f1_micro", "test_r2", "task.name"):
        assert key in text
    assert (out / "comparison.html").is_file()


def test_the_binary_threshold_is_chosen_on_validation_stored_and_reused_by_predict(runs):
    r = runs["binary"]
    record = RunFolder(r.run_dir).data_record()
    t = record["task_state"]["threshold"]
    assert t == r.summary["task"]["threshold"] and t != 0.5
    assert record["task_state"]["threshold_rule"] == "max F1 on the validation split"
    config = tomllib.loads((r.run_dir / "config.toml").read_text())
    assert task_of_config(config, record).threshold == t  # what the report and predict read
    x, y = r.data.test.x.cpu(), r.data.test.y.cpu().numpy()
    p = predict(r.run_dir, x).numpy()
    stored = load_file(str(r.run_dir / "predictions.safetensors"))["probs"]
    assert p == pytest.approx(stored, abs=1e-6)
    # the test accuracy in the summary is the one at the stored threshold
    assert r.summary["test"]["test_acc"] == pytest.approx(float(((p >= t) == y).mean()))


def test_regression_predictions_come_back_in_the_targets_units(runs):
    r = runs["regression"]
    state = RunFolder(r.run_dir).data_record()["task_state"]
    y_train = r.data.train.y.cpu().double().numpy()
    assert state["target_mean"] == [pytest.approx(y_train.mean())]
    assert state["target_std"] == [pytest.approx(y_train.std())]
    x, y = r.data.test.x.cpu(), r.data.test.y.cpu().double().numpy()
    values = predict(r.run_dir, x).double().numpy()
    assert values == pytest.approx(load_file(str(r.run_dir / "predictions.safetensors"))["values"], rel=1e-5)
    assert r.summary["test"]["test_mse"] == pytest.approx(float(((values - y) ** 2).mean()), rel=1e-5)
    assert y.min() > 20  # diabetes progression is 25..346: far from the standardized outputs
    assert abs(values.mean() - y.mean()) < 0.5 * y.std()


def test_multilabel_run_stores_probabilities_and_the_label_prior(runs):
    r = runs["multilabel"]
    stored = load_file(str(r.run_dir / "predictions.safetensors"))
    assert stored["probs"].shape == stored["labels"].shape == (len(r.data.test), 4)
    prior = RunFolder(r.run_dir).data_record()["task_state"]["prior"]
    assert prior == pytest.approx(r.data.train.y.cpu().double().mean(0).tolist())
    assert 0.0 <= r.summary["test"]["test_f1_micro"] <= 1.0 and "test_auc_macro" in r.summary["test"]
    assert torch.is_tensor(r.data.train.y) and r.data.train.y.dtype == torch.float32


@pytest.mark.skipif(find_chromium() is None, reason="Chromium not installed (Debian: apt-get install "
                                                   "chromium); the browser rendering check is skipped")
def test_a_regression_report_renders_in_headless_chromium(runs, tmp_path):
    result = screenshot(runs["regression"].run_dir / "report.html", tmp_path / "shot.png", 1280, 1600)
    assert result.returncode == 0, result.log[-2000:]
    assert result.console == [], f"console messages: {result.console}"
    assert _check_png(result.screenshot.read_bytes(), min_bytes=20_000) == (1280, 1600)


def test_an_exported_regression_model_predicts_in_the_targets_units(runs, tmp_path):
    from netcoach.export import export_run

    r = runs["regression"]
    result = export_run(r.run_dir, "torch-export", out=tmp_path / "model.pt2", with_preprocessing=True,
                        probabilities=True)
    program = torch.export.load(str(result.path)).module()
    x = r.data.test.x.cpu()
    got = program(x).detach().double().numpy()
    assert got == pytest.approx(predict(r.run_dir, x).double().numpy(), rel=1e-5)
    assert got.mean() > 20  # progression values, not standardized outputs


def test_the_curve_panel_shows_only_the_tasks_curve_metrics(monkeypatch, tmp_path):
    from netcoach.report import plots

    drawn = {}

    def keep(fig, path):  # the figure instead of a PNG
        drawn["fig"] = fig
        return Path(path)

    monkeypatch.setattr(plots, "save_png", keep)
    rows = [{"epoch": e, "train_loss": 1 / e, "val_loss": 1.1 / e, "train_mse": 5000.0 / e, "val_mse": 5200.0 / e,
             "train_r2": 0.1 * e, "val_r2": 0.09 * e, "val_rmse": 70.0 / e} for e in (1, 2, 3)]
    plots.plot_curves(rows, tmp_path / "c.png", names=task_of_config({"task": {"name": "regression"}}).curve_metrics)
    labels = drawn["fig"].axes[1].get_legend_handles_labels()[1]
    assert labels == ["train_r2", "val_r2"]  # MSE (thousands) would flatten R² on a shared axis
