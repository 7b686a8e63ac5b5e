"""``learn.export(path)``: a notebook's ``Learner`` as a run folder the CLI and the web accept.

The folder is what ``mnist-sgd train`` writes (``run.json`` from
:func:`describe_run` with status ``done``, ``model.safetensors``,
``metrics.jsonl``, ``init.safetensors``, ``plots/history.png``): safetensors only, no pickle, so
loading runs no code. The library's ``Linear1`` is recorded by its registry
name (``linear``); a standard layer or an ``nn.Sequential`` of them (the book's
``nn.Linear(28*28,1)`` alone, ``simple_net``, the library's MLP and CNNs) as a
small JSON list of layers (:mod:`mnist_sgd.runs.layers`). ``load_learner``
reads any run folder back as a ``Learner`` that predicts the same.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from mnist_sgd.files import atomic_dir
from mnist_sgd.runs.curves import draw_curves
from mnist_sgd.runs.folder import check_new
from mnist_sgd.runs.info import describe_run, write_history, write_run_info
from mnist_sgd.runs.layers import model_spec
from mnist_sgd.runs.load import load_run, save_initial, save_model

if TYPE_CHECKING:
    from mnist_sgd.core.learner import Learner


def export(
    learn: Learner,
    path: str | Path,
    *,
    dataset: str = "mnist_sample",
    classes: list[str] | None = None,
    loss: str | None = None,
) -> Path:
    """Write ``learn`` as a new run folder at ``path``; return it.

    Args:
        dataset: the registry name of the data it was trained on (``evaluate`` scores on it).
        classes: class names (default ``learn.dls.vocab``, else the dataset's; a binary
            model's output > 0 is ``classes[0]``, as the book's target 1 is a 3).
        loss: a registered loss name (default the loss function's ``__name__``).
    """
    path = Path(path)
    check_new(path)
    info = export_info(learn, dataset, classes, loss)
    final = learn.history[-1] if learn.history else {}
    with atomic_dir(path) as folder:
        save_model(folder, learn.model)
        save_initial(folder, learn.initial_state)
        write_history(folder, learn.history)
        write_run_info(folder, {**info, "status": "done", "final": final})
    if learn.history and (warning := draw_curves(path, learn.history)) is not None:
        warnings.warn(warning, stacklevel=2)  # the run folder is whole without its curves
    return path


def export_info(
    learn: Learner, dataset: str, classes: list[str] | None, loss: str | None
) -> dict[str, Any]:
    """``run.json``'s facts for ``learn`` (see :func:`export` for the arguments)."""
    from mnist_sgd.config.registry import LOSSES
    from mnist_sgd.datasets import get_info

    spec = model_spec(learn.model)
    names = list(classes or getattr(learn.dls, "vocab", None) or get_info(dataset).classes)
    loss_name = loss or getattr(learn.loss_func, "__name__", "")
    if loss_name not in LOSSES:
        raise ValueError(f"name the loss: export(..., loss=...), one of: {', '.join(LOSSES)}")
    metrics = [m.__name__ for m in learn.metrics]
    return describe_run(dataset=dataset, classes=names, model=spec, loss=loss_name, metrics=metrics)


def load_learner(path: str | Path, device: str | torch.device = "cpu") -> Learner:
    """A ``Learner`` holding a run folder's model (no data: ``predict`` and ``export`` work)."""
    from mnist_sgd.config.registry import get_loss
    from mnist_sgd.core.data import DataLoader, DataLoaders
    from mnist_sgd.core.learner import Learner

    run = load_run(path, device)
    empty = DataLoader([], batch_size=1)
    dls = DataLoaders(empty, empty, vocab=run.classes)
    return Learner(dls, run.model, loss_func=get_loss(run.info["loss"]))
