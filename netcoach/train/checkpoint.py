"""Checkpoint files: weights as safetensors, state as JSON; both written atomically.

Neither format executes code when loaded (unlike pickle-based ``torch.load``), so
opening a checkpoint from an untrusted run folder is safe.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import nn

from netcoach.utils.io import atomic_write_bytes, atomic_write_json


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, corrupt, or does not fit the model."""


def cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """A detached CPU copy of the model's state (parameters and buffers)."""
    return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()}


def save_weights(path: str | Path, state: dict[str, torch.Tensor], metadata: dict | None = None) -> None:
    meta = {k: json.dumps(v) for k, v in (metadata or {}).items()}
    atomic_write_bytes(path, st_save({k: v.contiguous() for k, v in state.items()}, metadata=meta))


def load_weights(path: str | Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        return st_load(path.read_bytes())
    except (SafetensorError, ValueError, OSError) as exc:
        raise CheckpointError(f"{path}: not a valid safetensors weights file ({exc})") from None


def load_into(model: nn.Module, path: str | Path) -> None:
    """Load weights from ``path`` into ``model``; mismatches name the keys."""
    state = load_weights(path)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0:3]
        raise CheckpointError(f"{path}: weights do not fit this model: {' '.join(first)}") from None


def save_state(path: str | Path, state: dict) -> None:
    atomic_write_json(path, state)


def load_state(path: str | Path) -> dict:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: training state not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: not a valid JSON training state ({exc})") from None
