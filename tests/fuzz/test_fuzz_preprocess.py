"""Fuzz ``prepare_image``: random bytes, mutated PNG/JPEG/GIF, random small images of every mode."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fuzzing import digit, documented, fuzz_settings, mutated, png_bytes
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from mnist_sgd.predict.preprocess import prepare_image

# PIL warns about the corrupt tags and EXIF blocks of mutated TIFFs; it copes with them
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:PIL.TiffImagePlugin")

PHOTO = (255 - np.kron(digit(4), np.ones((3, 3), np.uint8))).astype(np.uint8)  # dark ink, 84x84
SEEDS = st.sampled_from(
    [
        png_bytes(digit(0)),
        png_bytes(PHOTO),
        png_bytes(PHOTO, fmt="JPEG"),
        png_bytes(PHOTO, fmt="GIF"),
        png_bytes(np.stack([PHOTO] * 3, -1), mode="RGB", fmt="PNG"),
    ]
)


def check(source: bytes | Image.Image, raw: bool = False) -> None:
    result = documented(lambda: prepare_image(source, raw=raw), max_mb=96)
    if isinstance(result, torch.Tensor):
        assert result.shape == (28, 28) and result.dtype == torch.uint8


@fuzz_settings()
@given(st.binary(max_size=512), st.booleans())
def test_random_bytes(data: bytes, raw: bool) -> None:
    check(data, raw)


@fuzz_settings()
@given(mutated(SEEDS), st.booleans())
def test_mutated_images(data: bytes, raw: bool) -> None:
    check(data, raw)


MODES = ("L", "RGB", "RGBA", "LA", "P", "1", "I;16", "I", "F")


@st.composite
def small_images(draw: st.DrawFn) -> Image.Image:
    """An image of any mode PIL opens, 1x1 to 64x64, any pixels."""
    mode, size = draw(st.sampled_from(MODES)), (draw(st.integers(1, 64)), draw(st.integers(1, 64)))
    if mode == "I;16":
        return Image.fromarray(draw(arrays(np.uint16, size)))
    if mode == "I":
        return Image.fromarray(draw(arrays(np.int32, size)))
    if mode == "F":
        return Image.fromarray(
            draw(arrays(np.float32, size, elements=st.floats(-1e6, 1e6, width=32)))
        )
    rgba = Image.fromarray(draw(arrays(np.uint8, (*size, 4))), mode="RGBA")
    return rgba if mode == "RGBA" else rgba.convert(mode)


@fuzz_settings()
@given(small_images(), st.booleans())
def test_random_small_images(image: Image.Image, raw: bool) -> None:
    check(image, raw)


def test_a_huge_declared_size_is_refused_before_decoding() -> None:
    """A 50,000 x 50,000 PNG header over a few bytes of data: refused, nothing decoded."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 50_000, 50_000, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\0" * 1000))
        + chunk(b"IEND", b"")
    )
    error = documented(lambda: prepare_image(png), max_mb=16)
    assert isinstance(error, Exception) and "large" in str(error)
