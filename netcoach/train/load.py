"""Rebuilding a finished run's model from its folder (config + data.json + weights).

It lives below the API so that everything built on finished runs (prediction,
export, ensembles, a distillation teacher) can load one without depending on the
composition root; ``netcoach.load_run`` is this function.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from torch import nn

from netcoach.config import Config
from netcoach.models import build_model
from netcoach.train.checkpoint import load_into
from netcoach.train.run import RunFolder


def load_run(run_dir: str | Path, which: str = "best", device: str = "cpu",
             model: Optional[nn.Module] = None) -> tuple[Config, nn.Module]:
    """Rebuild a run's model from its folder (config + data.json + weights).

    A run trained with a custom ``model=`` cannot be rebuilt from its config: pass a
    freshly constructed module of the same class as ``model`` and its weights are loaded.
    """
    run = RunFolder(run_dir)
    config = run.config()
    if model is None:
        record = run.model_record()
        if record.get("source") == "custom":
            raise ValueError(f"{run_dir} was trained with a custom model ({record.get('class')}) "
                             f"passed to netcoach.train(model=...); its config cannot rebuild it: "
                             f"construct the same module and call load_run({str(run_dir)!r}, model=...)")
        data = run.data_record()
        shape = (data.get("normalize") or {}).get("output_shape") or data["input_shape"]  # what the model takes
        model = build_model(config.model, tuple(shape),
                            data.get("num_outputs", data["num_classes"]))
    weights = run.checkpoints / f"{which}.safetensors"
    if not weights.is_file():
        raise FileNotFoundError(f"{weights} not found; valid checkpoints: "
                                f"{', '.join(sorted(p.stem for p in run.checkpoints.glob('*.safetensors'))) or 'none'}")
    load_into(model, weights)
    return config, model.to(device).eval()
