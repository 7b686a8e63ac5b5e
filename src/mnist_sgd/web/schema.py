"""The OpenAPI 3 description of the web API, served at ``/openapi.json``.

Written out by hand (Starlette has no models to derive it from); a test
checks that every ``/api`` route of the app is documented here.
"""

from __future__ import annotations

from typing import Any

from mnist_sgd.web.api import IMAGE_TYPES

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string", "description": "one line: what was wrong"}},
}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


_PREDICTION = {
    "type": "object",
    "properties": {
        "label": {"type": "string", "description": "the predicted class"},
        "index": {"type": "integer", "description": "its position in classes"},
        "probability": {"type": "number", "description": "the predicted class's probability"},
        "classes": {"type": "array", "items": {"type": "string"}},
        "probabilities": {
            "type": "array",
            "items": {"type": "number"},
            "description": "one per class, in the order of classes",
        },
        "seen_png": {
            "type": "string",
            "format": "byte",
            "description": "base64 PNG of the 28x28 grayscale image the model saw",
        },
    },
}

_PREDICT = {
    "summary": "Predict the digit in an image",
    "description": "The image is preprocessed as `mnist-sgd predict` does (grayscale, ink light "
    "on dark, cropped, fitted in 20x20, centred by centre of mass). Send the bytes as the body "
    "with an image Content-Type, or as the `image` file of a multipart/form-data upload.",
    "requestBody": {
        "required": True,
        "content": {
            **{kind: {"schema": {"type": "string", "format": "binary"}} for kind in IMAGE_TYPES},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"image": {"type": "string", "format": "binary"}},
                }
            },
        },
    },
    "responses": {
        "200": {
            "description": "the prediction",
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Prediction"}}
            },
        },
        "400": _error("not an image, a broken image, too many pixels, or no digit in it"),
        "413": _error("the body is larger than the server's limit"),
        "415": _error("the Content-Type (or the uploaded file's type) is not an image type"),
    },
}

_INFO = {
    "summary": "The run's summary",
    "description": "Dataset, classes, model, loss, final accuracy and the per-epoch history "
    "(metrics.jsonl), plus which plots the run folder holds.",
    "responses": {
        "200": {
            "description": "the summary",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
}

_WEIGHTS = {
    "summary": "A linear model's weights, one 28x28 picture per class",
    "responses": {
        "200": {
            "description": "captions, weights (n_out lists of 784 numbers) and scale "
            "(largest absolute weight)",
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
        "404": _error("the model is not linear"),
    },
}

_PLOT = {
    "summary": "A PNG plot from the run folder (plots/NAME)",
    "parameters": [
        {
            "name": "name",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]+\\.png$"},
        }
    ],
    "responses": {
        "200": {"description": "the PNG", "content": {"image/png": {}}},
        "404": _error("no such plot in the run folder"),
    },
}


def openapi_schema() -> dict[str, Any]:
    """The OpenAPI 3.0 document of the ``/api`` routes."""
    from mnist_sgd import __version__

    return {
        "openapi": "3.0.3",
        "info": {
            "title": "mnist-sgd draw-a-digit API",
            "version": __version__,
            "description": "The JSON API behind `mnist-sgd serve`. Errors are "
            '`{"error": "..."}` with a 4xx status.',
        },
        "paths": {
            "/api/predict": {"post": _PREDICT},
            "/api/info": {"get": _INFO},
            "/api/weights": {"get": _WEIGHTS},
            "/api/plots/{name}": {"get": _PLOT},
        },
        "components": {"schemas": {"Error": _ERROR, "Prediction": _PREDICTION}},
    }
