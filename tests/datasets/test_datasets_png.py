"""Decoding 28x28 grayscale images with Pillow: every PNG filter, other formats, bad ones named."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from mnist_sgd.datasets.decode import decode_image, decode_images
from mnist_sgd.errors import DataError


def digit(seed: int) -> np.ndarray:
    """A random, MNIST-like ``(28, 28) uint8`` image: mostly 0, some strokes."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (28, 28), dtype=np.uint8)
    image[rng.random((28, 28)) < 0.6] = 0
    return image


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def filtered_row(kind: int, row: np.ndarray, above: np.ndarray) -> bytes:
    """PNG-filter one row (spec section 9) with the given filter type."""
    x, b = row.astype(np.int16), above.astype(np.int16)
    a = np.concatenate([[0], x[:-1]])
    c = np.concatenate([[0], b[:-1]])
    if kind == 0:
        out = x
    elif kind == 1:
        out = x - a
    elif kind == 2:
        out = x - b
    elif kind == 3:
        out = x - (a + b) // 2
    else:
        p = a + b - c
        pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
        out = x - np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
    return bytes([kind]) + (out & 0xFF).astype(np.uint8).tobytes()


def encode_png(image: np.ndarray, filters: list[int], *, idat_parts: int = 1) -> bytes:
    """A grayscale PNG with the given filter type per row, the stream split over IDAT chunks."""
    height, width = image.shape
    above = np.zeros(width, np.uint8)
    rows = b""
    for r in range(height):
        rows += filtered_row(filters[r % len(filters)], image[r], above)
        above = image[r]
    stream = zlib.compress(rows)
    step = -(-len(stream) // idat_parts)
    idats = b"".join(chunk(b"IDAT", stream[i : i + step]) for i in range(0, len(stream), step))
    header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + header + chunk(b"tEXt", b"k\0v") + idats + chunk(b"IEND", b"")


def pil_png(image: np.ndarray, mode: str = "L", fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).convert(mode).save(buffer, fmt)
    return buffer.getvalue()


@pytest.mark.parametrize("filters", [[0], [1], [2], [3], [4], [0, 1, 2, 3, 4], [4, 3, 2, 1]])
def test_every_png_filter_is_undone(filters: list[int]) -> None:
    originals = [digit(seed) for seed in range(6)]
    encoded = [
        encode_png(image, filters, idat_parts=1 + seed % 3) for seed, image in enumerate(originals)
    ]
    decoded = decode_images(len(encoded), lambda i: (f"{i}.png", encoded[i]))
    assert decoded.dtype == np.uint8 and decoded.shape == (6, 28, 28)
    assert np.array_equal(decoded, np.stack(originals))


def test_batch_mixing_filtered_and_plain_images() -> None:
    originals = [digit(seed) for seed in range(8)]
    encoded = [encode_png(im, [seed % 5, 4, 0]) for seed, im in enumerate(originals)]
    decoded = decode_images(8, lambda i: (str(i), encoded[i]))
    assert np.array_equal(decoded, np.stack(originals))


def test_matches_pil_on_pil_written_pngs() -> None:
    originals = [digit(seed) for seed in range(5)]
    encoded = [pil_png(image) for image in originals]
    decoded = decode_images(5, lambda i: (str(i), encoded[i]))
    assert np.array_equal(
        decoded, np.stack([np.asarray(Image.open(io.BytesIO(e))) for e in encoded])
    )


def test_other_formats_go_through_pil() -> None:
    image = digit(3)
    assert np.array_equal(decode_image(pil_png(image, fmt="BMP"), "a.bmp"), image)
    jpeg = pil_png(image, fmt="JPEG")  # lossy: compare with PIL's own decoding
    assert np.array_equal(decode_image(jpeg, "c.jpg"), np.asarray(Image.open(io.BytesIO(jpeg))))


def test_non_image_is_named() -> None:
    with pytest.raises(DataError, match=r"train/3/notes\.png: not an image"):
        decode_image(b"hello, I am text", "train/3/notes.png")


def test_32x32_image_is_named() -> None:
    with pytest.raises(DataError, match=r"big\.png: a 32x32 image of mode L; expected 28x28"):
        decode_image(pil_png(np.zeros((32, 32), np.uint8)), "big.png")


def test_rgb_image_is_named() -> None:
    with pytest.raises(DataError, match=r"rgb\.png: a 28x28 image of mode RGB"):
        decode_image(pil_png(digit(0), mode="RGB"), "rgb.png")


def test_truncated_png_is_named() -> None:
    data = pil_png(digit(4))
    with pytest.raises(DataError, match=r"cut\.png"):
        decode_image(data[: len(data) - 30], "cut.png")


def test_decompression_bomb_is_refused_before_decoding() -> None:
    # a valid header claiming 100000 x 100000 pixels; the pixels are never read
    header = chunk(b"IHDR", struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0))
    bomb = (
        b"\x89PNG\r\n\x1a\n"
        + header
        + chunk(b"IDAT", zlib.compress(b"\0" * 1000))
        + chunk(b"IEND", b"")
    )
    with pytest.raises(
        DataError, match=r"bomb\.png: (refusing a decompression bomb|a 100000x100000)"
    ):
        decode_image(bomb, "bomb.png")


def test_bad_crc_falls_back_to_pil_which_names_the_file() -> None:
    data = bytearray(encode_png(digit(5), [0]))
    data[-20] ^= 0xFF  # inside the IDAT stream
    with pytest.raises(DataError, match=r"crc\.png"):
        decode_image(bytes(data), "crc.png")
