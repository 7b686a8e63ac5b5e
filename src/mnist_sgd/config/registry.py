"""The registries' names, as plain tuples: what ``--help`` and ``TrainConfig`` check against.

These modules import no torch, so parsing and ``--help`` stay quick. The registries that
hold the real objects (``model.get_model``'s models, ``loss.LOSSES``,
``training.OPTIMIZERS``, ``schedule.SCHEDULES``) use the same names in the same order;
``tests/test_names.py`` asserts they agree.
"""

from __future__ import annotations

MODEL_NAMES = ("linear", "simple_net", "mlp", "cnn", "cnn_fast", "cnn_best", "cnn_vgg")
LOSS_NAMES = ("mnist_loss", "bce", "cross_entropy", "label_smoothing")
BINARY_LOSS_NAMES = frozenset({"mnist_loss", "bce"})
OPTIMISER_NAMES = ("sgd", "basic", "adam")
SCHEDULE_NAMES = ("constant", "one_cycle", "warmup_cosine")
DEVICE_NAMES = ("auto", "cpu", "cuda", "mps")


def check_name(kind: str, name: str, names: tuple[str, ...]) -> None:
    """A ValueError naming the valid choices when ``name`` is not one of ``names``."""
    if name not in names:
        raise ValueError(f"unknown {kind} {name!r}; choose one of: {', '.join(names)}")
