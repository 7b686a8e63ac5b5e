"""The Starlette app both servers are: guard, JSON errors (even a bug's, without a traceback),
static files, worker threads.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import anyio.to_thread
from anyio import CapacityLimiter
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from mnist_sgd import i18n
from mnist_sgd.errors import MnistSgdError, one_line
from mnist_sgd.predict.image_files import png_bytes
from mnist_sgd.web.shared import openapi as doc
from mnist_sgd.web.shared.body import read_upload
from mnist_sgd.web.shared.collect import CollectError, Collector
from mnist_sgd.web.shared.guard import Guard
from mnist_sgd.web.shared.images import seen_image

STATIC_DIR = Path(__file__).parents[1] / "static"
MAX_BODY = 10 * 1024 * 1024
"""Default request body cap: a phone photo fits, a flood does not."""
MAX_PIXELS = 24_000_000
"""Largest image (width x height) the server decodes: a 24-megapixel photo."""


def starlette_app(
    routes: Sequence[BaseRoute],
    allowed_hosts: list[str] | None,
    lifespan: Any = None,
    statuses: dict[type[Exception], int] | None = None,
    token: str | None = None,
) -> Starlette:
    """``routes`` plus the pages' shared ones, behind the :class:`Guard`, with JSON errors.

    Shared: ``/static``, ``GET /api/strings/{lang}`` (the catalogue of a language) and
    ``/fonts/NanumGothic.ttf`` (Hangul for the pages, from ``koreanize-matplotlib``).

    ``statuses``: exceptions answered with a status, their message as the error.
    ``token``: what a request that may change something must carry (None: nothing).
    """
    statuses = statuses or {}

    async def by_status(request: Request, exc: Exception) -> Response:
        return await http_error(request, HTTPException(statuses[type(exc)], str(exc)))

    handlers: dict[Any, Any] = {HTTPException: http_error, Exception: server_error}
    return Starlette(
        routes=[
            *routes,
            *language_routes(),
            Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
        ],
        middleware=[Middleware(Guard, allowed_hosts=allowed_hosts, token=token)],
        exception_handlers=handlers | dict.fromkeys(statuses, by_status),
        lifespan=lifespan,
    )


def language_routes() -> list[BaseRoute]:
    """``GET /api/strings/{lang}`` and the Korean font the pages' CSS names."""
    return [
        doc.ApiRoute(
            "GET /api/strings/{lang}",
            strings,
            description=doc.STRINGS_TEXT,
            path_schemas={"lang": {"type": "string", "enum": list(i18n.LANGS)}},
            errors={404: "no catalogue for this language"},
        ),
        Route("/fonts/NanumGothic.ttf", korean_font, methods=["GET"], include_in_schema=False),
    ]


async def strings(request: Request) -> Response:
    """The catalogue of one language: every text the pages show."""
    lang = request.path_params["lang"]
    if lang not in i18n.LANGS:
        raise HTTPException(404, f"no catalogue for {lang!r}; there are: {', '.join(i18n.LANGS)}")
    return JSONResponse(i18n.catalogue(lang), headers={"cache-control": "no-cache"})


async def korean_font(request: Request) -> Response:
    """NanumGothic from the installed koreanize-matplotlib (no font file of our own)."""
    try:
        font = await anyio.to_thread.run_sync(i18n.korean_web_font)  # made once: 0.2 s
    except FileNotFoundError as error:
        raise HTTPException(404, str(error)) from None
    return Response(font, media_type="font/ttf", headers={"cache-control": "max-age=86400"})


def static_page(name: str) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint answering the page ``static/<name>`` (revalidated on every load)."""

    async def page(request: Request) -> Response:
        return FileResponse(STATIC_DIR / name, headers={"cache-control": "no-cache"})

    return page


def error_text(error: object) -> str:
    """What an ``{"error": ...}`` answer says: one line, at most 500 characters."""
    return one_line(error, limit=500)


async def predict_upload(
    request: Request, max_body: int, workers: Workers, predict: Callable[[bytes], Any]
) -> Response:
    """``predict(bytes of the uploaded image)`` in a worker thread; 400 when no use."""
    data = await read_upload(request, max_body)
    try:
        result = await workers.call(predict, data)
    except MnistSgdError as error:
        raise HTTPException(400, error_text(error)) from None
    return JSONResponse(result, headers={"cache-control": "no-store"})


async def collect_upload(
    request: Request,
    collector: Collector,
    label: str,
    classes: Sequence[str],
    max_pixels: int,
) -> Response:
    """Save the uploaded drawing under ``label`` (one of ``classes``, already checked) as the
    28x28 picture the model sees, a new PNG in the collect folder; 409 when the folder is
    full, 400 when the image is of no use. For ``serve --collect`` and the studio's pad."""
    state = request.app.state
    data = await read_upload(request, state.max_body)

    def save() -> str:
        seen = seen_image(data, max_pixels=max_pixels)
        return str(collector.add(label, png_bytes(seen), list(classes)))

    try:
        path = await state.workers.call(save)
    except CollectError as error:
        raise HTTPException(409, error_text(error)) from None
    except MnistSgdError as error:
        raise HTTPException(400, error_text(error)) from None
    return JSONResponse({"saved": path, "label": label}, headers={"cache-control": "no-store"})


async def http_error(request: Request, exc: Exception) -> Response:
    """Every HTTP error (ours and Starlette's 404/405) as ``{"error": "..."}`` JSON."""
    assert isinstance(exc, HTTPException)
    return JSONResponse(
        {"error": error_text(exc.detail)}, status_code=exc.status_code, headers=exc.headers
    )


async def server_error(request: Request, exc: Exception) -> Response:
    """A bug: a JSON 500 without the traceback (the server's log still has it)."""
    return JSONResponse(
        {"error": "internal error: the server could not handle this request; see its log"},
        status_code=500,
    )


class Workers:
    """CPU-bound calls in worker threads, at most ``size`` at a time.

    Requests beyond that wait their turn in order (FIFO), instead of 40
    threads fighting over the cores: fairer tail latency under load.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._limiter: CapacityLimiter | None = None  # made in the event loop, on first use

    async def call(self, function: Any, *args: Any) -> Any:
        """``function(*args)`` in a worker thread, once one is free."""
        if self._limiter is None:
            self._limiter = CapacityLimiter(self.size)
        return await anyio.to_thread.run_sync(function, *args, limiter=self._limiter)
