"""Opening people's image files safely: size checked before decoding, upright, one-line errors.

Used by ``predict``, the web pages, and :mod:`mnist_sgd.predict.preprocess`.
"""

from __future__ import annotations

import io
import os
import stat
import struct
import warnings
from typing import TYPE_CHECKING

from PIL import Image, ImageOps, UnidentifiedImageError

from mnist_sgd.errors import ImageError, one_line

if TYPE_CHECKING:
    from torch import Tensor

ImageSource = str | os.PathLike[str] | bytes | Image.Image
# What Pillow's decoders raise on damaged files (plugins differ).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error)


def png_bytes(picture: Tensor) -> bytes:
    """A ``(h, w)`` uint8 tensor as the bytes of a grayscale PNG (``predict``, the web pages)."""
    buffer = io.BytesIO()
    Image.fromarray(picture.numpy(), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def open_image(
    path_or_bytes: str | os.PathLike[str] | bytes, *, max_pixels: int = 40_000_000
) -> Image.Image:
    """Open and decode an image safely, upright as its EXIF orientation says.

    The declared size is checked against ``max_pixels`` before any pixel is
    decoded (a tiny file can declare a gigapixel image).

    Raises:
        ImageError: missing, empty, truncated, not an image, or too large; the
            one-line message names the file.
    """
    if max_pixels <= 0:
        raise ValueError(f"max_pixels must be > 0, got {max_pixels}")
    name = describe(path_or_bytes)
    if _is_empty(path_or_bytes):
        raise ImageError(f"{name} is empty (0 bytes): expected a PNG or JPEG of a digit")
    source = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes
    _refuse_special_file(path_or_bytes, name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(source) as image:
                _check_size(image, max_pixels, name)
                image.load()
                return _upright(image)
    except FileNotFoundError:
        raise ImageError(f"{name} does not exist") from None
    except IsADirectoryError:
        raise ImageError(f"{name} is a folder, not an image file") from None
    except UnidentifiedImageError:
        raise ImageError(f"{name} is not an image (expected PNG, JPEG, BMP, GIF, ...)") from None
    except Image.DecompressionBombError:
        raise ImageError(f"{name} is too large to open safely") from None
    except _DECODE_ERRORS as exc:
        raise ImageError(f"{name} is damaged or truncated ({_short(exc)})") from None


def _refuse_special_file(source: str | os.PathLike[str] | bytes, name: str) -> None:
    """Refuse a FIFO, socket or device: reading one could wait forever or never end."""
    if isinstance(source, bytes):
        return
    try:
        mode = os.stat(source).st_mode
    except OSError:
        return  # missing: Image.open says so below
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise ImageError(f"{name} is not a regular file (a pipe or device?): expected an image")


def _check_size(image: Image.Image, max_pixels: int, name: str) -> None:
    """Refuse an image whose declared size exceeds ``max_pixels`` (before decoding)."""
    width, height = image.size
    if width * height > max_pixels:
        raise ImageError(
            f"{name} is too large to open safely: {width}x{height} pixels "
            f"is more than {max_pixels:,}"
        )


def _upright(image: Image.Image) -> Image.Image:
    """A decoded copy of ``image`` rotated as its EXIF orientation tag says."""
    upright = ImageOps.exif_transpose(image)
    return image.copy() if upright is None or upright is image else upright


def describe(source: ImageSource) -> str:
    """How to name ``source`` in an error message."""
    if isinstance(source, bytes):
        return f"image data ({len(source)} bytes)"
    if isinstance(source, Image.Image):
        return str(getattr(source, "filename", "") or "image")
    return os.fspath(source)


def _is_empty(source: str | os.PathLike[str] | bytes) -> bool:
    """True for ``b""`` or an existing zero-byte file."""
    if isinstance(source, bytes):
        return not source
    return os.path.isfile(source) and os.path.getsize(source) == 0


def _short(exc: BaseException) -> str:
    """One line for an exception from a decoder."""
    return one_line(str(exc).splitlines()[0] if str(exc) else exc, limit=120)
