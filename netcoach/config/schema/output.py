"""What a run writes and checks: its folder ([run]), logs ([log]), the report ([report])
and the diagnostics ([diagnose]).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from netcoach.config.errors import ConfigError
from netcoach.config.schema.fields import opt


PREFLIGHT_CHECKS = ("output_layer", "initial_loss", "overfit_batch", "gradient_check", "data",
                    "init_units", "dropout_bn")


@dataclass(frozen=True)
class RunConfig:
    name: Optional[str] = opt(None, "run folder name (default: <data>-<model>-<timestamp>)", plain_name=True)
    dir: str = opt("runs", "parent folder of the run folders")


@dataclass(frozen=True)
class LogConfig:
    csv: bool = opt(False, "also write metrics.csv")
    tensorboard: bool = opt(False, "also write TensorBoard event files to tb/ (needs the tensorboard package)")
    steps: bool = opt(True, "write steps.jsonl (step, epoch, lr, loss per optimizer step)")
    mlflow: bool = opt(False, "also log params, per-epoch metrics, the report and the weights to "
                              "MLflow (needs the mlflow package)")
    mlflow_uri: Optional[str] = opt(None, "MLflow tracking URI (default: a local store "
                                          "sqlite:///<run.dir>/mlflow.db shared by the runs there)")
    mlflow_experiment: str = opt("netcoach", "MLflow experiment the runs are logged under")


@dataclass(frozen=True)
class ReportConfig:
    enabled: bool = opt(True, "write report.html at the end of training")
    mistakes: int = opt(16, "most confidently misclassified test samples shown in the report "
                            "(at most the 32 the run stores)", min=0, max=32)
    max_filters: int = opt(64, "first-layer convolution filters shown in the report", min=0)


@dataclass(frozen=True)
class DiagnoseConfig:
    preflight: bool = opt(True, "run the recipe checks before training")
    strict: bool = opt(False, "stop before training (exit 1, no run folder) when a preflight check FAILs")
    checks: list[str] = opt(["output_layer", "initial_loss", "overfit_batch", "gradient_check",
                             "data", "init_units", "dropout_bn"],
                            "preflight checks to run (subset of: output_layer, initial_loss, "
                            "overfit_batch, gradient_check, data, init_units, dropout_bn)",
                            choices=PREFLIGHT_CHECKS)
    batch_size: int = opt(256, "samples used by the initial-loss and units-at-init checks", min=1)
    overfit_size: int = opt(16, "size of the single batch the overfit check must memorise", min=1)
    overfit_steps: int = opt(300, "step budget of the overfit-one-batch check (it stops when done)", min=1)
    overfit_lr: float = opt(1e-2, "Adam learning rate of the overfit-one-batch check", above=0.0)
    budget_s: float = opt(1.0, "seconds the preflight of a training run may take: the overfit check "
                               "stops when they are spent (a warning, not a failure); 0: no limit. "
                               "`netcoach check` runs without a limit")
    gradcheck_eps: float = opt(1e-5, "finite-difference step of the gradient check (float64)", above=0.0)
    gradcheck_coords: int = opt(4, "coordinates checked per parameter tensor (largest gradient + random)", min=1)
    monitor: bool = opt(True, "record per-layer update ratios, gradient norms and activation "
                              "statistics during training (monitors.jsonl)")
    monitor_samples: int = opt(1, "step pairs sampled per sampled epoch by the monitor (cost grows with it)",
                               min=0)
    monitor_min_batches: int = opt(50, "training batches from one sampled epoch's start to the next: epoch 1 "
                                       "is sampled, then every ceil(N / batches per epoch)-th epoch, so on "
                                       "short epochs the monitor costs a small share of training (1 epoch "
                                       "in 3 on digits); 0: every epoch", min=0)
    update_ratio_band: list[float] = opt([1e-4, 3e-2], "update/weight ratio band outside which the "
                                                       "monitor warns (rules of thumb: ~1e-3 to 1e-2)", above=0.0)
    dead_max: float = opt(0.5, "fraction of dead ReLU units (or saturated sigmoid/tanh outputs) "
                               "above which a layer is flagged", min=0.0, max=1.0)

    def __post_init__(self):
        band = list(self.update_ratio_band)
        if len(band) != 2 or not band[0] < band[1]:
            raise ConfigError(f"diagnose.update_ratio_band: expected two numbers low,high with "
                              f"low < high, got {band}")
