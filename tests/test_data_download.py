"""Downloads against a small archive served by an HTTP server on 127.0.0.1 in the test:
checksum verification, atomic extraction, and the offline error."""

from __future__ import annotations

import hashlib
import http.server
import socket
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest

from netcoach.config import DataConfig
from netcoach.data import DataError, datasets
from netcoach.data import download as dl
from tests.test_data_formats import make_cifar10


@contextmanager
def serve(folder: Path):
    """Serve ``folder`` on a free 127.0.0.1 port; the server stops when the block ends."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=str(folder), **k)

        def log_message(self, *args):  # keep the test output clean
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def served_cifar(tmp_path, monkeypatch):
    """A tiny CIFAR-10 python-version archive served locally, registered as the official one."""
    www = tmp_path / "www"
    www.mkdir()
    archive = make_cifar10(tmp_path / "build", as_tar=True)
    target = www / "cifar-10-python.tar.gz"
    target.write_bytes(archive.read_bytes())
    md5 = hashlib.md5(target.read_bytes()).hexdigest()
    with serve(www) as base:
        resource = dl.Resource(base + "cifar-10-python.tar.gz", md5)
        monkeypatch.setitem(dl.CATALOG, "cifar10", [resource])
        yield resource, target


def test_download_verify_extract_and_reuse(tmp_path, served_cifar):
    resource, _ = served_cifar
    cfg = DataConfig(name="cifar10", cache_dir=str(tmp_path / "cache"))
    b = datasets.get("cifar10")(cfg)
    assert len(b.train) + len(b.val) == 100 and len(b.test) == 20
    folder = tmp_path / "cache" / "cifar10"
    assert (folder / "cifar-10-python.tar.gz").is_file()
    assert (folder / "extracted" / "cifar-10-batches-py" / "test_batch").is_file()
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temp leftovers
    # Offline afterwards: the verified cache is used without the network.
    dl.CATALOG["cifar10"] = [dl.Resource("http://127.0.0.1:9/cifar-10-python.tar.gz", resource.md5)]
    assert len(datasets.get("cifar10")(cfg).test) == 20


def test_checksum_mismatch_keeps_nothing(tmp_path, served_cifar, monkeypatch):
    resource, _ = served_cifar
    monkeypatch.setitem(dl.CATALOG, "cifar10", [dl.Resource(resource.url, "0" * 32)])
    cfg = DataConfig(name="cifar10", cache_dir=str(tmp_path / "cache"))
    with pytest.raises(DataError, match=r"checksum mismatch for http://127.0.0.1:\d+/cifar-10-python.tar.gz: "
                                        r"MD5 [0-9a-f]{32}, expected 0{32}"):
        datasets.get("cifar10")(cfg)
    folder = tmp_path / "cache" / "cifar10"
    assert not list(folder.iterdir())  # neither the file nor a partial download remains


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: connections are refused


def test_offline_error_says_where_to_put_files(tmp_path, monkeypatch):
    url = f"http://127.0.0.1:{_closed_port()}/train-images-idx3-ubyte.gz"
    monkeypatch.setitem(dl.CATALOG, "mnist", [dl.Resource(url, "f" * 32)])
    cfg = DataConfig(name="mnist", cache_dir=str(tmp_path / "c"))
    with pytest.raises(dl.DownloadError) as err:
        datasets.get("mnist")(cfg)
    msg = str(err.value)
    assert "could not download" in msg and "offline" in msg
    assert str(tmp_path / "c" / "mnist" / "train-images-idx3-ubyte.gz") in msg and "f" * 32 in msg


def test_download_disabled_names_missing_files(tmp_path):
    cfg = DataConfig(name="mnist", cache_dir=str(tmp_path / "c"), download=False)
    with pytest.raises(FileNotFoundError, match=r"train-images-idx3-ubyte.gz.*not found in .*c/mnist"):
        datasets.get("mnist")(cfg)


def test_interrupted_extraction_never_looks_complete(tmp_path, served_cifar):
    _, archive = served_cifar
    broken = tmp_path / "half.tar.gz"
    broken.write_bytes(archive.read_bytes()[: len(archive.read_bytes()) // 2])
    with pytest.raises(DataError, match="half.tar.gz: unreadable archive"):
        dl.extract_atomic(broken, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]
    dl.extract_atomic(archive, tmp_path / "out")
    assert (tmp_path / "out" / "cifar-10-batches-py" / "data_batch_5").is_file()
