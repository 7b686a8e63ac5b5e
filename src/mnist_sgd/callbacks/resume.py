"""Resuming a fit exactly: the state a checkpoint holds, and the callback that replays an epoch.

Not in the book. A fit stopped mid-epoch (Ctrl-C, a crash, a full disk) goes on with the same
batches and steps as one never stopped: :class:`Resume` remembers the random state each epoch's
order was drawn from, and after :func:`load_state` replays that order from the next batch.
:func:`state` is everything needed: the model, the optimiser, the RNGs, the epoch, the batch and
the epoch's losses so far, as named tensors and JSON-able facts (``runs.checkpoint`` writes them).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor

from mnist_sgd.core.callback import Callback
from mnist_sgd.core.data import DataLoader
from mnist_sgd.core.learner import Learner
from mnist_sgd.errors import TrainingError


class Resume(Callback):
    """Keeps the RNG state this epoch's order was drawn from; replays it when resuming."""

    def __init__(self) -> None:
        self.epoch_rng: Tensor | None = None

    def before_epoch(self, learn: Learner) -> None:
        dl = learn.dls.train
        if not isinstance(dl, DataLoader):
            return
        own = dl.rng_state()  # None: the loader shuffles with the global RNG
        if learn.iter == 0:
            self.epoch_rng = own if own is not None else torch.get_rng_state()
            return
        if self.epoch_rng is None:
            raise TrainingError("cannot resume mid-epoch: the saved state has no 'rng.epoch'")
        learn.batches = replay(dl, self.epoch_rng, learn.iter, own is not None)


def replay(dl: DataLoader, rng: Tensor, start: int, own: bool) -> Iterator[Any]:
    """The batches of the epoch whose order was drawn from ``rng``, from batch ``start`` on."""
    if own:
        dl.set_rng_state(rng)
        return dl.batches(start, order=dl.order())
    now = torch.get_rng_state()  # draw the order again without moving the global RNG
    torch.set_rng_state(rng)
    order = dl.order()
    torch.set_rng_state(now)
    return dl.batches(start, order=order)


def resume_callback(learn: Learner) -> Resume:
    """``learn``'s :class:`Resume` callback, added after the recorder if it has none."""
    found = next((cb for cb in learn.cbs if isinstance(cb, Resume)), None)
    if found is None:
        found = Resume()
        learn.cbs.insert(1, found)  # after the recorder, before the rest
    return found


def state(learn: Learner) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Everything needed to resume ``learn``: named tensors (copies) and JSON-able facts."""
    assert learn.opt is not None, "state() needs fit() to have started"
    model, opt = learn.model.state_dict(), learn.opt.state_tensors()
    tensors = {f"model.{k}": v.detach().cpu().clone() for k, v in model.items()}
    tensors.update({f"opt.{k}": v.detach().cpu().clone() for k, v in opt.items()})
    tensors["rng.torch"] = torch.get_rng_state()
    dl = learn.dls.train
    loader_rng = dl.rng_state() if isinstance(dl, DataLoader) else None
    if loader_rng is not None:
        tensors["rng.loader"] = loader_rng
    kept = next((cb for cb in learn.cbs if isinstance(cb, Resume)), None)  # none: not mid-epoch
    epoch_rng = kept.epoch_rng if kept is not None else None
    if learn.iter and epoch_rng is not None:
        tensors["rng.epoch"] = epoch_rng.clone()
        tensors["epoch.losses"] = learn.epoch_losses()
    facts: dict[str, Any] = {
        "epoch": learn.epoch,
        "iter": learn.iter,
        "lr": learn.lr,
        "n_epoch": learn.n_epoch,
    }
    facts["history"] = [dict(record) for record in learn.history]
    return tensors, facts


def load_state(
    learn: Learner, tensors: dict[str, Tensor], facts: dict[str, Any], lr: float
) -> None:
    """Restore :func:`state`; then ``learn.fit(..., resume=True)`` goes on where it stopped."""
    learn.model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    learn.opt = learn.opt_func(learn.model.parameters(), lr)
    learn.opt.load_state_tensors({k[4:]: v for k, v in tensors.items() if k.startswith("opt.")})
    torch.set_rng_state(tensors["rng.torch"])
    if "rng.loader" in tensors and isinstance(learn.dls.train, DataLoader):
        learn.dls.train.set_rng_state(tensors["rng.loader"])
    resume_callback(learn).epoch_rng = tensors.get("rng.epoch")
    learn.epoch, learn.iter = int(facts["epoch"]), int(facts["iter"])
    learn.history = [dict(record) for record in facts["history"]]
    rows = tensors.get("epoch.losses", torch.zeros(0, 2))
    learn.batch_losses = list(rows[:, 0].clone().unbind())
    learn.batch_sizes = [int(size) for size in rows[:, 1].tolist()]
