"""Downloads over real HTTP (a loopback server): progress, retries, and nothing partial kept."""

from __future__ import annotations

import errno
import http.server
import os
import socket
import threading
import time
import urllib.error
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

import mnist_sgd.datasets.download as download
from mnist_sgd.datasets import DataOptions, load_dataset
from mnist_sgd.datasets.download import NotFoundError
from mnist_sgd.errors import DataError, DownloadError


class Handler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder; ``server.faults[path]`` makes one path misbehave."""

    server: FaultyServer

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        fault = self.server.faults.get(self.path)
        if fault is None or (fault.endswith("_once") and self.server.requests.count(self.path) > 1):
            return super().do_GET()
        if fault.startswith("500"):
            return self.send_error(500, "try again")
        body = (Path(self.directory) / self.path.lstrip("/")).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if fault == "corrupt":
            middle = len(body) // 2
            self.wfile.write(body[:middle] + bytes([body[middle] ^ 0xFF]) + body[middle + 1 :])
        elif fault.startswith("drop"):  # half the body, then hang up
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
        elif fault == "stall":
            self.wfile.write(body[:100])
            self.wfile.flush()
            time.sleep(1.5)
        return None

    def log_message(self, *args: object) -> None:
        pass


class FaultyServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, folder: Path) -> None:
        super().__init__(("127.0.0.1", 0), partial(Handler, directory=str(folder)))
        self.faults: dict[str, str] = {}
        self.requests: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


def serve(folder: Path) -> Iterator[FaultyServer]:
    server = FaultyServer(folder)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def files(tmp_path: Path) -> Path:
    folder = tmp_path / "www"
    folder.mkdir()
    (folder / "blob.bin").write_bytes(os.urandom(300_000))
    return folder


@pytest.fixture
def server(files: Path) -> Iterator[FaultyServer]:
    yield from serve(files)


@pytest.fixture(autouse=True)
def no_retry_delays(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(download, "RETRY_DELAYS_S", (0.0, 0.0))


def accept(body: bytes) -> None:
    pass


def cache_files(folder: Path) -> list[str]:
    """Every file under ``folder`` (temporary ones included)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_streams_into_place_with_progress(
    server: FaultyServer, files: Path, tmp_path: Path
) -> None:
    calls: list[tuple[str, int, int | None]] = []
    dest = tmp_path / "cache" / "blob.bin"
    body = download.download(
        f"{server.url}/blob.bin",
        dest,
        check=accept,
        what="blob",
        progress=lambda *a: calls.append(a),
    )
    assert body == dest.read_bytes() == (files / "blob.bin").read_bytes()
    assert calls[0] == ("blob", 0, 300_000) and calls[-1] == ("blob", 300_000, 300_000)
    assert [done for _, done, _ in calls] == sorted(done for _, done, _ in calls)
    assert cache_files(tmp_path / "cache") == ["blob.bin"]


def test_rejected_body_leaves_nothing(server: FaultyServer, tmp_path: Path) -> None:
    def reject(body: bytes) -> None:
        raise DataError("checksum mismatch")

    with pytest.raises(DataError, match="checksum mismatch"):
        download.download(
            f"{server.url}/blob.bin", tmp_path / "c" / "blob.bin", check=reject, what="b"
        )
    assert cache_files(tmp_path / "c") == []


def test_dropped_connection_is_retried_then_reported(server: FaultyServer, tmp_path: Path) -> None:
    server.faults["/blob.bin"] = "drop"
    url = f"{server.url}/blob.bin"
    with pytest.raises(
        DownloadError, match=rf"cannot download {url}: connection .* \(3 tries\); use a mirror"
    ):
        download.download(url, tmp_path / "c" / "blob.bin", check=accept, what="b")
    assert server.requests == ["/blob.bin"] * 3
    assert cache_files(tmp_path / "c") == []


def test_one_dropped_connection_then_success(
    server: FaultyServer, files: Path, tmp_path: Path
) -> None:
    server.faults["/blob.bin"] = "drop_once"
    body = download.download(
        f"{server.url}/blob.bin", tmp_path / "blob.bin", check=accept, what="b"
    )
    assert body == (files / "blob.bin").read_bytes() and len(server.requests) == 2


def test_server_error_is_retried(server: FaultyServer, tmp_path: Path) -> None:
    server.faults["/blob.bin"] = "500_once"
    download.download(f"{server.url}/blob.bin", tmp_path / "blob.bin", check=accept, what="b")
    assert len(server.requests) == 2


def test_missing_file_is_not_found(server: FaultyServer, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="HTTP 404"):
        download.download(f"{server.url}/nope.bin", tmp_path / "nope.bin", check=accept, what="b")
    assert len(server.requests) == 1  # a 404 is not retried


def test_stalled_server_times_out(
    server: FaultyServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(download, "TIMEOUT_S", 0.3)
    monkeypatch.setattr(download, "RETRY_DELAYS_S", ())
    server.faults["/blob.bin"] = "stall"
    with pytest.raises(DownloadError, match="timed out"):
        download.download(
            f"{server.url}/blob.bin", tmp_path / "c" / "blob.bin", check=accept, what="b"
        )
    assert cache_files(tmp_path / "c") == []


def test_ctrl_c_mid_download_leaves_nothing(server: FaultyServer, tmp_path: Path) -> None:
    def interrupt(what: str, done: int, total: int | None) -> None:
        if done > 100_000:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        download.download(
            f"{server.url}/blob.bin",
            tmp_path / "c" / "blob.bin",
            check=accept,
            what="b",
            progress=interrupt,
        )
    assert cache_files(tmp_path / "c") == []


def test_full_disk_mid_download_leaves_nothing(server: FaultyServer, tmp_path: Path) -> None:
    def disk_full(what: str, done: int, total: int | None) -> None:
        if done > 100_000:
            raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        download.download(
            f"{server.url}/blob.bin",
            tmp_path / "c" / "blob.bin",
            check=accept,
            what="b",
            progress=disk_full,
        )
    assert cache_files(tmp_path / "c") == []


def test_file_urls_use_the_same_path(files: Path, tmp_path: Path) -> None:
    body = download.download(
        (files / "blob.bin").as_uri(), tmp_path / "b.bin", check=accept, what="b"
    )
    assert body == (files / "blob.bin").read_bytes()
    with pytest.raises(NotFoundError):
        download.download((files / "nope").as_uri(), tmp_path / "n.bin", check=accept, what="b")


def test_no_network_names_the_url_and_the_way_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_dns(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError(socket.gaierror(-3, "Temporary failure in name resolution"))

    monkeypatch.setattr(download.urllib.request, "urlopen", no_dns)
    url = "https://s3.amazonaws.com/fast-ai-sample/mnist_sample.tgz"
    with pytest.raises(DownloadError) as caught:
        download.download(url, tmp_path / "x.tgz", check=accept, what="x")
    message = str(caught.value)
    assert url in message and "--mirror or MNIST_SGD_MIRROR" in message and "--data-path" in message
    assert "\n" not in message


# The real code path on real data: ../shared/data served over HTTP as a mirror.


@pytest.fixture
def shared_server(shared_data: Path) -> Iterator[FaultyServer]:
    yield from serve(shared_data)


@pytest.mark.slow
def test_mnist_sample_over_http_then_from_the_cache(
    shared_server: FaultyServer, tmp_path: Path
) -> None:
    options = DataOptions(cache_dir=tmp_path, mirror=shared_server.url + "/")
    data = load_dataset("mnist_sample", options)
    assert data.train_images.shape == (12396, 28, 28) and data.valid_images.shape == (2038, 28, 28)
    assert shared_server.requests == ["/mnist_sample.tgz"]
    again = load_dataset("mnist_sample", options)
    assert shared_server.requests == ["/mnist_sample.tgz"]  # the tensor cache answered
    assert again.train_labels.equal(data.train_labels)


def test_corrupted_archive_over_http_caches_nothing(
    shared_server: FaultyServer, tmp_path: Path
) -> None:
    shared_server.faults["/mnist_sample.tgz"] = "corrupt"
    with pytest.raises(DataError, match=r"mnist_sample\.tgz: corrupt gzip data"):
        load_dataset("mnist_sample", DataOptions(cache_dir=tmp_path, mirror=shared_server.url))
    assert cache_files(tmp_path) == []


def test_dropped_connection_over_http_caches_nothing(
    shared_server: FaultyServer, tmp_path: Path
) -> None:
    shared_server.faults["/mnist/train-images-idx3-ubyte.gz"] = "drop"
    with pytest.raises(DownloadError, match=r"train-images-idx3-ubyte\.gz: connection"):
        load_dataset("mnist", DataOptions(cache_dir=tmp_path, mirror=shared_server.url))
    assert cache_files(tmp_path) == []
