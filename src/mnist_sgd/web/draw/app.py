"""The draw-a-digit page (``mnist-sgd serve``): a Starlette app around one trained run."""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from mnist_sgd.errors import MnistSgdError
from mnist_sgd.predict.predictor import classes_note, classes_said
from mnist_sgd.runs import Run, load_run
from mnist_sgd.web.shared import openapi as doc
from mnist_sgd.web.shared.collect import Collector
from mnist_sgd.web.shared.images import (
    finite,
    linear_weights,
    prediction,
    said_json,
    seen_image,
    weight_pictures,
)
from mnist_sgd.web.shared.server import (
    MAX_BODY,
    MAX_PIXELS,
    Workers,
    collect_upload,
    predict_upload,
    starlette_app,
    static_page,
)

_PLOT_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}\.png$")


def create_app(
    run_dir: str | Path,
    *,
    max_body: int = MAX_BODY,
    max_pixels: int = MAX_PIXELS,
    allowed_hosts: list[str] | None = None,
    workers: int | None = None,
    collect: Collector | None = None,
    token: str | None = None,
) -> Starlette:
    """The web app for the run in ``run_dir`` (loaded once, here).

    ``allowed_hosts``: accepted ``Host`` headers (None: any); the CLI passes the loopback
    names when it binds to loopback, which stops DNS rebinding. ``workers``: predictions
    computed at once (None: one per CPU core). ``collect``: where ``POST /api/collect``
    saves drawings (None: that route answers 404). ``token``: what a POST must carry
    (``web.shared.guard``; the CLI makes one when it binds beyond loopback).
    """
    workers = workers or os.cpu_count() or 1
    if max_body < 1 or max_pixels < 1 or workers < 1:
        raise ValueError(
            f"max_body, max_pixels and workers must be >= 1, got {max_body}, "
            f"{max_pixels}, {workers}"
        )
    run = load_run(run_dir)
    _ = run.history  # the page shows it: read (and checked) at start, not at the first visit
    app = starlette_app(routes(), allowed_hosts, token=token)
    app.state.run, app.state.max_body, app.state.max_pixels = run, max_body, max_pixels
    app.state.workers = Workers(workers)
    app.state.collect = collect
    return app


def predict_bytes(run: Run, data: bytes, *, max_pixels: int) -> dict[str, Any]:
    """Predict the digit in image bytes; ImageError when they hold no usable digit."""
    seen = seen_image(data, max_pixels=max_pixels)
    return prediction(run.classes, run.probabilities(seen.unsqueeze(0))[0], seen)


def run_summary(run: Run, plots: list[str]) -> dict[str, Any]:
    """The run's summary for the page: dataset, model, accuracy, per-epoch history."""
    info, final = run.info, run.info.get("final") or (run.history[-1] if run.history else {})
    metric = next(iter(info.get("metrics") or []), "accuracy")
    model = info["model"]
    return finite(
        {
            "dataset": info["dataset"],
            "classes": run.classes,
            "note": classes_note(run.classes),
            "note_said": said_json(classes_said(run.classes)),
            "model": {key: model.get(key) for key in ("name", "n_out", "flat", "parameters")},
            "loss": info.get("loss"),
            "status": info.get("status"),
            "metric": metric,
            "accuracy": final.get(metric),
            "valid_loss": final.get("valid_loss"),
            "epochs": int(run.history[-1].get("epoch", len(run.history))) if run.history else 0,
            "sizes": info.get("sizes"),
            "train": info.get("train"),
            "history": run.history,
            "has_weights": linear_weights(run) is not None,
            "plots": plots,
        }
    )


async def predict(request: Request) -> Response:
    """Predict the digit in the posted image (raw image body or multipart ``image`` field)."""
    state = request.app.state
    read = functools.partial(predict_bytes, state.run, max_pixels=state.max_pixels)
    return await predict_upload(request, state.max_body, state.workers, read)


async def info(request: Request) -> Response:
    """The run's summary: dataset, model, accuracy, per-epoch history; whether it collects."""
    run = request.app.state.run
    return JSONResponse(
        {**run_summary(run, plot_names(run)), "collect": request.app.state.collect is not None}
    )


async def collect(request: Request) -> Response:
    """Save the posted drawing, as the 28x28 picture the model sees, under ``?label=``."""
    state = request.app.state
    if state.collect is None:
        raise HTTPException(404, "not collecting: start the server with --collect DIR")
    label = request.query_params.get("label", "")
    if label not in state.run.classes:
        raise HTTPException(422, f"label {label[:50]!r} is not one of the run's classes")
    return await collect_upload(request, state.collect, label, state.run.classes, state.max_pixels)


async def weights(request: Request) -> Response:
    """A linear model's weights, and their change since initialisation, as 28x28 pictures.

    404 for models that are not linear; no ``change`` for runs without ``init.safetensors``.
    """
    run = request.app.state.run
    pictures = await request.app.state.workers.call(_pictures, run)
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
    return weight_pictures(run, initial)


async def plot(request: Request) -> Response:
    """A PNG from the run folder's ``plots/`` (as ``mnist-sgd train`` wrote it)."""
    name = request.path_params["name"]
    run = request.app.state.run
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


def routes() -> list[BaseRoute]:
    """Every route of the app but ``/static``, each ``/api`` one with its documentation."""
    json_object = doc.json_content(doc.OBJECT)
    return [
        Route("/", static_page("index.html"), methods=["GET"], include_in_schema=False),
        doc.ApiRoute(
            "POST /api/predict",
            predict,
            description=doc.PREDICT_TEXT,
            body=doc.IMAGE_BODY,
            ok=(200, "the prediction", doc.json_content(doc.ref("Prediction"))),
            errors=doc.PREDICT_ERRORS,
        ),
        doc.ApiRoute("GET /api/info", info, description=INFO_TEXT),
        doc.ApiRoute(
            "POST /api/collect",
            collect,
            description="Save the drawing (as the 28x28 picture the model sees) as a PNG in "
            "the --collect folder, under the class given as ?label=.",
            body=doc.IMAGE_BODY,
            ok=(200, "where it was saved", json_object),
            errors={
                400: "no usable image",
                404: "the server is not collecting",
                409: "the folder is full",
                422: "the label is not one of the run's classes",
            },
        ),
        doc.ApiRoute(
            "GET /api/weights",
            weights,
            ok=(200, "captions, weights (n_out rows of 784) and their scale", json_object),
            errors={404: "the model is not linear"},
        ),
        doc.ApiRoute(
            "GET /api/plots/{name}",
            plot,
            path_schemas={"name": {"type": "string", "pattern": _PLOT_NAME.pattern}},
            ok=(200, "the PNG", {"image/png": {}}),
            errors={404: "no such plot in the run folder"},
        ),
        doc.openapi_route(
            "mnist-sgd draw-a-digit API",
            f"The JSON API behind `mnist-sgd serve`. {doc.ERRORS_TEXT}",
            lambda: {"Prediction": doc.PREDICTION, "Said": doc.SAID},
        ),
    ]


INFO_TEXT = "Dataset, classes, model, loss, final accuracy and the per-epoch history "
INFO_TEXT += "(metrics.jsonl), plus which plots the run folder holds."
