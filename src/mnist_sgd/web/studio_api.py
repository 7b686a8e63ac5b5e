"""The studio (``mnist-sgd studio``): a Starlette app to train, watch and step SGD live.

Routes: ``/`` (the page), ``/static/*``, ``GET /api/choices``, ``POST /api/train``,
``GET /api/train``, ``GET /api/train/{id}``, ``GET /api/train/{id}/events``
(``text/event-stream``), ``POST /api/train/{id}/pause|resume|step|stop``,
``GET /api/train/{id}/weights|digits|step``, ``POST /api/predict?train={id}``,
``GET /openapi.json``. Errors are ``{"error": "..."}`` JSON, as in ``serve``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio.to_thread
from anyio import CapacityLimiter
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from mnist_sgd.errors import MnistSgdError
from mnist_sgd.web import api
from mnist_sgd.web.app import MAX_BODY, MAX_PIXELS, STATIC_DIR, http_error, server_error
from mnist_sgd.web.body import media_type, read_capped, read_upload
from mnist_sgd.web.guard import Guard
from mnist_sgd.web.studio import MAX_ACTIVE, Busy, Conflict, Studio, Training
from mnist_sgd.web.studio_config import BadOption, parse_config
from mnist_sgd.web.studio_events import FINAL, sse

MAX_CONFIG_BODY = 64 * 1024
GATHER_S = 0.01
"""A stream waits this long after a batch event to send the next ones with it: fewer, larger
writes, so the event loop takes less time from the training thread (the page redraws every
200 ms anyway)."""
HEARTBEAT_S = 10.0
"""A comment line this often keeps the stream open and finds clients that left."""
ACTIONS = ("pause", "resume", "step", "stop")
WORKERS = 2
"""Predictions and pictures computed at once (the trainings need the other cores)."""


class DataCache:
    """``load(name)`` -> the dataset, loaded once per server with the given ``DataOptions``."""

    def __init__(self, options: Any) -> None:
        self.options, self.lock = options, threading.Lock()
        self.loaded: dict[str, Any] = {}

    def __call__(self, name: str) -> Any:
        from mnist_sgd.datasets import load_dataset

        with self.lock:
            if name not in self.loaded:
                self.loaded[name] = load_dataset(name, self.options)
            return self.loaded[name]


def create_studio_app(
    runs_dir: str | Path = "runs",
    *,
    data_options: Any = None,
    device: str = "auto",
    max_active: int = MAX_ACTIVE,
    allowed_hosts: list[str] | None = None,
    max_body: int = MAX_BODY,
) -> Starlette:
    """The studio app; trainings write run folders under ``runs_dir``.

    Args:
        data_options: ``DataOptions`` for every dataset (cache folder, mirror, offline).
        device: where trainings run (``auto``, ``cpu``, ``cuda``, ``mps``).
        max_active: trainings at once (more: 429).
        allowed_hosts: accepted ``Host`` headers (None: any), as for ``serve``.
    """
    from mnist_sgd.config.build import resolve_device
    from mnist_sgd.datasets import DataOptions

    if max_active < 1 or max_body < 1:
        raise ValueError(f"max_active and max_body must be >= 1, got {max_active}, {max_body}")
    studio = Studio(
        Path(runs_dir),
        DataCache(data_options or DataOptions()),
        device=resolve_device(device),
        max_active=max_active,
    )

    app = Starlette(
        routes=routes(),
        middleware=[Middleware(Guard, allowed_hosts=allowed_hosts)],
        exception_handlers={HTTPException: http_error, Exception: server_error},
        lifespan=_lifespan(studio),
    )
    app.state.studio, app.state.max_body, app.state.limiter = studio, max_body, []
    return app


def _lifespan(studio: Studio) -> Any:
    """The app's lifespan: at shutdown (Ctrl-C) every training stops with a checkpoint."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        studio.shutdown()

    return lifespan


async def _call(request: Request, function: Any, *args: Any) -> Any:
    """Run a CPU-bound ``function`` in a worker thread, at most ``WORKERS`` at a time."""
    limiter: list[CapacityLimiter] = request.app.state.limiter
    if not limiter:  # made in the event loop
        limiter.append(CapacityLimiter(WORKERS))
    return await anyio.to_thread.run_sync(functools.partial(function, *args), limiter=limiter[0])


def routes() -> list[Route | Mount]:
    """Every route of the studio; ``/openapi.json`` documents the ``/api`` ones."""
    return [
        Route("/", page, methods=["GET"], include_in_schema=False),
        Route("/api/choices", choices, methods=["GET"]),
        Route("/api/train", start, methods=["POST"]),
        Route("/api/train", listing, methods=["GET"]),
        Route("/api/train/{id}", status, methods=["GET"]),
        Route("/api/train/{id}/events", events, methods=["GET"]),
        *(Route(f"/api/train/{{id}}/{a}", command, methods=["POST"]) for a in ACTIONS),
        Route("/api/train/{id}/weights", weights, methods=["GET"]),
        Route("/api/train/{id}/digits", digits, methods=["GET"]),
        Route("/api/train/{id}/step", last_step, methods=["GET"]),
        Route("/api/predict", predict, methods=["POST"]),
        Route("/openapi.json", openapi, methods=["GET"], include_in_schema=False),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]


def _studio(request: Request) -> Studio:
    studio: Studio = request.app.state.studio
    return studio


def _training(request: Request, tid: str | None = None) -> Training:
    """The training the path (or ``tid``) names; 404 when there is none."""
    try:
        return _studio(request).get(tid or request.path_params["id"])
    except KeyError as error:
        raise HTTPException(404, str(error.args[0])) from None


async def page(request: Request) -> Response:
    """The studio page."""
    return FileResponse(STATIC_DIR / "studio.html", headers={"cache-control": "no-cache"})


async def choices(request: Request) -> Response:
    """What the page's controls offer: datasets, models, losses, optimisers, recipes."""
    from mnist_sgd.web.studio_config import choices as lists

    return JSONResponse(lists())


async def start(request: Request) -> Response:
    """Start a training from a JSON config: 202 ``{"id", "run_dir"}``."""
    if media_type(request.headers.get("content-type")) != "application/json":
        raise HTTPException(415, "send the training options as application/json")
    body = await read_capped(request, MAX_CONFIG_BODY)
    try:
        options = json.loads(body or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise HTTPException(400, f"the body is not valid JSON: {error}") from None
    try:
        config = parse_config(options)
        training = _studio(request).start(config)
    except BadOption as error:
        return JSONResponse({"error": str(error), "option": error.name}, status_code=422)
    except Busy as error:
        raise HTTPException(429, str(error)) from None
    return JSONResponse(
        {"id": training.id, "run_dir": str(training.run_dir)},
        status_code=202,
        headers={"location": f"/api/train/{training.id}"},
    )


async def listing(request: Request) -> Response:
    """Every training of this session, oldest first (the page's comparison curves)."""
    return JSONResponse([t.status() for t in _studio(request).trainings.values()])


async def status(request: Request) -> Response:
    """One training: state, epoch, iter, history (``metrics.jsonl``'s keys), run_dir."""
    return JSONResponse(_training(request).status(), headers={"cache-control": "no-store"})


async def command(request: Request) -> Response:
    """Pause, resume, step (one batch, then paused) or stop (a resumable checkpoint)."""
    training = _training(request)
    action = request.url.path.rsplit("/", 1)[-1]
    try:
        training.command(action)
    except Conflict as error:
        raise HTTPException(409, str(error)) from None
    return JSONResponse(training.status(), status_code=202)


def _after(request: Request) -> int:
    """The last event the client saw: ``?after=N`` or the ``Last-Event-ID`` header."""
    text = request.query_params.get("after") or request.headers.get("last-event-id") or "0"
    if not text.isdigit() or len(text) > 12:
        raise HTTPException(400, f"after must be an event number (0 or more), got {text[:20]!r}")
    return int(text)


async def events(request: Request) -> Response:
    """``text/event-stream``: ``batch``, ``epoch``, ``step``, ``state``, then ``done``/``error``."""
    training, after = _training(request), _after(request)

    async def stream() -> AsyncIterator[str]:
        seq = after
        while True:
            batch = await training.events.wait_after(seq, HEARTBEAT_S)
            if batch and batch[-1][1] == "batch":  # let a few more batches come: one write
                await asyncio.sleep(GATHER_S)
                batch = training.events.after(seq)
            if not batch:
                if training.events.closed:
                    return
                yield ": still here\n\n"
                continue
            seq = batch[-1][0]
            yield "".join(sse(event) for event in batch)
            if any(kind in FINAL for _, kind, _ in batch):
                return

    headers = {"cache-control": "no-store", "x-accel-buffering": "no"}
    return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)


async def _live(request: Request, what: str) -> Any:
    """Call ``Training.<what>()`` in a worker thread; 409 while the data still loads."""
    training = _training(request)
    try:
        return await _call(request, getattr(training, what))
    except Conflict as error:
        raise HTTPException(409, str(error)) from None


async def weights(request: Request) -> Response:
    """The live linear model's weights and their change since initialisation (404: not linear)."""
    pictures = await _live(request, "weights")
    if pictures is None:
        model = _training(request).config.model
        raise HTTPException(404, f"model {model!r} has no weight pictures: only linear models do")
    return JSONResponse(pictures, headers={"cache-control": "no-store"})


async def digits(request: Request) -> Response:
    """16 fixed validation digits with the live model's verdicts."""
    return JSONResponse(await _live(request, "digits"), headers={"cache-control": "no-store"})


async def last_step(request: Request) -> Response:
    """The seven steps of the last batch run with Step (404 before the first Step)."""
    training = _training(request)
    if training.last_step is None:
        raise HTTPException(404, f"training {training.id} has not been stepped yet; POST step")
    return JSONResponse(training.last_step)


async def predict(request: Request) -> Response:
    """Predict the posted image with training ``?train=ID``'s model as it is right now."""
    tid = request.query_params.get("train")
    if not tid:
        raise HTTPException(400, "say which training predicts: POST /api/predict?train=ID")
    training = _training(request, tid)
    data = await read_upload(request, request.app.state.max_body)
    try:
        seen = await _call(request, _seen, data)
        result = await _call(request, training.predict, seen)
    except MnistSgdError as error:
        raise HTTPException(400, " ".join(str(error).split())[:500]) from None
    except Conflict as error:
        raise HTTPException(409, str(error)) from None
    return JSONResponse(result, headers={"cache-control": "no-store"})


def _seen(data: bytes) -> Any:
    """The ``(28, 28)`` uint8 picture the model sees for uploaded bytes."""
    return api.seen_image(api.read_image(data, max_pixels=MAX_PIXELS))


async def openapi(request: Request) -> Response:
    """The OpenAPI 3 description of the studio's ``/api`` routes."""
    from mnist_sgd.web.studio_schema import studio_schema

    return JSONResponse(studio_schema())
