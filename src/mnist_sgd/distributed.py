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
launcher). Inside a worker (env ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``)
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

import os
import socket
import sys
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from mnist_sgd.data import Batch, DataLoader
from mnist_sgd.errors import MnistSgdError
from mnist_sgd.learner import Callback, Learner
from mnist_sgd.runs.checkpoint import StopOnRequest
from mnist_sgd.runs.folder import Checkpoint, RunTrainer
from mnist_sgd.runs.info import read_run_info

if TYPE_CHECKING:
    from mnist_sgd.training import TrainConfig

TIMEOUT_ENV = "MNIST_SGD_DIST_TIMEOUT"  # seconds a rank waits for the others (default 120)


class DistributedError(MnistSgdError):
    """Workers could not start, meet, or keep in step (a rank died, a port is taken)."""


@dataclass(frozen=True)
class World:
    """This process among the workers: ``rank`` of ``size``, ``local_rank`` on its machine."""

    rank: int
    size: int
    local_rank: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> World | None:
        """The worker torchrun (or ``--nproc``) started, from env; None outside one."""
        if "RANK" not in env or "WORLD_SIZE" not in env:
            return None
        try:
            return cls(int(env["RANK"]), int(env["WORLD_SIZE"]), int(env.get("LOCAL_RANK", "0")))
        except ValueError:
            raise ValueError(
                f"RANK={env['RANK']!r} and WORLD_SIZE={env['WORLD_SIZE']!r} must be whole numbers"
            ) from None


def timeout() -> timedelta:
    """How long a rank waits for the others (env ``MNIST_SGD_DIST_TIMEOUT``, seconds)."""
    text = os.environ.get(TIMEOUT_ENV, "120")
    try:
        return timedelta(seconds=float(text))
    except ValueError:
        raise ValueError(f"{TIMEOUT_ENV}={text!r} must be a number of seconds") from None


def join(world: World, device: torch.device) -> torch.device:
    """Join the process group (nccl on CUDA, gloo on CPU); return this rank's device."""
    if device.type == "cuda":
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    where = f"{os.environ.get('MASTER_ADDR', '?')}:{os.environ.get('MASTER_PORT', '?')}"
    try:
        dist.init_process_group(backend, rank=world.rank, world_size=world.size, timeout=timeout())
    except dist.DistError as error:
        raise DistributedError(
            f"rank {world.rank} of {world.size} could not meet the other workers at {where} "
            f"({short(error)}); start all {world.size} workers, or choose a free port"
        ) from None
    return device


def short(error: BaseException) -> str:
    """The first line of an error's message, without torch's C++ source locations."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = next((line for line in lines if not line.startswith(("[", "Exception raised"))), "")
    return (text or type(error).__name__)[:200]


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
        """Sum ``values`` over ranks, and agree on a stop: if any rank was asked, all stop here."""
        asked = self.stopper is not None and self.stopper.requested
        if self.stopper is not None:
            self.stopper.requested = False  # taken: set again below only if the ranks agree
        device = learn.loss.device
        row = torch.stack([torch.as_tensor(v, dtype=torch.float64, device=device) for v in values])
        row = torch.cat([row, torch.tensor([float(asked)], dtype=torch.float64, device=device)])
        dist.all_reduce(row)
        if self.stopper is not None and row[-1] > 0:
            self.stopper.requested = True
        return row[:-1].cpu()


class DataParallelTrainer(RunTrainer):
    """A ``RunTrainer`` for one rank: a lost worker becomes one line that names this rank."""

    world: World

    def fit(self) -> list[dict[str, float]]:
        try:
            return super().fit()
        except dist.DistError as error:
            raise DistributedError(
                f"rank {self.world.rank} of {self.world.size}: lost contact with the other "
                f"workers ({short(error)}); {self.run_dir} keeps its last checkpoint: "
                f"resume with --resume {self.run_dir}"
            ) from None
        finally:
            dist.destroy_process_group()


def data_parallel_trainer(
    run_dir: Path,
    config: TrainConfig,
    data: Any,
    *,
    device: torch.device,
    cbs: Sequence[Callback] = (),
    checkpoint: Checkpoint | None = None,
) -> RunTrainer:
    """The ``RunTrainer`` for this process: a plain one, or one rank's inside a torchrun worker.

    Only rank 0 gets ``cbs`` (progress printing) and writes the run folder.
    """
    world = World.from_env()
    if world is None:
        return RunTrainer(run_dir, config, data, device=device, cbs=cbs, checkpoint=checkpoint)
    check_shards(len(data.train_labels), len(data.valid_labels), config.bs, world.size)
    device = join(world, device)
    primary = world.rank == 0
    trainer = DataParallelTrainer(
        run_dir,
        config,
        data,
        device=device,
        cbs=[DataParallel(world), *(cbs if primary else ())],
        checkpoint=checkpoint,
        writer=primary,
    )
    trainer.world = world
    trainer.info["workers"] = world.size
    return trainer


def resume_note(run_dir: Path, config: TrainConfig) -> str | None:
    """What resuming ``run_dir`` with this process's worker count means, if it differs."""
    before = int(read_run_info(run_dir).get("workers", 1))
    world = World.from_env()
    now = 1 if world is None else world.size
    if before == now:
        return None
    return (
        f"note: {run_dir} was trained by {before} worker(s) and goes on with {now}: the global "
        f"batch (--bs {config.bs}) and its order stay the same, so the steps are the same up "
        "to float rounding (BatchNorm models on CPU: each worker's slice statistics change)"
    )


def free_port(port: int | None = None) -> int:
    """``port`` if it is free on 127.0.0.1 (None: any free one); else a DistributedError."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port or 0))
        except OSError:
            raise DistributedError(
                f"port {port} is in use; choose another --port, or leave it out to use a free one"
            ) from None
        return int(probe.getsockname()[1])


def worker_argv(argv: Sequence[str], out: Path | None) -> list[str]:
    """Each worker's command line: ``argv`` without ``--nproc``/``--port``, plus ``--out OUT``."""
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--nproc", "--port"):
            skip = True
        elif not arg.startswith(("--nproc=", "--port=")):
            kept.append(arg)
    if len(kept) == len(argv):
        raise ValueError("--nproc runs this command line in each worker: use it from a shell")
    return kept if out is None else [*kept, "--out", str(out)]


def launch(nproc: int, *, port: int | None, run_dir: Path, new: bool, argv: Sequence[str]) -> int:
    """Run ``mnist-sgd ARGV`` (``sys.argv[1:]``) in ``nproc`` local workers, torch's elastic way.

    A ``new`` run's ``run_dir`` goes to every worker as ``--out``, so all agree on it.
    Returns 0, or 130 when the workers stopped on SIGINT/SIGTERM; a worker that
    fails is a ``DistributedError`` naming its rank.
    """
    from torch.distributed.elastic.multiprocessing import DefaultLogsSpecs
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    if nproc < 1:
        raise ValueError(f"--nproc must be >= 1, got {nproc}")
    threads = max(1, (os.cpu_count() or 1) // nproc)
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))  # the workers inherit it
    quiet_launcher_logs()
    with tempfile.TemporaryDirectory(prefix="mnist-sgd-launch-") as logs:
        config = LaunchConfig(
            min_nodes=1,
            max_nodes=1,
            nproc_per_node=nproc,
            run_id=f"mnist-sgd-{uuid.uuid4().hex[:8]}",
            rdzv_backend="c10d",
            rdzv_endpoint=f"127.0.0.1:{free_port(port)}",
            rdzv_configs={"timeout": int(timeout().total_seconds())},
            max_restarts=0,
            monitor_interval=0.2,
            local_addr="127.0.0.1",
            logs_specs=DefaultLogsSpecs(log_dir=logs),
            shutdown_timeout=10,
        )
        try:
            command = worker_argv(argv, run_dir if new else None)
            elastic_launch(config, sys.executable)("-m", "mnist_sgd", *command)
        except ChildFailedError as error:
            return failed(error, nproc, run_dir)
    return 0


def failed(error: Any, nproc: int, run_dir: Path) -> int:
    """130 if the workers stopped on request, else a DistributedError naming the failed rank."""
    failures = error.failures  # {global rank: ProcessFailure}
    if all(f.exitcode == 130 for f in failures.values()):
        return 130
    # the first to fail: killed by a signal other than the agent's own SIGTERM, else an error
    rank = min(failures, key=lambda r: (failures[r].exitcode == -15, failures[r].exitcode > 0, r))
    failure = failures[rank]
    how = (
        f"was killed by {failure.signal_name()}"
        if failure.exitcode < 0
        else f"failed with exit code {failure.exitcode} (its error is above)"
    )
    raise DistributedError(
        f"worker rank {rank} of {nproc} {how}; the other workers were stopped; "
        f"resume with: mnist-sgd train --resume {run_dir} --nproc {nproc}"
    )


def quiet_launcher_logs() -> None:
    """The elastic agent's own log lines (warnings on every stop) give way to our one line."""
    import logging

    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
    logging.getLogger("torch.distributed.launcher").setLevel(logging.CRITICAL)
