"""A run folder's lifecycle: create it, train into it, save each epoch, stop, resume, finish.

``RunTrainer`` is what ``mnist-sgd train`` (and the studio) run: it builds the
``Learner`` for a ``TrainConfig``, writes ``run.json`` with its status
(``running``, ``interrupted``, ``done``), saves model, metrics and checkpoint
after every epoch, and on ``request_stop()`` saves a mid-epoch checkpoint that
``resume_point`` picks up, so a resumed run ends with exactly the weights of
an uninterrupted one.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mnist_sgd.errors import ModelFileError
from mnist_sgd.learner import Callback, Learner
from mnist_sgd.runs.checkpoint import SaveEachEpoch, StopOnRequest, load_checkpoint
from mnist_sgd.runs.info import (
    CHECKPOINT_FILE,
    RUN_FILE,
    describe_run,
    read_run_info,
    write_run_info,
)
from mnist_sgd.runs.load import save_initial

if TYPE_CHECKING:
    import torch

    from mnist_sgd.datasets import MnistData
    from mnist_sgd.training import TrainConfig

Checkpoint = tuple[dict[str, Any], dict[str, Any]]


def default_run_dir(config: TrainConfig, root: Path = Path("runs")) -> Path:
    """``runs/DATASET-MODEL-YYYYmmdd-HHMMSS``."""
    return root / f"{config.dataset}-{config.model}-{time.strftime('%Y%m%d-%H%M%S')}"


def check_new(run_dir: Path) -> None:
    """Refuse a folder that already holds a run (it would be overwritten)."""
    if (Path(run_dir) / RUN_FILE).exists():
        raise ValueError(
            f"{run_dir} already holds a run; choose another --out, or --resume {run_dir}"
        )


def resume_point(run_dir: Path) -> tuple[TrainConfig, Checkpoint | None]:
    """``(config, checkpoint or None)`` of a run to resume.

    A run killed before its first epoch ended has no checkpoint yet: it starts
    again from epoch 1 with its saved options. Temporary files a killed writer
    left behind are removed first.
    """
    from mnist_sgd.files import remove_stale_temps
    from mnist_sgd.training import TrainConfig

    info = read_run_info(run_dir)
    try:
        config = TrainConfig(**info["train"])
    except (KeyError, TypeError, ValueError) as error:
        raise ModelFileError(
            f"{Path(run_dir) / RUN_FILE}: no usable training options ({error}); "
            "this run cannot be resumed, start a new one"
        ) from None
    remove_stale_temps(run_dir)
    if not (Path(run_dir) / CHECKPOINT_FILE).exists():
        return config, None
    return config, load_checkpoint(run_dir)


def train_run_info(config: TrainConfig, data: MnistData, learn: Learner) -> dict[str, Any]:
    """``run.json`` of a run trained from ``config`` on ``data``."""
    from mnist_sgd.model import wants_flat_input

    return describe_run(
        dataset=config.dataset,
        classes=list(data.classes),
        model={
            "name": config.model,
            "n_out": config.n_out(data),
            "kwargs": config.model_kwargs,
            "flat": wants_flat_input(config.model),
            "parameters": sum(p.numel() for p in learn.model.parameters()),
        },
        loss=config.loss,
        metrics=[m.__name__ for m in learn.metrics],
        train=config.to_dict(),
        sizes={"train": len(data.train_labels), "valid": len(data.valid_labels)},
    )


class RunTrainer:
    """Train ``config`` on ``data`` into ``run_dir``, saving as it goes.

    Args:
        checkpoint: from :func:`resume_point`, to continue where a run stopped.
        cbs: extra callbacks (progress printing, live streaming).
        writer: False trains the same steps but writes nothing (a data-parallel
            worker other than rank 0: ``mnist_sgd.distributed``).
    """

    def __init__(
        self,
        run_dir: Path,
        config: TrainConfig,
        data: MnistData,
        *,
        device: torch.device | None = None,
        cbs: Sequence[Callback] = (),
        checkpoint: Checkpoint | None = None,
        writer: bool = True,
    ) -> None:
        from mnist_sgd.training import build_learner

        self.run_dir, self.config, self.checkpoint = Path(run_dir), config, checkpoint
        self.writer = writer
        self.stopper = StopOnRequest(self.run_dir, save=writer)
        savers = [SaveEachEpoch(self.run_dir)] if writer else []
        self.learn = build_learner(config, data, device, cbs=[*cbs, *savers, self.stopper])
        self.info = train_run_info(config, data, self.learn)
        self.history: list[dict[str, float]] = []

    @property
    def stopped(self) -> bool:
        """True when the fit ended early on :meth:`request_stop` (a checkpoint was saved)."""
        return self.stopper.stopped

    def request_stop(self) -> None:
        """Ask the fit to stop after the current batch (safe from a signal handler or thread)."""
        self.stopper.request()

    def fit(self) -> list[dict[str, float]]:
        """Train (or continue) to ``config.epochs``; ``run.json`` says how it ended."""
        self._write_status("running")
        if self.checkpoint is None:
            if self.writer:
                save_initial(self.run_dir, self.learn.initial_state)
        else:
            self.learn.load_state(*self.checkpoint, lr=self.config.lr)
        self.history = self.learn.fit(
            self.config.epochs, lr=self.config.lr, resume=self.checkpoint is not None
        )
        if self.stopped:
            self._write_status("interrupted")
        else:
            self._write_status("done", final=self.history[-1] if self.history else {})
        return self.history

    def _write_status(self, status: str, **extra: Any) -> None:
        if self.writer:
            write_run_info(self.run_dir, {**self.info, "status": status, **extra})
