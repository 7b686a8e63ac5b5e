"""fastbook chapter 4 the book's way, with fastai, as one script (the peer of ``mnist-sgd train``).

    /work/peer-venv/bin/python benchmarks/peers/fastai_notebook.py PATH [--epochs 20] [--lr 1.0]

``PATH`` is the extracted MNIST_SAMPLE folder (``train/3``, ``train/7``,
``valid/3``, ``valid/7``), the same PNG files ``mnist-sgd`` reads; no download,
no ``untar_data``. The code is the chapter's, cell by cell: every image opened
with PIL and turned into a tensor, stacked, flattened, a list of ``(x, y)``
pairs, fastai's ``DataLoader``, ``Learner`` with the linear model, ``fit``
(which prints its table, as in the notebook).
"""

# ruff: noqa: F403, F405  (the book's star import, kept as the notebook has it)
import argparse
from pathlib import Path

from fastai.vision.all import *  # the book's import


def stacked(folder: Path) -> "torch.Tensor":
    """The book's ``torch.stack([tensor(Image.open(o)) for o in path.ls().sorted()])``, /255."""
    tensors = [tensor(Image.open(o)) for o in folder.ls().sorted()]
    return torch.stack(tensors).float() / 255


def mnist_loss(predictions, targets):
    predictions = predictions.sigmoid()
    return torch.where(targets == 1, 1 - predictions, predictions).mean()


def batch_accuracy(xb, yb):
    preds = xb.sigmoid()
    correct = (preds > 0.5) == yb
    return correct.float().mean()


def split(path: Path) -> list:
    """The seed's ``dset = list(zip(x, y))`` for one split (1 = "3")."""
    threes, sevens = stacked(path / "3"), stacked(path / "7")
    x = torch.cat([threes, sevens]).view(-1, 28 * 28)
    y = tensor([1] * len(threes) + [0] * len(sevens)).unsqueeze(1)
    return list(zip(x, y, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--lr", type=float, default=1.0)
    args = parser.parse_args()
    dl = DataLoader(split(args.path / "train"), batch_size=256)
    valid_dl = DataLoader(split(args.path / "valid"), batch_size=256)
    dls = DataLoaders(dl, valid_dl)
    learn = Learner(
        dls,
        nn.Linear(28 * 28, 1),
        opt_func=SGD,
        loss_func=mnist_loss,
        metrics=batch_accuracy,
    )
    learn.fit(args.epochs, lr=args.lr)


if __name__ == "__main__":
    main()
