"""``train --nproc N`` and torchrun workers: the CLI side of ``mnist_sgd.runs.parallel``.

The launcher runs this same command line in N local workers through torch's
elastic launcher (``elastic_launch``, what ``torchrun`` runs), and a worker
reads its place (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``) from the env torchrun
sets. The library itself reads no environment variable.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import tempfile
import uuid
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from mnist_sgd.core.callback import Callback

TIMEOUT_ENV = "MNIST_SGD_DIST_TIMEOUT"  # seconds a worker waits for the others (default 120)


def timeout() -> timedelta:
    """How long a worker waits for the others: env ``MNIST_SGD_DIST_TIMEOUT`` seconds, or 120."""
    text = os.environ.get(TIMEOUT_ENV, "120")
    with contextlib.suppress(ValueError):
        if (seconds := float(text)) > 0:
            return timedelta(seconds=seconds)
    raise ValueError(f"{TIMEOUT_ENV}={text!r} must be a number of seconds above 0")


def world_from_env() -> Any:
    """This process's place among torchrun's workers (``World``), or None outside torchrun."""
    from mnist_sgd.runs.parallel import World

    return World.from_env(os.environ)


def trainer(
    run_dir: Path,
    config: Any,
    data: Any,
    device: Any,
    cbs: Sequence[Callback],
    checkpoint: Any,
    speed: Any = None,
) -> Any:
    """This process's ``RunTrainer``: one rank's inside a torchrun worker, else a plain one."""
    from mnist_sgd.runs import RunTrainer
    from mnist_sgd.runs.parallel import data_parallel_trainer

    world = world_from_env()
    # curves=False: the CLI draws them, detached (cli/train.py)
    same: dict[str, Any] = {"device": device, "cbs": cbs, "checkpoint": checkpoint, "curves": False}
    same["speed"] = speed
    if world is None:  # one process: no process group, no DistributedDataParallel
        return RunTrainer(run_dir, config, data, **same)
    return data_parallel_trainer(run_dir, config, data, world=world, timeout=timeout(), **same)


def resume_note(run_dir: Path, config: Any) -> str | None:
    """What resuming ``run_dir`` with this many workers means, when it was trained by another."""
    from mnist_sgd.runs.parallel import resume_note

    world = world_from_env()
    return resume_note(run_dir, config, 1 if world is None else world.size)


def free_port(port: int | None = None) -> int:
    """``port`` if it is free on 127.0.0.1 (None: any free one)."""
    from mnist_sgd.runs.parallel import DistributedError

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
    """Run ``mnist-sgd ARGV`` in ``nproc`` local workers; 130 when they stopped on a signal.

    A ``new`` run's ``run_dir`` goes to every worker as ``--out``, so all agree on it.
    """
    from torch.distributed.elastic.multiprocessing import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import elastic_launch

    command = worker_argv(argv, run_dir if new else None)
    threads = max(1, (os.cpu_count() or 1) // nproc)
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))  # the workers inherit it
    quiet_launcher_logs()
    with tempfile.TemporaryDirectory(prefix="mnist-sgd-launch-") as logs:
        try:
            elastic_launch(launch_config(nproc, port, logs), sys.executable)(
                "-m", "mnist_sgd", *command
            )
        except ChildFailedError as error:
            return failed(error, nproc, run_dir)
        except SignalException:  # SIGINT/SIGTERM: the agent passed it on; rank 0 saved and said so
            return 130
    return 0


def launch_config(nproc: int, port: int | None, logs: str) -> Any:
    """One machine, ``nproc`` workers, rendezvous on 127.0.0.1, no restarts, logs in ``logs``."""
    from torch.distributed.elastic.multiprocessing import DefaultLogsSpecs
    from torch.distributed.launcher.api import LaunchConfig

    return LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=nproc,
        run_id=f"mnist-sgd-{uuid.uuid4().hex[:8]}",
        rdzv_backend="c10d",
        rdzv_endpoint=f"127.0.0.1:{free_port(port)}",
        rdzv_configs={"timeout": int(timeout().total_seconds())},
        max_restarts=0,  # a dead worker ends the run: resume it from its checkpoint
        monitor_interval=0.2,
        local_addr="127.0.0.1",
        logs_specs=DefaultLogsSpecs(log_dir=logs),
        shutdown_timeout=10,
    )


def failed(error: Any, nproc: int, run_dir: Path) -> int:
    """130 if the workers stopped on request, else a DistributedError naming the failed rank."""
    from mnist_sgd.runs.parallel import DistributedError

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
    """The elastic agent's log lines (warnings on every stop) give way to our one line."""
    import logging

    for name in list(logging.root.manager.loggerDict):  # torch sets each one's own level
        if name.startswith(("torch.distributed.elastic", "torch.distributed.launcher")):
            logging.getLogger(name).setLevel(logging.CRITICAL)
