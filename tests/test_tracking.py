"""Tracking integrations: MLflow (read back with MlflowClient), TensorBoard (read back with
EventAccumulator), and the clear error when an optional package is missing."""

from __future__ import annotations

import json
import sys

import pytest

import netcoach
from netcoach.utils.io import read_jsonl


def digits_config(tmp_path, **extra):
    return netcoach.load_config(overrides={
        "model.name": "mlp", "model.width": "16", "train.epochs": "2", "run.dir": str(tmp_path / "runs"),
        "run.name": "r", "diagnose.preflight": "false", **extra})


def mlflow_run(uri: str):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("netcoach")
    (run,) = client.search_runs([experiment.experiment_id])
    return client, run


def test_mlflow_logs_params_epoch_metrics_test_metrics_report_and_weights(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = netcoach.train(digits_config(tmp_path, **{"log.mlflow": "true"}))
    db = tmp_path / "runs" / "mlflow.db"                       # the default local store
    assert db.is_file()
    client, run = mlflow_run(f"sqlite:///{db}")
    assert run.info.run_name == "r" and run.info.status == "FINISHED"
    assert run.data.params["model.name"] == "mlp" and run.data.params["train.epochs"] == "2"
    logged = read_jsonl(result.run_dir / "metrics.jsonl")
    history = client.get_metric_history(run.info.run_id, "val_acc")
    assert [(m.step, m.value) for m in history] == [(r["epoch"], pytest.approx(r["val_acc"])) for r in logged]
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert run.data.metrics["test_acc"] == pytest.approx(summary["test"]["test_acc"])
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"report.html", "summary.json", "config.toml", "checkpoints"} <= names
    weights = {a.path for a in client.list_artifacts(run.info.run_id, "checkpoints")}
    assert "checkpoints/best.safetensors" in weights
    assert (tmp_path / "runs" / "mlartifacts").is_dir() and not (tmp_path / "mlruns").exists()


def test_a_resumed_run_keeps_logging_into_the_same_mlflow_run(tmp_path):
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    extra = {"log.mlflow": "true", "log.mlflow_uri": uri, "report.enabled": "false"}
    first = netcoach.train(digits_config(tmp_path, **extra, **{"train.epochs": "1"}))
    netcoach.train(netcoach.api.resume_config(first.run_dir, overrides={"train.epochs": 2}),
                   resume=first.run_dir)
    client, run = mlflow_run(uri)                              # one MLflow run, not two
    assert [m.step for m in client.get_metric_history(run.info.run_id, "train_loss")] == [1, 2]
    assert not (tmp_path / "runs" / "mlflow.db").exists()     # the given URI was used


def test_tensorboard_event_file_reads_back_with_event_accumulator(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    result = netcoach.train(digits_config(tmp_path, **{"log.tensorboard": "true", "report.enabled": "false"}))
    events = EventAccumulator(str(result.run_dir / "tb"))
    events.Reload()
    logged = read_jsonl(result.run_dir / "metrics.jsonl")
    scalars = events.Scalars("epoch/val_loss")
    assert [(s.step, s.value) for s in scalars] == [(r["epoch"], pytest.approx(r["val_loss"])) for r in logged]
    steps = read_jsonl(result.run_dir / "steps.jsonl")
    assert [s.step for s in events.Scalars("step/loss")] == [r["step"] for r in steps]


@pytest.mark.parametrize("key,module,package", [("log.mlflow", "mlflow", "mlflow"),
                                                 ("log.tensorboard", "torch.utils.tensorboard", "tensorboard")])
def test_missing_tracking_package_fails_before_the_run_folder_exists(tmp_path, monkeypatch, key, module, package):
    for name in [m for m in sys.modules if m == module or m.startswith(module + ".")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, module, None)             # import raises ImportError
    with pytest.raises(ValueError, match=f"{key} = true needs the optional dependency '{package}'"):
        netcoach.train(digits_config(tmp_path, **{key: "true"}))
    assert not (tmp_path / "runs" / "r").exists()
