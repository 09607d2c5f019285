"""Architectures from torchvision and timm (``model.name tv:resnet18``, ``timm:resnet18``).

These are optional: torchvision and timm are not netcoach dependencies (the ``vision``
extra installs them), and nothing here downloads weights. The point is to build the exact
architecture whose published weights a user has saved to a file, so that
``model.init_from`` can load them.

The library's model becomes a ``Network``: its classifier (the last ``nn.Linear``, e.g.
torchvision ResNet's ``fc``, or what timm's ``get_classifier`` names) is replaced by an
``nn.Identity`` inside the library's model, which is then the backbone (it outputs the
(N, D) features), and a new ``nn.Linear(D, num_classes)`` is the head. The two names
of a published state dict are therefore known exactly: the classifier's keys
(``fc.weight``) become ``head.weight``, every other key ``k`` becomes ``backbone.k``.
:meth:`ExternalNetwork.adopt_keys` does that one mapping (no guessing); a state dict saved
from netcoach (``backbone.*``/``head.*``) is taken as it is.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import fields

from torch import nn

from netcoach.config import ConfigError, ModelConfig
from netcoach.models.network import Network
from netcoach.nn.init import InitScheme
from netcoach.registry import Registry

# prefix -> (module to import, the pip extra that installs it)
LIBRARIES = {"tv": ("torchvision", "vision"), "timm": ("timm", "vision")}
# ModelConfig keys that netcoach's own families read and these libraries' models ignore:
# a non-default value is refused rather than silently dropped.
_IGNORED = ("width", "depth", "activation", "dropout", "norm", "norm_position", "norm_groups",
            "block_dropout", "dropout_mode", "input_dropout", "leaky_slope", "maxout_pieces",
            "vgg_layout", "resnet_depth", "width_mult", "rnn_cell", "bidirectional")

families: Registry = Registry("model family")


class ExternalNetwork(Network):
    """A ``Network`` around a torchvision/timm model; ``classifier`` is the module path the
    library's own classifier had (``fc``), used to map published state dicts."""

    def __init__(self, backbone: nn.Module, head: nn.Linear, classifier: str, init: InitScheme):
        super().__init__(backbone, head, init)
        self.classifier = classifier

    def adopt_keys(self, state: dict) -> dict:
        """``state`` with the library's own key names mapped to this model's.

        A state dict that already uses ``backbone.``/``head.`` names (saved by netcoach)
        is returned unchanged; otherwise ``<classifier>.*`` -> ``head.*`` and every other
        key ``k`` -> ``backbone.k``.
        """
        if any(k.startswith(("backbone.", "head.")) for k in state):
            return state
        prefix = self.classifier + "."
        return {("head." + k[len(prefix):] if k.startswith(prefix) else "backbone." + k): v
                for k, v in state.items()}


def is_external(name: str) -> bool:
    """Whether ``model.name`` asks for a library's architecture (``prefix:arch``)."""
    return ":" in name


def build_external(cfg: ModelConfig, input_shape: tuple[int, ...], num_classes: int) -> ExternalNetwork:
    """Build ``cfg.name`` = ``prefix:arch`` (prefix tv or timm) as an ``ExternalNetwork``."""
    prefix, _, arch = cfg.name.partition(":")
    builder = families.get(prefix.lower()) if prefix.lower() in families else None
    if builder is None or not arch:
        raise ConfigError(f"model.name {cfg.name!r}: expected PREFIX:ARCH with PREFIX one of "
                          f"{', '.join(families.names())} (e.g. tv:resnet18, timm:resnet18)")
    _check_unused_options(cfg)
    if len(input_shape) != 3:
        raise ConfigError(f"model.name {cfg.name}: needs image inputs (C, H, W), got shape {input_shape}")
    return builder(cfg, arch, tuple(input_shape), num_classes)


def _check_unused_options(cfg: ModelConfig) -> None:
    defaults = ModelConfig()
    for f in fields(ModelConfig):
        if f.name in _IGNORED and getattr(cfg, f.name) != getattr(defaults, f.name):
            raise ConfigError(f"model.{f.name} = {getattr(cfg, f.name)!r} does not apply to {cfg.name}: "
                              f"the library builds its own layers; leave model.{f.name} at its default "
                              f"({getattr(defaults, f.name)!r}) or use one of netcoach's own model families")


def require(prefix: str, name: str = ""):
    """The library behind ``prefix``, or a ConfigError naming the extra that installs it
    (``name``: the model.name asked for, for the message)."""
    module, extra = LIBRARIES[prefix]
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(f"model.name {name or prefix + ':...'}: needs {module}, which is not installed ({exc}); "
                          f"install the optional extra: pip install 'netcoach[{extra}]' (or pip install "
                          f"{module} matching your torch)") from None


def _unknown(prefix: str, arch: str, available: list[str]) -> ConfigError:
    close = difflib.get_close_matches(arch, available, n=5, cutoff=0.6)
    hint = f"closest: {', '.join(close)}" if close else f"e.g. {', '.join(available[:8])}"
    return ConfigError(f"model.name {prefix}:{arch}: {LIBRARIES[prefix][0]} has no model {arch!r}; {hint}")


def _last_linear(model: nn.Module) -> str:
    """The module path of ``model``'s last ``nn.Linear`` (its classifier)."""
    paths = [name for name, m in model.named_modules() if type(m) is nn.Linear]
    if not paths:
        raise ConfigError(f"{type(model).__name__} has no nn.Linear classifier to become the head; "
                          f"netcoach's transfer tools need one")
    return paths[-1]


def _wrap(model: nn.Module, classifier: str, num_classes: int, init: InitScheme) -> ExternalNetwork:
    """Move ``model``'s classifier out into a new head of ``num_classes`` outputs."""
    old = model.get_submodule(classifier)
    parent_path, _, child = classifier.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    setattr(parent, child, nn.Identity())
    head = nn.Linear(old.in_features, num_classes, bias=old.bias is not None)
    return ExternalNetwork(model, head, classifier, init)


def _init(cfg: ModelConfig) -> InitScheme:
    return InitScheme(cfg.init, cfg.init_std, cfg.bias_init, cfg.bias_value)


def _check_channels(name: str, input_shape: tuple[int, ...], needed: int = 3) -> None:
    if input_shape[0] != needed:
        raise ConfigError(f"model.name {name}: torchvision models take {needed}-channel images, the data "
                          f"has {input_shape[0]}; for a folder source set data.channels {needed}")


@families.register("tv")
def torchvision_model(cfg: ModelConfig, arch: str, input_shape: tuple[int, ...], num_classes: int) -> ExternalNetwork:
    tv = require("tv", cfg.name)
    available = sorted(tv.models.list_models(module=tv.models))
    if arch not in available:
        raise _unknown("tv", arch, available)
    _check_channels(cfg.name, input_shape)
    model = tv.models.get_model(arch, weights=None)
    return _wrap(model, _last_linear(model), num_classes, _init(cfg))


@families.register("timm")
def timm_model(cfg: ModelConfig, arch: str, input_shape: tuple[int, ...], num_classes: int) -> ExternalNetwork:
    timm = require("timm", cfg.name)
    available = timm.list_models()
    if arch not in available:
        raise _unknown("timm", arch, available)
    model = timm.create_model(arch, pretrained=False, in_chans=input_shape[0])
    classifier = model.pretrained_cfg.get("classifier") or _last_linear(model)
    if not isinstance(model.get_submodule(classifier), nn.Linear):
        raise ConfigError(f"model.name {cfg.name}: its classifier {classifier} is a "
                          f"{type(model.get_submodule(classifier)).__name__}, not an nn.Linear head")
    return _wrap(model, classifier, num_classes, _init(cfg))


__all__ = ["ExternalNetwork", "build_external", "families", "is_external", "require"]
