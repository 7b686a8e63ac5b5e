"""Data loading under signals and kills, temps of dead writers, local copies of any name.

Issue 15, problems 7, 8 and 9: ``data fetch --data-path FILE`` ignored an
archive not named like the official file; a kill during a cold fetch left a
download temp in the cache for good; SIGTERM during data loading died with rc
-15, no message and the temp left, where SIGINT was clean. The fetches here
come from a slow local HTTP server (no network), so a real ``mnist-sgd``
process can be signalled in the middle of one.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mnist_sgd import cli
from mnist_sgd.datasets import DataOptions, load_dataset

ROOT = Path(__file__).resolve().parents[1]
FETCH = [sys.executable, "-m", "mnist_sgd", "data", "fetch", "mnist_sample"]


@pytest.fixture()
def slow_mirror(shared_data: Path) -> Iterator[tuple[str, threading.Event]]:
    """An HTTP mirror that sends ``mnist_sample.tgz`` at about 300 KB/s; the event: it started."""
    body = (shared_data / "mnist_sample.tgz").read_bytes()
    started = threading.Event()

    class Slow(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/mnist_sample.tgz":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                for start in range(0, len(body), 1 << 15):
                    self.wfile.write(body[start : start + (1 << 15)])
                    started.set()
                    time.sleep(0.1)
            except OSError:
                pass  # the client went away: that is the point

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", started
    server.shutdown()
    server.server_close()


def temps(cache: Path) -> list[Path]:
    return sorted(cache.rglob("*.tmp")) if cache.exists() else []


def fetch_process(mirror: str, cache: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*FETCH, "--mirror", mirror, "--cache-dir", str(cache)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def wait_for_temp(cache: Path, started: threading.Event) -> None:
    assert started.wait(120), "the fetch never started"
    deadline = time.monotonic() + 60
    while not temps(cache):
        assert time.monotonic() < deadline, "no download temp appeared"
        time.sleep(0.05)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_during_a_fetch_is_clean(
    sig: signal.Signals, slow_mirror: tuple[str, threading.Event], tmp_path: Path
) -> None:
    mirror, started = slow_mirror
    cache = tmp_path / "cache"
    process = fetch_process(mirror, cache)
    wait_for_temp(cache, started)
    process.send_signal(sig)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, (process.returncode, err)
    assert err.strip().splitlines()[-1] == "mnist-sgd: interrupted", err
    assert temps(cache) == []
    assert not (cache / "downloads" / "mnist_sample.tgz").exists()


def test_a_killed_fetchs_temp_is_removed_by_the_next_load(
    slow_mirror: tuple[str, threading.Event], tmp_path: Path, shared_data: Path
) -> None:
    mirror, started = slow_mirror
    cache = tmp_path / "cache"
    process = fetch_process(mirror, cache)
    wait_for_temp(cache, started)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    (left,) = temps(cache)
    assert f".p{process.pid}h" in left.name  # the temp names its (dead) writer
    load_dataset("mnist_sample", DataOptions(mirror=str(shared_data), cache_dir=cache))
    assert temps(cache) == []


def test_only_dead_writers_temps_are_removed(tmp_path: Path, shared_data: Path) -> None:
    from mnist_sgd.files import ORPHAN_AGE_S

    host = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    tensors = tmp_path / "cache" / "tensors"
    tensors.mkdir(parents=True)
    names = {
        "dead": f".x.safetensors.p{dead.stdout.strip()}h{host}.abc.tmp",
        "alive": f".x.safetensors.p{os.getpid()}h{host}.abc.tmp",
        "other-host-fresh": ".x.safetensors.p1h00000000.abc.tmp",
        "old-unnamed": ".x.safetensors.zzz.tmp",
    }
    for name in names.values():
        (tensors / name).write_bytes(b"half")
    old = time.time() - ORPHAN_AGE_S - 60
    os.utime(tensors / names["old-unnamed"], (old, old))
    load_dataset("mnist_sample", DataOptions(mirror=str(shared_data), cache_dir=tmp_path / "cache"))
    left = {name for name, file in names.items() if (tensors / file).exists()}
    assert left == {"alive", "other-host-fresh"}


def test_data_fetch_reads_a_local_archive_whatever_its_name(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "my digits (copy).tar.gz"
    shutil.copyfile(shared_data / "mnist_sample.tgz", copy)
    cache = tmp_path / "cache"
    args = ["data", "fetch", "mnist_sample", "--data-path", str(copy), "--offline"]
    assert cli.main([*args, "--cache-dir", str(cache)]) == 0, capsys.readouterr().err
    assert "12396 train, 2038 valid" in capsys.readouterr().out
    cached = cache / "downloads" / "mnist_sample.tgz"
    assert cached.read_bytes() == copy.read_bytes()
