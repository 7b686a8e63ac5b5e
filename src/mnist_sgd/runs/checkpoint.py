"""The resume point: ``checkpoint.safetensors``, saved each epoch and on a stop request."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from torch import Tensor

from mnist_sgd.callbacks.resume import state
from mnist_sgd.core.callback import Callback, CancelFitException
from mnist_sgd.core.learner import Learner
from mnist_sgd.errors import ModelFileError
from mnist_sgd.runs.info import CHECKPOINT_FILE, FORMAT, write_history
from mnist_sgd.runs.load import save_model
from mnist_sgd.runs.safejson import loads
from mnist_sgd.runs.tensors import read_tensors, save_tensors


def save_checkpoint(run_dir: Path, learn: Learner) -> None:
    """Write everything needed to resume to ``checkpoint.safetensors`` (one atomic file)."""
    tensors, facts = state(learn)
    save_tensors(
        Path(run_dir) / CHECKPOINT_FILE, tensors, {"format": FORMAT, "facts": json.dumps(facts)}
    )


def load_checkpoint(run_dir: Path) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Read ``checkpoint.safetensors``: (tensors, facts) for ``callbacks.resume.load_state``."""
    path = Path(run_dir) / CHECKPOINT_FILE
    if not path.exists():
        raise ModelFileError(
            f"{run_dir}: holds no {CHECKPOINT_FILE}, so there is nothing to resume"
        )
    tensors, metadata = read_tensors(path)
    if "facts" not in metadata:
        raise ModelFileError(f"{path}: has no resume facts; it was not written by mnist-sgd")
    facts = loads(metadata["facts"], f"{path} (resume facts)", max_depth=4)
    check_facts(facts, path)
    return tensors, facts


MAX_EPOCHS = 1_000_000


def check_facts(facts: Any, path: Path) -> None:
    """Refuse resume facts of the wrong types or sizes: epoch, batch, one record an epoch."""
    ok = isinstance(facts, dict) and all(
        type(facts.get(k)) is int and 0 <= facts[k] <= MAX_EPOCHS for k in ("epoch", "iter")
    )
    history = facts.get("history") if ok else None
    ok = ok and isinstance(history, list) and len(history) == facts["epoch"]
    ok = (
        ok
        and isinstance(history, list)
        and all(
            isinstance(r, dict)
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in r.values())
            for r in history
        )
    )
    if not ok:
        raise ModelFileError(
            f"{path}: its resume facts are damaged (epoch, batch or history); "
            "this run cannot be resumed"
        )


class SaveEachEpoch(Callback):
    """After every epoch: model, metrics and checkpoint, each written atomically."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)

    def after_epoch(self, learn: Learner) -> None:
        save_model(self.run_dir, learn.model)
        write_history(self.run_dir, learn.history)
        save_checkpoint(self.run_dir, learn)


class StopOnRequest(Callback):
    """Stop cleanly after the current batch once ``request()`` was called (SIGINT, SIGTERM).

    It saves a mid-epoch checkpoint first, so ``fit(resume=True)`` continues
    with exactly the batches and weights an uninterrupted run would have had.
    ``save=False`` stops without saving (a worker that is not the run's writer).
    Between processes (``distributed.DataParallel``) the ranks first agree on the
    batch to stop at and set ``agreed``; a request then stops only through it.
    """

    def __init__(self, run_dir: Path, save: bool = True) -> None:
        self.run_dir, self.save, self.asked, self.stopped = Path(run_dir), save, False, False
        self.agreed: bool | None = None  # None: one process, a request stops at once

    def request(self) -> None:
        """Ask for a stop (safe from a signal handler: it only sets a flag)."""
        self.asked = True

    @property
    def requested(self) -> bool:
        """Whether to stop after this batch."""
        return self.asked if self.agreed is None else self.agreed

    def after_batch(self, learn: Learner) -> None:
        self._stop_if_requested(learn)

    def after_epoch(self, learn: Learner) -> None:
        self._stop_if_requested(learn)

    def _stop_if_requested(self, learn: Learner) -> None:
        if self.requested:
            if self.save:
                save_checkpoint(self.run_dir, learn)
            self.stopped = True
            raise CancelFitException
