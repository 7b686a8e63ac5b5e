"""The studio's training options: a JSON object from the page, checked into a ``TrainConfig``.

Every key is a ``TrainConfig`` field (``dataset``, ``model``, ``loss``, ``opt``,
``lr``, ``bs``, ``epochs``, ``seed``, ``mom``, ``wd``, ``schedule``, ``augment``),
plus ``recipe`` (start from a named recipe) and ``std`` (the linear model's
init std: the book's 1.0, or small). A bad value raises :class:`BadOption`
naming it, which the API answers with a 422.
"""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

from mnist_sgd.config.build import TrainConfig

MAX_EPOCHS = 1000
MAX_BS = 65536
_NUMBERS = ("lr", "mom", "wd")
_INTEGERS = ("bs", "epochs", "seed")
_TEXTS = ("dataset", "model", "loss", "opt", "schedule")
_EXTRA = ("recipe", "std")
_BOUNDS: dict[str, dict[str, Any]] = {
    "lr": {"minimum": 0, "exclusiveMinimum": True},
    "bs": {"minimum": 1, "maximum": MAX_BS},
    "epochs": {"minimum": 1, "maximum": MAX_EPOCHS},
    "seed": {"minimum": 0, "maximum": 2**64 - 1},
    "mom": {"minimum": 0, "maximum": 1, "exclusiveMaximum": True},
    "wd": {"minimum": 0},
    "std": {"minimum": 0, "exclusiveMinimum": True},
}
"""The numeric bounds the server holds options to (TrainConfig's, and the limits above), for
:func:`options_schema`; ``tests/web/test_openapi.py`` checks the server refuses past each one."""


class BadOption(ValueError):
    """A training option the studio cannot use; ``name`` is the option."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


def known_options() -> list[str]:
    """The keys ``POST /api/train`` accepts."""
    return [*_TEXTS, *_NUMBERS, *_INTEGERS, "augment", *_EXTRA]


def options_schema() -> dict[str, Any]:
    """The JSON Schema (OpenAPI 3.0) of what ``POST /api/train`` accepts."""
    from mnist_sgd.config import registry as names
    from mnist_sgd.config.recipes import RECIPES
    from mnist_sgd.datasets import DATASETS

    enums = {"recipe": list(RECIPES), "dataset": list(DATASETS), "model": names.MODEL_NAMES}
    enums.update(loss=names.LOSS_NAMES, opt=names.OPTIMISER_NAMES, schedule=names.SCHEDULE_NAMES)
    kinds = {**dict.fromkeys((*_NUMBERS, "std"), "number"), **dict.fromkeys(_INTEGERS, "integer")}
    notes = {"std": "the linear model's init std (book: 1.0); only with model linear"}
    notes.update(loss="mnist_loss and bce: two-class datasets only", mom="not with opt basic")
    properties = {
        key: {"type": kinds.get(key, "boolean" if key == "augment" else "string")}
        | ({"enum": list(enums[key])} if key in enums else {})
        | _BOUNDS.get(key, {})
        | ({"description": notes[key]} if key in notes else {})
        for key in known_options()
    }
    description = "Training options; every key is optional (the seed's defaults)."
    return {
        "type": "object",
        "description": description,
        "properties": properties,
        "additionalProperties": False,
    }


def parse_config(body: Any) -> TrainConfig:
    """The ``TrainConfig`` a JSON body asks for; :class:`BadOption` names the first bad value."""
    if not isinstance(body, dict):
        raise BadOption("body", "the body must be a JSON object of training options")
    unknown = sorted(set(body) - set(known_options()))
    if unknown:
        raise BadOption(
            unknown[0], f"unknown option {unknown[0]!r}; known: {', '.join(known_options())}"
        )
    given = {key: _checked(key, value) for key, value in body.items()}
    base = _recipe(given.pop("recipe", None))
    std = given.pop("std", None)
    config = _build(base, given)
    if std is not None:
        if config.model != "linear":
            raise BadOption(
                "std", f"std is the linear model's init; model {config.model!r} has none"
            )
        config = replace(config, model_kwargs={**config.model_kwargs, "std": std})
    _check_fit(config)
    return config


def _checked(key: str, value: Any) -> Any:
    """``value`` if its JSON type suits option ``key``."""
    if key in (*_TEXTS, "recipe"):
        if not isinstance(value, str):
            raise BadOption(key, f"{key} must be a string, got {value!r}")
    elif key in _INTEGERS:
        if isinstance(value, bool) or not isinstance(value, int):
            raise BadOption(key, f"{key} must be a whole number, got {value!r}")
    elif key == "augment":
        if not isinstance(value, bool):
            raise BadOption(key, f"augment must be true or false, got {value!r}")
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadOption(key, f"{key} must be a number, got {value!r}")
    elif not abs(value) < float("inf") or (key == "std" and not value > 0):
        raise BadOption(key, f"{key} must be a finite number{' > 0' if key == 'std' else ''}")
    return float(value) if key in (*_NUMBERS, "std") else value


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
    from mnist_sgd.datasets import DATASETS

    if "dataset" in given and given["dataset"] not in DATASETS:
        raise BadOption(
            "dataset", f"unknown dataset {given['dataset']!r}; choose one of: {', '.join(DATASETS)}"
        )
    if "model" in given and given["model"] != base.model:
        given.setdefault("model_kwargs", {})  # a recipe's kwargs belong to its model
    try:
        return replace(base, **given)
    except ValueError as error:
        raise BadOption(_named(str(error), given), str(error)) from None


def _named(message: str, given: dict[str, Any]) -> str:
    """The option a TrainConfig message is about (its first word, or a given value it quotes)."""
    head = message.split(" ", 1)[0]
    if head in {f.name for f in fields(TrainConfig)}:
        return head
    return next((key for key, value in given.items() if repr(value) in message), "config")


def _check_fit(config: TrainConfig) -> None:
    """Limits of a local page, and a binary loss only on a two-class dataset."""
    from mnist_sgd.datasets import DATASETS

    if config.epochs > MAX_EPOCHS:
        raise BadOption("epochs", f"epochs must be <= {MAX_EPOCHS}, got {config.epochs}")
    if config.bs > MAX_BS:
        raise BadOption("bs", f"bs (batch size) must be <= {MAX_BS}, got {config.bs}")
    classes = len(DATASETS[config.dataset].classes)
    if config.binary and classes != 2:
        raise BadOption(
            "loss",
            f"loss {config.loss!r} is for two classes, but {config.dataset} has {classes}; "
            "choose cross_entropy",
        )


def choices() -> dict[str, Any]:
    """What the page's controls offer, and each recipe's full options."""
    from mnist_sgd.config.build import OPTIMIZERS
    from mnist_sgd.config.recipes import RECIPES, SUMMARIES
    from mnist_sgd.core.loss import LOSSES
    from mnist_sgd.core.model import model_names
    from mnist_sgd.core.schedule import SCHEDULES
    from mnist_sgd.datasets import DATASETS

    return {
        "datasets": list(DATASETS),
        "models": model_names(),
        "losses": list(LOSSES),
        "optimizers": list(OPTIMIZERS),
        "schedules": list(SCHEDULES),
        "defaults": TrainConfig().to_dict(),
        "recipes": {
            name: {"summary": SUMMARIES.get(name, ""), "options": config.to_dict()}
            for name, config in RECIPES.items()
        },
        "limits": {"epochs": MAX_EPOCHS, "bs": MAX_BS},
    }
