"""mnist-sgd: fastbook chapter 4's digit classifier, trained with SGD from scratch.

The chapter's pieces under the chapter's names, small and composable as in
the book: ``init_params``, ``linear1``, ``mnist_loss``, ``sigmoid``,
``batch_accuracy``, ``DataLoader``, ``BasicOptim``/``SGD``, ``Learner``,
``simple_net``.

Import policy (one for the whole package): PyTorch and matplotlib take seconds
to import, so nothing pays for them before it needs them.

- ``import mnist_sgd`` (and ``mnist_sgd.datasets``) is cheap: the names below are
  lazy attributes (PEP 562, ``mnist_sgd.lazy``); ``mnist_sgd.Learner`` imports
  ``mnist_sgd.core.learner``, and with it torch, on first use.
- A library module imports what it needs at its top, torch included. The
  torch-free ones, which ``--help`` and the light commands use, are
  ``config.registry`` (every registry by name), ``config.train_config``
  (``TrainConfig``), ``config.recipes``, ``errors``, ``files``,
  ``datasets.registry``/``layout``/``status`` and ``cli.common``;
  ``tests/cli/test_cli_imports.py`` holds them to it.
- matplotlib is imported by ``plots`` only, inside the functions that draw.
- Each CLI command module imports the library inside its ``run`` (so building
  the parser, ``--help`` included, stays torch-free).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mnist_sgd.lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    "DataLoader": "mnist_sgd.core.data",
    "DataLoaders": "mnist_sgd.core.data",
    "ImageDataset": "mnist_sgd.core.data",
    "TensorDataset": "mnist_sgd.core.data",
    "binary_target": "mnist_sgd.core.data",
    "collate": "mnist_sgd.core.data",
    "seed_tensors": "mnist_sgd.core.data",
    "to_input": "mnist_sgd.core.data",
    "Callback": "mnist_sgd.core.callback",
    "CancelFitException": "mnist_sgd.core.callback",
    "Learner": "mnist_sgd.verbs",
    "calc_grad": "mnist_sgd.core.learner",
    "train_epoch": "mnist_sgd.core.learner",
    "validate_epoch": "mnist_sgd.core.learner",
    "binary_cross_entropy": "mnist_sgd.core.loss",
    "cross_entropy": "mnist_sgd.core.loss",
    "label_smoothing": "mnist_sgd.core.loss",
    "log_softmax": "mnist_sgd.core.loss",
    "mnist_loss": "mnist_sgd.core.loss",
    "mnist_loss_on_probs": "mnist_sgd.core.loss",
    "nll_loss": "mnist_sgd.core.loss",
    "sigmoid": "mnist_sgd.core.loss",
    "softmax": "mnist_sgd.core.loss",
    "lr_find": "mnist_sgd.callbacks.lr_find",
    "accuracy": "mnist_sgd.core.metrics",
    "batch_accuracy": "mnist_sgd.core.metrics",
    "confusion_matrix": "mnist_sgd.core.metrics",
    "per_class_accuracy": "mnist_sgd.core.metrics",
    "Linear1": "mnist_sgd.core.model",
    "PixelSimilarity": "mnist_sgd.core.model",
    "get_model": "mnist_sgd.config.registry",
    "init_params": "mnist_sgd.core.model",
    "linear1": "mnist_sgd.core.model",
    "simple_net": "mnist_sgd.core.model",
    "cnn": "mnist_sgd.core.nets",
    "cnn_best": "mnist_sgd.core.nets",
    "cnn_fast": "mnist_sgd.core.nets",
    "cnn_vgg": "mnist_sgd.core.nets",
    "mlp": "mnist_sgd.core.nets",
    "SGD": "mnist_sgd.core.optim",
    "Adam": "mnist_sgd.core.optim",
    "BasicOptim": "mnist_sgd.core.optim",
    "one_cycle": "mnist_sgd.core.schedule",
}
lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from mnist_sgd.callbacks.lr_find import lr_find
    from mnist_sgd.config.registry import get_model
    from mnist_sgd.core.callback import Callback, CancelFitException
    from mnist_sgd.core.data import (
        DataLoader,
        DataLoaders,
        ImageDataset,
        TensorDataset,
        binary_target,
        collate,
        seed_tensors,
    )
    from mnist_sgd.core.learner import (
        calc_grad,
        train_epoch,
        validate_epoch,
    )
    from mnist_sgd.core.loss import (
        binary_cross_entropy,
        cross_entropy,
        log_softmax,
        mnist_loss,
        mnist_loss_on_probs,
        nll_loss,
        sigmoid,
        softmax,
    )
    from mnist_sgd.core.metrics import (
        accuracy,
        batch_accuracy,
        confusion_matrix,
        per_class_accuracy,
    )
    from mnist_sgd.core.model import Linear1, PixelSimilarity, init_params, linear1, simple_net
    from mnist_sgd.core.nets import cnn, cnn_best, cnn_fast, cnn_vgg, mlp
    from mnist_sgd.core.optim import SGD, Adam, BasicOptim
    from mnist_sgd.core.schedule import one_cycle
    from mnist_sgd.verbs import Learner

__all__ = [
    "SGD",
    "Adam",
    "BasicOptim",
    "Callback",
    "CancelFitException",
    "DataLoader",
    "DataLoaders",
    "ImageDataset",
    "Learner",
    "Linear1",
    "PixelSimilarity",
    "TensorDataset",
    "__version__",
    "accuracy",
    "batch_accuracy",
    "binary_cross_entropy",
    "binary_target",
    "calc_grad",
    "cnn",
    "cnn_best",
    "cnn_fast",
    "cnn_vgg",
    "collate",
    "confusion_matrix",
    "cross_entropy",
    "get_model",
    "init_params",
    "label_smoothing",
    "linear1",
    "log_softmax",
    "lr_find",
    "mlp",
    "mnist_loss",
    "mnist_loss_on_probs",
    "nll_loss",
    "one_cycle",
    "per_class_accuracy",
    "seed_tensors",
    "sigmoid",
    "simple_net",
    "softmax",
    "to_input",
    "train_epoch",
    "validate_epoch",
]
