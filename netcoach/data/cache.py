"""The decode cache: an image folder is decoded once; later loads read one array file.

The key is a hash of the folder's content listing (every file's relative name, size
and modification time; for an archive its own path, size and mtime) together with
the decode settings, so changing, adding or removing a file gives a new key and the
folder is decoded again. Entries are written atomically (a crash never leaves a
half-written entry that a later load would trust).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Optional

import numpy as np

from netcoach.data.decode import Decoded
from netcoach.utils.io import atomic_path, atomic_write_json

FORMAT = 1  # bump when the stored layout changes


def cache_key(fingerprint: list, settings: dict) -> str:
    blob = json.dumps({"format": FORMAT, "files": fingerprint, "settings": settings},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:32]


class DecodeCache:
    """``<root>/decoded/<key>.x.npy``, ``.y.npy`` and ``.json`` (classes, skipped files)."""

    def __init__(self, root: Path):
        self.dir = Path(root) / "decoded"

    def _paths(self, key: str) -> tuple[Path, Path, Path]:
        return self.dir / f"{key}.x.npy", self.dir / f"{key}.y.npy", self.dir / f"{key}.json"

    def load(self, key: str) -> Optional[Decoded]:
        """The cached arrays, or None when absent or unreadable (then it is rebuilt)."""
        px, py, pm = self._paths(key)
        if not pm.is_file():  # the metadata is written last, so it marks a complete entry
            return None
        try:
            meta = json.loads(pm.read_text(encoding="utf-8"))
            x, y = np.load(px), np.load(py)
        except (OSError, ValueError):
            return None
        if len(x) != len(y):
            return None
        return Decoded(x, y, meta["classes"], meta["skipped"], meta["resized"])

    def store(self, key: str, decoded: Decoded) -> None:
        px, py, pm = self._paths(key)
        for path, arr in ((px, decoded.x), (py, decoded.y)):
            with atomic_path(path) as tmp:
                with open(tmp, "wb") as fh:
                    np.save(fh, arr)
        atomic_write_json(pm, {"classes": decoded.classes, "skipped": decoded.skipped,
                               "resized": decoded.resized, "shape": list(decoded.x.shape)})
