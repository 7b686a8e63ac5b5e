"""Named recipes: frozen sets of training options, one per task, chosen by measurement.

``mnist-sgd train --recipe mnist-fast`` starts from ``RECIPES["mnist-fast"]``
and any flag given on the command line overrides one option. Each recipe is a
``TrainConfig`` (a frozen dataclass), so what a name means is written here and
nowhere else. The figures in the descriptions are from ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

from mnist_sgd.config.train_config import TrainConfig
from mnist_sgd.i18n import text

# What the ten-class recipes share: the whole MNIST with a one-cycle schedule; the CNNs also
# train with Adam on batches of 128 (their options are listed whole by 'mnist-sgd recipes').
_MNIST: dict[str, Any] = {"dataset": "mnist", "schedule": "one_cycle"}
_CNN: dict[str, Any] = {**_MNIST, "opt": "adam", "bs": 128}
_SMOOTH: dict[str, Any] = {**_CNN, "loss": "label_smoothing"}

RECIPES: dict[str, TrainConfig] = {
    # The seed: fastbook's linear model on 3s and 7s (lr 1.0, batch 256, 20 epochs).
    "seed": TrainConfig(),
    "seed-simple-net": TrainConfig(model="simple_net", lr=0.1, epochs=40),
    "mnist-linear": TrainConfig(
        **_MNIST, loss="cross_entropy", lr=0.5, mom=0.9, epochs=10, model_kwargs={"std": 0.01}
    ),
    "mnist-mlp": TrainConfig(
        **_MNIST, model="mlp", loss="cross_entropy", lr=0.2, mom=0.9, bs=128, epochs=4
    ),
    "mnist-fast": TrainConfig(**_CNN, model="cnn", loss="cross_entropy", lr=0.01, epochs=2),
    # bf16 autocast asked for: callbacks.speed decides by the CPU and a probe of this model
    # one epoch of a wider cnn reaches 0.99 where two of cnn_fast did: the same arithmetic,
    # done faster by wider layers, one test pass (benchmarks/RESULTS.md, "Issue 30")
    "mnist-speedrun": TrainConfig(
        **_SMOOTH,
        model="cnn",
        lr=0.01,
        sqr_mom=0.99,
        epochs=1,
        bf16=True,
        model_kwargs={"widths": [16, 32, 128]},
    ),
    "mnist-best": TrainConfig(
        **_SMOOTH,
        model="cnn_best",
        lr=0.003,
        epochs=14,
        augment=True,
        model_kwargs={"widths": [48, 96, 192]},  # a list: what run.json gives back
    ),
    "sample-cnn": TrainConfig(
        **{**_CNN, "dataset": "mnist_sample"},
        model="cnn",
        loss="bce",
        lr=0.01,
        epochs=6,
        augment=True,
    ),
    # cnn_vgg with Fashion-MNIST's augmentation (whole-pixel shifts and mirrors), label
    # smoothing and bf16: 14.1 minutes on two threads (OMP_NUM_THREADS=2) of a 2-core CPU
    # (benchmarks/RESULTS.md, "fashion-best as now")
    "fashion-best": TrainConfig(
        **{**_SMOOTH, "dataset": "fashion_mnist"},
        model="cnn_vgg",
        lr=0.003,
        epochs=20,
        augment=True,
        bf16=True,
    ),
}

SUMMARIES: dict[str, str] = {name: text("en", f"recipe.{name}") for name in RECIPES}
"""One line per recipe; its words live in the catalogues (``i18n/en.json``, ``ko.json``)."""


def recipe_names() -> list[str]:
    """The names ``get_recipe`` accepts."""
    return list(RECIPES)


def get_recipe(name: str) -> TrainConfig:
    """The recipe called ``name``; a ValueError lists the valid names."""
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; choose one of: {', '.join(RECIPES)}")
    recipe = RECIPES[name]
    return replace(recipe, model_kwargs=dict(recipe.model_kwargs))  # a copy: recipes stay frozen


def options(name: str) -> dict[str, object]:
    """The recipe's options that differ from the seed's defaults, by field name."""
    recipe, default = get_recipe(name), TrainConfig()
    return {
        f.name: getattr(recipe, f.name)
        for f in fields(TrainConfig)
        if getattr(recipe, f.name) != getattr(default, f.name)
    }


def describe(name: str) -> str:
    """One line: the name, what it is for, and the options it sets.

    ``describe("mnist-fast")`` ->
    ``"mnist-fast: small CNN ... | dataset=mnist model=cnn loss=cross_entropy ..."``
    """
    return f"{name}: {SUMMARIES.get(name, '')} | {setting_text(options(name))}"


def setting_text(settings: dict[str, object]) -> str:
    """``key=value`` pairs on one line (``(the defaults)`` when there are none)."""
    return " ".join(f"{k}={_text(v)}" for k, v in settings.items()) or "(the defaults)"


def _text(value: object) -> str:
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{v}" for k, v in value.items()) + "}"
    return str(value).lower() if isinstance(value, bool) else str(value)
