"""What is learned and from what: the task ([task]), its loss ([loss]), a teacher to
distill from ([distill]), and ensembles of runs or snapshots ([ensemble]).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from netcoach.config.errors import ConfigError
from netcoach.config.schema.fields import opt


@dataclass(frozen=True)
class TaskConfig:
    name: str = opt("classification", "what is learned (registry name): decides the loss, the metrics, "
                                      "the label checks, the split strategy and the report sections")


@dataclass(frozen=True)
class LossConfig:
    name: str = opt("default", "the loss: default (the task's own: cross-entropy for classification, "
                               "binary cross-entropy for binary and multilabel, mse for regression); "
                               "regression also takes mae or huber",
                    choices=("default", "mse", "mae", "huber"))
    label_smoothing: float = opt(0.0, "label smoothing epsilon: targets become (1 - eps) y + eps / K "
                                      "(hard and soft targets)", min=0.0, below=1.0)
    class_weights: str = opt("", "weight each sample's loss by its class (classification, binary): "
                                 "auto (inverse class frequency on the training split, N / (K n_c)) "
                                 "or one weight per class separated by commas; empty: off")
    pos_weight: Optional[float] = opt(None, "binary, multilabel: weight of the positive examples in "
                                            "the binary cross-entropy (e.g. negatives / positives)")
    huber_delta: float = opt(1.0, "regression with loss.name huber: where the loss turns from "
                                  "squared to linear, in standardized target units")


@dataclass(frozen=True)
class DistillConfig:
    teacher: Optional[str] = opt(None, "knowledge distillation: a run or ensemble folder whose "
                                       "softened outputs the student learns from (none: off)")
    temperature: float = opt(4.0, "softmax temperature T of teacher and student in the distillation term")
    alpha: float = opt(0.9, "weight a of the distillation term: a T^2 KL(teacher || student) + "
                            "(1 - a) task loss")
    baseline: Optional[str] = opt(None, "a run of the same student trained without distillation, "
                                        "shown beside teacher and student in the summary and report")

    def __post_init__(self):
        if not self.temperature > 0:
            raise ConfigError(f"distill.temperature: must be > 0, got {self.temperature}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"distill.alpha: must be in [0, 1], got {self.alpha}")


@dataclass(frozen=True)
class EnsembleConfig:
    members: int = opt(1, "train this many runs of the config with seeds train.seed, +1, ... "
                          "(one after another) and build their prediction ensemble")
    snapshots: int = opt(0, "snapshot ensemble: keep the weights at the end of each of the last K "
                            "learning-rate cycles (schedule cosine_restarts or cyclic) and evaluate "
                            "their ensemble on the test split (0: off)")

    def __post_init__(self):
        if self.members < 1:
            raise ConfigError(f"ensemble.members: must be >= 1, got {self.members}")
        if self.snapshots < 0 or self.snapshots == 1:
            raise ConfigError(f"ensemble.snapshots: must be 0 (off) or >= 2, got {self.snapshots}")
