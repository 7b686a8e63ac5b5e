"""mnist-sgd: fastbook chapter 4's digit classifier, trained with SGD from scratch.

The chapter's pieces under the chapter's names, small and composable as in
the book: ``init_params``, ``linear1``, ``mnist_loss``, ``sigmoid``,
``batch_accuracy``, ``DataLoader``, ``BasicOptim``/``SGD``, ``Learner``,
``simple_net``.
"""

from mnist_sgd.data import (
    DataLoader,
    DataLoaders,
    ImageDataset,
    TensorDataset,
    binary_target,
    collate,
    seed_tensors,
    to_input,
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
from mnist_sgd.model import Linear1, PixelSimilarity, get_model, init_params, linear1, simple_net
from mnist_sgd.nets import cnn, cnn_best, mlp
from mnist_sgd.optim import SGD, Adam, BasicOptim
from mnist_sgd.schedule import one_cycle

__version__ = "0.1.0"

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
    "collate",
    "confusion_matrix",
    "cross_entropy",
    "get_model",
    "init_params",
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
