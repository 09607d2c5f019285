"""safetensors export: the weights plus a JSON sidecar that is enough to rebuild the model.

The sidecar holds the run's config (its ``[model]`` section builds the architecture),
the input shape, the classes and the preprocessing. Neither file runs code when read,
so this is the format to hand to someone who should not trust a pickle.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load, save
from torch import nn

import netcoach
from netcoach.config import from_dict, to_dict
from netcoach.export.source import RunSource
from netcoach.models import build_model
from netcoach.train.checkpoint import load_weights

FORMAT = "netcoach-safetensors-export-1"


def sidecar_path(weights_path: str | Path) -> Path:
    """``model.safetensors`` -> ``model.json``."""
    return Path(weights_path).with_suffix(".json")


def sidecar(source: RunSource) -> dict:
    """What a consumer needs besides the weights to rebuild and feed the model."""
    record = source.record
    return {"format": FORMAT, "netcoach": netcoach.__version__, "task": record.get("task"),
            "input_shape": list(source.model_input_shape), "num_outputs": source.num_outputs,
            "num_classes": record["num_classes"],
            "class_names": record.get("class_names"),
            "preprocessing": {"dtype": record.get("dtype"), "scale": record["scale"],
                              "mean": record.get("mean"), "std": record.get("std"),
                              "normalize": record.get("normalize")},
            "config": to_dict(source.config)}


def state_bytes(model: nn.Module, meta: dict) -> bytes:
    """The model's weights as safetensors bytes (the sidecar's format tag in its metadata)."""
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    return save(state, metadata={"format": meta["format"]})


def load_exported(weights_path: str | Path) -> nn.Module:
    """Rebuild the model of a safetensors export from the two files alone (eval mode)."""
    side = sidecar_path(weights_path)
    if not side.is_file():
        raise FileNotFoundError(f"{side} not found: a safetensors export needs its JSON sidecar")
    meta = json.loads(side.read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT:
        raise ValueError(f"{side}: not a netcoach safetensors export (format {meta.get('format')!r}, "
                         f"expected {FORMAT!r})")
    return rebuild(meta, load_weights(weights_path))


def rebuild(meta: dict, state: dict[str, torch.Tensor]) -> nn.Module:
    """The model described by a sidecar ``meta`` with the weights ``state`` (eval mode)."""
    model_cfg = from_dict({"model": meta["config"]["model"]}).model
    model = build_model(model_cfg, tuple(meta["input_shape"]), meta["num_outputs"])
    model.load_state_dict(state)
    return model.eval()


@torch.no_grad()
def run_rebuilt(meta: dict, weights: bytes, x: torch.Tensor) -> torch.Tensor:
    """Outputs of the model rebuilt from the export's sidecar and weight bytes."""
    return rebuild(meta, load(weights))(x)
