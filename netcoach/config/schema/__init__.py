"""The typed configuration tree: one frozen dataclass per section.

Every option netcoach has lives here, with its type and default. The CLI derives
its ``--section.key`` flags and their help from these classes (the text after
each field is its help), TOML files are validated against them, and the resolved
tree is written into every run folder, so re-running it reproduces the run.

One module per group of sections (``data``, ``model``, ``optim``, ``task``, ``train``,
``output``); the root ``Config`` here names every section in the order config.toml
writes them. Adding an option = adding a field to its section's class with ``opt``
(``fields.py``): a default and a ``help`` entry, and its valid values as metadata:
``min``/``max`` (inclusive), ``above``/``below`` (exclusive), ``choices`` (on a list:
for every item), ``plain_name`` (one path component). ``config/loader.py`` checks every
value against them, so a bad value fails before any file is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from netcoach.config.schema.data import AugmentConfig, DataConfig
from netcoach.config.schema.fields import opt
from netcoach.config.schema.model import ModelConfig, TransferConfig
from netcoach.config.schema.optim import OptimConfig, RegularizeConfig, ScheduleConfig
from netcoach.config.schema.output import DiagnoseConfig, LogConfig, PREFLIGHT_CHECKS, ReportConfig, RunConfig
from netcoach.config.schema.task import DistillConfig, EnsembleConfig, LossConfig, TaskConfig
from netcoach.config.schema.train import (AverageConfig, CheckpointConfig, DistConfig, EarlyStopConfig,
                                          TrainConfig)


@dataclass(frozen=True)
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    diagnose: DiagnoseConfig = field(default_factory=DiagnoseConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    run: RunConfig = field(default_factory=RunConfig)
    early_stop: EarlyStopConfig = field(default_factory=EarlyStopConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    average: AverageConfig = field(default_factory=AverageConfig)
    log: LogConfig = field(default_factory=LogConfig)
    regularize: RegularizeConfig = field(default_factory=RegularizeConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    task: TaskConfig = field(default_factory=TaskConfig)
    transfer: TransferConfig = field(default_factory=TransferConfig)
    ensemble: EnsembleConfig = field(default_factory=EnsembleConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    dist: DistConfig = field(default_factory=DistConfig)


__all__ = ["AugmentConfig", "AverageConfig", "CheckpointConfig", "Config", "DataConfig", "DiagnoseConfig",
           "DistConfig", "DistillConfig", "EarlyStopConfig", "EnsembleConfig", "LogConfig", "LossConfig",
           "ModelConfig", "OptimConfig", "PREFLIGHT_CHECKS", "RegularizeConfig", "ReportConfig", "RunConfig",
           "ScheduleConfig", "TaskConfig", "TrainConfig", "TransferConfig", "opt"]
