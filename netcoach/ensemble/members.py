"""Ensemble members: finished runs loaded from their folders, and the check that they
can be averaged (same data, split, outputs and preprocessing).

Averaging predictions is only meaningful when every member answers the same question
about the same inputs: the same test samples (data source, split seed and fractions),
the same classes or outputs in the same order, and the same preprocessing of raw
inputs (so one normalization serves all). ``check_compatible`` names the first key
that differs and the two values, instead of averaging something else silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from torch import nn

from netcoach.config import Config, ConfigError
from netcoach.tasks import Task, task_of_run
from netcoach.train.checkpoint import CheckpointError
from netcoach.train.load import load_run
from netcoach.train.resume import flat
from netcoach.train.run import RunFolder

# Config keys that decide which samples land in the test split and how inputs are read.
SHARED_CONFIG_KEYS = ("task.name", "data.name", "data.path", "data.train_path", "data.val_path",
                      "data.test_path", "data.split_seed", "data.val_fraction", "data.test_fraction",
                      "data.labels", "data.image_size", "data.channels", "data.normalize")
# data.json keys: what the model outputs mean and how raw inputs become model inputs.
SHARED_RECORD_KEYS = ("name", "input_shape", "num_outputs", "class_names", "scale", "mean", "std",
                      "normalize", "sizes")


class MemberError(ValueError):
    """A member run is missing, unreadable, or cannot be averaged with the others."""


@dataclass
class Member:
    """One finished run, its chosen weights loaded (eval mode, CPU)."""

    path: Path
    which: str
    config: Config
    model: nn.Module
    record: dict    # data.json
    summary: dict   # summary.json ({} when the run has none)

    @property
    def task(self) -> Task:
        """The member's task with its stored state (regression: predictions in the targets' units)."""
        return task_of_run(self.config, self.record)

    @property
    def parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    @property
    def num_outputs(self) -> int:
        return int(self.record.get("num_outputs", self.record.get("num_classes", 0)))


def load_member(path: str | Path, which: str = "best", device: str = "cpu") -> Member:
    """The run at ``path`` with its ``which`` weights; any problem is one ``MemberError``
    line naming the member and what is wrong with it."""
    run = RunFolder(path)
    if not run.path.is_dir():
        raise MemberError(f"ensemble member {run.path}: no such run folder")
    if not run.config_path.is_file():
        raise MemberError(f"ensemble member {run.path}: not a netcoach run folder (no config.toml)")
    try:
        config, model = load_run(run.path, which=which, device=device)
        record = run.data_record()
        summary = run.summary() or {}
    except (OSError, ValueError, ConfigError, CheckpointError, KeyError) as exc:
        raise MemberError(f"ensemble member {run.path}: {str(exc).splitlines()[0]}") from None
    return Member(run.path, which, config, model, record, summary)


def shared_values(member: Member) -> dict[str, Any]:
    """Everything members must agree on, as ``{key: value}`` (config keys and ``data.json:`` keys)."""
    options = flat(member.config)
    values = {key: options.get(key) for key in SHARED_CONFIG_KEYS}
    values.update({f"data.json:{key}": member.record.get(key) for key in SHARED_RECORD_KEYS})
    if values["data.json:num_outputs"] is None:  # runs before the output count was recorded
        values["data.json:num_outputs"] = member.num_outputs
    return values


def first_difference(a: Member, b: Member) -> str | None:
    """A one-line description of the first shared key on which ``a`` and ``b`` differ, or None."""
    va, vb = shared_values(a), shared_values(b)
    for key in va:
        if va[key] != vb[key]:
            return f"{key}: {a.path} has {_short(va[key])}, {b.path} has {_short(vb[key])}"
    return None


def check_compatible(members: Sequence[Member]) -> None:
    """Raise ``MemberError`` naming the first difference between the first member and another."""
    for other in members[1:]:
        diff = first_difference(members[0], other)
        if diff is not None:
            raise MemberError(f"ensemble members differ in {diff} (members must share dataset, "
                              "split, classes/outputs and preprocessing)")


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."
