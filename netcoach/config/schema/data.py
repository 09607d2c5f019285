"""The input pipeline's sections: where the data comes from and how it is split and batched
([data]), and the training-time augmentation ([augment]).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from netcoach.config.augment_rules import check_augment
from netcoach.config.errors import ConfigError
from netcoach.config.schema.fields import opt


@dataclass(frozen=True)
class DataConfig:
    name: str = opt("digits", "dataset source (registry name)")
    path: Optional[str] = opt(None, "where the dataset lives (file, folder or archive)")
    val_fraction: float = opt(0.2, "fraction of the training data held out for validation "
                                   "(stratified) when the source has no validation split", above=0.0, below=1.0,
                        bounds_why="the validation split picks the best epoch and feeds early stopping, the "
                                   "monitors and the doctor; to train on nearly everything give it a few "
                                   "samples, e.g. 0.001")
    test_fraction: float = opt(0.2, "fraction held out for testing when the source has no test split", above=0.0, below=1.0)
    split_seed: int = opt(0, "seed of the train/val/test split (independent of train.seed)", min=0, max=2**32 - 1)
    batch_size: int = opt(64, "mini-batch size for training", min=1)
    eval_batch_size: int = opt(1024, "batch size for evaluation (no gradients, so larger is fine)", min=1)
    normalize: str = opt("per_channel", "input preprocessing fitted on the training split: per_channel "
                                        "(standardize each channel), mean_image (subtract the mean image), "
                                        "pca (project onto principal components; flat inputs for mlp/linear), "
                                        "zca (whitening; see zca_patch), none ([0, 1] units)",
                         choices=("per_channel", "mean_image", "pca", "zca", "none"))
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
    drop_last: bool = opt(False, "training: leave out each epoch's last, incomplete batch (a new "
                                 "sample set each epoch, as the order is reshuffled): a small last "
                                 "batch takes a full learning-rate step on a noisy gradient and, "
                                 "with a high BN momentum, sets much of the running statistics")


@dataclass(frozen=True)
class AugmentConfig:
    transforms: list[str] = opt([], "training-time transforms, applied in this order: hflip, vflip, "
                                    "crop, translate, rotate, affine, brightness, contrast, "
                                    "saturation, hue, color_shift, noise, cutout, erase, gridmask, "
                                    "mixup, cutmix")
    hflip_p: float = opt(0.5, "probability of a left-right mirror")
    hflip_mode: str = opt("random", "random: every epoch mirrors each sample with probability hflip_p; "
                                    "alternate: airbench's alternating flip, the first epoch draws each "
                                    "sample's mirror with probability hflip_p and every later epoch "
                                    "mirrors exactly the samples the previous epoch did not",
                          choices=("random", "alternate"))
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
                                          "vflip, shift (4 shifts), hflip_shift (4 shifts of the mirror), "
                                          "diagonal (2 diagonal shifts), hflip_diagonal (of the mirror)")
    tta_shift: int = opt(2, "pixels of each test-time shift (its border filled as translate_fill)")

    def __post_init__(self):
        # Names and values are checked when the config is made, so a typo fails at load
        # time with the list of valid transforms.
        check_augment(self)
