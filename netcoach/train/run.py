"""The run folder: every run is a record that can be re-run, inspected and reported.

``RunFolder`` owns every file name of the folder and is the one reader and writer of
each file::

    runs/<name>/
      config.toml              resolved config (re-running it reproduces the run)
      env.json                 versions, device, seed, code revision
      data.json                dataset, classes, input shape, normalization (train split only)
      preprocessing.json       the fitted CSV transform (column kinds, fills, categories, classes)
      normalize.safetensors    data.normalize's fitted tensors (mean image, PCA, ZCA; described
                               in data.json's "normalize")
      model.json               where the model came from (the config's registry, or user code)
      model_summary.json       per-layer shapes, parameters, multiply-accumulates
      augment_preview.png      what the model sees after augmentation
      metrics.jsonl            one JSON object per epoch (metrics.csv: the same as CSV)
      steps.jsonl              one JSON object per optimizer step
      monitors.jsonl           per sampled epoch and layer: update ratios, gradient norms, dead units
      lr_find.json             an LR sweep run for this run (``netcoach lr-find --run``)
      checkpoints/             best/last weights (safetensors) + resumable state (JSON)
      predictions.safetensors  test-set predictions of the chosen weights
      summary.json             final metrics, best epoch, wall time, preflight, doctor
      report.html, plots/      the report
      export/<format>/         exported models with their model cards (``netcoach export``)
      .lock                    the PID of the process writing the folder (see ``RunFolder.lock``)

A folder opened with a ``Runtime`` of a non-main process reads like any other but
writes nothing, so a multi-process run keeps one record.
"""

from __future__ import annotations

import fcntl
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from netcoach.config import Config, NetcoachError, load_toml, to_toml
from netcoach.data.preprocess import needs_tensors, normalizer_from
from netcoach.train.checkpoint import (BackgroundWriter, cpu_state, load_weights, save_flat_training_state, save_state,
                                       save_training_state, save_weights)
from netcoach.utils.io import (AppendLog, atomic_write_bytes, atomic_write_json, atomic_write_text, fsync_file,
                               jsonl_text, read_jsonl)
from netcoach.utils.runtime import Runtime
from netcoach.version import __version__

CONFIG, ENV, DATA, MODEL = "config.toml", "env.json", "data.json", "model.json"
MODEL_SUMMARY, PREVIEW, LR_FIND = "model_summary.json", "augment_preview.png", "lr_find.json"
METRICS, METRICS_CSV, STEPS, MONITORS = "metrics.jsonl", "metrics.csv", "steps.jsonl", "monitors.jsonl"
PREDICTIONS, SUMMARY, REPORT, PLOTS = "predictions.safetensors", "summary.json", "report.html", "plots"
CHECKPOINTS, TENSORBOARD, EXPORT = "checkpoints", "tb", "export"
LOCK = ".lock"
PREPROCESSING = "preprocessing.json"
NORMALIZER = "normalize.safetensors"
EPOCH_LOGS = (METRICS, STEPS, MONITORS)  # per-epoch rows, cut back on resume
MARKERS = (CONFIG, METRICS, SUMMARY)     # any of them makes a folder a run folder


class RunExistsError(FileExistsError):
    """The named run folder already exists (runs are never overwritten silently)."""


class RunInUseError(NetcoachError):
    """Another live process holds the run folder's lock (it is training, resuming or reporting)."""


class RunFolder:
    """One run's folder. Reading works anywhere; writing only in the main process."""

    def __init__(self, path: str | Path, runtime: Optional[Runtime] = None):
        self.path = Path(path)
        self.writes = runtime is None or runtime.is_main
        self._lock_fd: Optional[int] = None
        self._writer: Optional[BackgroundWriter] = None
        self._logs = {name: AppendLog(self.path / name) for name in EPOCH_LOGS}

    # ------------------------------------------------------------------ locking
    def lock(self) -> "RunFolder":
        """Take the folder's exclusive lock for this process, or raise ``RunInUseError``.

        ``fcntl.flock`` on ``.lock`` (the holder's PID written in it, for the message):
        the kernel releases an flock when its process dies, so the lock of a killed run
        is taken over without guessing from a PID whether its owner still lives. Held
        until ``release`` or the end of the process. A non-main process writes nothing
        and takes no lock.
        """
        if not self.writes or self._lock_fd is not None:
            return self
        fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "(starting)"
            os.close(fd)
            raise RunInUseError(f"{self.path} is in use by process {holder}; wait for it to finish "
                                f"or stop it, then run again") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        self._lock_fd = fd
        self._remove_torn()
        return self

    def _remove_torn(self) -> None:
        """Temp files of atomic writes a killed process never finished (``.<name>.*.tmp``):
        the lock holder is the only writer, so no live process owns them."""
        for folder in (self.path, self.path / PLOTS, self.checkpoints, self.checkpoints / "state"):
            for torn in folder.glob(".*.tmp"):
                torn.unlink(missing_ok=True)

    def background_writer(self) -> BackgroundWriter:
        """The folder's one checkpoint-writing thread (``checkpoint.background``), shared by
        every writer of checkpoints so their writes never overlap."""
        if self._writer is None:
            self._writer = BackgroundWriter()
        return self._writer

    def release(self) -> None:
        """Give the lock back (the PID stays in ``.lock``; only the flock means "in use"),
        once the background writes are done: a run that ended by an exception may have left
        one in flight, and no write may land after the next holder (a resume in this same
        process) has read the folder."""
        if self._writer is not None:
            self._writer.wait()
        self._close_logs()
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor drops the flock
            self._lock_fd = None

    def __del__(self):
        if self._lock_fd is not None:  # no waiting for writes here: at exit the writer thread may be gone
            os.close(self._lock_fd)

    def file(self, name: str) -> Path:
        return self.path / name

    config_path = property(lambda self: self.path / CONFIG)
    metrics_path = property(lambda self: self.path / METRICS)
    summary_path = property(lambda self: self.path / SUMMARY)
    checkpoints = property(lambda self: self.path / CHECKPOINTS)
    report_path = property(lambda self: self.path / REPORT)

    def is_run(self) -> bool:
        return any((self.path / m).exists() for m in MARKERS)

    @classmethod
    def create(cls, parent: str | Path, name: str | None, default_name: str,
               runtime: Optional[Runtime] = None) -> "RunFolder":
        """Make a new run folder. An explicit ``name`` that exists is an error; an
        automatic name gets a numeric suffix instead."""
        parent = Path(parent)
        if runtime is not None and not runtime.is_main:
            return cls(parent / (name or default_name), runtime)
        parent.mkdir(parents=True, exist_ok=True)
        if name is not None:
            path = parent / name
            try:
                path.mkdir()
            except FileExistsError:
                raise RunExistsError(f"run folder {path} already exists; choose another --run.name "
                                     f"or remove it") from None
            return cls(path, runtime).lock()
        for i in range(1, 10_000):
            path = parent / (default_name if i == 1 else f"{default_name}-{i}")
            try:
                path.mkdir()
                return cls(path, runtime).lock()
            except FileExistsError:
                continue
        raise RunExistsError(f"no free run folder name under {parent} for {default_name}")

    # ------------------------------------------------------------------ writing
    def _json(self, name: str, obj) -> None:
        if self.writes:
            atomic_write_json(self.path / name, obj)

    def _append(self, name: str, rows: list[dict]) -> None:
        """Per-epoch rows, through a handle kept open until ``release``: flushed but not
        fsynced (a killed process keeps them; resume cuts them back to the checkpoint
        anyway); ``sync_epoch_logs`` makes them durable before a checkpoint is committed."""
        if self.writes and rows:
            self._logs[name].write(jsonl_text(rows))

    def _close_logs(self) -> None:
        for log in self._logs.values():
            log.close()

    def write_config(self, config: Config) -> None:
        if self.writes:
            atomic_write_text(self.config_path, to_toml(config))

    def write_env(self, device: torch.device, seed: int) -> None:
        self._json(ENV, environment(device, seed))

    def write_data(self, record: dict) -> None:
        self._json(DATA, record)

    def write_preprocessing(self, record: dict) -> None:
        self._json(PREPROCESSING, record)

    def write_normalizer(self, module: torch.nn.Module) -> None:
        """The fitted ``data.normalize`` module's tensors (its description is in data.json)."""
        if self.writes:
            save_weights(self.path / NORMALIZER, cpu_state(module), {"mode": module.mode})

    def write_model(self, record: dict) -> None:
        self._json(MODEL, record)

    def write_model_summary(self, record: dict) -> None:
        self._json(MODEL_SUMMARY, record)

    def write_lr_find(self, record: dict) -> None:
        self._json(LR_FIND, record)

    def write_summary(self, summary: dict) -> None:
        self._json(SUMMARY, summary)

    def write_bytes(self, name: str, data: bytes) -> None:
        """A binary artefact (predictions, preview image) by its file name."""
        if self.writes:
            atomic_write_bytes(self.path / name, data)

    def write_text(self, name: str, text: str) -> None:
        if self.writes:
            atomic_write_text(self.path / name, text)

    def append_metrics(self, logs: dict) -> None:
        self._append(METRICS, [logs])

    def append_steps(self, records: list[dict]) -> None:
        self._append(STEPS, records)

    def append_monitors(self, record: dict) -> None:
        self._append(MONITORS, [record])

    def sync_epoch_logs(self) -> None:
        """fsync the per-epoch logs, so a checkpoint committed next never points past them."""
        if self.writes:
            for name in EPOCH_LOGS:
                fsync_file(self.path / name)

    def truncate_epoch_logs(self, epochs: int) -> None:
        """Keep the rows of the first ``epochs`` epochs of every per-epoch log."""
        if not self.writes:
            return
        self._close_logs()  # the files are replaced: an open handle would write to the old ones
        for name in EPOCH_LOGS:
            path = self.path / name
            if path.exists():
                rows = [r for r in read_jsonl(path) if int(r.get("epoch", 0)) <= epochs]
                atomic_write_text(path, jsonl_text(rows))

    def save_weights(self, name: str, state: dict, meta: dict, durable: bool = True) -> None:
        """``checkpoints/<name>.safetensors`` with ``meta`` in its header. ``durable=False``
        (no fsync; still atomic) for weights the resumable state also holds: ``best`` and
        ``last`` (a resume writes ``best`` again from it, ``last`` at its next checkpoint)."""
        if self.writes:
            save_weights(self.checkpoints / f"{name}.safetensors", state, meta, durable)

    def save_meta(self, name: str, meta: dict, durable: bool = True) -> None:
        """``checkpoints/<name>.json``: what a checkpoint's weights are (epoch, value)."""
        if self.writes:
            save_state(self.checkpoints / f"{name}.json", meta, durable)

    def save_training_state(self, name: str, state: dict) -> None:
        if self.writes:
            save_training_state(self.checkpoints, name, state)

    def save_flat_training_state(self, name: str, meta: dict, tensors: dict) -> None:
        """``save_training_state`` of a state flattened by ``checkpoint.flatten``."""
        if self.writes:
            save_flat_training_state(self.checkpoints, name, meta, tensors)

    # ------------------------------------------------------------------ reading
    def config(self) -> Config:
        return load_toml(self.config_path, saved=True)  # a record: old spellings still read

    def metrics(self) -> list[dict]:
        return read_jsonl(self.metrics_path) if self.metrics_path.exists() else []

    def monitors(self) -> list[dict]:
        path = self.path / MONITORS
        return read_jsonl(path) if path.exists() else []

    def _read_json(self, name: str, required: bool = True) -> Optional[dict]:
        path = self.path / name
        if not path.is_file():
            if required:
                raise FileNotFoundError(f"{path} not found; is {self.path} a netcoach run folder?")
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path} is not valid JSON ({exc})") from None

    def data_record(self) -> dict:
        """``data.json``: what prediction needs to treat new inputs as training did."""
        return self._read_json(DATA)

    def preprocessing(self) -> Optional[dict]:
        """``preprocessing.json``: how raw rows became inputs (CSV runs only; None otherwise)."""
        return self._read_json(PREPROCESSING, required=False)

    def normalizer(self) -> Optional[torch.nn.Module]:
        """The run's fitted ``data.normalize`` module (None for per_channel and none), rebuilt
        from data.json's ``normalize`` and ``normalize.safetensors``."""
        record = self.data_record()
        if not needs_tensors(record):
            return None
        path = self.path / NORMALIZER
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: data.json says data.normalize "
                                    f"{record['normalize']['mode']}, whose fitted tensors live there")
        return normalizer_from(record["normalize"], load_weights(path))

    def model_record(self) -> dict:
        """``model.json``; a run written before it existed was built from its config."""
        return self._read_json(MODEL, required=False) or {"source": "config"}

    def summary(self) -> Optional[dict]:
        return self._read_json(SUMMARY, required=False)

    def has_checkpoint(self, name: str = "last") -> bool:
        return (self.checkpoints / f"{name}.json").exists()


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
