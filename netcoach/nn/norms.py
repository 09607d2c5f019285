"""Normalization layers by name: batch, layer, instance, group, none.

All come from torch; this module only maps a name and a layer shape to the right
class. Which statistics each one averages over (the course's table):

    batch     (N, D) -> mu, sigma of shape 1 x D;  (N, C, H, W) -> 1 x C x 1 x 1
    layer     mu, sigma per sample (N x 1), over all its features (and pixels)
    instance  (N, C, H, W) -> N x C x 1 x 1 (per sample and channel; maps only)
    group     per sample over groups of channels (layer = 1 group, instance = C groups)
"""

from __future__ import annotations

from torch import nn

from netcoach.registry import Registry

norms: Registry = Registry("normalization")


@norms.register("batch")
def _batch(channels: int, spatial: bool, groups: int = 8) -> nn.Module:
    """Batch statistics in training, running averages in eval."""
    return nn.BatchNorm2d(channels) if spatial else nn.BatchNorm1d(channels)


@norms.register("layer")
def _layer(channels: int, spatial: bool, groups: int = 8) -> nn.Module:
    # On maps, GroupNorm with one group is layer norm over (C, H, W) with a per-channel
    # scale and shift; it works for any H, W (nn.LayerNorm would need them fixed).
    return nn.GroupNorm(1, channels) if spatial else nn.LayerNorm(channels)


@norms.register("instance")
def _instance(channels: int, spatial: bool, groups: int = 8) -> nn.Module:
    if not spatial:
        raise ValueError("norm 'instance' normalizes each channel of a feature map over its pixels; "
                         "a flat layer has no pixels: use norm layer, group or batch for this model")
    return nn.InstanceNorm2d(channels, affine=True)


@norms.register("group")
def _group(channels: int, spatial: bool, groups: int = 8) -> nn.Module:
    return nn.GroupNorm(divisor_at_most(channels, groups), channels)


@norms.register("none")
def _none(channels: int, spatial: bool, groups: int = 8) -> nn.Module:
    return nn.Identity()


def divisor_at_most(channels: int, groups: int) -> int:
    """The largest number of groups <= ``groups`` that divides ``channels`` (e.g. 6, 8 -> 6).

    Layers of one model have different widths (LeNet's 6 and 16 channels); rounding
    the group count down keeps one ``norm_groups`` setting valid for all of them.
    """
    for g in range(min(groups, channels), 0, -1):
        if channels % g == 0:
            return g
    return 1


NORM_LAYERS = (nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm, nn.modules.instancenorm._InstanceNorm)


def fix_scales(model: nn.Module) -> list[str]:
    """Keep the scale (gamma, initialised to 1) of every normalization layer of ``model``
    fixed: ``requires_grad = False``, so no optimizer group holds it and it stays 1.

    With a fixed scale a normalized unit can still be shifted (the bias trains) but not
    rescaled; the next layer's weights do the rescaling. airbench trains this way: one
    parameter fewer per channel to tune, and its BN shifts get a larger lr instead.
    Returns the qualified names of the fixed scales.
    """
    fixed = []
    for name, module in model.named_modules():
        if isinstance(module, NORM_LAYERS) and getattr(module, "weight", None) is not None:
            module.weight.requires_grad_(False)
            fixed.append(f"{name}.weight" if name else "weight")
    return fixed


def make_norm(name: str, channels: int, spatial: bool, groups: int = 8) -> nn.Module:
    """A normalization layer for ``channels`` features (``spatial``: of (N, C, H, W) maps).

    Example:
        >>> make_norm("group", 16, spatial=True, groups=4)
        GroupNorm(4, 16, eps=1e-05, affine=True, bias=True)
    """
    return norms.get(name)(channels, spatial, groups)
