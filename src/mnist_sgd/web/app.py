"""The draw-a-digit page: a Starlette app around one trained run.

Routes: ``/`` (the page), ``/static/*`` (its script and style, served from
the package only), ``POST /api/predict``, ``GET /api/info``,
``GET /api/weights``, ``GET /api/plots/{name}``, ``GET /openapi.json``.

Limits, so a local page cannot be used to hurt its host: the body is read
with a size cap (413), only image content types are accepted (415), bytes
that are not an image get a 400, and every error, even a bug, is answered as
``{"error": "..."}`` JSON without a traceback.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio.to_thread
from anyio import CapacityLimiter
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from mnist_sgd.errors import MnistSgdError, one_line
from mnist_sgd.runs import Run, load_run
from mnist_sgd.web import api
from mnist_sgd.web.body import read_upload
from mnist_sgd.web.guard import Guard
from mnist_sgd.web.schema import openapi_schema

STATIC_DIR = Path(__file__).parent / "static"
MAX_BODY = 10 * 1024 * 1024
"""Default request body cap: a phone photo fits, a flood does not."""
MAX_PIXELS = 24_000_000
"""Largest image (width x height) the server decodes: a 24-megapixel photo."""
_PLOT_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}\.png$")


@dataclass(frozen=True)
class WebState:
    """What every request needs: the loaded run and the limits."""

    run: Run
    max_body: int
    max_pixels: int
    workers: int
    limiter: list[CapacityLimiter] = field(default_factory=list)  # made in the event loop

    async def call(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a CPU-bound ``function`` in a worker thread, at most ``workers`` at a time.

        Requests beyond that wait their turn in order (FIFO), instead of 40
        threads fighting over the cores: fairer tail latency under load.
        """
        if not self.limiter:
            self.limiter.append(CapacityLimiter(self.workers))
        call = functools.partial(function, *args, **kwargs)
        return await anyio.to_thread.run_sync(call, limiter=self.limiter[0])


def create_app(
    run_dir: str | Path,
    *,
    max_body: int = MAX_BODY,
    max_pixels: int = MAX_PIXELS,
    allowed_hosts: list[str] | None = None,
    workers: int | None = None,
) -> Starlette:
    """The web app for the run in ``run_dir`` (loaded once, here).

    Args:
        max_body: largest request body in bytes (larger: 413).
        max_pixels: largest image in pixels the server decodes (larger: 400).
        allowed_hosts: accepted ``Host`` headers (None: any); the CLI passes the
            loopback names when it binds to loopback, which stops DNS rebinding.
        workers: predictions computed at once (None: one per CPU core).

    Raises:
        ModelFileError: ``run_dir`` is not a loadable run folder (from ``load_run``).
    """
    workers = workers or os.cpu_count() or 1
    if max_body < 1 or max_pixels < 1 or workers < 1:
        raise ValueError(
            f"max_body, max_pixels and workers must be >= 1, got {max_body}, "
            f"{max_pixels}, {workers}"
        )
    run = load_run(run_dir)
    app = Starlette(
        routes=routes(),
        middleware=[Middleware(Guard, allowed_hosts=allowed_hosts)],
        exception_handlers={HTTPException: http_error, Exception: server_error},
    )
    app.state.web = WebState(run, max_body, max_pixels, workers)
    return app


def routes() -> list[Route | Mount]:
    """Every route of the app; ``/openapi.json`` documents the ``/api`` ones."""
    return [
        Route("/", index, methods=["GET"], include_in_schema=False),
        Route("/api/predict", predict, methods=["POST"]),
        Route("/api/info", info, methods=["GET"]),
        Route("/api/weights", weights, methods=["GET"]),
        Route("/api/plots/{name}", plot, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"], include_in_schema=False),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]


def _state(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state


async def index(request: Request) -> Response:
    """The page."""
    return FileResponse(STATIC_DIR / "index.html", headers={"cache-control": "no-cache"})


async def predict(request: Request) -> Response:
    """Predict the digit in the posted image (raw image body or multipart ``image`` field)."""
    state = _state(request)
    data = await read_upload(request, state.max_body)
    try:
        result = await state.call(api.predict_bytes, state.run, data, max_pixels=state.max_pixels)
    except MnistSgdError as error:
        raise HTTPException(400, _one_line(error)) from None
    return JSONResponse(result, headers={"cache-control": "no-store"})


async def info(request: Request) -> Response:
    """The run's summary: dataset, model, accuracy, per-epoch history."""
    return JSONResponse(api.run_summary(_state(request).run, plot_names(_state(request).run)))


async def weights(request: Request) -> Response:
    """A linear model's weights, and their change since initialisation, as 28x28 pictures.

    404 for models that are not linear; no ``change`` for runs without ``init.safetensors``.
    """
    state = _state(request)
    run = state.run
    pictures = await state.call(_pictures, run)
    if pictures is None:
        raise HTTPException(
            404,
            f"model {run.info['model'].get('name')!r} has no weight "
            "pictures: only linear models have one weight per pixel",
        )
    return JSONResponse(pictures)


def _pictures(run: Run) -> dict[str, Any] | None:
    """Weight pictures with the change since ``init.safetensors`` (when it is there and sound)."""
    try:
        initial = run.initial_state()
    except MnistSgdError:
        initial = None
    return api.weight_pictures(run, initial)


async def plot(request: Request) -> Response:
    """A PNG from the run folder's ``plots/`` (as ``mnist-sgd train`` wrote it)."""
    name = request.path_params["name"]
    run = _state(request).run
    if not _PLOT_NAME.match(name) or name not in plot_names(run):
        raise HTTPException(
            404,
            f"the run folder holds no plot named {name!r}; "
            f"it has: {', '.join(plot_names(run)) or 'none'}",
        )
    return FileResponse(run.path / "plots" / name, media_type="image/png")


def plot_names(run: Run) -> list[str]:
    """The PNG files in the run folder's ``plots/`` (plain files only, sorted)."""
    folder = run.path / "plots"
    if not folder.is_dir():
        return []
    return sorted(
        p.name
        for p in folder.iterdir()
        if _PLOT_NAME.match(p.name) and p.is_file() and not p.is_symlink()
    )


async def openapi(request: Request) -> Response:
    """The OpenAPI 3 description of the ``/api`` routes."""
    return JSONResponse(openapi_schema())


async def http_error(request: Request, exc: Exception) -> Response:
    """Every HTTP error (ours and Starlette's 404/405) as ``{"error": "..."}`` JSON."""
    assert isinstance(exc, HTTPException)
    return JSONResponse(
        {"error": _one_line(exc.detail)}, status_code=exc.status_code, headers=exc.headers
    )


async def server_error(request: Request, exc: Exception) -> Response:
    """A bug: a JSON 500 without the traceback (the server's log still has it)."""
    return JSONResponse(
        {"error": "internal error: the server could not handle this request; see its log"},
        status_code=500,
    )


def _one_line(error: object) -> str:
    return one_line(error, limit=500)
