"""What a valid ``[augment]`` section is, as data the config owns.

``AugmentConfig`` checks itself on creation against these tables, so a typo in
``augment.transforms`` or an out-of-range value fails when the config is loaded
(before any run folder exists), with the list of valid transforms. The tables live
here rather than in ``netcoach.augment`` so that config depends on nothing above it;
tests/test_augment_config_loss.py checks that they name exactly the registered
transforms and the config fields each one reads.
"""

from __future__ import annotations

from netcoach.config.errors import ConfigError

# transform name -> the AugmentConfig fields it reads, in ``augment.transforms`` order of the docs
TRANSFORM_FIELDS: dict[str, tuple[str, ...]] = {
    "hflip": ("hflip_p", "hflip_mode"),
    "vflip": ("vflip_p",),
    "crop": ("crop_p", "crop_padding", "crop_fill"),
    "translate": ("translate_p", "translate_max", "translate_fill"),
    "rotate": ("rotate_p", "rotate_degrees", "rotate_fill"),
    "affine": ("affine_p", "affine_scale_min", "affine_scale_max", "affine_shear", "affine_fill"),
    "brightness": ("brightness_p", "brightness"),
    "contrast": ("contrast_p", "contrast"),
    "saturation": ("saturation_p", "saturation"),
    "hue": ("hue_p", "hue"),
    "color_shift": ("color_shift_p", "color_shift"),
    "noise": ("noise_p", "noise_std"),
    "cutout": ("cutout_p", "cutout_size", "cutout_value"),
    "erase": ("erase_p", "erase_area_min", "erase_area_max", "erase_aspect_max"),
    "gridmask": ("gridmask_p", "gridmask_d_min", "gridmask_d_max", "gridmask_r"),
    "mixup": ("mixup_p", "mixup_alpha"),
    "cutmix": ("cutmix_p", "cutmix_alpha"),
}

TTA_VIEWS = ("hflip", "vflip", "shift", "hflip_shift", "diagonal", "hflip_diagonal")
FILLS = ("zero", "reflect")

# (fields, condition on their values, what they must satisfy): every value the transforms reject
_RULES = (
    (("crop_padding",), lambda v: v >= 0, "must be >= 0 pixels"),
    (("brightness",), lambda v: v >= 0, "must be >= 0"),
    (("contrast",), lambda v: v >= 0, "must be >= 0"),
    (("saturation",), lambda v: v >= 0, "must be >= 0"),
    (("color_shift",), lambda v: v >= 0, "must be >= 0"),
    (("hue",), lambda v: 0 <= v <= 0.5, "must be in [0, 0.5] (turns of the colour wheel)"),
    (("noise_std",), lambda v: v >= 0, "must be >= 0"),
    (("affine_scale_min", "affine_scale_max"), lambda lo, hi: 0 < lo <= hi, "need 0 < scale_min <= scale_max"),
    (("cutout_size",), lambda v: v >= 1, "must be >= 1 pixel"),
    (("cutout_value",), lambda v: 0 <= v <= 1, "must be in [0, 1]"),
    (("erase_area_min", "erase_area_max"), lambda lo, hi: 0 < lo <= hi <= 1,
     "need 0 < area_min <= area_max <= 1"),
    (("erase_aspect_max",), lambda v: v >= 1, "must be >= 1"),
    (("gridmask_d_min", "gridmask_d_max"), lambda lo, hi: 2 <= lo <= hi, "need 2 <= d_min <= d_max"),
    (("gridmask_r",), lambda v: 0 < v < 1, "the kept edge ratio must be in (0, 1)"),
    (("mixup_alpha",), lambda v: v > 0, "Beta(alpha, alpha) needs alpha > 0"),
    (("cutmix_alpha",), lambda v: v > 0, "Beta(alpha, alpha) needs alpha > 0"),
    (("tta_shift",), lambda v: v >= 0, "must be >= 0 pixels"),
)


def catalogue() -> str:
    """Every transform name with the config fields it reads, for error messages."""
    return "; ".join(f"{name} ({', '.join(fields)})" for name, fields in TRANSFORM_FIELDS.items())


def check_augment(cfg) -> None:
    """Raise ConfigError for an unknown transform or view, or a value out of range;
    the message names the key, the value and what is valid."""
    for name in cfg.transforms:
        if name.lower() not in TRANSFORM_FIELDS:
            raise ConfigError(f"augment.transforms: unknown transform {name!r}; valid: {catalogue()}")
    for view in cfg.tta_views:
        if view not in TTA_VIEWS:
            raise ConfigError(f"augment.tta_views: unknown view {view!r}; valid: {', '.join(TTA_VIEWS)} "
                              "(the unchanged image is always included)")
    for name, fields in TRANSFORM_FIELDS.items():
        for key in fields:
            value = getattr(cfg, key)
            if key.endswith("_p") and not 0.0 <= value <= 1.0:
                raise ConfigError(f"augment.{key}: a probability must be in [0, 1], got {value}")
            if key.endswith("_fill") and value not in FILLS:
                raise ConfigError(f"augment.{key}: {value!r} is not valid; choose one of: {', '.join(FILLS)}")
    if cfg.hflip_mode != "random" and "hflip" not in [n.lower() for n in cfg.transforms]:
        raise ConfigError(f"augment.hflip_mode {cfg.hflip_mode}: applies to the hflip transform, which "
                          f"augment.transforms does not list ({', '.join(cfg.transforms) or 'none'}); "
                          f"add hflip or drop augment.hflip_mode")
    for keys, holds, rule in _RULES:
        values = [getattr(cfg, k) for k in keys]
        if not holds(*values):
            raise ConfigError(f"augment.{'/'.join(keys)}: {rule}, got {', '.join(map(str, values))}")
