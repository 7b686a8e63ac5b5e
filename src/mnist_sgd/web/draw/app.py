"""The draw-a-digit page: a Starlette app around one trained run.

Routes: ``/``, ``/static/*``, ``/openapi.json`` and the ``/api`` ones of :func:`routes`,
each with its documentation.

Limits, so a local page cannot be used to hurt its host: the body is read
with a size cap (413), only image content types are accepted (415), bytes
that are not an image get a 400, and every error, even a bug, is answered as
``{"error": "..."}`` JSON without a traceback.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from mnist_sgd.errors import MnistSgdError
from mnist_sgd.runs import Run, load_run
from mnist_sgd.web.shared import openapi as doc
from mnist_sgd.web.shared.body import read_upload
from mnist_sgd.web.shared.images import (
    finite,
    linear_weights,
    prediction,
    read_image,
    seen_image,
    weight_pictures,
)
from mnist_sgd.web.shared.server import (
    MAX_BODY,
    MAX_PIXELS,
    Workers,
    error_text,
    starlette_app,
    static_page,
)

_PLOT_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}\.png$")


@dataclass(frozen=True)
class WebState:
    """What every request needs: the loaded run and the limits."""

    run: Run
    max_body: int
    max_pixels: int
    workers: Workers


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
    app = starlette_app(routes(), allowed_hosts)
    app.state.web = WebState(run, max_body, max_pixels, Workers(workers))
    return app


def predict_bytes(run: Run, data: bytes, *, max_pixels: int) -> dict[str, Any]:
    """Predict the digit in image bytes (the answer of :func:`images.prediction`).

    Raises:
        ImageError: the bytes are not an image, are too large, or hold no digit.
    """
    seen = seen_image(read_image(data, max_pixels=max_pixels))
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
            "model": {key: model.get(key) for key in ("name", "n_out", "flat", "parameters")},
            "loss": info.get("loss"),
            "status": info.get("status"),
            "metric": metric,
            "accuracy": final.get(metric),
            "valid_loss": final.get("valid_loss"),
            "epochs": len(run.history),
            "sizes": info.get("sizes"),
            "train": info.get("train"),
            "history": run.history,
            "has_weights": linear_weights(run) is not None,
            "plots": plots,
        }
    )


def _state(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state


async def predict(request: Request) -> Response:
    """Predict the digit in the posted image (raw image body or multipart ``image`` field)."""
    state = _state(request)
    data = await read_upload(request, state.max_body)
    try:
        result = await state.workers.call(
            predict_bytes, state.run, data, max_pixels=state.max_pixels
        )
    except MnistSgdError as error:
        raise HTTPException(400, error_text(error)) from None
    return JSONResponse(result, headers={"cache-control": "no-store"})


async def info(request: Request) -> Response:
    """The run's summary: dataset, model, accuracy, per-epoch history."""
    return JSONResponse(run_summary(_state(request).run, plot_names(_state(request).run)))


async def weights(request: Request) -> Response:
    """A linear model's weights, and their change since initialisation, as 28x28 pictures.

    404 for models that are not linear; no ``change`` for runs without ``init.safetensors``.
    """
    state = _state(request)
    run = state.run
    pictures = await state.workers.call(_pictures, run)
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
            lambda: {"Prediction": doc.PREDICTION},
        ),
    ]


INFO_TEXT = "Dataset, classes, model, loss, final accuracy and the per-epoch history "
INFO_TEXT += "(metrics.jsonl), plus which plots the run folder holds."
