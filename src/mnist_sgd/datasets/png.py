"""Decoding 28x28 grayscale images, fast, and refusing anything else by name.

MNIST's PNGs are tiny: an 8-bit grayscale 28x28 image, one zlib stream of 28
rows, each row starting with its PNG filter type. For exactly that shape this
module reads the chunks and inflates the rows itself (about 5 µs an image,
where opening each with PIL costs about 35 µs), then undoes the row filters for
the whole batch at once with numpy (:func:`unfilter`). Anything else (another
size, mode, bit depth, interlacing, or format) goes through PIL, which must
find a 28x28 image of mode ``L``. PIL
never decodes more than the 28x28 it was promised: the size is checked before
the pixels are read, so a decompression bomb is refused, not decoded.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from collections.abc import Callable

import numpy as np
from PIL import Image, UnidentifiedImageError

from mnist_sgd.errors import DataError

SIDE = 28
_ROW = SIDE + 1  # a filter-type byte, then the row's pixels
_RAW_SIZE = SIDE * _ROW
_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_IHDR_GRAY_28 = b"IHDR" + struct.pack(">IIBBBBB", SIDE, SIDE, 8, 0, 0, 0, 0)  # 8-bit gray
_IHDR_CHUNK = b"\0\0\0\x0d" + _IHDR_GRAY_28 + zlib.crc32(_IHDR_GRAY_28).to_bytes(4, "big")
_IEND_CHUNK = b"\0\0\0\0IEND" + zlib.crc32(b"IEND").to_bytes(4, "big")
PIL_FORMATS = ("PNG", "JPEG", "BMP", "TIFF")

ImageSource = Callable[[int], tuple[str, bytes]]
"""``source(i) -> (name, bytes)``: the i-th image's name (for errors) and encoded bytes."""


def decode_images(count: int, source: ImageSource) -> np.ndarray:
    """Decode ``count`` images, ``source(i)`` giving the i-th; return ``(count, 28, 28) uint8``.

    Raises:
        DataError: naming the first file that is not a 28x28 grayscale image.
    """
    rows = bytearray(count * _RAW_SIZE)
    for i in range(count):
        name, data = source(i)
        rows[i * _RAW_SIZE : (i + 1) * _RAW_SIZE] = _raw_rows(data) or _rows_with_pil(data, name)
    return unfilter(np.frombuffer(rows, np.uint8).reshape(count, SIDE, _ROW))


def decode_image(data: bytes, name: str) -> np.ndarray:
    """Decode one 28x28 grayscale image to ``(28, 28) uint8``."""
    return decode_images(1, lambda _: (name, data))[0]


def unfilter(raw: np.ndarray) -> np.ndarray:
    """Undo PNG row filters for a batch: ``(n, 28, 29)`` rows with filter bytes -> ``(n, 28, 28)``.

    Each row's first byte names its filter (PNG spec, section 9): 0 none, 1 Sub
    (add the pixel to the left), 2 Up (add the pixel above), 3 Average, 4 Paeth.
    Rows are undone top to bottom for all images at once; Sub is a running sum,
    Average and Paeth go pixel by pixel, but only over the images that use them.
    """
    filters, pixels = raw[:, :, 0], raw[:, :, 1:]
    out = pixels.copy()
    filtered = np.flatnonzero(filters.any(axis=1))
    if len(filtered) == 0:
        return out
    kinds, rows = filters[filtered], out[filtered]  # (k, 28), (k, 28, 28)
    previous = np.zeros((len(filtered), SIDE), np.uint8)
    for r in range(SIDE):
        row, kind = rows[:, r], kinds[:, r]
        up = kind == 2
        row[up] += previous[up]
        sub = kind == 1
        row[sub] = np.cumsum(row[sub], axis=1, dtype=np.uint8)
        for code, predict in ((3, _average), (4, _paeth)):
            chosen = np.flatnonzero(kind == code)
            if len(chosen):
                row[chosen] = _undo_sequential(row[chosen], previous[chosen], predict)
        previous = row
    out[filtered] = rows
    return out


def _undo_sequential(
    row: np.ndarray,
    above: np.ndarray,
    predict: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
) -> np.ndarray:
    """Undo a filter whose prediction uses the pixel to the left: one column at a time."""
    row, above = row.astype(np.int16), above.astype(np.int16)
    left = np.zeros(len(row), np.int16)
    upper_left = np.zeros(len(row), np.int16)
    for c in range(SIDE):
        row[:, c] = (row[:, c] + predict(left, above[:, c], upper_left)) & 0xFF
        left, upper_left = row[:, c], above[:, c]
    return row.astype(np.uint8)


def _average(left: np.ndarray, up: np.ndarray, _: np.ndarray) -> np.ndarray:
    return (left + up) // 2


def _paeth(left: np.ndarray, up: np.ndarray, upper_left: np.ndarray) -> np.ndarray:
    """Paeth: whichever of left, up, upper-left is nearest ``left + up - upper_left``."""
    to_left, to_up = np.abs(up - upper_left), np.abs(left - upper_left)
    to_upper_left = np.abs(left + up - 2 * upper_left)
    return np.where(
        (to_left <= to_up) & (to_left <= to_upper_left),
        left,
        np.where(to_up <= to_upper_left, up, upper_left),
    )


def _raw_rows(data: bytes) -> bytes | None:
    """The 28 filtered rows (filter byte first) of a plain 28x28 gray PNG, or None for PIL."""
    if data[:8] != _SIGNATURE or data[8:33] != _IHDR_CHUNK:
        return None
    # the usual layout, IHDR IDAT IEND, takes the short way
    length = int.from_bytes(data[33:37], "big")
    end = 45 + length
    if data[37:41] == b"IDAT" and data[end:] == _IEND_CHUNK:
        if zlib.crc32(data[37 : 41 + length]) != int.from_bytes(data[41 + length : end], "big"):
            return None  # corrupt: PIL names the problem
        return _inflate_rows(data[41 : 41 + length])
    return _raw_rows_any_chunks(data)


def _raw_rows_any_chunks(data: bytes) -> bytes | None:
    """:func:`_raw_rows` for PNGs with ancillary chunks or several IDATs."""
    chunks: list[bytes] = []
    position = 33
    while position + 12 <= len(data):
        length = int.from_bytes(data[position : position + 4], "big")
        kind_and_body = data[position + 4 : position + 8 + length]
        crc = data[position + 8 + length : position + 12 + length]
        if len(crc) < 4 or zlib.crc32(kind_and_body) != int.from_bytes(crc, "big"):
            return None  # truncated or corrupt: PIL names the problem
        kind = kind_and_body[:4]
        if kind == b"IDAT":
            chunks.append(kind_and_body[4:])
        elif kind == b"IEND":
            return _inflate_rows(b"".join(chunks))
        elif kind[0] & 0x20 == 0:  # an unknown critical chunk (PLTE, a second IHDR)
            return None
        position += 12 + length
    return None


def _inflate_rows(stream: bytes) -> bytes | None:
    """Inflate at most one image's rows; None unless exactly 28 rows with filter 0."""
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(stream, _RAW_SIZE + 1)
    except zlib.error:
        return None
    if len(raw) != _RAW_SIZE or not inflater.eof or max(raw[::_ROW]) > 4:
        return None
    return raw


def _rows_with_pil(data: bytes, name: str) -> bytes:
    """Decode with PIL after checking size and mode; rows prefixed with filter byte 0."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=PIL_FORMATS) as image:
                if image.size != (SIDE, SIDE) or image.mode != "L":
                    width, height = image.size
                    raise DataError(
                        f"{name}: a {width}x{height} image of mode {image.mode}; "
                        f"expected 28x28 grayscale (mode L)"
                    )
                pixels = image.tobytes()
    except UnidentifiedImageError:
        raise DataError(f"{name}: not an image (PIL cannot identify it)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise DataError(f"{name}: refusing a decompression bomb ({error})") from None
    except DataError:
        raise
    except (
        Exception
    ) as error:  # PIL parsing hostile bytes can fail in many ways; all mean "corrupt"
        raise DataError(f"{name}: corrupt image ({type(error).__name__}: {error})") from None
    return b"".join(b"\0" + pixels[row * SIDE : (row + 1) * SIDE] for row in range(SIDE))
