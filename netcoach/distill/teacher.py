"""The distillation teacher: a finished run or ensemble, frozen, fed the student's batches.

The student's loader normalizes inputs with the *student's* training statistics; the
teacher was trained on inputs normalized with *its own*. ``Teacher.logits`` undoes the
student's normalization (an affine map back to the stored values' [0, 1] units) and
applies the teacher's, so the teacher sees exactly what it saw in training, whatever
either run's ``data.normalize`` was. The teacher is in eval mode (dropout off, batch-norm
running statistics used, never updated), its parameters do not require gradients, and it
is no submodule of the student, so no optimizer, checkpoint or averager ever sees it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch
from torch import nn

from netcoach.config import Config, ConfigError
from netcoach.data.preprocess import needs_tensors
from netcoach.ensemble import EnsembleModel, MemberError, is_ensemble, load_ensemble
from netcoach.ensemble.members import SHARED_CONFIG_KEYS
from netcoach.train.checkpoint import CheckpointError
from netcoach.train.load import load_run
from netcoach.train.resume import flat
from netcoach.train.run import RunFolder

# The split must be the student's, or the teacher may have trained on the student's test samples.
SPLIT_KEYS = tuple(k for k in SHARED_CONFIG_KEYS if k.startswith("data.") and k not in
                   ("data.normalize", "data.image_size", "data.channels"))


def _affine(record: dict, shape_dims: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """(a, b) with normalized = stored_unit * a + b for a data record (stored_unit = x / scale)."""
    view = (1, -1) + (1,) * (shape_dims - 2)
    if needs_tensors(record):
        raise ConfigError(f"distill.teacher: the teacher was trained with data.normalize "
                          f"{record['normalize']['mode']}; distillation re-normalizes per channel, so "
                          f"the teacher needs data.normalize per_channel or none")
    if record.get("mean") is None:
        return torch.ones(1, device=device), torch.zeros(1, device=device)
    mean = torch.tensor(record["mean"], dtype=torch.float32, device=device).view(view)
    std = torch.tensor(record["std"], dtype=torch.float32, device=device).view(view)
    return 1.0 / std, -mean / std


class Teacher:
    """A frozen network (run or ensemble) giving logits for the student's normalized inputs.

    Args:
        model: the teacher's network (an ``EnsembleModel`` gives log mean probabilities).
        record: the teacher's ``data.json`` (its scale and normalization).
        student: the student's normalization: ``scale``, ``mean``, ``std`` (``mean`` None: none).
        path: where the teacher came from (for the summary).
    """

    def __init__(self, model: nn.Module, record: dict, student: dict, path: Path):
        self.model = model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.record, self.student, self.path = record, student, Path(path)
        self.kind = "ensemble" if isinstance(model, EnsembleModel) else "run"

    @property
    def parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def to_teacher_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """Student-normalized inputs -> the teacher's normalized inputs (same stored values)."""
        dims = x.dim()
        sa, sb = _affine(self.student, dims, x.device)
        ta, tb = _affine(self.record, dims, x.device)
        unit = (x - sb) / sa * (float(self.student["scale"]) / float(self.record["scale"]))
        return unit * ta + tb

    @torch.no_grad()
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """The teacher's logits (for an ensemble: log of its mean probabilities) for a batch of
        student inputs, in eval mode and without gradients."""
        self.model.eval()
        dtype = next(self.model.parameters()).dtype
        inputs = self.to_teacher_inputs(x.to(dtype))
        out = self.model.outputs(inputs) if self.kind == "ensemble" else self.model(inputs)
        return out.to(x.dtype)


def _teacher_config(path: Path, model: nn.Module) -> Config:
    first = model.paths[0] if isinstance(model, EnsembleModel) else path
    return RunFolder(first).config()


def load_teacher(path: str | Path, config: Config, student: dict, num_outputs: int,
                 input_shape: tuple, device) -> Teacher:
    """The teacher at ``path`` (run or ensemble folder), checked against the student: the same
    data split (``SPLIT_KEYS``), input shape and outputs; every problem is one ConfigError
    line naming ``distill.teacher``."""
    path = Path(path)
    try:
        if is_ensemble(path):
            model = load_ensemble(path)
            record = model.record
        else:
            if not RunFolder(path).config_path.is_file():
                raise FileNotFoundError("not a run or ensemble folder (no config.toml or ensemble.json)")
            _, model = load_run(path)
            record = RunFolder(path).data_record()
        teacher_config = _teacher_config(path, model)
    except (OSError, ValueError, MemberError, CheckpointError, KeyError) as exc:
        raise ConfigError(f"distill.teacher: {path}: {str(exc).splitlines()[0]}") from None
    check_same_split("distill.teacher", path, teacher_config, config)
    outputs = int(record.get("num_outputs", record.get("num_classes", 0)))
    if outputs != num_outputs or tuple(record["input_shape"]) != tuple(input_shape):
        raise ConfigError(f"distill.teacher: {path} maps {tuple(record['input_shape'])} to {outputs} outputs, "
                          f"the student {tuple(input_shape)} to {num_outputs}")
    return Teacher(model.to(device), record, student, path)


def check_same_split(option: str, path, other: Config, config: Config) -> None:
    """ConfigError naming ``option`` and the first ``SPLIT_KEYS`` key on which the run at ``path``
    (config ``other``) splits its data differently from the student: a teacher on another split
    may have trained on the student's test samples, and a baseline would be scored on others."""
    mine, theirs = flat(config), flat(other)
    for key in SPLIT_KEYS:
        if mine[key] != theirs[key]:
            raise ConfigError(f"{option}: {path} was trained with {key} {theirs[key]!r}, the student "
                              f"has {mine[key]!r}; it must use the student's data split")


def baseline_record(path: Optional[str], config: Config) -> Optional[dict]:
    """``distill.baseline``'s parameters and test metrics from its summary, checked to share the
    student's split (ConfigError naming the key otherwise); None when not given."""
    if not path:
        return None
    run = RunFolder(path)
    try:
        summary = run.summary()
        baseline_config = run.config()
    except (OSError, ValueError) as exc:
        raise ConfigError(f"distill.baseline: {path}: {str(exc).splitlines()[0]}") from None
    if not summary or "test" not in summary:
        raise ConfigError(f"distill.baseline: {path} has no summary.json with test metrics; give a finished run")
    check_same_split("distill.baseline", path, baseline_config, config)
    return {"path": str(run.path), "parameters": summary.get("parameters"), "test": summary["test"]}
