"""Decoding 28x28 grayscale images with Pillow, over all cores, refusing anything else by name.

Pillow reads an image's header first; the size and mode are checked before a
single pixel is decoded (a file that claims 100000x100000 pixels is refused,
not decoded, and Pillow's own decompression-bomb check runs before ours).
:func:`parallel_decode` spreads a dataset's images over forked workers;
:func:`decode_as_read` does so while the caller is still reading them (a tar's headers).
"""

from __future__ import annotations

import contextlib
import io
import itertools
import multiprocessing
import os
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterable
from multiprocessing.pool import AsyncResult

import numpy as np
from PIL import Image, UnidentifiedImageError

from mnist_sgd.datasets.mnist_style import fit_to_mnist
from mnist_sgd.errors import DataError, ImageError

SIDE = 28
PIL_FORMATS = ("PNG", "JPEG", "BMP", "TIFF")
MIN_IMAGES_PER_WORKER = 2_000  # below this, starting processes costs more than it saves
STREAM_CHUNK = 1_000  # images sent to a worker at a time by decode_as_read (and its minimum)

ImageSource = Callable[[int], tuple[str, bytes]]
"""``source(i) -> (name, bytes)``: the i-th image's name (for errors) and encoded bytes."""


def decode_images(count: int, source: ImageSource, *, fit: bool = False) -> np.ndarray:
    """Decode ``count`` images, ``source(i)`` giving the i-th; return ``(count, 28, 28) uint8``.

    ``fit``: an image of another size or mode goes through the MNIST recipe
    (:func:`mnist_sgd.datasets.mnist_style.fit_to_mnist`, as ``predict`` does)
    instead of being refused; :func:`decode_counting` also says how many did.

    Raises:
        DataError: naming the first file that is not a 28x28 grayscale image
            (with ``fit``: not an image, or one that holds no digit).
    """
    return decode_counting(count, source, fit=fit)[0]


def decode_counting(
    count: int, source: ImageSource, *, fit: bool = False
) -> tuple[np.ndarray, int]:
    """:func:`decode_images`, and the number of images ``fit`` sent through the MNIST recipe."""
    out = np.empty((count, SIDE, SIDE), np.uint8)
    fitted = 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        for i in range(count):
            name, data = source(i)
            out[i], changed = _decode(data, name, fit)
            fitted += changed
    return out, fitted


def decode_image(data: bytes, name: str) -> np.ndarray:
    """Decode one 28x28 grayscale image to ``(28, 28) uint8``."""
    return decode_images(1, lambda _: (name, data))[0]


def _decode(data: bytes, name: str, fit: bool = False) -> tuple[np.ndarray, bool]:
    """One image: header, size and mode checked (or fitted), then the pixels; fitted or not."""
    try:
        with Image.open(io.BytesIO(data), formats=PIL_FORMATS) as image:
            if fit and (image.size != (SIDE, SIDE) or image.mode != "L"):
                return fit_to_mnist(image).numpy(), True
            if image.size != (SIDE, SIDE) or image.mode != "L":
                width, height = image.size
                raise DataError(
                    f"{name}: a {width}x{height} image of mode {image.mode}; "
                    f"expected 28x28 grayscale (mode L)"
                )
            image.load()
            return np.frombuffer(image.tobytes(), np.uint8).reshape(SIDE, SIDE), False
    except ImageError as error:  # fitted, and nothing stood out from the background
        raise DataError(
            f"{name}: {error}; remove it or replace it with an image of one digit"
        ) from None
    except UnidentifiedImageError:
        raise DataError(
            f"{name}: not an image (PIL cannot identify it); remove it, or replace it with "
            "an image of one digit"
        ) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise DataError(f"{name}: refusing a decompression bomb ({error})") from None
    except DataError:
        raise
    except Exception as error:  # Pillow parsing hostile bytes fails in many ways: all "corrupt"
        raise DataError(f"{name}: corrupt image ({type(error).__name__}: {error})") from None


_SOURCE: ImageSource | None = None  # what forked workers decode (inherited, never pickled)
_FIT = False  # and whether they fit other sizes to 28x28
_FORK_LOCK = threading.Lock()


def parallel_decode(count: int, source: ImageSource, *, fit: bool = False) -> np.ndarray:
    """:func:`decode_images` spread over the cores (forked workers, Linux only) when worth it.

    Returns:
        ``(count, 28, 28) uint8``.
    """
    return parallel_decode_counting(count, source, fit=fit)[0]


def parallel_decode_counting(
    count: int, source: ImageSource, *, fit: bool = False
) -> tuple[np.ndarray, int]:
    """:func:`parallel_decode`, and how many images ``fit`` sent through the MNIST recipe."""
    workers = min(_cpu_count(), count // MIN_IMAGES_PER_WORKER)
    if workers < 2 or sys.platform != "linux":
        return decode_counting(count, source, fit=fit)
    global _SOURCE, _FIT
    bounds = np.linspace(0, count, workers * 2 + 1, dtype=np.int64).tolist()
    with _FORK_LOCK:  # one source at a time, should two threads load at once
        _SOURCE, _FIT = source, fit
        try:
            with multiprocessing.get_context("fork").Pool(workers, _plain_signals) as pool:
                parts = pool.map(_decode_range, itertools.pairwise(bounds))
                pool.close()  # a clean end: terminate() can miss a worker still starting,
                pool.join()  # which then waits on the queue's lock forever
        finally:
            _SOURCE, _FIT = None, False
    if not parts:
        return np.empty((0, SIDE, SIDE), np.uint8), 0
    return np.concatenate([images for images, _ in parts]), sum(n for _, n in parts)


def _plain_signals() -> None:
    """Worker start: SIGTERM kills at once, Ctrl-C is the parent's to handle.

    The CLI turns SIGTERM into ``KeyboardInterrupt``; a worker that inherited that
    could be interrupted inside the pool's queue lock when ``Pool.terminate`` sends
    it, leaving the lock held and the next worker (and the parent's join) waiting
    forever.
    """
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _decode_range(bounds: tuple[int, int]) -> tuple[np.ndarray, int]:
    """Worker: decode images ``start..stop`` of the inherited source."""
    start, stop = bounds
    source = _SOURCE
    assert source is not None, "parallel_decode sets the source before forking"
    return decode_counting(stop - start, lambda i: source(start + i), fit=_FIT)


def _cpu_count() -> int:
    """Cores this process may use."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


Decoded = tuple[list[str], np.ndarray, dict[int, str]]
"""Names in the order they came, their ``(n, 28, 28) uint8`` images, and the failures."""


def decode_as_read(items: Iterable[tuple[str, bytes]]) -> Decoded:
    """Decode ``(name, bytes)`` pairs while ``items`` goes on producing them.

    Chunks of ``STREAM_CHUNK`` images go to forked workers, one per core, as they fill (the
    rest, and all of fewer images, are decoded here), so reading an archive's headers, which
    is Python's ``tarfile`` in this process, overlaps with decoding, which is Pillow in the
    workers (MNIST_SAMPLE's cold load: issue 30, benchmarks/RESULTS.md).

    Returns:
        ``(names, images, failures)``: ``images[i]`` is ``names[i]`` decoded (zeros where it
        failed); ``failures`` maps such an ``i`` to its one-line ``DataError`` message. The
        caller raises it if it uses that image: a file it would ignore must not stop it.
    """
    names: list[str] = []
    parts: list[AsyncResult[tuple[np.ndarray, dict[int, str]]] | tuple[np.ndarray, dict[int, str]]]
    parts, chunk = [], []
    workers = _cpu_count() if sys.platform == "linux" else 0
    with contextlib.ExitStack() as stack:
        pool = None
        for name, data in items:
            names.append(name)
            chunk.append((name, data))
            if len(chunk) < STREAM_CHUNK:
                continue
            if pool is None and workers >= 1:  # a chunk full: worth starting workers
                pool = stack.enter_context(
                    multiprocessing.get_context("fork").Pool(workers, _plain_signals)
                )
            start = len(names) - len(chunk)
            if pool is None:
                parts.append(_decode_chunk(start, chunk))
            else:
                parts.append(pool.apply_async(_decode_chunk, (start, chunk)))
            chunk = []
        parts.append(_decode_chunk(len(names) - len(chunk), chunk))  # the rest, here
        done = [part if isinstance(part, tuple) else part.get() for part in parts]
        if pool is not None:
            pool.close()  # a clean end, as in parallel_decode
            pool.join()
    failures = {i: message for _, failed in done for i, message in failed.items()}
    parts_images = [images for images, _ in done]
    return names, np.concatenate(parts_images), failures


def _decode_chunk(start: int, chunk: list[tuple[str, bytes]]) -> tuple[np.ndarray, dict[int, str]]:
    """Decode ``chunk`` (item ``i`` is number ``start + i``); failures by number, not raised."""
    out = np.zeros((len(chunk), SIDE, SIDE), np.uint8)
    failures: dict[int, str] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        for i, (name, data) in enumerate(chunk):
            try:
                out[i], _ = _decode(data, name)  # fit=False: 28x28 grayscale or refused
            except DataError as error:
                failures[start + i] = str(error)
    return out, failures
