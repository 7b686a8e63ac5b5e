"""Data-parallel training: N processes share every mini-batch (``torch.distributed``).

The chapter's SGD step, one level up. Every worker (a *rank*) holds the whole
model and draws the same seeded order of the training set each epoch; of each
global batch of ``bs`` items, rank ``r`` takes its own disjoint slice
(``tensor_split``: slice sizes differ by at most one). ``DistributedDataParallel``
adds up the ranks' gradients during ``backward``, each first weighted by its
share of the batch (``n_r / n``), which is the gradient of the whole batch's
mean loss: every rank takes the step one process would take (uneven slices
included). Validation is split across the ranks and its sums reduced, so
``metrics.jsonl`` holds the figures of the whole validation set, and only
rank 0 writes the run folder.

Launch with ``torchrun --nproc-per-node N -m mnist_sgd train ...`` (one machine
or many) or ``mnist-sgd train --nproc N`` (this machine, through torch's elastic
launcher: ``mnist_sgd.cli.workers``). Inside a worker (env ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``: :meth:`World.from_env`),
:func:`data_parallel_trainer` builds the ``RunTrainer`` with a
:class:`DataParallel` callback; the ``Learner`` and its loop stay as they are.

BatchNorm: on CUDA, BatchNorm layers become ``SyncBatchNorm`` (statistics of
the whole global batch, as in one process). PyTorch's ``SyncBatchNorm`` runs on
GPUs only, so on CPU each rank normalises with its own slice's statistics and
DDP copies rank 0's running statistics to the others: a BatchNorm model's
weights then differ a little from a one-process run's (the seed's linear model
and ``simple_net`` have no BatchNorm).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from mnist_sgd.core.callback import Callback
from mnist_sgd.core.data import Batch, DataLoader
from mnist_sgd.core.learner import Learner
from mnist_sgd.errors import MnistSgdError, one_line
from mnist_sgd.runs.checkpoint import StopOnRequest
from mnist_sgd.runs.folder import Checkpoint, RunTrainer
from mnist_sgd.runs.info import read_run_info

if TYPE_CHECKING:
    from mnist_sgd.callbacks.speed import Speed
    from mnist_sgd.config.build import TrainConfig

TIMEOUT = timedelta(seconds=120)  # how long a rank waits for the others, by default


class DistributedError(MnistSgdError):
    """Workers could not start, meet, or keep in step (a rank died, a port is taken)."""


@dataclass(frozen=True)
class World:
    """This process among the workers: ``rank`` of ``size``, ``local_rank`` on its machine."""

    rank: int
    size: int
    local_rank: int

    @property
    def writer(self) -> bool:
        """Whether this process writes the run folder: rank 0 alone (the others only train)."""
        return self.rank == 0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> World | None:
        """The worker torchrun (or ``--nproc``) started, from its env; None outside one."""
        if "RANK" not in env or "WORLD_SIZE" not in env:
            return None
        try:
            return cls(int(env["RANK"]), int(env["WORLD_SIZE"]), int(env.get("LOCAL_RANK", "0")))
        except ValueError:
            raise ValueError(
                f"RANK={env['RANK']!r} and WORLD_SIZE={env['WORLD_SIZE']!r} must be whole numbers"
            ) from None


def join(world: World, device: torch.device, timeout: timedelta = TIMEOUT) -> torch.device:
    """Join the process group (nccl on CUDA, gloo on CPU); return this rank's device.

    Where to meet comes from torch's env (``MASTER_ADDR``, ``MASTER_PORT``, set by
    torchrun); ``timeout`` bounds the wait for the others, here and in every collective.
    """
    if device.type == "cuda":
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    try:
        dist.init_process_group(backend, rank=world.rank, world_size=world.size, timeout=timeout)
    except dist.DistError as error:
        raise DistributedError(
            f"rank {world.rank} of {world.size} could not meet the other workers "
            f"({one_line(error, 200)}); start all {world.size} workers, or choose a free port"
        ) from None
    return device


def lost_contact(error: BaseException) -> bool:
    """True for the errors of a collective whose peer died or hung (gloo, NCCL, the store)."""
    words = ("gloo", "nccl", "connection", "timed out", "socket", "peer")
    return isinstance(error, dist.DistError) or any(w in str(error).lower() for w in words)


def check_shards(n_train: int, n_valid: int, bs: int, size: int) -> None:
    """Refuse a split that leaves a rank without items in some batch (its loss would be NaN)."""
    last = n_train % bs
    if bs < size or 0 < last < size:
        raise ValueError(
            f"a global batch of {last if bs >= size else bs} items cannot be split across "
            f"{size} workers; choose a --bs of at least {size} whose last batch "
            f"({n_train} items) is not smaller than {size}, or fewer workers"
        )
    if n_valid < size:
        raise ValueError(f"{n_valid} validation items cannot be split across {size} workers")


class ShardedLoader(DataLoader):
    """This rank's slice of every batch ``dl`` yields; ``dl``'s data, order and generator.

    A global batch of ``n`` items gives rank ``r`` items ``tensor_split(n, size)[r]``:
    ``(n_r, ...)`` with ``n_r`` in ``{n // size, n // size + 1}``.
    """

    def __init__(self, dl: DataLoader, world: World) -> None:  # shares, not copies, dl's state
        self.__dict__.update(dl.__dict__)
        self.world = world

    def _gather(self, idx: Tensor) -> Batch:
        return super()._gather(idx.tensor_split(self.world.size)[self.world.rank])


class ValidShard(DataLoader):
    """Rank ``r``'s contiguous part of ``dl``'s (unshuffled) validation set, in ``dl``'s batches."""

    def __init__(self, dl: DataLoader, world: World) -> None:
        self.__dict__.update(dl.__dict__)
        self.items = torch.arange(len(dl.dataset)).tensor_split(world.size)[world.rank]

    def __len__(self) -> int:
        return -(-len(self.items) // self.batch_size)

    def order(self) -> Tensor:
        return self.items


class Replica(DistributedDataParallel):
    """DDP whose state dict is the model's own (no ``module.`` prefix), so run folders match."""

    def state_dict(self, *args: Any, **kwargs: Any) -> Any:
        return self.module.state_dict(*args, **kwargs)

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False
    ) -> Any:
        return self.module.load_state_dict(state_dict, strict, assign)


class Share:
    """This rank's share of the current global batch, ``n_r / n`` (read by the gradient hook)."""

    weight = 1.0


def weighted_sum(share: Share, bucket: dist.GradBucket) -> torch.futures.Future[Tensor]:
    """DDP comm hook: ``sum_r (n_r / n) * grad_r``, the gradient of the global batch's mean loss."""
    buffer = bucket.buffer().mul_(share.weight)
    future = dist.all_reduce(buffer, async_op=True).get_future()
    return future.then(lambda done: done.value()[0])


# DDP checks the hook's annotations as objects; this module's are strings (PEP 563)
weighted_sum.__annotations__["bucket"] = dist.GradBucket
weighted_sum.__annotations__["return"] = torch.futures.Future[Tensor]


class DataParallel(Callback):
    """Train a ``Learner`` as one of ``world.size`` data-parallel ranks (put it first in ``cbs``).

    Before the fit: the model is wrapped in DDP (BatchNorm made ``SyncBatchNorm`` on
    CUDA), the loaders replaced by this rank's shards. After each batch its loss,
    and after each epoch the validation figures, are reduced over all ranks, so
    every rank records the global numbers; a stop request on any rank stops all
    of them at the same batch. After the fit the model and loaders are put back.
    """

    def __init__(self, world: World) -> None:
        self.world, self.share = world, Share()
        self.stopper: StopOnRequest | None = None

    def before_fit(self, learn: Learner) -> None:
        self.module, self.loaders = learn.model, (learn.dls.train, learn.dls.valid)
        train, valid = self.loaders
        assert isinstance(train, DataLoader) and isinstance(valid, DataLoader)
        device = next(learn.model.parameters()).device
        model = learn.model
        if device.type == "cuda":
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        learn.model = Replica(model, device_ids=[device] if device.type == "cuda" else None)
        learn.model.register_comm_hook(self.share, weighted_sum)
        learn.dls.train, learn.dls.valid = (
            ShardedLoader(train, self.world),
            ValidShard(valid, self.world),
        )
        self.stopper = next((cb for cb in learn.cbs if isinstance(cb, StopOnRequest)), None)
        if self.stopper is not None:
            self.stopper.agreed = False  # from now on the ranks decide together (_reduce)

    def before_batch(self, learn: Learner) -> None:
        bs, n = learn.dls.train.batch_size, len(learn.dls.train.dataset)
        self.share.weight = len(learn.yb) / min(bs, n - learn.iter * bs)

    def after_batch(self, learn: Learner) -> None:
        n_r = len(learn.yb)
        sums = self._reduce([learn.loss.double() * n_r, n_r], learn)
        learn.loss.copy_(sums[0] / sums[1])  # the same tensor the Learner keeps for train_loss

    def after_epoch(self, learn: Learner) -> None:
        record = learn.history[-1]
        names = ["valid_loss", *(m.__name__ for m in learn.metrics)]
        n_r = len(learn.dls.valid.order())
        sums = self._reduce([*(record[k] * n_r for k in names), n_r], learn)
        record.update({k: float(sums[i] / sums[-1]) for i, k in enumerate(names)})

    def after_fit(self, learn: Learner) -> None:
        learn.model = self.module
        learn.dls.train, learn.dls.valid = self.loaders

    def _reduce(self, values: Sequence[Tensor | float], learn: Learner) -> Tensor:
        """Sum ``values`` over ranks, and agree on a stop: if any rank was asked, all stop here.

        A request that comes during the reduce is in the next one: every rank
        stops at the same batch, never one alone (the others would lose it).
        """
        asked = self.stopper is not None and self.stopper.asked
        device = learn.loss.device
        row = torch.stack([torch.as_tensor(v, dtype=torch.float64, device=device) for v in values])
        row = torch.cat([row, torch.tensor([float(asked)], dtype=torch.float64, device=device)])
        dist.all_reduce(row)
        if self.stopper is not None:
            self.stopper.agreed = bool(row[-1] > 0)
        return row[:-1].cpu()


class DataParallelTrainer(RunTrainer):
    """A ``RunTrainer`` for one rank: a lost worker becomes one line that names this rank."""

    world: World

    def fit(self) -> list[dict[str, float]]:
        try:
            history = super().fit()
            dist.barrier()  # leave together: a rank that leaves early can make another abort
            return history
        except RuntimeError as error:
            if not lost_contact(error):
                raise
            raise DistributedError(
                f"rank {self.world.rank} of {self.world.size}: lost contact with the other "
                f"workers ({one_line(error, 200)}); {self.run_dir} keeps its last checkpoint: "
                f"resume with --resume {self.run_dir}"
            ) from None
        finally:
            dist.destroy_process_group()


def data_parallel_trainer(
    run_dir: Path,
    config: TrainConfig,
    data: Any,
    *,
    world: World,
    device: torch.device,
    cbs: Sequence[Callback] = (),
    checkpoint: Checkpoint | None = None,
    timeout: timedelta = TIMEOUT,
    curves: bool = True,
    speed: Speed | None = None,
) -> RunTrainer:
    """The ``RunTrainer`` for one rank of ``world``: only the writer (rank 0) gets ``cbs``
    (progress printing) and writes the run folder; ``speed`` as for ``RunTrainer``."""
    check_shards(len(data.train_labels), len(data.valid_labels), config.bs, world.size)
    device = join(world, device, timeout)
    trainer = DataParallelTrainer(
        run_dir,
        config,
        data,
        device=device,
        cbs=[DataParallel(world), *(cbs if world.writer else ())],
        checkpoint=checkpoint,
        writer=world.writer,
        curves=curves,
        speed=speed,
    )
    trainer.world = world
    trainer.info["workers"] = world.size
    return trainer


def resume_note(run_dir: Path, config: TrainConfig, now: int) -> str | None:
    """What resuming ``run_dir`` with ``now`` workers means, if it was trained by another count."""
    before = int(read_run_info(run_dir).get("workers", 1))
    if before == now:
        return None
    return (
        f"note: {run_dir} was trained by {before} worker(s) and goes on with {now}: the global "
        f"batch (--bs {config.bs}) and its order stay the same, so the steps are the same up "
        "to float rounding (BatchNorm models on CPU: each worker's slice statistics change)"
    )
