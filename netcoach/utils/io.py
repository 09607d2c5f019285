"""Atomic file writes: a crash mid-write never leaves a half-written file.

Every file of a run folder is written to a temporary file in the same folder,
flushed to disk, and renamed over the target (``os.replace`` is atomic on POSIX
and Windows), so a reader sees either the old file or the new one. A full disk
(ENOSPC, or a quota: EDQUOT) raises ``DiskFullError`` naming the file: the previous
version of the file is still in place, so the run's last checkpoint still loads.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from netcoach.config.errors import NetcoachError

FULL = (errno.ENOSPC, errno.EDQUOT)


class DiskFullError(NetcoachError, OSError):
    """No space left where a file was being written; the file's previous version is intact."""


def disk_full(target: Path, exc: OSError) -> DiskFullError:
    try:
        free = f"{shutil.disk_usage(target.parent).free / 1e6:.1f} MB free"
    except OSError:
        free = "free space unknown"
    return DiskFullError(exc.errno, f"{target}: no space left on the device ({os.strerror(exc.errno)}; "
                                    f"{free}); its previous version is intact: free some space, then "
                                    f"continue with --resume")


@contextmanager
def full_disk_is_clear(target: Path) -> Iterator[None]:
    try:
        yield
    except DiskFullError:
        raise
    except OSError as exc:
        if exc.errno in FULL:
            raise disk_full(target, exc) from None
        raise


@contextmanager
def atomic_path(target: str | Path, durable: bool = True) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; rename it onto ``target`` on success.

    ``durable``: fsync the data before the rename, so even a power cut leaves the old
    file or the new one. Without it the write is still atomic for every reader and for
    a killed process (the kernel keeps the data); only a crash of the machine itself
    may lose it. An fsync costs about 0.4 ms of CPU, so files that a resume can rebuild
    from a durable one (a checkpoint's weights) skip it."""
    target = Path(target)
    with full_disk_is_clear(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        tmp_path = Path(tmp)
        try:
            yield tmp_path
            if durable:
                with open(tmp_path, "rb+") as fh:  # data on disk before the rename makes it visible
                    os.fsync(fh.fileno())
            os.replace(tmp_path, target)
        finally:
            if tmp_path.exists():
                tmp_path.unlink()


def atomic_write_bytes(target: str | Path, data: bytes, durable: bool = True) -> None:
    with atomic_path(target, durable) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(target: str | Path, text: str) -> None:
    atomic_write_bytes(target, text.encode("utf-8"))


def atomic_write_json(target: str | Path, obj: Any) -> None:
    atomic_write_text(target, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def jsonl_text(rows: list) -> str:
    """JSON lines, one per row (``json.dumps`` output: numpy/torch scalars and paths allowed)."""
    return "".join(_LINE_ENCODER.encode(row) + "\n" for row in rows)


def append_jsonl(target: str | Path, obj: Any, sync: bool = True) -> None:
    """Append one JSON line; a line is written with a single write call and flushed
    (``sync``: also to the disk; without it the line survives a killed process, and
    ``fsync_file`` makes it durable later)."""
    with full_disk_is_clear(Path(target)), open(target, "a", encoding="utf-8") as fh:
        fh.write(jsonl_text([obj]))
        fh.flush()
        if sync:
            os.fsync(fh.fileno())


class AppendLog:
    """An append-only file kept open between writes: opening and closing it per write
    costs as much as encoding a row (a run appends a few rows every epoch). The file is
    unbuffered, so every ``write`` reaches the kernel before it returns (a killed process
    keeps it) and a failed one leaves nothing behind to be written later; ``fsync_file``
    makes it durable. ``close`` before anything replaces or truncates the file, since the
    handle would keep writing to the replaced file."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._fh = None

    def write(self, text: str) -> None:
        with full_disk_is_clear(self.path):
            if self._fh is None:
                self._fh = open(self.path, "ab", buffering=0)
            data = memoryview(text.encode("utf-8"))
            while data:  # a write may be short; the rest follows
                data = data[self._fh.write(data):]

    def close(self) -> None:
        if self._fh is not None:
            fh, self._fh = self._fh, None
            fh.close()


def fsync_file(target: str | Path) -> None:
    """Flush an existing file's data to the disk (nothing when it does not exist)."""
    try:
        fd = os.open(target, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_jsonl(path: str | Path) -> list[dict]:
    """Read a JSONL file, ignoring a torn last line (the process died mid-append)."""
    rows = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return rows


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):  # numpy / torch scalars
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


# built once: ``json.dumps`` with arguments builds an encoder per call (same output)
_LINE_ENCODER = json.JSONEncoder(default=_json_default)
