"""Tar and gzip bombs, on every path a user can feed one: refused, with memory measured.

A tar bomb is ``mnist_sample.tgz`` of about 1 MB holding one member of 1 GiB
of zeros; a gzip bomb is ``train-images-idx3-ubyte.gz`` of about 1 MB that
inflates to 1 GiB. Each path runs in a fresh Python process that records its
peak resident memory (``ru_maxrss``) after the imports and again after the
refusal: the difference must stay under 300 MB (it was 2.3 GB before the
readers streamed with a running cap).
"""

from __future__ import annotations

import functools
import http.server
import io
import json
import subprocess
import sys
import tarfile
import textwrap
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from mnist_sgd.datasets import archive
from mnist_sgd.datasets.archive import tar_members
from mnist_sgd.errors import DataError

SHARED_MNIST = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "mnist"
GIB = 1 << 30
BOUND_MB = 300


def zeros_gzip(handle: io.BufferedWriter, head: bytes, size: int, tail: bytes) -> None:
    """Write gzip of ``head``, ``size`` zero bytes, ``tail`` to ``handle`` (streamed)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    handle.write(packer.compress(head))
    block = bytes(16 << 20)
    for _ in range(size // len(block)):
        handle.write(packer.compress(block))
    handle.write(packer.compress(bytes(size % len(block)) + tail))
    handle.write(packer.flush())


@pytest.fixture(scope="module")
def bombs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``tar``: a .tgz with a 1 GiB member; ``gzip``: an IDX .gz inflating to 1 GiB."""
    folder = tmp_path_factory.mktemp("bombs")
    member = tarfile.TarInfo("mnist_sample/train/3/bomb.png")
    member.size = GIB
    with open(folder / "mnist_sample.tgz", "wb") as handle:
        zeros_gzip(handle, member.tobuf(tarfile.GNU_FORMAT), GIB, bytes(1024))
    with open(folder / "train-images-idx3-ubyte.gz", "wb") as handle:
        zeros_gzip(handle, b"\0\0\x08\x03", GIB, b"")
    return {"tar": folder / "mnist_sample.tgz", "gzip": folder / "train-images-idx3-ubyte.gz"}


@pytest.fixture(scope="module")
def http_mirror(bombs: dict[str, Path]) -> Iterator[str]:
    """A local HTTP server whose ``/mnist_sample.tgz`` is the tar bomb."""
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(bombs["tar"].parent)
    )
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


DRIVER = """
import json, resource
from pathlib import Path
from mnist_sgd.datasets import DataOptions, fetch, load_dataset, verify
from mnist_sgd.cli import main

def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

base = peak_mb()
try:
{call}
    outcome = "no error"
except SystemExit as stop:
    outcome = f"exit {{stop.code}}"
except Exception as error:
    outcome = f"{{type(error).__name__}}: {{error}}"
print(json.dumps({{"extra_mb": peak_mb() - base, "outcome": outcome}}))
"""


def run_driver(call: str, cwd: Path) -> dict[str, object]:
    """Run ``call`` (Python statements) in a fresh process; its extra peak memory and outcome."""
    code = DRIVER.format(call=textwrap.indent(textwrap.dedent(call), "    "))
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "stderr": done.stderr}


def idx_folder(tmp_path: Path, bomb: Path) -> Path:
    """A folder of MNIST's four IDX files whose training images are the gzip bomb."""
    folder = tmp_path / "idx"
    folder.mkdir()
    for real in SHARED_MNIST.glob("*.gz"):
        (folder / real.name).symlink_to(real.resolve())
    (folder / bomb.name).unlink(missing_ok=True)
    (folder / bomb.name).symlink_to(bomb)
    return folder


PATHS = {
    "data-path archive": "load_dataset('mnist_sample', DataOptions(path=TAR, cache_dir=CACHE))",
    "data-path folder": "load_dataset('mnist_sample', DataOptions(path=DIR, cache_dir=CACHE))",
    "mirror folder": "load_dataset('mnist_sample', DataOptions(mirror=str(DIR), cache_dir=CACHE))",
    "http download": "load_dataset('mnist_sample', DataOptions(mirror=HTTP, cache_dir=CACHE))",
    "data fetch": "fetch('mnist_sample', DataOptions(mirror=str(DIR), cache_dir=CACHE))",
    "cache": "load_dataset('mnist_sample', DataOptions(cache_dir=CACHED, offline=True))",
    "data verify": "verify('mnist_sample', DataOptions(cache_dir=CACHED, offline=True))",
    "extract": "fetch('mnist_sample', DataOptions(cache_dir=CACHED, offline=True), extract=True)",
    "train command": (
        "raise SystemExit(main(['train', '--dataset', 'mnist_sample', '--data-path', str(TAR), "
        "'--cache-dir', str(CACHE), '--out', str(CACHE / 'run'), '--epochs', '1']))"
    ),
    "gzip'd IDX": "load_dataset('mnist', DataOptions(path=IDX, cache_dir=CACHE))",
}


@pytest.mark.skipif(not SHARED_MNIST.is_dir(), reason=f"needs the shared MNIST at {SHARED_MNIST}")
@pytest.mark.parametrize("path", list(PATHS))
def test_bomb_is_refused_with_bounded_memory(
    path: str, bombs: dict[str, Path], http_mirror: str, tmp_path: Path
) -> None:
    cached = tmp_path / "cached"
    (cached / "downloads").mkdir(parents=True)
    (cached / "downloads" / "mnist_sample.tgz").write_bytes(bombs["tar"].read_bytes())
    setup = (
        f"TAR = Path({str(bombs['tar'])!r}); DIR = TAR.parent; "
        f"CACHE = Path({str(tmp_path / 'cache')!r}); "
        f"CACHED = Path({str(cached)!r}); HTTP = {http_mirror!r}; "
        f"IDX = Path({str(idx_folder(tmp_path, bombs['gzip']))!r})\n"
    )
    result = run_driver(setup + PATHS[path], tmp_path)
    outcome = str(result["outcome"])
    if path == "train command":  # the CLI's one-line error, exit 1
        assert outcome == "exit 1" and "bomb" in str(result["stderr"]), result
    else:
        assert outcome.startswith("DataError") and "bomb" in outcome, outcome
    assert float(str(result["extra_mb"])) < BOUND_MB, result
    print(f"{path}: +{float(str(result['extra_mb'])):.0f} MB peak, {outcome[:90]}")


def test_a_huge_pax_header_is_cut_off_by_the_stream_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    """``tarfile`` reads a pax header whole: the capped stream stops it at the cap."""
    monkeypatch.setattr(archive, "MAX_UNPACKED_BYTES", 1 << 20)
    header = tarfile.TarInfo("././@PaxHeader")
    header.type, header.size = tarfile.XHDTYPE, 4 << 20
    raw = header.tobuf(tarfile.USTAR_FORMAT) + bytes(4 << 20) + bytes(1024)
    with pytest.raises(DataError, match="refusing a decompression bomb"):
        tar_members(raw, "pax.tar")
