"""fastai's DataLoader and Learner on the seed's data, run in the peer venv; prints one JSON object.

Usage (from benchmarks/bench_peers.py, in the venv benchmarks/peers/setup.sh makes)::

    /work/peer-venv/bin/python benchmarks/peers/fastai_loops.py DATA.pt \
        --models linear simple_net --epochs 5 --rounds 3 --threads 2

``DATA.pt`` holds the uint8 images and int64 labels our process loaded
(``train_images``, ``train_labels``, ``valid_images``, ``valid_labels``), so both
processes train on the same pixels. This process measures its own bare loop
(the same code as ours, ``loops.py``) so the caller can compare ratios, not
absolute times across two torch versions.

Output: ``{"torch": ..., "fastai": ..., "import_s": ..., "results": {model:
{"bare": [s/epoch, acc], "fastai_dl": [...], "fastai_learner": [...]}}}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loops import LR, accuracy, best_per_epoch, fit_bare, fit_loader, mnist_loss, new_model


def batch_accuracy(xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
    """The chapter's metric, as the book defines it for fastai's Learner."""
    return ((xb.sigmoid() > 0.5) == yb).float().mean()


def seed_data(path: Path) -> tuple[torch.Tensor, ...]:
    """The seed's ``train_x, train_y, valid_x, valid_y`` from the saved uint8 tensors."""
    saved = torch.load(path)

    def xy(split: str) -> tuple[torch.Tensor, torch.Tensor]:
        x = saved[f"{split}_images"].view(-1, 28 * 28).float() / 255
        return x, (saved[f"{split}_labels"] == 0).long().unsqueeze(1)

    return (*xy("train"), *xy("valid"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--models", nargs="+", default=["linear", "simple_net"])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    start = time.perf_counter()
    import fastai
    import fastai.callback.progress
    from fastai.data.core import DataLoaders
    from fastai.data.load import DataLoader
    from fastai.learner import Learner
    from fastai.optimizer import SGD

    import_s = time.perf_counter() - start
    data = seed_data(args.data)

    def fastai_loader(dataset: list, shuffle: bool) -> DataLoader:
        return DataLoader(dataset, bs=256, shuffle=shuffle)

    def fit_learner(name: str) -> tuple[float, float]:
        model = new_model(name, 42)
        train_x, train_y, valid_x, valid_y = data
        dls = DataLoaders(
            fastai_loader(list(zip(train_x, train_y, strict=True)), True),
            fastai_loader(list(zip(valid_x, valid_y, strict=True)), False),
        )
        learn = Learner(dls, model, opt_func=SGD, loss_func=mnist_loss, metrics=batch_accuracy)
        with learn.no_bar(), learn.no_logging():
            start = time.perf_counter()
            learn.fit(args.epochs, lr=LR[name])
            seconds = (time.perf_counter() - start) / args.epochs
        return seconds, accuracy(model, valid_x, valid_y)

    results = {}
    for name in args.models:
        contenders = {
            "bare": lambda name=name: fit_bare(data, name, args.epochs),
            "fastai_dl": lambda name=name: fit_loader(data, name, args.epochs, fastai_loader),
            "fastai_learner": lambda name=name: fit_learner(name),
        }
        results[name] = best_per_epoch(contenders, args.rounds)
    print(
        json.dumps(
            {
                "torch": torch.__version__,
                "fastai": fastai.__version__,
                "threads": torch.get_num_threads(),
                "import_s": import_s,
                "results": results,
            }
        )
    )


if __name__ == "__main__":
    main()
