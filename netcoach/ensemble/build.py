"""Building an ensemble of finished runs: load and check the members, score them and
their weighted average on the common test split, and write the ensemble folder.

Example:
    >>> result = build_ensemble(["runs/a", "runs/b", "runs/c"])     # doctest: +SKIP
    >>> result.summary["ensemble"]["test_acc"]                      # doctest: +SKIP
    0.981
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import torch
from safetensors.torch import save as st_save

from netcoach.augment.tta import View, config_views
from netcoach.ensemble import folder
from netcoach.ensemble.evaluate import disagreement, member_predictions, score, test_loader, weighted_mean
from netcoach.ensemble.members import Member, MemberError, check_compatible, load_member
from netcoach.ensemble.model import EnsembleModel, normalized_weights
from netcoach.ensemble.report import report_html
from netcoach.train.monitor import direction
from netcoach.utils.io import atomic_write_bytes, atomic_write_json, atomic_write_text


@dataclass
class EnsembleResult:
    """What ``build_ensemble`` gives back: the folder, its summary and the averaged predictor."""

    path: Path
    summary: dict
    model: EnsembleModel


def load_members(runs: Sequence[str | Path], which: str = "best") -> list[Member]:
    """Every run loaded and checked against the first (``MemberError`` names what differs)."""
    if len(runs) < 2:
        raise MemberError(f"an ensemble needs at least 2 member runs, got {len(runs)}")
    members = [load_member(r, which) for r in runs]
    check_compatible(members)
    return members


def tta_views_of(member: Member, tta: bool) -> Optional[list[tuple[str, View]]]:
    """The member's TTA views (its ``augment.tta_views``, shifted and filled as its config
    says) when TTA is asked for (images only)."""
    if not tta:
        return None
    if len(member.record["input_shape"]) != 3:
        raise ValueError(f"--tta needs image inputs (C, H, W); the members were trained on "
                         f"{tuple(member.record['input_shape'])}")
    return config_views(member.config.augment)


def evaluate_members(members: Sequence[Member], weights: Sequence[float],
                     tta: bool = False) -> tuple[dict, torch.Tensor, torch.Tensor]:
    """The summary (each member, the ensemble, with TTA when asked, and disagreement), the
    ensemble's test predictions and the test labels."""
    task, loader = members[0].task, test_loader(members[0])
    labels = loader.split.y.cpu()
    preds = [member_predictions(m.model, task, loader) for m in members]
    mean = weighted_mean(preds, weights)
    rows = [{"path": str(m.path), "which": m.which, "seed": m.config.train.seed,
             "model": m.config.model.name, "parameters": m.parameters, "weight": w,
             "test": score(task, p, labels)} for m, p, w in zip(members, preds, weights)]
    summary = {"task": task.name, "primary": f"test_{task.primary_metric}", "test_samples": len(labels),
               "members": rows, "ensemble": score(task, mean, labels),
               "disagreement": disagreement(task, preds)}
    views = tta_views_of(members[0], tta)
    if views is not None:
        tta_preds = [member_predictions(m.model, task, loader, views) for m in members]
        for row, p in zip(rows, tta_preds):
            row["test_tta"] = score(task, p, labels)
        summary["ensemble_tta"] = score(task, weighted_mean(tta_preds, weights), labels)
        summary["tta_views"] = ["identity", *members[0].config.augment.tta_views]
    summary.update(best_member_gain(summary))
    return summary, mean, labels


def best_member_gain(summary: dict) -> dict:
    """The best member by the task's primary metric and the ensemble's gain over it
    (positive = the ensemble is better, whatever the metric's direction)."""
    key = summary["primary"]
    sign = 1.0 if direction(key) == "max" else -1.0
    values = [row["test"][key] for row in summary["members"]]
    best = max(range(len(values)), key=lambda i: sign * values[i])
    return {"best_member": best, "best_member_value": values[best],
            "gain_over_best": sign * (summary["ensemble"][key] - values[best])}


def default_name(members: Sequence[Member]) -> str:
    return f"ensemble-{members[0].record.get('name', 'data')}-{time.strftime('%Y%m%d-%H%M%S')}"


def build_ensemble(runs: Sequence[str | Path], weights: Optional[Sequence[float]] = None,
                   name: Optional[str] = None, tta: bool = False, which: str = "best",
                   out_dir: str | Path | None = None) -> EnsembleResult:
    """Average the members' predictions on their common test split and write the folder.

    Args:
        runs: the member run folders (at least 2; same data, split, outputs, preprocessing).
        weights: one positive weight per member (normalized; default: uniform).
        name: the ensemble folder's name (default ``ensemble-<data>-<timestamp>``).
        tta: also score members and ensemble with test-time augmentation (the first
            member's ``augment.tta_views``; image inputs only).
        which: the members' checkpoint (``best`` or ``last``).
        out_dir: where the folder goes (default: the first member's parent, its run.dir).

    Raises:
        MemberError: a member is missing or corrupt, or members differ (the key is named);
            no folder is written.
    """
    w = normalized_weights(weights, len(runs))  # a bad --weights fails before any member is read
    members = load_members(runs, which)
    summary, mean, labels = evaluate_members(members, w, tta)
    name = name or default_name(members)
    parent = Path(out_dir) if out_dir is not None else members[0].path.parent
    final = parent / name
    record = {"kind": folder.KIND, "task": summary["task"], "which": which, "weights": w, "tta": tta,
              "members": [{"path": os.path.relpath(m.path.resolve(), final.resolve())} for m in members],
              "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    task = members[0].task
    with folder.building(parent, name) as tmp:
        atomic_write_json(tmp / folder.ENSEMBLE, record)
        atomic_write_json(tmp / folder.SUMMARY, summary)
        atomic_write_bytes(tmp / folder.PREDICTIONS, st_save({
            task.prediction_key: mean.float().contiguous(),
            "labels": labels.contiguous()}))
        atomic_write_text(tmp / folder.REPORT, report_html(tmp, name, record, summary))
    model = EnsembleModel([m.model for m in members], task, w, members[0].record, [m.path for m in members])
    return EnsembleResult(final, summary, model)


def load_ensemble(path: str | Path, device: str = "cpu", which: Optional[str] = None) -> EnsembleModel:
    """The ensemble folder's averaged predictor (eval mode): its members rebuilt from their
    run folders with the recorded weights and checkpoint, checked again for compatibility.
    ``which`` (a caller's ``--which``), when given, must be the checkpoint the ensemble was
    built from, since its summary scored those weights: a ValueError says so otherwise."""
    record = folder.read_record(path)
    built = record.get("which", "best")
    if which is not None and which != built:
        raise ValueError(f"--which {which}: the ensemble {path} averages its members' {built} weights; "
                         f"build one with `netcoach ensemble ... --which {which}` for those")
    members = load_members(folder.member_paths(path, record), record.get("which", "best"))
    model = EnsembleModel([m.model for m in members], members[0].task, record.get("weights"),
                          members[0].record, [m.path for m in members])
    return model.to(device).eval()
