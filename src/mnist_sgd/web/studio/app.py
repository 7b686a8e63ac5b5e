"""The studio (``mnist-sgd studio``): a Starlette app to train, watch and step SGD live."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from mnist_sgd.errors import ModelFileError
from mnist_sgd.runs import safejson
from mnist_sgd.web.shared import openapi as doc
from mnist_sgd.web.shared.body import media_type, read_capped
from mnist_sgd.web.shared.collect import Collector
from mnist_sgd.web.shared.images import seen_image
from mnist_sgd.web.shared.server import (
    MAX_BODY,
    MAX_PIXELS,
    Workers,
    collect_upload,
    predict_upload,
    starlette_app,
    static_page,
)
from mnist_sgd.web.studio.config import (
    SPEED_TEXT,
    BadOption,
    dataset_paths,
    options_schema,
    parse_config,
    parse_speed,
    speed_schema,
)
from mnist_sgd.web.studio.config import choices as option_choices
from mnist_sgd.web.studio.events import FINAL, sse
from mnist_sgd.web.studio.quadratic import MAX_LR, MAX_STEPS, BadQuadratic, quadratic_sgd
from mnist_sgd.web.studio.trainings import MAX_ACTIVE, Busy, Conflict, Studio, Training, Unknown

MAX_CONFIG_BODY = 64 * 1024
GATHER_S = 0.01
"""A stream waits this long after a batch event to send the next ones with it: fewer, larger
writes, so the event loop takes less time from the training thread (the page redraws every
200 ms anyway)."""
HEARTBEAT_S = 10.0
"""A comment line this often keeps the stream open and finds clients that left."""
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
    token: str | None = None,
    datasets: Sequence[str | Path] = (),
    collect: Collector | None = None,
) -> Starlette:
    """The studio app; trainings write run folders under ``runs_dir``.

    ``data_options``: ``DataOptions`` for every dataset (cache folder, mirror, offline).
    ``datasets``: users' sets by path (class folders, a Kaggle CSV, IDX files) the page may
    train on, offered beside the registry's names; no other path is read.
    ``collect``: where ``POST /api/collect`` saves the pad's drawings (None: not collecting).
    ``token``: what a request that starts, steers or writes must carry (``web.shared.guard``).
    """
    from mnist_sgd.config.build import resolve_device
    from mnist_sgd.datasets import DataOptions

    if max_active < 1 or max_body < 1:
        raise ValueError(f"max_active and max_body must be >= 1, got {max_active}, {max_body}")
    allowed = dataset_paths(datasets)
    options = data_options or DataOptions()
    studio = Studio(
        Path(runs_dir),
        DataCache(options),
        device=resolve_device(device),
        max_active=max_active,
        cache_dir=options.cache_dir,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        studio.shutdown()  # at shutdown (Ctrl-C) every training stops with a checkpoint

    statuses: dict[type[Exception], int] = {Unknown: 404, Conflict: 409, Busy: 429}
    app = starlette_app(routes(allowed), allowed_hosts, lifespan, statuses, token)
    app.state.studio, app.state.max_body, app.state.workers = studio, max_body, Workers(WORKERS)
    app.state.datasets, app.state.collect = allowed, collect
    return app


def _training(request: Request, tid: str | None = None) -> Training:
    """The training the path (or ``tid``) names (Unknown, a 404, when there is none)."""
    return request.app.state.studio.get(tid or request.path_params["id"])


async def choices(request: Request) -> Response:
    """What the page's controls offer: datasets, models, losses, optimisers, recipes."""
    state = request.app.state
    return JSONResponse({**option_choices(state.datasets), "collect": state.collect is not None})


async def _json_body(request: Request, what: str) -> Any:
    """The request's JSON body (415 when not JSON, 400 when it does not parse)."""
    if media_type(request.headers.get("content-type")) != "application/json":
        raise HTTPException(415, f"send {what} as application/json")
    body = await read_capped(request, MAX_CONFIG_BODY)
    try:  # bounded: a body nested 100,000 deep is a 400, not a RecursionError
        return safejson.loads(body or b"{}", "the body")
    except ModelFileError as error:
        raise HTTPException(400, str(error)) from None


def _bad(error: BadOption) -> Response:
    return JSONResponse({"error": str(error), "option": error.name}, status_code=422)


async def start(request: Request) -> Response:
    """Start a training from a JSON config: 202 ``{"id", "run_dir"}``."""
    options = await _json_body(request, "the training options")
    try:
        config = parse_config(options, request.app.state.datasets)
        speed = parse_speed(options.get("speed"))
    except BadOption as error:
        return _bad(error)
    training = request.app.state.studio.start(config, speed)
    return JSONResponse(
        {"id": training.id, "run_dir": str(training.run_dir)},
        status_code=202,
        headers={"location": f"/api/train/{training.id}"},
    )


async def listing(request: Request) -> Response:
    """Every training of this session, oldest first (the page's comparison curves)."""
    return JSONResponse([t.status() for t in request.app.state.studio.trainings.values()])


async def status(request: Request) -> Response:
    """One training: state, epoch, iter, history (``metrics.jsonl``'s keys), run_dir."""
    return JSONResponse(_training(request).status(), headers={"cache-control": "no-store"})


async def command(request: Request) -> Response:
    """Pause, resume, step (one batch, then paused) or stop (a resumable checkpoint)."""
    training = _training(request)
    training.command(request.url.path.rsplit("/", 1)[-1])
    return JSONResponse(training.status(), status_code=202)


async def speed(request: Request) -> Response:
    """Pace a training: ``{"speed": batches a second}``, or ``{"speed": null}`` for full speed."""
    training = _training(request)
    body = await _json_body(request, "the speed")
    try:
        if not isinstance(body, dict) or set(body) != {"speed"}:
            raise BadOption("speed", 'send {"speed": batches a second} or {"speed": null}')
        training.set_speed(parse_speed(body["speed"]))
    except BadOption as error:
        return _bad(error)
    return JSONResponse(training.status(), status_code=202)


def _number(request: Request, name: str, kind: type, default: Any) -> Any:
    """Query parameter ``name`` as ``kind`` (``default`` when absent); 400 when it is not one."""
    text = request.query_params.get(name)
    if text is None:
        return default
    try:
        return kind(text[:40])
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise HTTPException(400, f"{name} must be {what}, got {text[:20]!r}") from None


async def quadratic(request: Request) -> Response:
    """The chapter's SGD example: each step of fitting a parabola to the roller coaster."""
    lr = _number(request, "lr", float, None)
    if lr is None:
        raise HTTPException(400, "say which learning rate: GET /api/quadratic?lr=1e-5")
    steps = _number(request, "steps", int, 100)
    seed = _number(request, "seed", int, 42)
    try:
        answer = await request.app.state.workers.call(quadratic_sgd, lr, steps, seed)
    except BadQuadratic as error:
        raise HTTPException(400, str(error)) from None
    return JSONResponse(answer)


def _after(request: Request) -> int:
    """The last event the client saw: ``?after=N`` or the ``Last-Event-ID`` header."""
    text = request.query_params.get("after") or request.headers.get("last-event-id") or "0"
    if not text.isdigit() or len(text) > 12:
        raise HTTPException(400, f"after must be an event number (0 or more), got {text[:20]!r}")
    return int(text)


async def events(request: Request) -> Response:
    """``text/event-stream``: ``batch``, ``epoch``, ``step``, ``state``, ``stuck``, then
    ``done``/``error``."""
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
    """Call ``Training.<what>()`` in a worker thread (Conflict, a 409, while the data loads)."""
    return await request.app.state.workers.call(getattr(_training(request), what))


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

    def read(data: bytes) -> Any:
        return training.predict(seen_image(data, max_pixels=MAX_PIXELS))

    state = request.app.state
    return await predict_upload(request, state.max_body, state.workers, read)


async def collect(request: Request) -> Response:
    """Save the pad's drawing, as the 28x28 picture the model sees, under ``?label=``, one of
    training ``?train=ID``'s classes (``mnist-sgd studio --collect DIR``)."""
    state = request.app.state
    collector = state.collect
    if collector is None:
        raise HTTPException(404, "not collecting: start the studio with --collect DIR")
    tid = request.query_params.get("train")
    if not tid:
        raise HTTPException(400, "say whose classes: POST /api/collect?train=ID&label=LABEL")
    training = _training(request, tid)
    label = request.query_params.get("label", "")
    if label not in training.classes:
        raise HTTPException(422, f"label {label[:50]!r} is not one of the training's classes")
    return await collect_upload(request, collector, label, training.classes, MAX_PIXELS)


_ID_404 = {404: "no such training"}
_COMMANDS = {
    "pause": "Pause after the current batch",
    "resume": "Resume a paused training",
    "step": "Run exactly one batch, then pause; its seven steps come as a `step` event",
    "stop": "Stop after the current batch, leaving a resumable checkpoint",
}
_EVENTS_TEXT = (
    "Events: `batch` (epoch, iter, loss, lr, bps, t), `epoch` (a metrics.jsonl record), `step` "
    "(the seven steps of a stepped batch), `state` (paused, running), `stuck` (reason, said: "
    "the reason as a Said, epoch: "
    "the latest epoch's accuracy is at chance or its loss has stopped moving; reason null when "
    "a later epoch recovers), `speed` (speed: the new pace, null for full speed), `done` "
    "(state: done, stopped or stuck; run_dir, warnings, stuck, stuck_said) "
    "and `error` (message, diverged). Each has an id; `?after=N` or Last-Event-ID resumes "
    "after event N."
)
_QUADRATIC_TEXT = (
    'fastbook chapter 4\'s "An End-to-End SGD Example" as the book writes it, with torch '
    "autograd: `time = torch.arange(0,20).float()`, `speed = torch.randn(20)*3 + "
    "0.75*(time-9.5)**2 + 1`, `f(t, params) = a*t**2 + b*t + c`, mse, then `steps` times "
    "`apply_step` at `lr` (the book's: 1e-5). Both random draws come from `seed`, so two "
    "learning rates start from the same points and parabola. Answers `time`, `speed` and "
    "`steps`: steps + 1 records of `params` (a, b, c), `preds` and `loss` (null once it "
    "overflows), record i after i steps."
)
_STARTED = {"type": "object", "properties": {"id": doc.STRING, "run_dir": doc.STRING}}
_PREDICTED = {"allOf": [doc.ref("Prediction"), {"properties": {"iter": {"type": "integer"}}}]}
_TRAIN_ERRORS = {
    400: "the body is not JSON",
    415: "the body is not application/json",
    422: "a bad option; `option` names it",
    429: "too many trainings at once; stop one first",
}


def routes(datasets: Sequence[str] = ()) -> list[BaseRoute]:
    """Every route of the studio but ``/static``, each ``/api`` one with its documentation."""
    api, state = doc.ApiRoute, doc.json_content(doc.OBJECT)
    loading = {**_ID_404, 409: "still loading its data"}
    return [
        Route("/", static_page("studio.html"), methods=["GET"], include_in_schema=False),
        api("GET /api/choices", choices),
        api(
            "POST /api/train",
            start,
            body=doc.json_content(doc.ref("TrainOptions")),
            ok=(202, "started: its id and run folder", doc.json_content(_STARTED)),
            errors=_TRAIN_ERRORS,
        ),
        api("GET /api/train", listing),
        api("GET /api/train/{id}", status, errors=_ID_404),
        api(
            "GET /api/train/{id}/events",
            events,
            description=_EVENTS_TEXT,
            params=[doc.query("after", {"type": "integer", "minimum": 0})],
            ok=(200, "the stream", {"text/event-stream": {}}),
            errors={400: "after is not a number", **_ID_404},
        ),
        *(
            api(
                f"POST /api/train/{{id}}/{action}",
                command,
                summary,
                ok=(202, "accepted: the training's state", state),
                errors={**_ID_404, 409: "the training's state does not allow it now"},
            )
            for action, summary in _COMMANDS.items()
        ),
        api(
            "POST /api/train/{id}/speed",
            speed,
            description=f"Speed: {SPEED_TEXT}. Any state; a training that has ended keeps it.",
            body=doc.json_content(speed_schema()),
            ok=(202, "accepted: the training's state", state),
            errors={**_ID_404, 400: "the body is not JSON", 415: "not JSON", 422: "not a speed"},
        ),
        api(
            "GET /api/quadratic",
            quadratic,
            description=_QUADRATIC_TEXT,
            params=[
                doc.query(
                    "lr",
                    {"type": "number", "minimum": 0, "exclusiveMinimum": True, "maximum": MAX_LR},
                    required=True,
                ),
                doc.query("steps", {"type": "integer", "minimum": 1, "maximum": MAX_STEPS}),
                doc.query("seed", {"type": "integer", "minimum": 0}),
            ],
            errors={400: "lr missing, or lr, steps or seed not a number or out of range"},
        ),
        api(
            "GET /api/train/{id}/weights",
            weights,
            errors={**loading, 404: "no such training, or not linear"},
        ),
        api("GET /api/train/{id}/digits", digits, errors=loading),
        api("GET /api/train/{id}/step", last_step, errors={404: "no training or no step"}),
        api(
            "POST /api/predict",
            predict,
            description=doc.PREDICT_TEXT,
            params=[doc.query("train", doc.STRING, required=True)],
            body=doc.IMAGE_BODY,
            ok=(200, "the prediction, at iter", doc.json_content(_PREDICTED)),
            errors={**doc.PREDICT_ERRORS, **loading},
        ),
        api(
            "POST /api/collect",
            collect,
            description="Save the pad's drawing (as the 28x28 picture the model sees) as a PNG in "
            "the --collect folder, under the class given as ?label=, one of training ?train=ID's "
            "classes.",
            params=[doc.query("train", doc.STRING, required=True), doc.query("label", doc.STRING)],
            body=doc.IMAGE_BODY,
            ok=(200, "where it was saved", doc.json_content(doc.OBJECT)),
            errors={
                **_ID_404,
                400: "no usable image, or no ?train=",
                409: "the folder is full",
                422: "the label is not one of the training's classes",
            },
        ),
        doc.openapi_route(
            "mnist-sgd studio API",
            f"The JSON API behind `mnist-sgd studio`. {doc.ERRORS_TEXT}",
            lambda: {
                "Prediction": doc.PREDICTION,
                "Said": doc.SAID,
                "TrainOptions": options_schema(datasets),
            },
        ),
    ]
