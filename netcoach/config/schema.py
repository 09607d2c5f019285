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
    transforms: list[str] = opt([], "training-time transforms, applied in this order: hflip, vflip, "
                                    "crop, translate, rotate, affine, brightness, contrast, "
                                    "saturation, hue, color_shift, noise, cutout, erase, gridmask, "
                                    "mixup, cutmix")
    hflip_p: float = opt(0.5, "probability of a left-right mirror")
    vflip_p: float = opt(0.5, "probability of a top-bottom mirror")
    crop_p: float = opt(1.0, "probability of a padded random crop")
    crop_padding: int = opt(4, "pixels of padding around the image before cropping back to size")
    crop_fill: str = opt("zero", "what fills the padding", choices=("zero", "reflect"))
    translate_p: float = opt(1.0, "probability of a shift")
    translate_max: float = opt(0.1, "largest shift as a fraction of height/width")
    translate_fill: str = opt("zero", "what fills the uncovered border", choices=("zero", "reflect"))
    rotate_p: float = opt(1.0, "probability of a rotation")
    rotate_degrees: float = opt(15.0, "largest rotation angle in degrees (uniform in +-)")
    rotate_fill: str = opt("zero", "what fills the corners", choices=("zero", "reflect"))
    affine_p: float = opt(1.0, "probability of a scale + shear warp")
    affine_scale_min: float = opt(0.9, "smallest zoom factor")
    affine_scale_max: float = opt(1.1, "largest zoom factor")
    affine_shear: float = opt(10.0, "largest horizontal shear angle in degrees (uniform in +-)")
    affine_fill: str = opt("zero", "what fills the uncovered area", choices=("zero", "reflect"))
    brightness_p: float = opt(1.0, "probability of a brightness change")
    brightness: float = opt(0.2, "brightness factor uniform in [1 - this, 1 + this]")
    contrast_p: float = opt(1.0, "probability of a contrast change")
    contrast: float = opt(0.2, "contrast factor uniform in [1 - this, 1 + this]")
    saturation_p: float = opt(1.0, "probability of a saturation change (RGB only)")
    saturation: float = opt(0.2, "saturation factor uniform in [1 - this, 1 + this]")
    hue_p: float = opt(1.0, "probability of a hue rotation (RGB only)")
    hue: float = opt(0.05, "largest hue rotation in turns of the colour wheel (at most 0.5)")
    color_shift_p: float = opt(1.0, "probability of a per-channel colour shift")
    color_shift: float = opt(0.1, "largest per-channel offset added to [0, 1] values")
    noise_p: float = opt(1.0, "probability of Gaussian pixel noise")
    noise_std: float = opt(0.03, "standard deviation of the noise in [0, 1] units")
    cutout_p: float = opt(1.0, "probability of a cutout square")
    cutout_size: int = opt(8, "side of the cutout square in pixels")
    cutout_value: float = opt(0.0, "value written into the square ([0, 1] units; 0 = black)")
    erase_p: float = opt(0.5, "probability of random erasing")
    erase_area_min: float = opt(0.02, "smallest erased area as a fraction of the image")
    erase_area_max: float = opt(0.4, "largest erased area as a fraction of the image")
    erase_aspect_max: float = opt(3.3, "largest aspect ratio of the erased rectangle (and 1/this)")
    gridmask_p: float = opt(1.0, "probability of GridMask")
    gridmask_d_min: int = opt(8, "smallest grid unit d in pixels")
    gridmask_d_max: int = opt(16, "largest grid unit d in pixels")
    gridmask_r: float = opt(0.6, "kept edge ratio r of a unit; erases (1 - r)^2 of the image")
    mixup_p: float = opt(1.0, "probability that a sample is mixed (mixup)")
    mixup_alpha: float = opt(0.2, "mixup's lambda ~ Beta(alpha, alpha)")
    cutmix_p: float = opt(0.5, "probability that a sample gets a pasted box (cutmix)")
    cutmix_alpha: float = opt(1.0, "cutmix's lambda ~ Beta(alpha, alpha) sizes the box")
    tta: bool = opt(False, "also evaluate the test split with test-time augmentation (test_acc_tta)")
    tta_views: list[str] = opt(["hflip"], "extra test-time views besides the image itself: hflip, "
                                          "vflip, shift (4 shifts), hflip_shift (4 shifts of the mirror)")
    tta_shift: int = opt(2, "pixels of each test-time shift")

    def __post_init__(self):
        # Names and values are checked when the config is made, so a typo fails at load
        # time with the list of valid transforms (imported here: augment imports config).
        from netcoach.augment.pipeline import validate

        validate(self)


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
class LossConfig:
    label_smoothing: float = opt(0.0, "label smoothing epsilon: targets become (1 - eps) y + eps / K "
                                      "(hard and soft targets)")


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
    loss: LossConfig = field(default_factory=LossConfig)
