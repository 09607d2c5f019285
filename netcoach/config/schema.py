"""The typed configuration tree: one frozen dataclass per section.

Every option netcoach has lives here, with its type and default. The CLI derives
its ``--section.key`` flags and their help from these classes (the text after
each field is its help), TOML files are validated against them, and the resolved
tree is written into every run folder, so re-running it reproduces the run.

Adding an option = adding a field with a default and a ``help`` entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


def opt(default, help: str, **kw):
    """A dataclass field with a help text (shown by ``netcoach train --help``)."""
    if isinstance(default, (list, dict)):
        value = default
        return field(default_factory=lambda: type(value)(value), metadata={"help": help, **kw})
    return field(default=default, metadata={"help": help, **kw})


@dataclass(frozen=True)
class DataConfig:
    name: str = opt("digits", "dataset source (registry name)")
    path: Optional[str] = opt(None, "where the dataset lives (file, folder or archive)")
    val_fraction: float = opt(0.2, "fraction of the training data held out for validation "
                                   "(stratified) when the source has no validation split")
    test_fraction: float = opt(0.2, "fraction held out for testing when the source has no test split")
    split_seed: int = opt(0, "seed of the train/val/test split (independent of train.seed)")
    batch_size: int = opt(64, "mini-batch size for training")
    eval_batch_size: int = opt(1024, "batch size for evaluation (no gradients, so larger is fine)")
    normalize: bool = opt(True, "standardize inputs per channel with statistics of the training split")
    # --- issue 3 (datasets): real formats, downloads, decode cache, streaming
    cache_dir: Optional[str] = opt(None, "where downloads and decode caches go (default: $NETCOACH_CACHE, "
                                         "else the user's cache folder, e.g. ~/.cache/netcoach)")
    download: bool = opt(True, "download the standard sets (mnist, fashion-mnist, cifar10, cifar100) "
                               "into cache_dir when data.path is not given and they are missing")
    skip_bad: bool = opt(False, "skip unreadable images in a folder (counted in the data summary) "
                                "instead of stopping with an error")
    image_size: list[int] = opt([], "resize folder images to this size (H,W or one number for square); "
                                    "empty: keep the size, or use the most common one when images differ")
    channels: int = opt(0, "folder images: 1 (grayscale) or 3 (RGB); 0 picks from the images")
    train_path: Optional[str] = opt(None, "folder source: separate training folder/archive (overrides path)")
    val_path: Optional[str] = opt(None, "folder source: separate validation folder/archive "
                                        "(else carved from training with val_fraction)")
    test_path: Optional[str] = opt(None, "folder source: separate test folder/archive "
                                         "(else carved with test_fraction)")
    labels: str = opt("fine", "cifar100 label set: fine (100 classes) or coarse (20 superclasses)",
                      choices=("fine", "coarse"))
    cache: bool = opt(True, "keep decoded folder images in the decode cache for faster later loads")
    streaming: bool = opt(False, "folder source: decode the training images on the fly with torch's "
                                 "DataLoader workers instead of holding them in memory")
    num_workers: int = opt(2, "DataLoader worker processes of the streaming path")


@dataclass(frozen=True)
class ModelConfig:
    name: str = opt("cnn", "model architecture (registry name)")
    width: int = opt(128, "hidden units per layer (mlp) or base channels (cnn)")
    depth: int = opt(2, "number of hidden layers (mlp) or conv blocks (cnn)")
    activation: str = opt("relu", "activation function of the hidden layers")
    dropout: float = opt(0.0, "dropout probability before the classifier layer")


@dataclass(frozen=True)
class OptimConfig:
    name: str = opt("adam", "optimizer (registry name)")
    lr: float = opt(1e-3, "learning rate")
    momentum: float = opt(0.9, "momentum coefficient (sgd-type optimizers)")
    betas: list[float] = opt([0.9, 0.999], "Adam-type moment decay rates (beta1, beta2)")
    eps: float = opt(1e-8, "numerical-stability term in adaptive optimizers")
    weight_decay: float = opt(0.0, "weight decay (decoupled for adamw, L2-in-gradient otherwise)")


@dataclass(frozen=True)
class ScheduleConfig:
    name: str = opt("constant", "learning-rate schedule (registry name)")
    step_size: int = opt(10, "epochs between decays (step schedule)")
    gamma: float = opt(0.1, "decay factor (step schedule)")


@dataclass(frozen=True)
class AugmentConfig:
    transforms: list[str] = opt([], "training-time transforms, applied in this order")


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = opt(30, "number of passes over the training data")
    seed: int = opt(0, "seed of every random choice of the run (init, shuffling, augmentation)")
    device: str = opt("auto", "auto (CUDA when present), cpu, cuda or cuda:N")
    monitor: str = opt("val_acc", "metric that selects the best checkpoint")
    mode: str = opt("max", "whether the monitored metric is better when larger (max) or smaller (min)",
                    choices=("max", "min"))
    deterministic: bool = opt(True, "ask PyTorch for deterministic algorithms")


@dataclass(frozen=True)
class DiagnoseConfig:
    preflight: bool = opt(True, "run the recipe checks before training")


@dataclass(frozen=True)
class ReportConfig:
    enabled: bool = opt(True, "write report.html at the end of training")


@dataclass(frozen=True)
class RunConfig:
    name: Optional[str] = opt(None, "run folder name (default: <data>-<model>-<timestamp>)")
    dir: str = opt("runs", "parent folder of the run folders")


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
