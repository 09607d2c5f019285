"""Initialise a model from trained weights: a run folder, a safetensors file or a state dict.

Nothing here runs code from the file: run folders and ``.safetensors`` hold plain tensors,
and ``.pt``/``.pth`` files are opened only with ``torch.load(weights_only=True)``, whose
restricted unpickler refuses any object that would need code (a ``__reduce__`` payload,
a pickled module). Keys are matched by name; what did not load is listed, never guessed
(no renaming heuristics), so a surprise shows up in the run's notes. The one exception is
exact: a torchvision/timm model (``models/external.py``) maps its library's own names
(``fc.weight`` -> ``head.weight``, ``conv1.weight`` -> ``backbone.conv1.weight``).
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from netcoach.config import ConfigError
from netcoach.train.checkpoint import CheckpointError, load_weights
from netcoach.train.run import RunFolder

# Where checkpoints written by other tools keep the state dict inside a bigger dict.
_NESTED_KEYS = ("state_dict", "model_state_dict", "model")
_SUFFIXES = (".safetensors", ".pt", ".pth")


@dataclass
class LoadReport:
    """What ``init_from`` did: the keys loaded, and those that were not (and why)."""

    source: str
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)      # in the model, not in the file
    unexpected: list[str] = field(default_factory=list)   # in the file, not in the model
    mismatched: list[str] = field(default_factory=list)   # "key: file (a, b) vs model (c, d)"
    head_replaced: str = ""                               # "6 -> 4 outputs" when the head differs

    def message(self) -> str:
        """One line: how many tensors loaded, then every key that did not, by reason."""
        parts = [f"init_from {self.source}: loaded {len(self.loaded)} tensors"]
        if self.head_replaced:
            parts.append(f"new head ({self.head_replaced}, freshly initialised)")
        for label, keys in (("shape mismatch", self.mismatched), ("missing in file", self.missing),
                            ("unexpected in file", self.unexpected)):
            if keys:
                parts.append(f"{label} ({len(keys)}): {', '.join(keys)}")
        return "; ".join(parts)

    def record(self) -> dict:
        return {"source": self.source, "loaded": len(self.loaded), "missing": self.missing,
                "unexpected": self.unexpected, "mismatched": self.mismatched,
                "head_replaced": self.head_replaced}


def read_state_dict(source: str | Path) -> dict[str, torch.Tensor]:
    """The tensors stored at ``source``: a run folder's best weights, a safetensors file,
    or a ``.pt``/``.pth`` state dict (``weights_only`` loading: code is never run)."""
    path = Path(source)
    if path.is_dir():
        run = RunFolder(path)
        if not run.is_run():
            raise ConfigError(f"model.init_from: {path} is a folder but not a netcoach run folder "
                              f"(no config.toml); give a run folder or a .safetensors/.pt/.pth file")
        best = run.checkpoints / "best.safetensors"
        if not best.is_file():
            raise ConfigError(f"model.init_from: run folder {path} has no best weights ({best} "
                              f"is missing); did its training finish an epoch?")
        return load_weights(best)
    if not path.is_file():
        raise ConfigError(f"model.init_from: {path} does not exist; give a run folder or a "
                          f".safetensors/.pt/.pth file")
    if path.suffix == ".safetensors":
        try:
            return load_weights(path)
        except CheckpointError as exc:
            raise ConfigError(f"model.init_from: {exc}") from None
    if path.suffix in (".pt", ".pth"):
        return _torch_state_dict(path)
    raise ConfigError(f"model.init_from: {path} has suffix '{path.suffix}'; expected a run folder "
                      f"or one of {', '.join(_SUFFIXES)}")


def _torch_state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        reason = str(exc).splitlines()[0][:200]
        raise ConfigError(f"model.init_from: refused {path}: it is a pickle that needs code to load "
                          f"({reason}); netcoach loads only plain tensors: save the weights with "
                          f"torch.save(model.state_dict(), ...) or as .safetensors") from None
    except (RuntimeError, EOFError, OSError) as exc:
        raise ConfigError(f"model.init_from: {path} is not a readable PyTorch file "
                          f"({str(exc).splitlines()[0][:200]})") from None
    for key in _NESTED_KEYS:
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)} if isinstance(obj, dict) else {}
    if not tensors:
        raise ConfigError(f"model.init_from: {path} holds no state dict (a dict of named tensors); "
                          f"got {type(obj).__name__}")
    return tensors


def match_state(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> tuple[dict, LoadReport]:
    """Split ``state`` into what fits ``model`` (same name and shape) and a report of the rest.

    A different number of outputs in the head (``head.*`` keys of a ``Network``) is the
    normal transfer case: the model keeps its own new head and the report says so.
    """
    own = model.state_dict()
    report = LoadReport(source)
    fits = {}
    head = _head_keys(model)
    for key, value in state.items():
        if key not in own:
            report.unexpected.append(key)
        elif tuple(value.shape) != tuple(own[key].shape):
            if key in head:
                report.head_replaced = f"{value.shape[0]} -> {own[key].shape[0]} outputs"
            else:
                report.mismatched.append(f"{key}: file {tuple(value.shape)} vs model {tuple(own[key].shape)}")
        else:
            fits[key] = value
            report.loaded.append(key)
    replaced = bool(report.head_replaced)
    report.missing = [k for k in own if k not in state and not (replaced and k in head)]
    return fits, report


def _head_keys(model: nn.Module) -> set[str]:
    head = getattr(model, "head", None)
    if not isinstance(head, nn.Module):
        return set()
    return {f"head.{k}" for k in head.state_dict()}


def load_pretrained(model: nn.Module, source: str | Path) -> LoadReport:
    """Load the tensors of ``source`` that fit ``model`` (by name and shape), in place.

    Raises ConfigError when nothing but the head could be loaded: that is a different
    architecture, not a transfer, and training would silently start from scratch.
    """
    state = read_state_dict(source)
    adopt = getattr(model, "adopt_keys", None)  # a torchvision/timm model: its library's key names
    if callable(adopt):
        state = adopt(state)
    fits, report = match_state(model, state, str(source))
    if not [k for k in fits if k not in _head_keys(model)]:
        raise ConfigError(f"model.init_from: no backbone weight of {source} fits this model "
                          f"(names or shapes differ): {report.message()}")
    with torch.no_grad():
        own = model.state_dict()
        for key, value in fits.items():
            own[key].copy_(value.to(own[key].dtype))
    return report
