"""The notebook's verbs, as fastai names them, attached to the chapter's ``Learner`` from above.

``core/learner.py`` stays the loop the chapter writes; what a notebook also asks of a
learner lives in the modules that own it and is attached here, once, the way fastai grows
its ``Learner`` (``@patch``): ``learn.fit_one_cycle(n, lr_max)`` (``fit`` under
:func:`mnist_sgd.core.schedule.one_cycle`), ``learn.lr_find()``
(:mod:`mnist_sgd.callbacks.lr_find`),
``learn.predict(item)`` (:class:`mnist_sgd.predict.predictor.Predictor`),
``learn.show_results()`` and ``dls.show_batch()`` (:mod:`mnist_sgd.pictures.interpret`),
``learn.export(path)`` (:mod:`mnist_sgd.runs.export`), and in Jupyter a live progress
table for every ``Learner`` (:mod:`mnist_sgd.callbacks.progress`).
``mnist_sgd.Learner`` and ``mnist_sgd.book`` import this module, so the verbs are there
whichever way a notebook reaches the ``Learner``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from torch import Tensor

from mnist_sgd.callbacks import lr_find as finder
from mnist_sgd.callbacks.progress import NotebookProgress, in_notebook, notebook_callbacks
from mnist_sgd.core.data import DataLoaders
from mnist_sgd.core.learner import Learner
from mnist_sgd.core.schedule import one_cycle
from mnist_sgd.predict.image_files import ImageSource
from mnist_sgd.predict.predictor import Predictor

__all__ = ["Learner"]


def fit_one_cycle(self: Learner, n_epoch: int, lr_max: float = 1e-3) -> list[dict[str, float]]:
    """``fit`` under fastai's 1cycle schedule peaking at ``lr_max`` (fastai's default 1e-3)."""
    kept, self.lr_schedule = self.lr_schedule, one_cycle
    try:
        return Learner.fit(self, n_epoch, lr_max)
    finally:
        self.lr_schedule = kept


def lr_find(
    self: Learner,
    start_lr: float = finder.START_LR,
    end_lr: float = finder.END_LR,
    num_it: int = finder.NUM_IT,
    stop_div: bool = True,
    beta: float = finder.BETA,
    show_plot: bool = True,
) -> finder.LRFindResult:
    """The learning-rate finder; the learner is left as it was. ``.suggestion`` is the lr to use.

    In a notebook it shows a progress bar and the plot (loss against lr, the suggestion marked).
    """
    bar = [NotebookProgress(table=False)] if in_notebook() else []
    result = finder.lr_find(self, start_lr, end_lr, num_it, stop_div, beta, cbs=bar)
    if show_plot and in_notebook():
        from mnist_sgd.pictures.plots import plot_lr_find
        from mnist_sgd.pictures.show import show_png

        with tempfile.TemporaryDirectory() as folder:
            png = Path(folder) / "lr_find.png"
            show_png(plot_lr_find(result.lrs, result.losses, png, result.suggestion))
    return result


def predict(self: Learner, item: ImageSource | Tensor) -> tuple[str, int, Tensor]:
    """``(label, index, probabilities)`` for one image file or ``(28, 28)`` tensor."""
    self.model.eval()
    return Predictor(self.model, getattr(self.dls, "vocab", None)).predict(item)


def show_results(self: Learner, n: int = 9, ncols: int = 3) -> Any:
    """The first ``n`` validation images, ``actual/predicted`` over each (a figure)."""
    from mnist_sgd.pictures.interpret import show_results as draw

    return draw(self, n, ncols)


def export(self: Learner, path: str | Path, **facts: Any) -> Path:
    """Write a run folder that ``mnist-sgd predict``/``evaluate``/``report``/``serve`` read.

    See :func:`mnist_sgd.runs.export.export` for ``facts`` (dataset, classes, loss).
    """
    from mnist_sgd.runs.export import export as write

    return write(self, path, **facts)


def show_batch(self: DataLoaders, n: int = 9, ncols: int = 3) -> Any:
    """The first ``n`` training items with their targets (a figure)."""
    from mnist_sgd.pictures.interpret import show_batch as draw

    return draw(self.train, n, ncols, self.vocab)


for _verb in (fit_one_cycle, lr_find, predict, show_results, export):
    setattr(Learner, _verb.__name__, _verb)
DataLoaders.show_batch = show_batch  # type: ignore[attr-defined]
if notebook_callbacks not in Learner.default_cbs:
    Learner.default_cbs.append(notebook_callbacks)
