"""The typed configuration tree: one frozen dataclass per section.

Every option netcoach has lives here, with its type and default. The CLI derives
its ``--section.key`` flags and their help from these classes (the text after
each field is its help), TOML files are validated against them, and the resolved
tree is written into every run folder, so re-running it reproduces the run.

Adding an option = adding a field with a default and a ``help`` entry, and its
valid values as metadata: ``min``/``max`` (inclusive), ``above``/``below``
(exclusive), ``choices`` (on a list: for every item), ``plain_name`` (one path
component). ``config/loader.py`` checks every value against them, so a bad value
fails before any file is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from netcoach.config.augment_rules import check_augment
from netcoach.config.errors import ConfigError


PREFLIGHT_CHECKS = ("output_layer", "initial_loss", "overfit_batch", "gradient_check", "data",
                    "init_units", "dropout_bn")


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
                                   "(stratified) when the source has no validation split", above=0.0, below=1.0)
    test_fraction: float = opt(0.2, "fraction held out for testing when the source has no test split", above=0.0, below=1.0)
    split_seed: int = opt(0, "seed of the train/val/test split (independent of train.seed)", min=0, max=2**32 - 1)
    batch_size: int = opt(64, "mini-batch size for training", min=1)
    eval_batch_size: int = opt(1024, "batch size for evaluation (no gradients, so larger is fine)", min=1)
    normalize: str = opt("per_channel", "input preprocessing fitted on the training split: per_channel "
                                        "(standardize each channel), mean_image (subtract the mean image), "
                                        "pca (project onto principal components; flat inputs for mlp/linear), "
                                        "zca (whitening; see zca_patch), none ([0, 1] units); "
                                        "true/false mean per_channel/none",
                         choices=("per_channel", "mean_image", "pca", "zca", "none"),
                         aliases={"true": "per_channel", "false": "none"})
    pca_components: Optional[int] = opt(None, "data.normalize pca: keep this many components "
                                              "(instead of data.pca_variance)", min=1)
    pca_variance: Optional[float] = opt(None, "data.normalize pca: keep the fewest components explaining "
                                              "this fraction of the variance (default 0.99)", above=0.0, max=1.0)
    zca_epsilon: float = opt(1e-2, "data.normalize zca: added to every eigenvalue before 1/sqrt, so "
                                   "directions of tiny variance (noise) are not blown up", above=0.0)
    zca_patch: int = opt(0, "data.normalize zca: 0 whitens whole inputs (images keep their shape); k > 0 "
                            "whitens every k x k patch as airbench's first layer (C*k*k channels of "
                            "(H-k+1) x (W-k+1))", min=0, max=16)
    cache_dir: Optional[str] = opt(None, "where downloads and decode caches go (default: $NETCOACH_CACHE, "
                                         "else the user's cache folder, e.g. ~/.cache/netcoach)")
    download: bool = opt(True, "download the standard sets (mnist, fashion-mnist, cifar10, cifar100) "
                               "into cache_dir when data.path is not given and they are missing")
    skip_bad: bool = opt(False, "skip unreadable images in a folder (counted in the data summary) "
                                "instead of stopping with an error")
    image_size: list[int] = opt([], "resize folder images to this size (H,W or one number for square); "
                                    "empty: keep the size, or use the most common one when images differ", min=1, max=8192)
    channels: int = opt(0, "folder images: 1 (grayscale) or 3 (RGB); 0 picks from the images", choices=(0, 1, 3))
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
    num_workers: int = opt(2, "DataLoader worker processes of the streaming path", min=0, max=256)

    def __post_init__(self):
        # Both fractions are of the whole set; rounded so 0.9 + 0.2 reads 1.1, not 1.1000000000000001.
        total = round(self.val_fraction + self.test_fraction, 10)
        if total >= 1.0:
            raise ConfigError(f"data.val_fraction + data.test_fraction = {self.val_fraction:g} + "
                              f"{self.test_fraction:g} = {total:g} >= 1: nothing is left for training; "
                              f"lower one of them")
        self._check_normalize()

    def _check_normalize(self) -> None:
        """The mode's own options only with that mode, and one way to choose PCA's size."""
        if self.pca_components is not None and self.pca_variance is not None:
            raise ConfigError(f"data.pca_components {self.pca_components} and data.pca_variance "
                              f"{self.pca_variance:g}: give one of them (a count or a variance fraction)")
        chosen = [k for k, v in (("pca_components", self.pca_components), ("pca_variance", self.pca_variance))
                  if v is not None]
        if chosen and self.normalize != "pca":
            raise ConfigError(f"data.{chosen[0]}: applies to data.normalize pca, not {self.normalize!r}; "
                              f"set --data.normalize pca or drop it")
        if self.zca_patch and self.normalize != "zca":
            raise ConfigError(f"data.zca_patch {self.zca_patch}: applies to data.normalize zca, not "
                              f"{self.normalize!r}; set --data.normalize zca or drop it")
    target: list[str] = opt([], "csv source: the target column(s) (class labels for classification; "
                                "numbers for regression)")
    features: list[str] = opt([], "csv source: the input columns (empty: every column but the target)")
    categorical: list[str] = opt([], "csv source: columns to one-hot encode even though their values "
                                     "are numbers (e.g. codes); text columns are categorical anyway")
    sampler: str = opt("shuffle", "order of the training samples: shuffle (a new permutation every "
                                  "epoch) or balanced (every batch holds every class, in about the "
                                  "class proportions; classification and binary)",
                       choices=("shuffle", "balanced"))


@dataclass(frozen=True)
class ModelConfig:
    name: str = opt("cnn", "model architecture (registry name)")
    width: int = opt(128, "hidden units per layer (mlp), base channels (cnn, cnn1d) or hidden size (rnn)", min=1, max=65536)
    depth: Optional[int] = opt(None, "hidden layers (mlp; default 2), conv blocks (cnn; default 3, "
                                     "which reaches >= 98% on MNIST where 2 does not; cnn1d: default 3) "
                                     "or recurrent layers (rnn; default 1)", min=1, max=1000)
    activation: str = opt("relu", "activation function of the hidden layers")
    dropout: float = opt(0.0, "dropout probability before the classifier layer", min=0.0, below=1.0)
    # every model builds its layers from these choices
    norm: str = opt("default", "normalization in every block: default (the model's own), batch, "
                               "layer, instance, group or none",
                    choices=("default", "batch", "layer", "instance", "group", "none"))
    norm_position: str = opt("before", "place the normalization before or after the activation",
                             choices=("before", "after"))
    norm_groups: int = opt(8, "groups of group norm (rounded down to a divisor of each layer's width)", min=1)
    block_dropout: float = opt(0.0, "dropout probability after every hidden block (or of its weights "
                                    "for dropconnect)", min=0.0, below=1.0)
    dropout_mode: str = opt("inverted", "dropout variant of model.dropout and model.block_dropout",
                            choices=("inverted", "direct", "spatial", "alpha", "dropconnect"))
    input_dropout: float = opt(0.0, "dropout probability applied to the input features", min=0.0, below=1.0)
    init: str = opt("default", "weight init of Linear/Conv layers: default, xavier_uniform, "
                               "xavier_normal, he_uniform, he_normal, lecun_normal, normal "
                               "(glorot_*/kaiming_* are aliases)")
    init_std: float = opt(0.01, "standard deviation of init normal (the course uses 0.001 for a "
                                "linear classifier)", above=0.0)
    bias_init: str = opt("default", "bias init: default (as built), zeros, constant (bias_value), or "
                                    "prior (the output layer's bias starts at the training split's class "
                                    "prior: log p for softmax, logit p for binary and multilabel)",
                         choices=("default", "zeros", "constant", "prior"))
    bias_value: float = opt(0.0, "the constant of bias_init constant")
    leaky_slope: float = opt(0.01, "negative slope of activation leaky_relu")
    maxout_pieces: int = opt(2, "pieces k of activation maxout (the layer before it is k times wider)", min=1, max=64)
    vgg_layout: str = opt("vgg11", "vgg stages: vgg11, vgg13, vgg16, vgg19 or channels and M "
                                   "(max-pool) separated by commas, e.g. 64,M,128,M")
    resnet_depth: int = opt(20, "resnet depth: 20, 32, 44, 56, 110 (CIFAR ResNets) or 18, 34", choices=(18, 20, 32, 34, 44, 56, 110))
    width_mult: float = opt(1.0, "multiply the channel counts of lenet5, vgg, resnet, resnet9", above=0.0, max=64.0)
    rnn_cell: str = opt("gru", "rnn: the recurrent cell (model.width is its hidden size, model.depth "
                               "its layers)", choices=("gru", "lstm"))
    bidirectional: bool = opt(False, "rnn: read the sequence in both directions")
    init_from: Optional[str] = opt(None, "start from trained weights: a run folder (its best weights), "
                                         "a .safetensors file or a .pt/.pth state dict (tensors only, "
                                         "never code); keys are matched by name")


@dataclass(frozen=True)
class OptimConfig:
    name: str = opt("adam", "optimizer (registry name): gd, sgd, momentum, nesterov, adagrad, rmsprop, "
                            "adam, adamw, adadelta, radam")
    lr: float = opt(1e-3, "learning rate", above=0.0)
    momentum: float = opt(0.9, "momentum coefficient alpha (momentum, nesterov)", min=0.0, max=1.0)
    betas: list[float] = opt([0.9, 0.999], "Adam-type moment decay rates (beta1, beta2)", min=0.0, below=1.0)
    eps: float = opt(1e-8, "numerical-stability term in adaptive optimizers", min=0.0)
    weight_decay: float = opt(0.0, "weight decay (decoupled for adamw, L2-in-gradient otherwise)", min=0.0)
    rho: float = opt(0.9, "decay of the running average of squared gradients (rmsprop beta, adadelta gamma)", min=0.0, max=1.0)
    bias_correction: bool = opt(True, "adam: divide the moments by (1 - beta^t); false gives the "
                                      "course's first Adam formula")
    adadelta_accumulator: str = opt("ema", "adadelta: running average of squared gradients (ema, as "
                                           "Zeiler and torch) or their running sum (sum, as the course's slide)",
                                    choices=("ema", "sum"))
    initial_accumulator: float = opt(0.0, "adagrad: starting value v0 of the squared-gradient sum "
                                          "(torch's default 0; Keras uses 0.1)", min=0.0)
    decay_bias_norm: bool = opt(False, "also apply weight decay, L1/L2 and max-norm to biases and "
                                       "normalization parameters (excluded by default)")


@dataclass(frozen=True)
class ScheduleConfig:
    name: str = opt("constant", "learning-rate schedule (registry name): constant, step, multistep, "
                                "exponential, plateau, cyclic, cosine_restarts, onecycle")
    step_size: int = opt(10, "epochs between decays (step schedule)", min=1)
    gamma: float = opt(0.1, "decay factor (step, multistep, exponential per epoch, plateau)", above=0.0)
    milestones: list[int] = opt([50, 75], "epochs at which multistep multiplies the lr by gamma", min=1)
    monitor: str = opt("val_loss", "plateau: the metric of the epoch logs it watches")
    mode: str = opt("auto", "plateau: whether the monitored metric is better when smaller (min) or larger "
                            "(max); auto: from its name (loss, error -> min; acc, f1 -> max)",
                    choices=("auto", "min", "max"))
    patience: int = opt(5, "plateau: epochs without improvement before the lr is multiplied by gamma", min=0)
    threshold: float = opt(1e-4, "plateau: relative change that counts as an improvement", min=0.0)
    min_lr: float = opt(0.0, "lowest lr (plateau floor, cosine_restarts minimum, cyclic lower bound when > 0)", min=0.0)
    max_lr: Optional[float] = opt(None, "peak lr of cyclic and onecycle (default: 10 x optim.lr for "
                                        "cyclic, optim.lr for onecycle)", above=0.0)
    half_cycle_epochs: float = opt(2.0, "cyclic: epochs from the lower to the upper bound", above=0.0)
    t0_epochs: int = opt(10, "cosine_restarts: epochs of the first cycle", min=1)
    t_mult: int = opt(1, "cosine_restarts: each cycle is t_mult times longer than the previous one", min=1)
    pct_start: float = opt(0.3, "onecycle: fraction of the steps spent increasing the lr", above=0.0, below=1.0)
    warmup_steps: int = opt(0, "linear warmup over this many optimizer steps, on top of any schedule", min=0)
    grow_batch: bool = opt(False, "instead of decaying the lr, grow the training batch by the same "
                                  "factors (Smith et al. 2017; per-epoch schedules only)")


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
        # time with the list of valid transforms.
        check_augment(self)


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
    monitor_samples: int = opt(1, "step pairs sampled per epoch by the monitor (cost grows with it)", min=0)
    update_ratio_band: list[float] = opt([1e-4, 3e-2], "update/weight ratio band outside which the "
                                                       "monitor warns (rules of thumb: ~1e-3 to 1e-2)", above=0.0)
    dead_max: float = opt(0.5, "fraction of dead ReLU units (or saturated sigmoid/tanh outputs) "
                               "above which a layer is flagged", min=0.0, max=1.0)

    def __post_init__(self):
        band = list(self.update_ratio_band)
        if len(band) != 2 or not band[0] < band[1]:
            raise ConfigError(f"diagnose.update_ratio_band: expected two numbers low,high with "
                              f"low < high, got {band}")


@dataclass(frozen=True)
class ReportConfig:
    enabled: bool = opt(True, "write report.html at the end of training")
    mistakes: int = opt(16, "most confidently misclassified test samples shown in the report "
                            "(at most the 32 the run stores)", min=0, max=32)
    max_filters: int = opt(64, "first-layer convolution filters shown in the report", min=0)


@dataclass(frozen=True)
class RunConfig:
    name: Optional[str] = opt(None, "run folder name (default: <data>-<model>-<timestamp>)", plain_name=True)
    dir: str = opt("runs", "parent folder of the run folders")


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
class RegularizeConfig:
    l2: float = opt(0.0, "L2 penalty lambda: C = C0 + lambda/(2n) sum w^2 (n = training samples)", min=0.0)
    l1: float = opt(0.0, "L1 penalty lambda: C = C0 + lambda/n sum |w|", min=0.0)
    weight_decay: float = opt(0.0, "decoupled weight decay: w <- (1 - lr*lambda) w before each step", min=0.0)
    max_norm: Optional[float] = opt(None, "max-norm: each neuron's incoming weight vector is projected "
                                          "back to norm <= c after every step", above=0.0)
    clip_norm: Optional[float] = opt(None, "clip gradients to global norm <= theta", above=0.0)
    clip_value: Optional[float] = opt(None, "clip each gradient entry to [-v, v]", above=0.0)
    noise_eta: float = opt(0.0, "gradient noise: Gaussian with variance eta/(1+t)^gamma (0: off)", min=0.0)
    noise_gamma: float = opt(0.55, "gradient noise annealing exponent gamma", min=0.0)


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
class TaskConfig:
    name: str = opt("classification", "what is learned (registry name): decides the loss, the metrics, "
                                      "the label checks, the split strategy and the report sections")


@dataclass(frozen=True)
class TransferConfig:
    freeze: str = opt("none", "what does not train at first: none, backbone (all but the head) or N "
                              "(the first N blocks of the backbone); frozen BatchNorm stays in eval mode")
    unfreeze_epoch: int = opt(0, "train the frozen part again after this many epochs (0: it stays frozen)")
    backbone_lr_mult: float = opt(1.0, "the backbone's lr is optim.lr times this (discriminative lr)")
    layer_decay: float = opt(1.0, "layer-wise lr decay (timm): block b of B gets lr x layer_decay^(B - b), "
                                  "the head lr x 1")


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
class DistConfig:
    nproc: int = opt(1, "processes on this machine (1: no launch); netcoach train relaunches itself "
                        "through torch.distributed.run with this many; data.batch_size stays the "
                        "global batch, split across them")
    backend: str = opt("auto", "torch.distributed backend: auto (nccl on CUDA, gloo on CPU), gloo or nccl",
                       choices=("auto", "gloo", "nccl"))
    sync_bn: bool = opt(False, "convert BatchNorm layers to SyncBatchNorm (statistics over the global "
                               "batch instead of each process's share)")


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
