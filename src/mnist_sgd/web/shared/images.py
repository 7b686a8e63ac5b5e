"""Pictures in and out of both web apps, free of HTTP: uploaded bytes to the ``(28, 28)``
picture the model sees (as ``mnist-sgd predict``), and answers as JSON with base64 PNGs.
"""

from __future__ import annotations

import base64
import math
from typing import Any

import torch

from mnist_sgd.errors import ImageError
from mnist_sgd.i18n import Said
from mnist_sgd.predict.predictor import classes_note, classes_said
from mnist_sgd.runs import Run

IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp", "image/tiff")
"""Content types the API accepts (raw body or the part of a multipart upload)."""

# Magic numbers of the formats above: nothing else reaches the decoder (PIL
# knows formats, such as EPS, that call outside programs).
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)


def sniff_format(data: bytes) -> str | None:
    """The image format ``data`` starts with (PNG, JPEG, GIF, BMP, TIFF, WEBP), or None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return next((name for magic, name in _SIGNATURES if data.startswith(magic)), None)


def seen_image(data: bytes, *, max_pixels: int) -> torch.Tensor:
    """The ``(28, 28)`` uint8 picture the model sees for uploaded bytes (as ``mnist-sgd predict``).

    Raises:
        ImageError: empty, not one of :data:`IMAGE_TYPES`, truncated, more than
            ``max_pixels``, or no digit in it (blank canvas, uniform picture).
    """
    from mnist_sgd.predict.image_files import open_image
    from mnist_sgd.predict.preprocess import prepare_image

    if not data:
        raise ImageError("the request holds no image: send PNG or JPEG bytes")
    if sniff_format(data) is None:
        raise ImageError(
            f"the {len(data)} bytes sent are not a PNG, JPEG, GIF, WebP, BMP or TIFF image "
            f"(they start with {data[:8].hex(' ')})"
        )
    image = open_image(data, max_pixels=max_pixels)
    try:
        seen = prepare_image(image)
    except ImageError as error:
        raise ImageError(_without_prefix(str(error))) from None
    if int(seen.max()) == 0:
        raise ImageError("the image holds no digit: it is blank; draw or upload a digit")
    return seen


def _without_prefix(message: str) -> str:
    """``"image: image holds no digit ..."`` -> ``"image holds no digit ..."``."""
    head, _, tail = message.partition(": ")
    return tail if tail and head in ("image", "") else message


def png_base64(seen: torch.Tensor) -> str:
    """``(h, w)`` uint8 -> a base64 PNG (grayscale), ready for a ``data:`` URL."""
    from mnist_sgd.predict.image_files import png_bytes

    return base64.b64encode(png_bytes(seen)).decode("ascii")


def prediction(classes: list[str], probs: torch.Tensor, seen: torch.Tensor) -> dict[str, Any]:
    """A model's answer (``probs``, aligned with ``classes``) for the picture ``seen``, as JSON.

    ``note``: :func:`~mnist_sgd.predict.predictor.classes_note` (None for a ten-class model);
    ``note_said``: the same by catalogue key, for the page to show in its reader's language.
    """
    index = int(probs.argmax())
    return finite(
        {
            "label": classes[index],
            "index": index,
            "probability": float(probs[index]),
            "classes": classes,
            "probabilities": [float(p) for p in probs],
            "seen_png": png_base64(seen),
            "note": classes_note(classes),  # a model of fewer classes than the ten digits
            "note_said": said_json(classes_said(classes)),
        }
    )


def said_json(said: Said | None) -> dict[str, Any] | None:
    """A message as ``{"key", "params"}`` for a page's catalogue (``GET /api/strings/{lang}``)."""
    return None if said is None else said.as_json()


def linear_weights(run: Run, state: dict[str, torch.Tensor] | None = None) -> torch.Tensor | None:
    """A linear model's weights as ``(n_out, 784)`` float32, else None (no pictures).

    ``state``: weights to read instead of the run's model (its initial weights, say).
    """
    if run.info["model"].get("name") != "linear":
        return None
    weights = (run.model.state_dict() if state is None else state).get("weights")
    if weights is None or weights.ndim != 2 or weights.shape[0] != 28 * 28:
        return None
    return weights.detach().float().cpu().T.contiguous()


def weight_pictures(
    run: Run, initial: dict[str, torch.Tensor] | None = None
) -> dict[str, Any] | None:
    """A linear model's weights, one 28x28 picture per output (else None), for the page to draw.

    With ``initial`` (``Run.initial_state()``) also their ``change``: what SGD learned. A
    binary model has one picture: positive weights vote for ``classes[0]``. The page draws
    them on a diverging scale centred on 0, from ``-scale`` to ``+scale``.
    """
    weights = linear_weights(run)
    if weights is None:
        return None
    classes = run.classes
    binary = Said("page.binary_caption", {"positive": classes[0], "other": classes[1]})
    said = (
        [said_json(binary)] if weights.shape[0] == 1 else None
    )  # the page says it in its language
    captions = [binary.text("en")] if weights.shape[0] == 1 else classes[: weights.shape[0]]
    pictures: dict[str, Any] = {"captions": captions, **_rows("weights", "scale", weights)}
    pictures["captions_said"] = said
    start = None if initial is None else linear_weights(run, initial)
    if start is not None and start.shape == weights.shape:
        pictures.update(_rows("change", "change_scale", weights - start))
    return finite(pictures)


def _rows(name: str, scale: str, values: torch.Tensor) -> dict[str, Any]:
    """``{name: nested lists (4 decimals), scale: max |value|}`` of ``(n_out, 784)`` values."""
    return {
        name: [[round(float(w), 4) for w in row] for row in values],
        scale: float(values.abs().max()) if values.numel() else 0.0,
    }


def finite(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by None (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(item) for item in value]
    return value
