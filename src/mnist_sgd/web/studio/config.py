"""The studio's training options: a JSON object from the page, checked into a ``TrainConfig``.

Every key is a ``TrainConfig`` field, plus ``recipe`` (start from a named recipe), ``std``
(the linear model's init std) and ``speed`` (batches a second: the pace of a class watching).
``TrainConfig`` checks its own fields; checked here are only what the page adds: the body's
keys, ``recipe``, ``std`` and ``speed``, and the limits of a local page, and a
dataset given by its path: only one the server was started with (``mnist-sgd studio --dataset
PATH``), never any other path a request names.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from mnist_sgd.config.train_config import TrainConfig
from mnist_sgd.errors import ConfigError

MAX_EPOCHS = 1000
MAX_BS = 65536
SPEEDS = (1.0, 1000.0)
"""The slowest and fastest pace a training may be held to, in batches a second (None: full)."""
_OPTIONS = ["dataset", "model", "loss", "opt", "schedule", "lr", "mom", "wd", "bs", "epochs"]
_OPTIONS += ["seed", "augment", "recipe", "std", "speed"]  # the last three are the studio's own
_KINDS = {"lr": "number", "mom": "number", "wd": "number", "std": "number", "augment": "boolean"}
_KINDS["speed"] = "number"
_KINDS.update(bs="integer", epochs="integer", seed="integer")  # the rest: strings
_BOUNDS: dict[str, dict[str, Any]] = {
    "lr": {"minimum": 0, "exclusiveMinimum": True},
    "bs": {"minimum": 1, "maximum": MAX_BS},
    "epochs": {"minimum": 1, "maximum": MAX_EPOCHS},
    "seed": {"minimum": 0, "maximum": 2**64 - 1},
    "mom": {"minimum": 0, "maximum": 1, "exclusiveMaximum": True},
    "wd": {"minimum": 0},
    "std": {"minimum": 0, "exclusiveMinimum": True},
    "speed": {"minimum": SPEEDS[0], "maximum": SPEEDS[1], "nullable": True},
}
"""The numeric bounds the server holds options to (TrainConfig's, and the limits above), for
:func:`options_schema`; ``tests/web/test_openapi.py`` checks the server refuses past each one."""


class BadOption(ValueError):
    """A training option the studio cannot use; ``name`` is the option."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


def options_schema(datasets: Sequence[str] = ()) -> dict[str, Any]:
    """The JSON Schema (OpenAPI 3.0) of what ``POST /api/train`` accepts (``datasets``: the
    paths the server was given, offered beside the registry's names)."""
    lists = choices(datasets)
    enums = {"recipe": list(lists["recipes"]), "dataset": lists["datasets"]}
    enums.update(model=lists["models"], loss=lists["losses"], opt=lists["optimizers"])
    enums.update(schedule=lists["schedules"])
    notes = {"std": "the linear model's init std (book: 1.0); only with model linear"}
    notes.update(loss="mnist_loss and bce: two-class datasets only", mom="not with opt basic")
    notes["speed"] = SPEED_TEXT
    properties = {
        key: {"type": _KINDS.get(key, "string")}
        | ({"enum": enums[key]} if key in enums else {})
        | _BOUNDS.get(key, {})
        | ({"description": notes[key]} if key in notes else {})
        for key in _OPTIONS
    }
    description = "Training options; every key is optional (the seed's defaults)."
    return {
        "type": "object",
        "description": description,
        "properties": properties,
        "additionalProperties": False,
    }


def parse_config(body: Any, datasets: Sequence[str] = ()) -> TrainConfig:
    """The ``TrainConfig`` a JSON body asks for; :class:`BadOption` names the first bad value.

    ``datasets``: the resolved paths of the users' sets the server may read; a ``dataset``
    that is a path must be one of them.
    """
    if not isinstance(body, dict):
        raise BadOption("body", "the body must be a JSON object of training options")
    unknown = sorted(set(body) - set(_OPTIONS))
    if unknown:
        raise BadOption(unknown[0], f"unknown option {unknown[0]!r}; known: {', '.join(_OPTIONS)}")
    if isinstance(body.get("dataset"), str):
        _check_dataset(body["dataset"], datasets)
    given = {key: _checked(key, value) for key, value in body.items()}
    base = _recipe(given.pop("recipe", None))
    std = given.pop("std", None)
    given.pop("speed", None)  # the training's pace, not its config: see parse_speed
    config = _build(base, given)
    if std is not None:
        if config.model != "linear":
            raise BadOption(
                "std", f"std is the linear model's init; model {config.model!r} has none"
            )
        config = replace(config, model_kwargs={**config.model_kwargs, "std": std})
    _check_fit(config)
    return config


def dataset_paths(paths: Sequence[str | Path]) -> list[str]:
    """The paths a studio may read, resolved; ``ValueError`` naming one that does not exist."""
    resolved = []
    for path in paths:
        full = Path(path).expanduser().resolve()
        if not full.exists():
            raise ValueError(
                f"argument --dataset: {path}: no such file or folder; give a folder of class "
                "folders, a Kaggle-layout CSV or a folder of IDX files"
            )
        resolved.append(str(full))
    return list(dict.fromkeys(resolved))


def _check_dataset(name: str, allowed: Sequence[str]) -> None:
    """A registry name, or a path the server was started with; never another path."""
    from mnist_sgd.datasets.registry import is_dataset_path

    if not is_dataset_path(name):
        return  # a name: TrainConfig checks it against the registry
    if name in allowed or str(Path(name).expanduser().resolve()) in allowed:
        return
    given = f": {', '.join(allowed)}" if allowed else " (none was given)"
    raise BadOption(
        "dataset",
        f"the studio reads only the datasets given when it started{given}; to train on "
        f"{name[:200]}, start it with: mnist-sgd studio --dataset PATH",
    )


def _checked(key: str, value: Any) -> Any:
    """``value`` if it suits ``recipe`` or ``std``; the other options are TrainConfig's to check."""
    if key == "recipe" and not isinstance(value, str):
        raise BadOption(key, f"{key} must be a string, got {value!r}")
    if key == "std":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise BadOption(key, f"{key} must be a number, got {value!r}")
        if not 0 < value < float("inf"):
            raise BadOption(key, f"{key} must be a finite number > 0")
        return float(value)
    if key == "speed":
        return parse_speed(value)
    return value


SPEED_TEXT = (
    f"the pace: at most this many batches a second ({SPEEDS[0]:g} to {SPEEDS[1]:g}); null or "
    "absent: full speed. The results are the same at any pace. Change it during a run with "
    "POST /api/train/{id}/speed"
)


def speed_schema() -> dict[str, Any]:
    """The JSON Schema of ``POST /api/train/{id}/speed``'s body."""
    speed = {"type": "number", **_BOUNDS["speed"], "description": SPEED_TEXT}
    return {
        "type": "object",
        "required": ["speed"],
        "properties": {"speed": speed},
        "additionalProperties": False,
    }


def parse_speed(value: Any) -> float | None:
    """Batches a second (``SPEEDS``), or None (full speed); :class:`BadOption` otherwise."""
    if value is None:
        return None
    low, high = SPEEDS
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BadOption(
            "speed",
            f"speed must be a number of batches a second ({low:g} to {high:g}) or null for "
            f"full speed, got {value!r}"[:200],
        )
    if not low <= value <= high:
        raise BadOption(
            "speed",
            f"speed must be {low:g} to {high:g} batches a second (null: full speed), got {value:g}",
        )
    return float(value)


def _recipe(name: str | None) -> TrainConfig:
    if name is None:
        return TrainConfig()
    from mnist_sgd.config.recipes import get_recipe

    try:
        return get_recipe(name)
    except ValueError as error:
        raise BadOption("recipe", str(error)) from None


def _build(base: TrainConfig, given: dict[str, Any]) -> TrainConfig:
    """``base`` with ``given`` applied; TrainConfig's own checks name the option."""
    if "model" in given and given["model"] != base.model:
        given.setdefault("model_kwargs", {})  # a recipe's kwargs belong to its model
    try:
        return replace(base, **given)
    except ConfigError as error:
        raise BadOption(error.field, str(error)) from None


def _check_fit(config: TrainConfig) -> None:
    """The limits of a local page (not TrainConfig's: a config may ask for more elsewhere)."""
    if config.epochs > MAX_EPOCHS:
        raise BadOption("epochs", f"epochs must be <= {MAX_EPOCHS}, got {config.epochs}")
    if config.bs > MAX_BS:
        raise BadOption("bs", f"bs (batch size) must be <= {MAX_BS}, got {config.bs}")


_BOOK: dict[str, Any] = {
    "dataset": "mnist_sample",
    "model": "linear",
    "loss": "mnist_loss",
    "opt": "sgd",
}
_BOOK |= {"bs": 256, "seed": 42, "std": 1.0, "epochs": 3}
PRESETS = {
    "too-small": {**_BOOK, "lr": 1e-4, "speed": 10.0},
    "about-right": {**_BOOK, "lr": 1.0, "speed": 5.0},
    "too-large": {**_BOOK, "lr": 1000.0, "speed": 5.0},
}
"""The learning rate's three regimes with the chapter's model (linear, mnist_loss, std-1 init,
bs 256, MNIST_SAMPLE), each a body for ``POST /api/train``, paced for a class to watch.
Measured (3 epochs, seed 42): lr 1e-4 leaves the validation loss at 0.456 (0.4559 to 0.4558,
accuracy 54.6%, above chance, so not *stuck*: just slow); lr 1, the book's, takes it to 0.058
(94.5%); lr 1000 saturates the sigmoid at once, 49.6%, at chance: *stuck* after the first
epoch (10 s at 5 batches a second), with that reason. (lr 10 and 100 still learn with this
loss: the sigmoid bounds each step until it saturates.)"""


def choices(datasets: Sequence[str] = ()) -> dict[str, Any]:
    """What the page's controls offer (the registry's datasets, then the paths the server was
    given), each recipe's full options, the classroom's presets and
    the quadratic example's three learning rates."""
    from mnist_sgd.config import registry
    from mnist_sgd.config.recipes import RECIPES, SUMMARIES
    from mnist_sgd.datasets import DATASETS
    from mnist_sgd.web.studio.quadratic import LRS

    return {
        "datasets": [*DATASETS, *datasets],
        "models": list(registry.MODELS),
        "losses": list(registry.LOSSES),
        "optimizers": list(registry.OPTIMISERS),
        "schedules": list(registry.SCHEDULES),
        "defaults": TrainConfig().to_dict(),
        "recipes": {
            name: {"summary": SUMMARIES.get(name, ""), "options": config.to_dict()}
            for name, config in RECIPES.items()
        },
        "limits": {"epochs": MAX_EPOCHS, "bs": MAX_BS, "speed": list(SPEEDS)},
        "presets": PRESETS,
        "quadratic_lrs": list(LRS),
    }
