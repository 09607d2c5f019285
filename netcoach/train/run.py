"""The run folder: every run is a record that can be re-run, inspected and reported.

    runs/<name>/
      config.toml      resolved config (re-running it reproduces the run)
      env.json         versions, device, seed, code revision
      metrics.jsonl    one JSON object per epoch
      checkpoints/     best.safetensors / last.safetensors (+ .json state)
      summary.json     final metrics, best epoch, wall time
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from netcoach.config import Config, load_toml, to_toml
from netcoach.utils.io import append_jsonl, atomic_write_json, atomic_write_text, read_jsonl
from netcoach.version import __version__


class RunExistsError(FileExistsError):
    """The named run folder already exists (runs are never overwritten silently)."""


class RunFolder:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    # ------------------------------------------------------------------ paths
    config_path = property(lambda self: self.path / "config.toml")
    env_path = property(lambda self: self.path / "env.json")
    metrics_path = property(lambda self: self.path / "metrics.jsonl")
    summary_path = property(lambda self: self.path / "summary.json")
    checkpoints = property(lambda self: self.path / "checkpoints")

    @classmethod
    def create(cls, parent: str | Path, name: str | None, default_name: str) -> "RunFolder":
        """Make a new run folder. An explicit ``name`` that exists is an error; an
        automatic name gets a numeric suffix instead."""
        parent = Path(parent)
        parent.mkdir(parents=True, exist_ok=True)
        if name is not None:
            path = parent / name
            try:
                path.mkdir()
            except FileExistsError:
                raise RunExistsError(f"run folder {path} already exists; choose another --run.name "
                                     f"or remove it") from None
            return cls(path)
        for i in range(1, 10_000):
            path = parent / (default_name if i == 1 else f"{default_name}-{i}")
            try:
                path.mkdir()
                return cls(path)
            except FileExistsError:
                continue
        raise RunExistsError(f"no free run folder name under {parent} for {default_name}")

    # ------------------------------------------------------------------ writing
    def write_config(self, config: Config) -> None:
        atomic_write_text(self.config_path, to_toml(config))

    def write_env(self, device: torch.device, seed: int) -> None:
        atomic_write_json(self.env_path, environment(device, seed))

    def append_metrics(self, logs: dict) -> None:
        append_jsonl(self.metrics_path, logs)

    def write_summary(self, summary: dict) -> None:
        atomic_write_json(self.summary_path, summary)

    # ------------------------------------------------------------------ reading
    def config(self) -> Config:
        return load_toml(self.config_path)

    def metrics(self) -> list[dict]:
        return read_jsonl(self.metrics_path) if self.metrics_path.exists() else []


def git_revision() -> str | None:
    """The commit of the netcoach source tree, if it is a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True,
                             timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def environment(device: torch.device, seed: int) -> dict:
    info = {
        "netcoach": __version__,
        "git_revision": git_revision(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "device": str(device),
        "cuda": torch.version.cuda,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "seed": seed,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info
