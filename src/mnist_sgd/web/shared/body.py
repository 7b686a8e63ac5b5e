"""Reading an uploaded image from a request, within limits.

Two ways to send an image: the raw bytes as the body with an image content
type (what the page does with its canvas), or a ``multipart/form-data``
upload with an ``image`` file field (an HTML form, ``curl -F image=@7.png``).
"""

from __future__ import annotations

import asyncio

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request

from mnist_sgd.web.shared.images import IMAGE_TYPES

FORM_TYPE = "multipart/form-data"
IDLE_TIMEOUT_S = 3.0  # a body that sends nothing for this long is given up (408), not waited on


def media_type(content_type: str | None) -> str:
    """``"image/png; charset=x"`` -> ``"image/png"`` (lower case; ``""`` when absent)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def _unsupported(got: str, where: str) -> HTTPException:
    kinds = ", ".join(IMAGE_TYPES)
    return HTTPException(
        415,
        f"{where} is {got or 'not given'}; send an image ({kinds}) as the "
        f"body, or as the 'image' file of a {FORM_TYPE} upload",
    )


async def read_upload(request: Request, max_body: int) -> bytes:
    """The image bytes a request carries (raw body or multipart ``image`` field)."""
    kind = media_type(request.headers.get("content-type"))
    if kind not in IMAGE_TYPES and kind != FORM_TYPE:
        raise _unsupported(kind, "the request's Content-Type")
    body = await read_capped(request, max_body)
    if kind != FORM_TYPE:
        return body
    request._body = body  # Starlette's own cache of the body: form() parses it, not the stream
    return await _form_image(request, max_body)


async def read_capped(request: Request, max_body: int) -> bytes:
    """The whole body, read chunk by chunk; 413 as soon as it passes ``max_body`` bytes.

    A client that stops sending (a body shorter than its Content-Length) gets
    a 408 after ``IDLE_TIMEOUT_S`` seconds of silence.
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise HTTPException(400, f"Content-Length is not a number: {declared[:40]!r}")
        if int(declared) > max_body:
            raise _too_large(int(declared), max_body)
    chunks: list[bytes] = []
    size = 0
    stream = request.stream().__aiter__()
    try:
        while True:
            chunk = await asyncio.wait_for(anext(stream), IDLE_TIMEOUT_S)
            size += len(chunk)
            if size > max_body:
                raise _too_large(size, max_body)
            chunks.append(chunk)
    except StopAsyncIteration:
        return b"".join(chunks)
    except ClientDisconnect:
        raise HTTPException(400, "the client went away before sending the whole body") from None
    except TimeoutError:
        raise HTTPException(
            408,
            f"the body stopped arriving after {size:,} bytes (is it shorter than its "
            "Content-Length?); send the whole image",
        ) from None


def _too_large(size: int, max_body: int) -> HTTPException:
    return HTTPException(
        413,
        f"the request body is {'over ' if size > max_body else ''}{size:,} "
        f"bytes; the limit is {max_body:,} bytes (shrink the image)",
    )


async def _form_image(request: Request, max_body: int) -> bytes:
    """The bytes of the ``image`` file (or the only file) of a multipart upload."""
    form = await request.form(max_files=1, max_fields=8, max_part_size=max_body)
    try:
        upload = form.get("image")
        if not isinstance(upload, UploadFile):
            upload = next((v for v in form.values() if isinstance(v, UploadFile)), None)
        if upload is None:
            raise HTTPException(
                400, f"the {FORM_TYPE} upload holds no file; send the image as the 'image' field"
            )
        kind = media_type(upload.content_type)
        if kind not in IMAGE_TYPES:
            raise _unsupported(kind, f"the uploaded file {upload.filename or ''!r}'s type")
        return await upload.read()
    finally:
        await form.close()
