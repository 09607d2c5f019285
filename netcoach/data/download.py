"""Downloads of the standard data sets into the cache folder, verified and atomic.

A file is downloaded to a temporary name next to its target, its MD5 checked
against the official value, and only then renamed into place; an archive is
extracted into a temporary folder that is renamed to its final name only when
extraction finished. So an interrupted download or extraction never looks
complete and is simply redone on the next run.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from netcoach.data.errors import DataError
from netcoach.utils.io import atomic_path

ENV_CACHE = "NETCOACH_CACHE"


class DownloadError(DataError):
    """A download failed (offline, refused); the message says where to put the file by hand."""


@dataclass(frozen=True)
class Resource:
    """One official file: where it lives and its MD5 (as published by the data set)."""

    url: str
    md5: str

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


_MNIST = "https://ossci-datasets.s3.amazonaws.com/mnist/"
_FASHION = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
_KRIZ = "https://www.cs.toronto.edu/~kriz/"

# Official locations and MD5s (the values torchvision's dataset classes use).
CATALOG: dict[str, list[Resource]] = {
    "mnist": [Resource(_MNIST + "train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
              Resource(_MNIST + "train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
              Resource(_MNIST + "t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
              Resource(_MNIST + "t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c")],
    "fashion-mnist": [
        Resource(_FASHION + "train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        Resource(_FASHION + "train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
        Resource(_FASHION + "t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
        Resource(_FASHION + "t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310")],
    "cifar10": [Resource(_KRIZ + "cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a")],
    "cifar100": [Resource(_KRIZ + "cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85")],
}


def cache_root(configured: Optional[str] = None) -> Path:
    """``data.cache_dir``, else ``$NETCOACH_CACHE``, else the user's cache folder
    (``$XDG_CACHE_HOME`` or ``~/.cache`` on Linux/macOS, ``%LOCALAPPDATA%`` on Windows)."""
    if configured:
        return Path(configured).expanduser()
    if os.environ.get(ENV_CACHE):
        return Path(os.environ[ENV_CACHE]).expanduser()
    if os.name == "nt" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "netcoach" / "cache"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "netcoach"


def md5sum(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(resource: Resource, folder: Path, timeout: float = 60.0) -> Path:
    """Download ``resource`` into ``folder`` unless a verified copy is there.

    Raises:
        DataError: the downloaded bytes do not match the MD5 (nothing is kept).
        DownloadError: offline or the server refused; says where to put the file by hand.
    """
    target = folder / resource.filename
    if target.is_file() and md5sum(target) == resource.md5:
        return target
    import urllib.error  # imported where used: `import netcoach` stays cheap

    try:
        with atomic_path(target) as tmp:
            _download(resource.url, tmp, timeout)
            got = md5sum(tmp)
            if got != resource.md5:
                raise DataError(f"checksum mismatch for {resource.url}: MD5 {got}, expected "
                                f"{resource.md5}; the partial or altered download was deleted, "
                                f"try again or place the official file at {target}")
    except (urllib.error.URLError, OSError) as exc:
        raise DownloadError(
            f"could not download {resource.url} ({getattr(exc, 'reason', exc)}). If this machine is "
            f"offline, download the file elsewhere and put it by hand at {target} (MD5 "
            f"{resource.md5}), or point data.path at a folder holding it") from None
    return target


def _download(url: str, dest: Path, timeout: float) -> None:
    import urllib.request  # imported where used: `import netcoach` stays cheap

    with urllib.request.urlopen(url, timeout=timeout) as response, open(dest, "wb") as out:
        shutil.copyfileobj(response, out, length=1 << 20)


def extract_atomic(archive: Path, dest: Path) -> Path:
    """Extract a tar/tar.gz into ``dest``: into a temporary sibling folder first,
    renamed onto ``dest`` when complete (an interrupted extraction leaves no ``dest``)."""
    if dest.is_dir():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent))
    try:
        try:
            with tarfile.open(archive) as tar:
                _safe_extract(tar, tmp)
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise DataError(f"{archive}: unreadable archive ({exc})") from None
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _safe_extract(tar: tarfile.TarFile, dest: Path) -> None:
    """Refuse members that would land outside ``dest`` (absolute paths, ``..``, links)."""
    root = dest.resolve()
    for member in tar.getmembers():
        target = (dest / member.name).resolve()
        if root not in target.parents and target != root or member.issym() or member.islnk():
            raise DataError(f"{tar.name}: refusing unsafe archive member {member.name!r}")
    tar.extractall(dest)


def ensure_downloaded(name: str, cache_dir: Optional[str], download: bool) -> Path:
    """The cache folder of a standard set, with every official file present and verified."""
    folder = cache_root(cache_dir) / name
    missing = [r for r in CATALOG[name] if not (folder / r.filename).is_file()]
    if missing and not download:
        files = ", ".join(r.filename for r in missing)
        raise FileNotFoundError(f"{name}: {files} not found in {folder} and data.download is false; "
                                f"put the official files there or set data.path")
    folder.mkdir(parents=True, exist_ok=True)
    for resource in missing:
        fetch(resource, folder)
    return folder
