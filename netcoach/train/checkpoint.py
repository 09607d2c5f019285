"""Checkpoint files: weights as safetensors, state as JSON; both written atomically.

Neither format executes code when loaded (unlike pickle-based ``torch.load``), so
opening a checkpoint from an untrusted run folder is safe.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from pathlib import Path
from typing import Callable, Optional

import torch
from torch import nn

from netcoach.config.errors import NetcoachError
from netcoach.utils.io import atomic_write_bytes


class CheckpointError(NetcoachError, RuntimeError):
    """A checkpoint file is missing, corrupt, or does not fit the model."""


def cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """A detached CPU copy of the model's state (parameters and buffers)."""
    return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()}


def save_weights(path: str | Path, state: dict[str, torch.Tensor], metadata: dict | None = None,
                 durable: bool = True) -> None:
    """Weights as safetensors, atomically (``durable``: fsynced, see ``atomic_path``)."""
    from safetensors.torch import save as st_save  # imported where used: `import netcoach` stays cheap

    meta = {k: json.dumps(v) for k, v in (metadata or {}).items()}
    atomic_write_bytes(path, st_save({k: v.contiguous() for k, v in state.items()}, metadata=meta), durable)


def load_weights(path: str | Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load as st_load

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


def save_state(path: str | Path, state: dict, durable: bool = True) -> None:
    """Compact JSON: without indentation ``json`` uses its C encoder, several times faster
    on a long history than the indented pure-Python one."""
    atomic_write_bytes(path, json.dumps(state, separators=(",", ":")).encode("utf-8"), durable)


def load_state(path: str | Path) -> dict:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: training state not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: not a valid JSON training state ({exc})") from None


# ----------------------------------------------------------------------------- training state
#
# A resumable checkpoint is a nested Python structure (optimizer/schedule state,
# RNG states, callback states, ...). ``flatten`` splits it into plain JSON (with
# small tags for what JSON cannot say: tensors, tuples, non-string dict keys) and
# a flat dict of tensors for safetensors. Loading parses JSON and safetensors only,
# so a checkpoint can never execute code.

_TENSOR, _TUPLE, _ITEMS = "__tensor__", "__tuple__", "__items__"


def flatten(obj, tensors: dict[str, torch.Tensor], path: str = "s"):
    """JSON-able form of ``obj``; tensors go into ``tensors`` under dotted keys (as copies,
    so the result owns its data)."""
    if obj is None or type(obj) in (float, int, str, bool):  # most values of a state (history)
        return obj
    if isinstance(obj, torch.Tensor):
        tensors[path] = obj.detach().to("cpu", copy=True).contiguous()
        return {_TENSOR: path}
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj):
            return {k: flatten(v, tensors, f"{path}.{k}") for k, v in obj.items()}
        return {_ITEMS: [[flatten(k, tensors, f"{path}.k{i}"), flatten(v, tensors, f"{path}.{i}")]
                         for i, (k, v) in enumerate(obj.items())]}
    if isinstance(obj, tuple):
        return {_TUPLE: [flatten(v, tensors, f"{path}.{i}") for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [flatten(v, tensors, f"{path}.{i}") for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if hasattr(obj, "item") and getattr(obj, "ndim", 1) == 0:  # numpy scalars
        return obj.item()
    raise CheckpointError(f"cannot store {type(obj).__name__} at '{path}' in a checkpoint "
                          f"(only tensors, numbers, strings, lists, tuples and dicts)")


def flat_part(meta: dict, tensors: dict[str, torch.Tensor], key: str) -> dict[str, torch.Tensor]:
    """The tensors of a flattened ``{name: tensor}`` entry (the model's weights), by name."""
    return {k: tensors[v[_TENSOR]] for k, v in meta[key].items()}


def unflatten(obj, tensors: dict[str, torch.Tensor]):
    """Inverse of ``flatten``."""
    if isinstance(obj, list):
        return [unflatten(v, tensors) for v in obj]
    if isinstance(obj, dict):
        if _TENSOR in obj:
            try:
                return tensors[obj[_TENSOR]]
            except KeyError:
                raise CheckpointError(f"tensor '{obj[_TENSOR]}' missing from the checkpoint") from None
        if _TUPLE in obj:
            return tuple(unflatten(v, tensors) for v in obj[_TUPLE])
        if _ITEMS in obj:
            return {unflatten(k, tensors): unflatten(v, tensors) for k, v in obj[_ITEMS]}
        return {k: unflatten(v, tensors) for k, v in obj.items()}
    return obj


def save_training_state(folder: Path, name: str, state: dict) -> Path:
    """Write a resumable checkpoint ``<name>.json`` (+ its tensors) as one atomic commit.

    Tensors go to ``state/<name>-<step>.safetensors`` under a fresh name, then the
    JSON that points to them replaces ``<name>.json`` (the commit). A crash at any
    moment leaves the previous ``<name>.json`` and the tensor file it names intact.
    """
    tensors: dict[str, torch.Tensor] = {}
    return save_flat_training_state(folder, name, flatten(state, tensors), tensors)


def save_flat_training_state(folder: Path, name: str, meta: dict, tensors: dict[str, torch.Tensor]) -> Path:
    """``save_training_state`` of a state already flattened (``meta``, ``tensors``): a
    checkpoint snapshot is flattened once, on the training thread, and written as is."""
    rel = f"state/{name}-{int(meta.get('step', 0)):09d}-{time.time_ns() % 10**9:09d}.safetensors"
    save_weights(folder / rel, tensors)
    save_state(folder / f"{name}.json", {"format": "netcoach-train-state-1", "tensors": rel,
                                          "state": meta})
    _remove_stale(folder, name, keep=rel)
    return folder / f"{name}.json"


def _remove_stale(folder: Path, name: str, keep: str) -> None:
    """Delete ``name``'s tensor files no JSON points to any more, and the temp files of
    ``name``'s writes a killed process never finished (this write has finished, and
    ``name`` has one writer). Other files' temp files may belong to a write in
    progress on another thread; ``remove_torn`` clears them before training starts."""
    for old in (folder / "state").glob(f"{name}-*.safetensors"):
        if f"state/{old.name}" != keep:
            old.unlink(missing_ok=True)
    for torn in [*(folder / "state").glob(f".{name}-*.tmp"), *folder.glob(f".{name}.*.tmp")]:
        torn.unlink(missing_ok=True)


def remove_torn(folder: Path) -> None:
    """Delete every temp file under a checkpoint folder: left by writes a killed process
    never finished (best, last, averages, epoch-N). Call it only while nothing writes."""
    for torn in [*(Path(folder) / "state").glob(".*.tmp"), *Path(folder).glob(".*.tmp")]:
        torn.unlink(missing_ok=True)


class BackgroundWriter:
    """Runs checkpoint writes on one thread, in the order they were submitted, so the
    training loop does not wait for serialisation and fsync.

    A job must own its data (a CPU snapshot taken at the step boundary). Jobs never
    overlap: each write (atomic itself) has completed before the next one starts, and at
    most one job waits, so memory holds at most two snapshots. A process killed
    mid-write leaves the previous checkpoint valid, exactly as a synchronous write
    would. ``flush`` waits for every submitted job and re-raises a job's error (``wait``
    only waits); we wrote
    this small queue ourselves because ``concurrent.futures`` executors do not bound
    their queue.
    """

    def __init__(self):
        self._jobs: queue.Queue = queue.Queue(maxsize=1)
        self._thread: Optional[threading.Thread] = None
        self._error: Optional[BaseException] = None

    def submit(self, job: Callable[[], None]) -> None:
        self._raise()
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="netcoach-checkpoints", daemon=True)
            self._thread.start()
        self._jobs.put(job)  # blocks while a job is already waiting

    def flush(self) -> None:
        self._jobs.join()
        self._raise()

    def wait(self) -> None:
        """Wait for every submitted job, keeping a job's error to itself: for a run that
        ends by an exception of its own, which is the one its caller must see."""
        self._jobs.join()
        self._error = None

    def _raise(self) -> None:
        if self._error is not None:
            err, self._error = self._error, None
            raise err

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                job()
            except BaseException as exc:  # handed to the training thread by flush/submit
                self._error = exc
            finally:
                self._jobs.task_done()


def load_training_state(folder: Path, name: str = "last") -> dict:
    """Read what ``save_training_state`` wrote; errors name the file and the problem."""
    path = Path(folder) / f"{name}.json"
    record = load_state(path)
    if not isinstance(record, dict) or record.get("format") != "netcoach-train-state-1":
        raise CheckpointError(f"{path}: not a netcoach training state (no 'format' marker)")
    rel = str(record["tensors"])
    if Path(rel).is_absolute() or ".." in Path(rel).parts:
        raise CheckpointError(f"{path}: tensor file {rel!r} points outside the checkpoint folder")
    return unflatten(record["state"], load_weights(Path(folder) / rel))
