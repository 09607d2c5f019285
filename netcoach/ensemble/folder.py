"""The ensemble folder: what an ensemble is and how it scored, beside its member runs.

::

    runs/<name>/
      ensemble.json            members (paths relative to this folder), weights, which weights, TTA
      summary.json             each member's and the ensemble's test metrics, pairwise disagreement
      predictions.safetensors  the ensemble's test predictions and labels
      report.html              the report

The folder is built under a temporary name in the same parent and renamed into
place at the end, so a failure (a member missing or corrupt, an unreadable split)
leaves no partial ensemble folder.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from netcoach.train.run import RunExistsError

ENSEMBLE, SUMMARY, PREDICTIONS, REPORT = "ensemble.json", "summary.json", "predictions.safetensors", "report.html"
KIND = "netcoach-ensemble"


def is_ensemble(path: str | Path) -> bool:
    """Whether ``path`` is an ensemble folder (it holds ``ensemble.json``)."""
    return (Path(path) / ENSEMBLE).is_file()


def read_record(path: str | Path) -> dict:
    """``ensemble.json`` of the folder; one-line errors for a missing or corrupt file."""
    file = Path(path) / ENSEMBLE
    if not file.is_file():
        raise FileNotFoundError(f"{path}: not an ensemble folder (no {ENSEMBLE})")
    try:
        record = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{file} is not valid JSON ({exc})") from None
    if record.get("kind") != KIND or not isinstance(record.get("members"), list):
        raise ValueError(f"{file}: not a netcoach ensemble record (expected kind {KIND!r} and a members list)")
    return record


def read_summary(path: str | Path) -> dict:
    """``summary.json`` of the ensemble folder ({} when absent)."""
    file = Path(path) / SUMMARY
    return json.loads(file.read_text(encoding="utf-8")) if file.is_file() else {}


def member_paths(path: str | Path, record: dict) -> list[Path]:
    """The members' run folders: relative paths resolve against the ensemble folder."""
    base = Path(path)
    return [Path(m["path"]) if Path(m["path"]).is_absolute() else base / m["path"] for m in record["members"]]


@contextmanager
def building(parent: str | Path, name: str) -> Iterator[Path]:
    """A temporary folder in ``parent`` to write the ensemble into; renamed to ``parent/name``
    when the block ends without error, removed otherwise."""
    parent = Path(parent)
    final = parent / name
    if final.exists():
        raise RunExistsError(f"ensemble folder {final} already exists; choose another --name or remove it")
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".tmp", dir=parent))
    try:
        yield tmp
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
