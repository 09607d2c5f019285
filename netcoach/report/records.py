"""Read everything a report needs from a run folder, tolerating missing pieces.

A report is rebuilt from the run folder alone. Every file is optional: a crashed
run may hold only ``config.toml`` and a few lines of ``metrics.jsonl``. Each piece
that is absent or unreadable becomes ``None`` plus a human-readable note, so the
report can say what it could not show instead of failing.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load as np_load

from netcoach.train.run import (CHECKPOINTS, CONFIG, DATA, ENV, LR_FIND, MARKERS, METRICS, MODEL_SUMMARY,
                                MONITORS, PREDICTIONS, PREVIEW, STEPS, SUMMARY)
from netcoach.utils.io import read_jsonl


@dataclass
class RunRecord:
    """The contents of one run folder (``None`` where a file is missing)."""

    path: Path
    config: Optional[dict] = None
    config_text: Optional[str] = None
    env: Optional[dict] = None
    data: Optional[dict] = None
    metrics: list[dict] = field(default_factory=list)
    summary: Optional[dict] = None
    steps: list[dict] = field(default_factory=list)
    monitors: list[dict] = field(default_factory=list)
    lr_find: Optional[dict] = None
    model_summary: Any = None
    augment_preview: Optional[bytes] = None
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name

    def flat_config(self) -> dict[str, Any]:
        """The config as ``{"section.key": value}`` (empty when config.toml is missing)."""
        return flatten(self.config or {})


def is_run_folder(path: Path) -> bool:
    return path.is_dir() and any((path / m).exists() for m in MARKERS)


def load_run_record(run_dir: str | Path) -> RunRecord:
    """Load every report-relevant file of ``run_dir``.

    Raises:
        FileNotFoundError: ``run_dir`` is not a folder or holds none of the run files.
    """
    path = Path(run_dir)
    if not path.is_dir():
        raise FileNotFoundError(f"run folder {path} not found")
    if not is_run_folder(path):
        raise FileNotFoundError(f"{path} is not a run folder (none of {', '.join(MARKERS)} found)")
    rec = RunRecord(path=path)
    rec.config_text = _read_text(path / CONFIG, rec.notes)
    if rec.config_text is not None:
        try:
            rec.config = tomllib.loads(rec.config_text)
        except tomllib.TOMLDecodeError as exc:
            rec.notes.append(f"{CONFIG} could not be parsed ({exc})")
    rec.env = _read_json(path / ENV, rec.notes)
    rec.data = _read_json(path / DATA, rec.notes)
    rec.summary = _read_json(path / SUMMARY, rec.notes,
                             missing=f"{SUMMARY} is missing: the run did not finish "
                                     "(the report shows what was recorded until it stopped)")
    rec.metrics = _read_lines(path / METRICS, rec.notes)
    rec.steps = _read_lines(path / STEPS, rec.notes, optional=True)
    rec.monitors = _read_lines(path / MONITORS, rec.notes, optional=True)
    rec.lr_find = _read_json(path / LR_FIND, rec.notes, optional=True)
    rec.model_summary = _read_json(path / MODEL_SUMMARY, rec.notes, optional=True)
    preview = path / PREVIEW
    rec.augment_preview = preview.read_bytes() if preview.exists() else None
    return rec


def load_predictions(path: Path, notes: list[str], key: str = "probs") -> Optional[dict[str, np.ndarray]]:
    """``predictions.safetensors`` as numpy arrays (``key``: the task's predictions, probs
    or values; labels; for classification worst_index, worst_inputs)."""
    file = path / PREDICTIONS
    if not file.exists():
        notes.append("predictions.safetensors is missing: no test-split plots or tables "
                     "(the test evaluation did not run)")
        return None
    try:
        arrays = np_load(file.read_bytes())
    except Exception as exc:  # any decoding failure: the report still gets written
        notes.append(f"predictions.safetensors could not be read ({exc})")
        return None
    if key not in arrays or "labels" not in arrays:
        notes.append(f"predictions.safetensors has no {key}/labels tensors")
        return None
    return arrays


def first_conv_weight(path: Path, notes: list[str]) -> Optional[tuple[str, np.ndarray]]:
    """The first 4-D weight of ``checkpoints/best.safetensors`` in layer order, as float32."""
    file = path / CHECKPOINTS / "best.safetensors"
    if not file.exists():
        notes.append("checkpoints/best.safetensors is missing: no first-layer filters")
        return None
    try:
        with safe_open(str(file), framework="numpy") as fh:
            names = sorted(fh.keys(), key=_natural_key)  # file order is by dtype/name, not by layer
            for name in names:
                if name.endswith("weight") and len(fh.get_slice(name).get_shape()) == 4:
                    return name, fh.get_tensor(name).astype(np.float32)
    except Exception as exc:  # e.g. bf16 weights numpy cannot hold, or a torn file
        notes.append(f"checkpoints/best.safetensors could not be read ({exc})")
        return None
    notes.append("the model has no convolution layer: no first-layer filters")
    return None


def flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, dotted + "."))
        else:
            out[dotted] = value
    return out


def _natural_key(name: str) -> list:
    """Sort ``layers.10.weight`` after ``layers.2.weight``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _read_text(file: Path, notes: list[str]) -> Optional[str]:
    if not file.exists():
        notes.append(f"{file.name} is missing")
        return None
    return file.read_text(encoding="utf-8", errors="replace")


def _read_json(file: Path, notes: list[str], optional: bool = False,
               missing: Optional[str] = None) -> Any:
    if not file.exists():
        if not optional:
            notes.append(missing or f"{file.name} is missing")
        return None
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        notes.append(f"{file.name} could not be parsed ({exc})")
        return None


def _read_lines(file: Path, notes: list[str], optional: bool = False) -> list[dict]:
    if not file.exists():
        if not optional:
            notes.append(f"{file.name} is missing: no learning curves")
        return []
    return [row for row in read_jsonl(file) if isinstance(row, dict)]
