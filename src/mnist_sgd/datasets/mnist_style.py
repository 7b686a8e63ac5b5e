"""Any image to MNIST style: a photo, a drawing or a user's image becomes a 28x28 MNIST digit.

One home for the recipe, below everything that needs it: ``predict`` (through
:func:`mnist_sgd.predict.preprocess.prepare_image`), the web pages, and a
user's own class-folder tree (:mod:`mnist_sgd.datasets.own`, through
:func:`fit_to_mnist`), whose images that are not 28x28 grayscale go through it.

MNIST digits are white ink on black, scaled so their longer side fits a 20x20
box (with anti-aliasing), and pasted into 28x28 so that their centre of mass
lies at the centre. A model trained on MNIST has only ever seen that, so a
naive resize of a photo (dark ink on white paper, digit anywhere) gives
nonsense. :func:`to_mnist` repeats the MNIST recipe on any image:

1. :func:`to_grayscale` (transparent drawings: the ink is the alpha), then
   :func:`flatten_background` (uneven lighting),
2. :func:`ink_is_dark` / :func:`invert` so the ink is light on dark,
3. :func:`remove_background`: the background goes to 0, faint noise below
   ``threshold`` is dropped, the ink is stretched to 255,
4. :func:`crop_to_ink`, 5. :func:`fit_in_box` (20 px, LANCZOS),
6. :func:`paste_center` into 28x28, 7. :func:`shift_to_center`.

Centre convention: with pixel centres at integer coordinates 0..27, the
average centre of mass of the 10,000 real MNIST test digits is
(row 13.99, col 14.01) with a spread of 0.29 px on each axis, which is what
an integer shift towards (14, 14) leaves (uniform rounding error). So we
shift by whole pixels towards :data:`MNIST_CENTER` = 14.0, not 13.5.

Arrays in the helpers are ``(h, w) float32`` in [0, 255]; the result is a
``(28, 28) uint8`` tensor, scaled exactly as MNIST is (the model divides by 255).
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from mnist_sgd.errors import ImageError

__all__ = ["fit_to_mnist", "is_mnist_like", "to_mnist"]

MNIST_SIZE = 28
MNIST_BOX = 20
MNIST_CENTER = 14.0
"""Where MNIST puts the centre of mass, in pixel-index coordinates (see module doc)."""
WORK_SIDE = 1024
"""Larger images are shrunk to this longer side first: the result is 20 px anyway."""
DEFAULT_THRESHOLD = 0.15
NOISE_SIGMAS = 6.0
"""Pixels within this many noise sigmas of the background are background."""
MIN_CONTRAST = 24.0
"""Ink must stand this many grey levels (about 10%) above the background."""

_GRAY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")


def is_mnist_like(img: Image.Image) -> bool:
    """True when ``img`` is already a 28x28 grayscale picture with a dark background."""
    if img.size != (MNIST_SIZE, MNIST_SIZE):
        return False
    if img.mode not in _GRAY_MODES and not _is_colourless(img):
        return False
    return background_level(to_grayscale(img)) < 128.0


def to_mnist(img: Image.Image, *, threshold: float = DEFAULT_THRESHOLD) -> torch.Tensor:
    """Preprocess any image of one digit the way MNIST was made.

    Args:
        img: any size and mode (RGB, RGBA, L, LA, P, 16-bit).
        threshold: ink fainter than this fraction of the ink's contrast
            (after removing the background) is treated as noise, in [0, 1).

    Returns:
        ``(28, 28) uint8`` tensor, white ink on black, digit fitted in 20x20
        and centred by centre of mass.

    Raises:
        ImageError: nothing in the image stands out from the background.
    """
    if not 0.0 <= threshold < 1.0:
        raise ValueError(f"threshold must be in [0, 1), got {threshold}")
    gray = flatten_background(to_grayscale(_shrink(img, WORK_SIDE)))  # (h, w)
    if ink_is_dark(gray):
        gray = invert(gray)
    ink = crop_to_ink(remove_background(gray, threshold=threshold))
    digit = shift_to_center(paste_center(fit_in_box(ink)))  # (28, 28)
    return to_uint8_tensor(stretch_to_white(digit))


def fit_to_mnist(img: Image.Image, *, raw: bool = False) -> torch.Tensor:
    """The 28x28 image a model sees for ``img``: as it is, resized, or the MNIST recipe.

    ``raw=True`` only converts to grayscale and resizes to 28x28 (no inversion,
    no cropping); so does an image that is already MNIST-like (28x28 grayscale,
    dark background); anything else goes through :func:`to_mnist`.

    Raises:
        ImageError: the image holds no digit (blank, or nothing stands out).
    """
    if raw or is_mnist_like(img):
        pixels = to_uint8_tensor(resize_exact(to_grayscale(img), MNIST_SIZE))
        if pixels.min() == pixels.max():
            raise ImageError(
                f"image holds no digit: every pixel is {int(pixels[0, 0])} "
                "(blank, or fully transparent)"
            )
        return pixels
    return to_mnist(img)


# --- the steps, each a pure function -------------------------------------------------


def to_grayscale(img: Image.Image) -> np.ndarray:
    """Luminance of ``img`` as ``(h, w) float32`` in [0, 255].

    Transparency: a drawing on a transparent canvas carries its ink in the
    alpha channel, whatever colour the ink is. So the colour is composited
    on a background that contrasts with the ink (white under dark ink, black
    under light ink); an opaque image is unaffected.
    """
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        # The brightest pixel made 255, in place; divided by it first, as a float image's
        # tiny (even subnormal) maximum would overflow 255 / top. Negatives, NaN, inf: black.
        values = np.array(img, dtype=np.float32)  # a copy of its own, written in place
        values[~np.isfinite(values)] = 0.0  # one mask: np.nan_to_num peaks 115 MB higher at 40 Mpx
        np.maximum(values, 0.0, out=values)
        top = float(values.max())
        if top > 0:
            values /= np.float32(top)
            values *= np.float32(255.0)
        return values
    has_alpha = "A" in img.getbands() or "transparency" in img.info
    if not has_alpha:
        return np.asarray(img.convert("L"), dtype=np.float32)
    rgba = np.asarray(img.convert("RGBA"), dtype=np.float32)
    alpha = rgba[..., 3] / 255.0
    luma = np.asarray(img.convert("RGBA").convert("L"), dtype=np.float32)
    weight = float(alpha.sum())
    ink_luma = float((luma * alpha).sum() / weight) if weight > 0 else 0.0
    backdrop = 255.0 if ink_luma < 128.0 else 0.0
    return (luma * alpha + backdrop * (1.0 - alpha)).astype(np.float32)


def border_mask(shape: tuple[int, int]) -> np.ndarray:
    """``(h, w) bool``: the outer frame, about 2% of the shorter side deep (at least 1 px)."""
    depth = max(1, min(shape) // 50)
    mask = np.ones(shape, dtype=bool)
    mask[depth:-depth, depth:-depth] = False
    return mask


def border(gray: np.ndarray) -> np.ndarray:
    """The pixels of the outer frame of ``gray`` (:func:`border_mask`), flattened."""
    return gray[border_mask(gray.shape)]


def flatten_background(gray: np.ndarray) -> np.ndarray:
    """Remove a lighting gradient: subtract a surface fitted to the border, keep the mean level.

    A photo of paper is rarely lit evenly; the border is (mostly) paper, so a
    bilinear surface ``a + b*y + c*x + d*x*y`` fitted to it, ignoring outliers
    such as ink touching the edge, is the lighting. Even light is left as it is.
    """
    rows, cols = np.nonzero(border_mask(gray.shape))
    values = gray[rows, cols].astype(np.float64)
    design = _bilinear(rows / gray.shape[0], cols / gray.shape[1])  # (n, 4)
    keep = np.ones(values.size, dtype=bool)
    for _ in range(3):  # refit without the points far from the surface (ink on the edge)
        coef = np.linalg.lstsq(design[keep], values[keep], rcond=None)[0]
        residual = values - design @ coef
        spread = 1.4826 * median(np.abs(residual[keep]))
        keep = np.abs(residual) <= max(3.0 * spread, 2.0)
    y = np.arange(gray.shape[0])[:, None] / gray.shape[0]  # (h, 1)
    x = np.arange(gray.shape[1])[None, :] / gray.shape[1]  # (1, w)
    lighting = coef[0] + coef[1] * y + coef[2] * x + coef[3] * x * y  # (h, w)
    return (gray - lighting + lighting.mean()).astype(np.float32)


def median(values: np.ndarray) -> float:
    """``np.median`` of NaN-free values, without its NaN check (it imports ``numpy.ma``: 0.3 s)."""
    ordered = np.sort(values, axis=None).astype(np.float64)
    middle = ordered.size // 2
    return float(ordered[middle] if ordered.size % 2 else ordered[middle - 1 : middle + 1].mean())


def background_level(gray: np.ndarray) -> float:
    """The background's brightness: the median of the image border, in [0, 255]."""
    return median(border(gray))


def ink_is_dark(gray: np.ndarray) -> bool:
    """True when the ink is darker than the background (a pen on paper).

    The pixels furthest from the background are the ink: compare how far the
    darkest (1st percentile) and the brightest (99th) lie from the border's
    median. Works for grey paper and dim photos where "background > 128" fails.
    """
    background = background_level(gray)
    darkest, brightest = np.percentile(gray, [1.0, 99.0])
    return bool(background - darkest > brightest - background)


def invert(gray: np.ndarray) -> np.ndarray:
    """Dark ink on light paper becomes light ink on dark: ``255 - gray``."""
    return (255.0 - gray).astype(np.float32)


def remove_background(gray: np.ndarray, *, threshold: float = DEFAULT_THRESHOLD) -> np.ndarray:
    """Light ink on a dark background -> the background at 0, the ink stretched to 255.

    Each pixel becomes its contrast above the background (border median) as
    a fraction of the brightest pixel's; fractions below ``threshold`` are
    noise and become 0, the rest are mapped linearly onto (0, 255] so the
    anti-aliased edges of strokes stay smooth.

    Returns:
        ``(h, w) float32`` in [0, 255]; all zeros when nothing stands out.
    """
    frame = border(gray)
    background = median(frame)
    noise = 1.4826 * median(np.abs(frame - background))  # robust sigma
    floor = NOISE_SIGMAS * noise  # brighter than this above the background is not noise
    span = float(gray.max()) - background
    if span <= max(MIN_CONTRAST, floor):  # uniform, or nothing stands out of the noise
        return np.zeros_like(gray, dtype=np.float32)
    threshold = max(threshold, floor / span)
    contrast = (gray - background) / span
    kept = np.clip((contrast - threshold) / (1.0 - threshold), 0.0, 1.0)
    return (kept * 255.0).astype(np.float32)


def ink_bbox(ink: np.ndarray) -> tuple[int, int, int, int]:
    """The ink's bounding box ``(top, left, bottom, right)``, bottom/right exclusive.

    Raises:
        ImageError: no pixel is above 0 (the image holds no digit).
    """
    rows = np.flatnonzero(ink.max(axis=1) > 0)
    cols = np.flatnonzero(ink.max(axis=0) > 0)
    if rows.size == 0:
        raise ImageError(
            "image holds no digit: nothing stands out from the background "
            "(try a darker pen, a plainer background, or a closer crop)"
        )
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


def crop_to_ink(ink: np.ndarray) -> np.ndarray:
    """Crop ``(h, w)`` to the ink's bounding box; raises ImageError when there is none."""
    top, left, bottom, right = ink_bbox(ink)
    return ink[top:bottom, left:right]


def fit_in_box(ink: np.ndarray, box: int = MNIST_BOX) -> np.ndarray:
    """Resize so the longer side is ``box`` px, keeping the aspect ratio (LANCZOS).

    Returns:
        ``(h, w) float32`` in [0, 255] with ``max(h, w) == box``.
    """
    height, width = ink.shape
    scale = box / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))  # PIL: (w, h)
    resized = Image.fromarray(ink.astype(np.float32), mode="F").resize(
        size, Image.Resampling.LANCZOS
    )
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 255.0)


def paste_center(digit: np.ndarray, size: int = MNIST_SIZE) -> np.ndarray:
    """Paste ``(h, w)`` (each side <= ``size``) in the middle of a black ``(size, size)``."""
    height, width = digit.shape
    if height > size or width > size:
        raise ValueError(f"digit of shape {digit.shape} does not fit in {size}x{size}")
    canvas = np.zeros((size, size), dtype=np.float32)
    top, left = (size - height) // 2, (size - width) // 2
    canvas[top : top + height, left : left + width] = digit
    return canvas


def center_of_mass(gray: np.ndarray) -> tuple[float, float]:
    """Intensity-weighted mean ``(row, col)``, pixel centres at integer coordinates."""
    total = float(gray.sum())
    if total <= 0:
        raise ValueError("center_of_mass of an all-black image is undefined")
    rows = np.arange(gray.shape[0], dtype=np.float64)
    cols = np.arange(gray.shape[1], dtype=np.float64)
    row = float((gray.sum(axis=1) * rows).sum() / total)
    col = float((gray.sum(axis=0) * cols).sum() / total)
    return row, col


def shift_to_center(gray: np.ndarray, center: float = MNIST_CENTER) -> np.ndarray:
    """Shift by whole pixels so the centre of mass lands within 0.5 px of ``(center, center)``.

    The shift is clamped so no ink leaves the frame; a 20 px digit in 28x28
    has 4 px to spare each side, so only a mass more than 4 px off the middle
    of its own box (rare) stays off-centre.
    """
    row, col = center_of_mass(gray)
    top, left, bottom, right = ink_bbox(gray)
    height, width = gray.shape
    down = int(np.clip(round(center - row), -top, height - bottom))
    across = int(np.clip(round(center - col), -left, width - right))
    shifted = np.zeros_like(gray)
    shifted[top + down : bottom + down, left + across : right + across] = gray[
        top:bottom, left:right
    ]
    return shifted


def stretch_to_white(gray: np.ndarray) -> np.ndarray:
    """Scale so the brightest pixel is 255, as in MNIST (thin or faint strokes stay visible)."""
    top = float(gray.max())
    return gray * (255.0 / top) if top > 0 else gray


def resize_exact(gray: np.ndarray, size: int = MNIST_SIZE) -> np.ndarray:
    """Plain resize of ``(h, w)`` to ``(size, size)`` (LANCZOS), ignoring the aspect ratio."""
    resized = Image.fromarray(gray.astype(np.float32), mode="F").resize(
        (size, size), Image.Resampling.LANCZOS
    )
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 255.0)


def to_uint8_tensor(gray: np.ndarray) -> torch.Tensor:
    """``(h, w) float`` in [0, 255] -> ``(h, w) uint8`` tensor, rounded."""
    return torch.from_numpy(np.clip(np.rint(gray), 0, 255).astype(np.uint8))


# --- private helpers ------------------------------------------------------------------


def _shrink(img: Image.Image, side: int) -> Image.Image:
    """``img`` with its longer side at most ``side`` px (anti-aliased); a copy or itself."""
    if max(img.size) <= side:
        return img
    if img.mode not in ("L", "LA", "RGB", "RGBA", "F"):
        has_alpha = "A" in img.getbands() or "transparency" in img.info
        img = img.convert("RGBA" if has_alpha else ("F" if img.mode.startswith("I") else "L"))
    scale = side / max(img.size)
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    return img.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _bilinear(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``(n, 4)`` design matrix ``[1, y, x, x*y]`` for coordinates scaled to [0, 1)."""
    return np.stack([np.ones_like(y), y, x, x * y], axis=1).astype(np.float64)


def _is_colourless(img: Image.Image) -> bool:
    """True when the R, G and B channels of ``img`` are (almost) equal."""
    rgb = np.asarray(img.convert("RGB"), dtype=np.int16)
    return int(np.abs(rgb - rgb[..., :1]).max()) <= 2
