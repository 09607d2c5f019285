"""Finding the images of a class-per-sub-folder layout in a folder or an archive.

The layout (what torchvision calls ImageFolder)::

    root/<class name>/<any name>.<any format Pillow reads>

``root`` may be a folder or a ``.tar``/``.tar.gz``/``.tgz``/``.zip`` holding it
(optionally under one top folder, e.g. ``train/<class>/...``). Class indices follow
the sorted class names. Hidden files (``.DS_Store``, ``._x``) are ignored. An archive
entry with an absolute path, a ``..`` component, or that is a link or a device is
refused (never read, never made a class): it would name data outside the archive.
"""

from __future__ import annotations

import os
import stat
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Iterator, Optional

import numpy as np

from netcoach.data.errors import DataError
from netcoach.data.splits import SplitTooSmall

ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".zip")


def is_archive(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(ARCHIVE_SUFFIXES)


@dataclass
class ImageList:
    """Image entries of one folder or archive: names (paths inside it), labels, classes,
    and a fingerprint of the content (names, sizes, mtimes) for the decode cache."""

    source: Path
    names: list[str]
    labels: list[int]
    classes: list[str]
    fingerprint: list
    blobs: Optional[dict] = None  # name -> bytes, kept from a tar's single sequential pass

    def __len__(self) -> int:
        return len(self.names)


def _visible(name: str) -> bool:
    return not any(part.startswith((".", "__MACOSX")) for part in PurePosixPath(name).parts)


def list_images(source: str | Path, keep_bytes: bool = True) -> ImageList:
    """Entries of ``source`` (a folder or an archive) grouped into classes.

    Args:
        keep_bytes: for a tar, keep the file bytes read on the listing pass (for decoding next).
    """
    source = Path(source).expanduser()
    if not source.exists():
        raise FileNotFoundError(f"image folder {source} does not exist")
    if source.is_dir():
        return _from_folder(source)
    if not is_archive(source):
        raise DataError(f"{source}: not a folder or a .tar/.tar.gz/.tgz/.zip archive of one")
    blobs: dict = {}
    entries = _archive_entries(source, blobs if keep_bytes else None)  # (name, size, mtime)
    images = _group(source, [(n, s) for n, s, _ in entries], archive_fingerprint(source), empty_dirs=[])
    images.blobs = blobs or None
    return images


def archive_fingerprint(path: Path) -> list:
    """An archive's identity for the decode cache: its path, size and mtime (cheap: no listing)."""
    st = path.stat()
    return [str(path.resolve()), st.st_size, st.st_mtime_ns]


def _from_folder(root: Path) -> ImageList:
    # A single sub-folder holding only folders (e.g. an unpacked archive's train/) is descended into.
    children = [c for c in sorted(root.iterdir()) if _visible(c.name)]
    if len(children) == 1 and children[0].is_dir() and all(g.is_dir() for g in children[0].iterdir()
                                                           if _visible(g.name)):
        if any(g.is_dir() and any(g.iterdir()) for g in children[0].iterdir()):
            return _from_folder(children[0])
    class_dirs = [c for c in children if c.is_dir()]
    if not class_dirs:
        raise DataError(f"{root}: no class sub-folders; expected {root}/<class name>/<image files> "
                        f"(one sub-folder per class)")
    entries, fingerprint, empty = [], [str(root.resolve())], []
    for d in class_dirs:
        files = _walk_files(str(d), d.name)
        if not files:
            empty.append(d)
        entries += [(rel, size) for rel, size, _ in files]
        fingerprint += files
    return _group(root, entries, fingerprint, empty_dirs=empty)


def _walk_files(top: str, rel: str) -> list[tuple[str, int, int]]:
    """(relative posix name, size, mtime_ns) of the visible files under ``top``, in
    ``os.walk`` order (a folder's sorted files, then its sorted sub-folders; links to
    folders are listed but not followed). Written with ``os.scandir`` because pathlib's
    per-path objects cost more than the stat calls on a folder of 50,000 small images."""
    files, dirs = [], []
    with os.scandir(top) as it:
        for e in it:
            if e.name.startswith((".", "__MACOSX")):
                continue
            if e.is_dir():
                dirs.append(e)
            else:
                files.append(e)
    out = []
    for e in sorted(files, key=lambda e: e.name):
        st = e.stat()
        out.append((f"{rel}/{e.name}", st.st_size, st.st_mtime_ns))
    for e in sorted(dirs, key=lambda e: e.name):
        if not e.is_symlink():
            out += _walk_files(e.path, f"{rel}/{e.name}")
    return out


def _group(source: Path, entries: list[tuple[str, int]], fingerprint: list, empty_dirs) -> ImageList:
    """Class = the first path component below the common top folder."""
    if empty_dirs:
        raise DataError(f"{empty_dirs[0]}: empty class folder (no image files); remove it or add images")
    parts = [_parts(n) for n, _ in entries]
    depth = 0
    while parts and all(len(p) > depth + 2 for p in parts) and len({p[depth] for p in parts}) == 1:
        depth += 1  # skip a common top folder such as train/
    flat = [n for n, p in zip((e[0] for e in entries), parts) if len(p) <= depth + 1]
    if not entries or flat and len(flat) == len(entries):
        raise DataError(f"{source}: no class sub-folders; expected <class name>/<image files> "
                        f"(one sub-folder per class)")
    if flat:
        raise DataError(f"{source}: files outside any class sub-folder, e.g. {flat[0]}")
    classes = sorted({p[depth] for p in parts})
    index = {c: i for i, c in enumerate(classes)}
    names = [n for n, _ in entries]
    return ImageList(source, names, [index[p[depth]] for p in parts], classes, fingerprint)


def _parts(name: str) -> tuple[str, ...]:
    """``PurePosixPath(name).parts`` of a relative name (empty and ``.`` components dropped),
    without building a path object per entry."""
    return tuple(p for p in name.split("/") if p and p != ".")


def require_classes(classes: list[str], source) -> None:
    """A training folder needs two classes at least: with one, every label is the same
    and a classifier learns nothing (its test accuracy of 1.0 would mean nothing)."""
    if len(classes) < 2:
        raise DataError(f"{source}: only one class folder ({', '.join(map(repr, classes))}); "
                        f"classification needs at least 2 class sub-folders")


def split_error(exc: ValueError, labels, classes: list[str], source) -> Exception:
    """The stratified split's error, with the class folders' names and counts instead of
    class indices; other errors are returned unchanged."""
    if not isinstance(exc, SplitTooSmall):
        return exc
    counts = np.bincount(np.asarray(labels), minlength=len(classes))
    fewest = sorted(range(len(classes)), key=lambda i: counts[i])[:3]
    named = ", ".join(f"class folder {classes[i]!r} has {counts[i]} image{'' if counts[i] == 1 else 's'}"
                      for i in fewest)
    return DataError(f"{source}: too few images to split into train/val/test with every class in "
                     f"each split ({named}); add images to the smallest classes, remove them, or "
                     f"give data.val_path/data.test_path")


def _check_entry(archive: Path, name: str, kind: str = "file") -> None:
    """Refuse an entry that points outside the archive or is not a regular file."""
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
        raise DataError(f"{archive}: entry {name!r} points outside the archive (absolute path or "
                        f"'..'); netcoach refuses to read such an archive")
    if kind != "file":
        raise DataError(f"{archive}: entry {name!r} is a {kind}, not a regular file; netcoach reads "
                        f"only regular files from archives")


def _tar_kind(m: tarfile.TarInfo) -> str:
    if m.isfile():
        return "file"
    return "link" if m.issym() or m.islnk() else "special file (device or fifo)"


def _zip_kind(info: zipfile.ZipInfo) -> str:
    return "link" if stat.S_ISLNK(info.external_attr >> 16) else "file"


def _archive_entries(path: Path, blobs: Optional[dict]) -> list[tuple[str, int, int]]:
    """Sorted (name, size, mtime) of the files; a tar's file bytes go into ``blobs`` on the
    same pass (a .tar.gz cannot seek, so reading it twice would cost a second decompression)."""
    try:
        if path.name.lower().endswith(".zip"):
            with zipfile.ZipFile(path) as zf:
                for i in zf.infolist():  # hidden entries too: '..' would count as hidden
                    _check_entry(path, i.filename, "file" if i.is_dir() else _zip_kind(i))
                return sorted((i.filename, i.file_size, 0) for i in zf.infolist()
                              if not i.is_dir() and _visible(i.filename))
        entries = []
        with tarfile.open(path) as tar:
            for m in tar:
                _check_entry(path, m.name, "file" if m.isdir() or not _visible(m.name) else _tar_kind(m))
                if m.isfile() and _visible(m.name):
                    entries.append((m.name, m.size, int(m.mtime)))
                    if blobs is not None:
                        blobs[m.name] = tar.extractfile(m).read()
        return sorted(entries)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as exc:
        raise DataError(f"{path}: unreadable archive ({exc})") from None


def iter_bytes(images: ImageList) -> Iterator[tuple[int, bytes]]:
    """(index, raw bytes) of every entry; archives are read in one sequential pass."""
    source, wanted = images.source, {n: i for i, n in enumerate(images.names)}
    if images.blobs is not None:
        for i, name in enumerate(images.names):
            yield i, images.blobs[name]
        return
    if source.is_dir():
        for i, name in enumerate(images.names):
            yield i, (source / name).read_bytes()
        return
    try:
        if source.name.lower().endswith(".zip"):
            with zipfile.ZipFile(source) as zf:
                for i, name in enumerate(images.names):
                    yield i, zf.read(name)
            return
        with tarfile.open(source) as tar:  # sequential: a .tar.gz cannot seek cheaply
            for member in tar:
                if member.name in wanted:
                    yield wanted[member.name], tar.extractfile(member).read()
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as exc:
        raise DataError(f"{source}: unreadable archive ({exc})") from None


def entry_reader(images: ImageList) -> Callable[[int], bytes]:
    """Random access to every entry's bytes, usable in any process: a folder's files, the
    bytes a tar's listing pass kept, or a zip (opened once per process that reads it).
    A tar listed without its bytes has them read first, in one sequential pass."""
    if images.source.is_dir():
        root, names = str(images.source), images.names
        return lambda i: _read_file(os.path.join(root, names[i]))
    if images.blobs is None and not images.source.name.lower().endswith(".zip"):
        images.blobs = {images.names[i]: data for i, data in iter_bytes(images)}
    if images.blobs is not None:
        blobs, names = images.blobs, images.names
        return lambda i: blobs[names[i]]
    return _ZipReader(images.source, images.names)


def _read_file(path: str) -> bytes:
    """A file's bytes with plain system calls: half the cost of ``open().read()`` per small
    file, which matters when a folder holds tens of thousands of them."""
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class _ZipReader:
    """Index -> bytes of a zip's entries; the archive opens on first use in each process
    (a forked worker must not share the parent's file position)."""

    def __init__(self, source: Path, names: list[str]):
        self.source, self.names, self.pid, self.zf = source, names, None, None

    def __call__(self, i: int) -> bytes:
        if self.pid != os.getpid():
            self.zf, self.pid = zipfile.ZipFile(self.source), os.getpid()
        try:
            return self.zf.read(self.names[i])
        except (zipfile.BadZipFile, EOFError, OSError) as exc:
            raise DataError(f"{self.source}: unreadable archive ({exc})") from None


def file_reader(images: ImageList) -> Callable[[int], bytes]:
    """Random access to one entry's bytes (folders only; used by the streaming path)."""
    if not images.source.is_dir():
        raise DataError(f"{images.source}: data.streaming reads image folders; unpack the archive first")
    root, names = images.source, images.names
    return lambda i: (root / names[i]).read_bytes()
