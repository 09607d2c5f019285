"""MLflow tracking: the run's params, per-epoch metrics, test metrics, report and weights.

The run folder stays the source of truth; MLflow receives a copy, so a run can be
compared with others in MLflow's UI. We use ``MlflowClient`` with an explicit tracking
URI rather than MLflow's fluent API, so nothing depends on global state (the active run,
``MLFLOW_TRACKING_URI``) and two trainings in one process cannot log into each other.

The default store is ``sqlite:///<run.dir>/mlflow.db`` with artifacts in
``<run.dir>/mlartifacts``: one local store per runs folder, no server needed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterable, Optional

from netcoach.config import Config, to_dict
from netcoach.train.callbacks import Callback
from netcoach.train.run import CHECKPOINTS, CONFIG, DATA, REPORT, SUMMARY

# Folder files copied as artifacts when the fit ends and when the run is finished.
FIT_ARTIFACTS = (CONFIG, DATA, f"{CHECKPOINTS}/best.safetensors", f"{CHECKPOINTS}/last.safetensors")
FINAL_ARTIFACTS = (SUMMARY, REPORT)


def mlflow_client_class():
    """MLflow's ``MlflowClient``; a clear error when the optional package is missing."""
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise ValueError("log.mlflow = true needs the optional dependency 'mlflow' "
                         "(pip install 'netcoach[tracking]'), or set log.mlflow = false") from None
    return MlflowClient


def tracking_uri(config: Config) -> str:
    """``log.mlflow_uri``, or the local SQLite store beside the run folders."""
    if config.log.mlflow_uri:
        return config.log.mlflow_uri
    return f"sqlite:///{Path(config.run.dir).resolve() / 'mlflow.db'}"


def flat_params(config: Config) -> dict[str, str]:
    """The whole config as ``{"section.key": "value"}`` (MLflow params are strings)."""
    return {f"{section}.{key}": str(value) for section, values in to_dict(config).items()
            for key, value in values.items()}


class MLflowLogger(Callback):
    """Logs one netcoach run as one MLflow run.

    Params when the fit starts, numeric epoch metrics at step = epoch, the weights and
    the config files when it ends; ``finish`` (called once the report exists) adds the
    test metrics, summary and report and closes the MLflow run. The MLflow run id is
    part of the training state, so a resumed run keeps logging into the same MLflow run.
    """

    state_key = "mlflow"

    def __init__(self, run_path: str | Path, config: Config):
        self.run_path = Path(run_path)
        self.config = config
        self.uri = tracking_uri(config)
        self.client = mlflow_client_class()(tracking_uri=self.uri)
        self.run_id: Optional[str] = None

    def state_dict(self) -> dict:
        return {"run_id": self.run_id}

    def load_state_dict(self, state: dict) -> None:
        self.run_id = state.get("run_id")

    def on_fit_start(self, trainer) -> None:
        if self.run_id is not None:  # resumed: the params are logged already
            return
        run = self.client.create_run(self._experiment_id(), run_name=self.run_path.name,
                                     tags={"netcoach.run_dir": str(self.run_path.resolve())})
        self.run_id = run.info.run_id
        from mlflow.entities import Param

        self.client.log_batch(self.run_id, params=[Param(k, v) for k, v in flat_params(self.config).items()])

    def on_epoch_end(self, trainer, logs: dict) -> None:
        self.log_metrics({k: v for k, v in logs.items() if k != "epoch"}, step=int(logs["epoch"]))

    def on_fit_end(self, trainer, logs: dict) -> None:
        self._log_files(FIT_ARTIFACTS)

    def finish(self, summary: dict) -> None:
        """Test metrics, summary.json and report.html; then the MLflow run is closed."""
        self.log_metrics(summary.get("test") or {}, step=int(summary.get("epochs_run") or 0))
        self._log_files(FINAL_ARTIFACTS)
        self.client.set_terminated(self.run_id, "FAILED" if summary.get("failure") else "FINISHED")

    def log_metrics(self, values: dict, step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(k, float(v), now, step) for k, v in values.items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if metrics:
            self.client.log_batch(self.run_id, metrics=metrics)

    def _log_files(self, names: Iterable[str]) -> None:
        for name in names:
            path = self.run_path / name
            if path.is_file():
                parent = str(Path(name).parent)
                self.client.log_artifact(self.run_id, str(path), None if parent == "." else parent)

    def _experiment_id(self) -> str:
        name = self.config.log.mlflow_experiment
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        location = None
        if self.uri.startswith("sqlite:///"):  # keep artifacts beside the store, not in the cwd
            location = (Path(self.uri[len("sqlite:///"):]).parent / "mlartifacts").resolve().as_uri()
        return self.client.create_experiment(name, artifact_location=location)


def finish_tracking(callbacks: Iterable[Callback], summary: dict) -> None:
    """Close every MLflow run of ``callbacks`` with the run's final results."""
    for cb in callbacks:
        if isinstance(cb, MLflowLogger):
            cb.finish(summary)
