"""Shared pieces of the fuzz targets: profiles, seed files, mutations, no-hang and memory guards.

Every target feeds hostile bytes to one reader and accepts only two outcomes:
a result, or a documented error (``MnistSgdError`` or ``ValueError``). Any
other exception, a run past ``HANG_S`` seconds, or a Python heap peak past
the target's bound fails the example.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import signal
import struct
import tarfile
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from PIL import Image

from mnist_sgd.errors import MnistSgdError

DOCUMENTED = (MnistSgdError, ValueError)
HANG_S = 10.0  # an example this slow is a hang (the slowest real example takes ~0.1 s)
PROFILES = {"ci": 150, "long": 5000}
T = TypeVar("T")


def register_profiles() -> None:
    """``ci``: 150 examples a target; ``long``: 5,000. No example database, no deadline flakes."""
    for name, examples in PROFILES.items():
        settings.register_profile(
            f"fuzz-{name}",
            max_examples=examples,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        if name == "long":
            settings.register_profile("long", parent=settings.get_profile("fuzz-long"))


def fuzz_settings() -> settings:
    """The ``fuzz-long`` profile when ``--hypothesis-profile=long`` was given, else ``fuzz-ci``."""
    register_profiles()
    long = settings.get_current_profile_name() == "long"
    return settings.get_profile("fuzz-long" if long else "fuzz-ci")


class Hang(Exception):
    """An example ran past ``HANG_S``."""


@contextlib.contextmanager
def no_hang(seconds: float = HANG_S) -> Iterator[None]:
    """Raise :class:`Hang` in the main thread if the block runs past ``seconds``."""

    def alarm(*_: Any) -> None:
        raise Hang(f"no answer after {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def documented(call: Callable[[], T], *, max_mb: float = 64) -> T | Exception:
    """Run ``call``: its result or a documented error; anything else fails the example.

    The Python heap (numpy included, via tracemalloc) may not peak past
    ``max_mb``: a reader must check sizes before it allocates.
    """
    tracemalloc.start()
    try:
        with no_hang():
            try:
                return call()
            except DOCUMENTED as error:
                message = str(error)
                assert message and "\n" not in message.strip(), (
                    f"not a one-line message: {message!r}"
                )
                return error
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak <= max_mb * 2**20, f"the Python heap peaked at {peak / 2**20:.0f} MiB"


# --- seed files: small valid inputs that mutations start from -------------------------------


def idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    """An IDX file: magic, type, rank, big-endian dims, then the data (big-endian)."""
    header = bytes([0, 0, type_code, array.ndim]) + b"".join(
        struct.pack(">I", d) for d in array.shape
    )
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def digit(seed: int = 0) -> np.ndarray:
    """A ``(28, 28) uint8`` stroke on black, like an MNIST digit."""
    rng = np.random.default_rng(seed)
    image = np.zeros((28, 28), np.uint8)
    rows = slice(4 + seed % 5, 22)
    image[rows, 12:16] = rng.integers(128, 256, size=(image[rows, 12:16].shape), dtype=np.uint8)
    return image


def png_bytes(array: np.ndarray, mode: str = "L", fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buffer, format=fmt)
    return buffer.getvalue()


def tar_bytes(files: dict[str, bytes], compress: bool = True) -> bytes:
    """A tar (gzip'd by default) holding ``files`` (name -> bytes)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in files.items():
            member = tarfile.TarInfo(name)
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
    raw = buffer.getvalue()
    return gzip.compress(raw, mtime=0) if compress else raw


# --- mutations ---------------------------------------------------------------------------

EXTREMES = (0, 1, 0x7F, 0x80, 0xFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 2**63, 2**64 - 1)


@st.composite
def mutated(draw: st.DrawFn, seeds: st.SearchStrategy[bytes]) -> bytes:
    """A seed file after 1-4 mutations: flips, cuts, insertions, extreme integers."""
    data = bytearray(draw(seeds))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(("flip", "truncate", "insert", "int32", "int64", "splice")))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "truncate":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif kind in ("int32", "int64"):
            size = 4 if kind == "int32" else 8
            value = draw(st.sampled_from(EXTREMES)) % (1 << (8 * size))
            order = draw(st.sampled_from(("big", "little")))
            data[at : at + size] = value.to_bytes(size, order)
        elif kind == "splice":
            data[at : at + draw(st.integers(1, 32))] = draw(st.binary(max_size=32))
    return bytes(data)
