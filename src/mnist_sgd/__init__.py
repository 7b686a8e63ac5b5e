"""mnist-sgd: fastbook chapter 4's digit classifier, trained with SGD from scratch.

The chapter's pieces under the chapter's names, small and composable as in
the book: ``init_params``, ``linear1``, ``mnist_loss``, ``sigmoid``,
``batch_accuracy``, ``DataLoader``, ``BasicOptim``/``SGD``, ``Learner``,
``simple_net``.

Import policy (one for the whole package): PyTorch and matplotlib take seconds
to import, so nothing pays for them before it needs them.

- ``import mnist_sgd`` (and ``mnist_sgd.datasets``) is cheap: the names below are
  lazy attributes (PEP 562, ``mnist_sgd.lazy``); ``mnist_sgd.Learner`` imports
  ``mnist_sgd.learner``, and with it torch, on first use.
- A library module imports what it needs at its top, torch included. The
  torch-free ones, which ``--help`` and the light commands use, are ``names``
  (the registries' names), ``config`` (``TrainConfig``), ``recipes``, ``errors``,
  ``files``, ``datasets.registry``/``layout``/``status`` and ``cli.common``;
  ``tests/test_imports.py`` holds them to it.
- matplotlib is imported by ``plots`` only, inside the functions that draw.
- Each CLI command module imports the library inside its ``run`` (so building
  the parser, ``--help`` included, stays torch-free).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mnist_sgd.lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    "DataLoader": "mnist_sgd.data",
    "DataLoaders": "mnist_sgd.data",
    "ImageDataset": "mnist_sgd.data",
    "TensorDataset": "mnist_sgd.data",
    "binary_target": "mnist_sgd.data",
    "collate": "mnist_sgd.data",
    "seed_tensors": "mnist_sgd.data",
    "to_input": "mnist_sgd.data",
    "Callback": "mnist_sgd.learner",
    "CancelFitException": "mnist_sgd.learner",
    "Learner": "mnist_sgd.learner",
    "calc_grad": "mnist_sgd.learner",
    "train_epoch": "mnist_sgd.learner",
    "validate_epoch": "mnist_sgd.learner",
    "binary_cross_entropy": "mnist_sgd.loss",
    "cross_entropy": "mnist_sgd.loss",
    "label_smoothing": "mnist_sgd.loss",
    "log_softmax": "mnist_sgd.loss",
    "mnist_loss": "mnist_sgd.loss",
    "mnist_loss_on_probs": "mnist_sgd.loss",
    "nll_loss": "mnist_sgd.loss",
    "sigmoid": "mnist_sgd.loss",
    "softmax": "mnist_sgd.loss",
    "lr_find": "mnist_sgd.lr_find",
    "accuracy": "mnist_sgd.metrics",
    "batch_accuracy": "mnist_sgd.metrics",
    "confusion_matrix": "mnist_sgd.metrics",
    "per_class_accuracy": "mnist_sgd.metrics",
    "Linear1": "mnist_sgd.model",
    "PixelSimilarity": "mnist_sgd.model",
    "get_model": "mnist_sgd.model",
    "init_params": "mnist_sgd.model",
    "linear1": "mnist_sgd.model",
    "simple_net": "mnist_sgd.model",
    "cnn": "mnist_sgd.nets",
    "cnn_best": "mnist_sgd.nets",
    "cnn_fast": "mnist_sgd.nets",
    "cnn_vgg": "mnist_sgd.nets",
    "mlp": "mnist_sgd.nets",
    "SGD": "mnist_sgd.optim",
    "Adam": "mnist_sgd.optim",
    "BasicOptim": "mnist_sgd.optim",
    "one_cycle": "mnist_sgd.schedule",
}
lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from mnist_sgd.data import (
        DataLoader,
        DataLoaders,
        ImageDataset,
        TensorDataset,
        binary_target,
        collate,
        seed_tensors,
    )
    from mnist_sgd.learner import (
        Callback,
        CancelFitException,
        Learner,
        calc_grad,
        train_epoch,
        validate_epoch,
    )
    from mnist_sgd.loss import (
        binary_cross_entropy,
        cross_entropy,
        log_softmax,
        mnist_loss,
        mnist_loss_on_probs,
        nll_loss,
        sigmoid,
        softmax,
    )
    from mnist_sgd.lr_find import lr_find
    from mnist_sgd.metrics import accuracy, batch_accuracy, confusion_matrix, per_class_accuracy
    from mnist_sgd.model import (
        Linear1,
        PixelSimilarity,
        get_model,
        init_params,
        linear1,
        simple_net,
    )
    from mnist_sgd.nets import cnn, cnn_best, cnn_fast, cnn_vgg, mlp
    from mnist_sgd.optim import SGD, Adam, BasicOptim
    from mnist_sgd.schedule import one_cycle

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
