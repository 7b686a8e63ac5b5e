"""The OpenAPI 3 description of the studio's API, served at the studio's ``/openapi.json``.

Written by hand, as ``schema.py`` is for ``serve``; a test checks that every
``/api`` route of the studio app is documented here.
"""

from __future__ import annotations

from typing import Any

from mnist_sgd.web.schema import _ERROR, _PREDICT, _PREDICTION, _error

_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
_JSON = {"application/json": {"schema": {"type": "object"}}}


def _ok(description: str, code: str = "200") -> dict[str, Any]:
    return {code: {"description": description, "content": _JSON}}


_CONFIG = {
    "type": "object",
    "description": "Training options; every key is optional (the seed's defaults).",
    "properties": {
        "recipe": {"type": "string", "description": "start from a named recipe"},
        "dataset": {"type": "string", "enum": ["mnist_sample", "mnist", "fashion_mnist"]},
        "model": {"type": "string", "description": "linear, simple_net, mlp, cnn, ..."},
        "loss": {"type": "string", "enum": ["mnist_loss", "bce", "cross_entropy"]},
        "opt": {"type": "string", "enum": ["sgd", "basic", "adam"]},
        "lr": {"type": "number", "exclusiveMinimum": 0},
        "bs": {"type": "integer", "minimum": 1, "maximum": 65536},
        "epochs": {"type": "integer", "minimum": 1, "maximum": 1000},
        "seed": {"type": "integer"},
        "mom": {"type": "number", "minimum": 0, "exclusiveMaximum": 1},
        "wd": {"type": "number", "minimum": 0},
        "schedule": {"type": "string", "enum": ["constant", "one_cycle"]},
        "augment": {"type": "boolean"},
        "std": {"type": "number", "description": "the linear model's init std (book: 1.0)"},
    },
    "additionalProperties": False,
}

_TRAIN = {
    "post": {
        "summary": "Start a training (a run folder under --runs-dir)",
        "requestBody": {"required": True, "content": {"application/json": {"schema": _CONFIG}}},
        "responses": {
            "202": {
                "description": "started: its id and run folder",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "id": {"type": "string"},
                                "run_dir": {"type": "string"},
                            },
                        }
                    }
                },
            },
            "400": _error("the body is not JSON"),
            "415": _error("the body is not application/json"),
            "422": _error("a bad option; `option` names it"),
            "429": _error("too many trainings at once; stop one first"),
        },
    },
    "get": {"summary": "Every training of this session", "responses": _ok("a list of states")},
}

_STATUS = {
    "get": {
        "summary": "A training's state, epoch, iter, history and run folder",
        "description": "state: loading, running, paused, stopping, done, stopped, diverged or "
        "error; history has the keys of metrics.jsonl.",
        "parameters": [_ID],
        "responses": {**_ok("the state"), "404": _error("no such training")},
    }
}

_EVENTS = {
    "get": {
        "summary": "The training's events as a server-sent event stream",
        "description": "Events: `batch` (epoch, iter, loss, lr, bps, t), `epoch` (a "
        "metrics.jsonl record), `step` (the seven steps of a stepped batch), `state` "
        "(paused, running), `done` (state, run_dir) and `error` (message, diverged). Each has "
        "an id; `?after=N` or Last-Event-ID resumes after event N.",
        "parameters": [
            _ID,
            {"name": "after", "in": "query", "required": False, "schema": {"type": "integer"}},
        ],
        "responses": {
            "200": {"description": "the stream", "content": {"text/event-stream": {}}},
            "400": _error("after is not a number"),
            "404": _error("no such training"),
        },
    }
}


def _command(what: str) -> dict[str, Any]:
    return {
        "post": {
            "summary": what,
            "parameters": [_ID],
            "responses": {
                **_ok("accepted: the training's state", "202"),
                "404": _error("no such training"),
                "409": _error("the training's state does not allow it (finished, not paused)"),
            },
        }
    }


def _live(summary: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    responses = {**_ok(summary), "404": _error("no such training"), **(extra or {})}
    return {"get": {"summary": summary, "parameters": [_ID], "responses": responses}}


_STUDIO_PREDICT = {
    **_PREDICT,
    "summary": "Predict an image with a training's model as it is right now",
    "parameters": [
        {"name": "train", "in": "query", "required": True, "schema": {"type": "string"}}
    ],
    "responses": {
        **_PREDICT["responses"],  # type: ignore[dict-item]
        "404": _error("no such training"),
        "409": _error("the training is still loading its data"),
    },
}


_COMMANDS = {
    "pause": "Pause after the current batch",
    "resume": "Resume a paused training",
    "step": "Run exactly one batch, then pause; its seven steps come as a `step` event",
    "stop": "Stop after the current batch, leaving a resumable checkpoint",
}
_INFO = {
    "title": "mnist-sgd studio API",
    "description": "The JSON API behind `mnist-sgd studio`. Errors are "
    '`{"error": "..."}` with a 4xx status.',
}


def studio_schema() -> dict[str, Any]:
    """The OpenAPI 3.0 document of the studio's ``/api`` routes."""
    from mnist_sgd import __version__

    return {
        "openapi": "3.0.3",
        "info": {**_INFO, "version": __version__},
        "paths": {
            "/api/choices": {"get": {"summary": "The controls' choices", "responses": _ok("")}},
            "/api/train": _TRAIN,
            "/api/train/{id}": _STATUS,
            "/api/train/{id}/events": _EVENTS,
            **{f"/api/train/{{id}}/{k}": _command(v) for k, v in _COMMANDS.items() if k != "step"},
            "/api/train/{id}/weights": _live(
                "A linear model's weights and their change since initialisation",
                {"409": _error("still loading its data")},
            ),
            "/api/train/{id}/digits": _live("16 validation digits and the model's verdicts"),
            "/api/train/{id}/step": {
                **_command(_COMMANDS["step"]),
                **_live("The seven steps of the last stepped batch (404: not stepped yet)"),
            },
            "/api/predict": {"post": _STUDIO_PREDICT},
        },
        "components": {"schemas": {"Error": _ERROR, "Prediction": _PREDICTION}},
    }
