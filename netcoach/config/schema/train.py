"""The loop's sections: length, seed, device and monitored metric ([train]), early stopping
([early_stop]), checkpoints ([checkpoint]), weight averages ([average]) and several
processes ([dist]).
"""

from __future__ import annotations

from dataclasses import dataclass

from netcoach.config.schema.fields import opt


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = opt(30, "number of passes over the training data", min=1, max=1_000_000)
    seed: int = opt(0, "seed of every random choice of the run (init, shuffling, augmentation)", min=0, max=2**32 - 1)
    device: str = opt("auto", "auto (CUDA when present), cpu, cuda or cuda:N")
    monitor: str = opt("", "metric that selects the best checkpoint (empty: the task's default: val_acc "
                           "for classification, val_loss for binary, multilabel and regression)")
    mode: str = opt("auto", "whether the monitored metric is better when larger (max) or smaller (min); "
                            "auto: from its name (loss, error -> min; acc, f1 -> max)",
                    choices=("auto", "min", "max"))
    test_weights: str = opt("best", "weights the test split evaluates (without early stopping): the best "
                                    "epoch's by train.monitor, or the last epoch's (schedules that anneal "
                                    "to the end, e.g. onecycle)", choices=("best", "last"))
    deterministic: bool = opt(True, "ask PyTorch for deterministic algorithms")
    threads: int = opt(0, "CPU threads for torch (0: torch's default); 1 avoids a large slowdown "
                          "when other processes already use every core")
    grad_accum: int = opt(1, "micro-batches per optimizer step (effective batch = data.batch_size x grad_accum)", min=1)
    precision: str = opt("fp32", "fp32; bf16 (autocast, CPU and CUDA); fp16 (autocast + grad scaler, CUDA only)",
                         choices=("fp32", "bf16", "fp16"))
    channels_last: bool = opt(False, "channels-last memory format for 4-D inputs and the model (faster convs on GPUs)")
    compile: bool = opt(False, "compile the model with torch.compile (slow start, faster steps)")
    nan_guard: str = opt("stop", "on a non-finite loss or gradient: stop (keeps the last good checkpoint), "
                         "rollback (reload it and lower the LR), or off", choices=("stop", "rollback", "off"))
    check_grads: bool = opt(False, "check every gradient for NaN/Inf before each optimizer step "
                            "(names the parameter; costs a host sync per step)")
    rollback_lr_factor: float = opt(0.5, "LR multiplier applied on each nan_guard rollback", above=0.0, below=1.0)
    max_rollbacks: int = opt(3, "rollbacks allowed before the run stops", min=0)


@dataclass(frozen=True)
class EarlyStopConfig:
    enabled: bool = opt(False, "stop when the monitored metric has not improved for `patience` epochs")
    monitor: str = opt("", "metric to watch (empty: train.monitor)")
    mode: str = opt("auto", "min or max; auto: train.mode's direction when watching train.monitor, "
                            "else from the metric's name", choices=("auto", "min", "max"))
    patience: int = opt(10, "epochs without improvement before stopping", min=0)
    min_delta: float = opt(0.0, "smallest change that counts as an improvement", min=0.0)
    min_epochs: int = opt(0, "never stop before this many epochs", min=0)
    restore_best: bool = opt(True, "restore the best epoch's weights at the end (whether or not it stopped early)")


@dataclass(frozen=True)
class CheckpointConfig:
    every_epochs: int = opt(0, "also keep checkpoints/epoch-N.safetensors every N epochs (0: never)", min=0)
    every_steps: int = opt(0, "also write the resumable last checkpoint every N optimizer steps "
                           "(mid-epoch; 0: only at epoch ends)", min=0)
    min_interval_s: float = opt(30.0, "write the resumable last checkpoint (and best weights) at most "
                                      "every this many seconds, and always when training ends; "
                                      "resume stays exact, only the work redone after a kill grows "
                                      "(0: at every epoch end / every_steps)")
    background: bool = opt(True, "write checkpoint files on a background thread from a snapshot "
                                 "taken at the step boundary (the loop does not wait for fsync)")


@dataclass(frozen=True)
class AverageConfig:
    ema: bool = opt(False, "keep an exponential moving average of the weights (evaluated as *_ema)")
    ema_decay: float = opt(0.999, "EMA decay per optimizer step", above=0.0, below=1.0)
    polyak: bool = opt(False, "keep the uniform (Polyak-Ruppert) average of all iterates (evaluated as *_polyak)")
    swa: bool = opt(False, "stochastic weight averaging: average the weights once per epoch (evaluated as *_swa)")
    swa_start: int = opt(0, "first epoch (1-based) averaged by SWA (0: the last quarter of train.epochs)", min=0)
    lookahead: bool = opt(False, "lookahead: every lookahead_every steps pull the weights to slow weights "
                                 "slow <- d slow + (1 - d) fast, d = lookahead_decay (t/T)^lookahead_power, "
                                 "and end on the slow weights (airbench94)")
    lookahead_every: int = opt(5, "optimizer steps between lookahead pulls", min=1)
    lookahead_decay: float = opt(0.95 ** 5, "lookahead: the slow weights' share d at the last step "
                                            "(airbench: 0.95^5 = 0.774)", min=0.0, below=1.0)
    lookahead_power: float = opt(3.0, "lookahead: d grows as (t/T)^power over the run (0: constant d, "
                                      "the classic Lookahead)", min=0.0)


@dataclass(frozen=True)
class DistConfig:
    nproc: int = opt(1, "processes on this machine (1: no launch); netcoach train relaunches itself "
                        "through torch.distributed.run with this many; data.batch_size stays the "
                        "global batch, split across them")
    backend: str = opt("auto", "torch.distributed backend: auto (nccl on CUDA, gloo on CPU), gloo or nccl",
                       choices=("auto", "gloo", "nccl"))
    sync_bn: bool = opt(False, "convert BatchNorm layers to SyncBatchNorm (statistics over the global "
                               "batch instead of each process's share)")
