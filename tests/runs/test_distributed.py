"""Data-parallel training (issue 17): real worker processes, gloo, loopback only.

N workers that each take a slice of every global batch must end with the
weights one process reaches with the same global batch and seed; a killed
worker must stop the others with one line naming it, and leave a run folder
that resumes to the same weights. Every subprocess runs under a timeout.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import torch

from mnist_sgd import cli, runs
from mnist_sgd.cli.workers import worker_argv
from mnist_sgd.config.build import TrainConfig
from mnist_sgd.core.data import DataLoader, TensorDataset
from mnist_sgd.runs.parallel import ShardedLoader, ValidShard, World, check_shards, resume_note
from mnist_sgd.runs.tensors import read_tensors

LIMIT = 240  # seconds any one subprocess may take (a hang fails the test instead of the suite)
BASE = ["--offline", "--epochs", "2", "--device", "cpu", "--quiet", "--no-plots"]


@pytest.fixture(scope="module")
def env(shared_data: Path, sample_cache: Path) -> dict[str, str]:
    """Subprocess env: local data only, one thread, a marker to find this test's workers."""
    return dict(
        os.environ,
        MNIST_SGD_MIRROR=str(shared_data),
        MNIST_SGD_CACHE=str(sample_cache),
        OMP_NUM_THREADS="1",
        MNIST_SGD_DIST_TIMEOUT="60",
        MNIST_SGD_TEST_MARK=uuid.uuid4().hex,
    )


@pytest.fixture(scope="module")
def sample(sample_cache: Path, shared_data: Path) -> Any:
    from mnist_sgd.datasets import DataOptions, load_dataset

    options = DataOptions(mirror=str(shared_data), cache_dir=sample_cache, offline=True)
    return load_dataset("mnist_sample", options)


def train(args: list[str], env: dict[str, str], runner: list[str] | None = None) -> Any:
    """Run ``mnist-sgd train ARGS`` (or ``RUNNER ARGS``) and return the finished process."""
    command = runner or [sys.executable, "-m", "mnist_sgd", "train"]
    return subprocess.run(
        [*command, *BASE, *args], env=env, capture_output=True, text=True, timeout=LIMIT
    )


def one_process(run_dir: Path, sample: Any, **options: Any) -> dict[str, torch.Tensor]:
    """The reference: the same config trained by this one process."""
    config = TrainConfig(**{"epochs": 2, **options})
    with runs.writing(run_dir):  # as the CLI trains: under the folder's lock, curves apart
        runs.RunTrainer(run_dir, config, sample, device=torch.device("cpu"), curves=False).fit()
    return weights(run_dir)


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return read_tensors(run_dir / "model.safetensors")[0]


def max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k] - b[k]).abs().max()) for k in a)


def history(run_dir: Path) -> list[dict[str, float]]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    ("model", "lr", "bs", "tolerance"),
    [
        ("linear", 1.0, 256, 1e-4),
        ("simple_net", 0.1, 256, 1e-4),  # measured 6e-8
        ("linear", 1.0, 101, 1e-4),  # 101 = 51 + 50: uneven slices, weighted by their size
    ],
)
def test_two_workers_end_with_one_process_weights(
    model: str, lr: float, bs: int, tolerance: float, sample: Any, env: Any, tmp_path: Path
) -> None:
    reference = one_process(tmp_path / "one", sample, model=model, lr=lr, bs=bs)
    flags = ["--model", model, "--lr", str(lr), "--bs", str(bs)]
    done = train([*flags, "--nproc", "2", "--out", str(tmp_path / "two")], env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"saved run to {tmp_path / 'two'}"  # rank 0 speaks, once
    assert max_diff(weights(tmp_path / "two"), reference) <= tolerance
    for two, one in zip(history(tmp_path / "two"), history(tmp_path / "one"), strict=True):
        for key in ("train_loss", "valid_loss", "batch_accuracy"):  # global figures
            assert two[key] == pytest.approx(one[key], abs=1e-5), key
    info = json.loads((tmp_path / "two" / "run.json").read_text())
    assert info["workers"] == 2 and info["status"] == "done"
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(
        p.name for p in (tmp_path / "one").iterdir()
    )  # one folder, no per-rank files


def test_torchrun_gives_the_same_weights(sample: Any, env: Any, tmp_path: Path) -> None:
    reference = one_process(tmp_path / "one", sample)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2"]
    torchrun += ["--nnodes", "1", "--rdzv-backend", "c10d"]
    torchrun += ["--rdzv-endpoint", f"127.0.0.1:{free_port()}", "-m", "mnist_sgd", "train"]
    done = train(["--out", str(tmp_path / "two")], env, runner=torchrun)
    assert done.returncode == 0, done.stderr
    assert max_diff(weights(tmp_path / "two"), reference) <= 1e-4


def worker_pid(mark: str, rank: int) -> int | None:
    """The pid of this test's worker ``rank`` (found by its env), or None."""
    for proc in Path("/proc").iterdir():
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue
        mine = f"MNIST_SGD_TEST_MARK={mark}".encode() in environ
        if (
            mine
            and f"RANK={rank}".encode() in environ
            and b"TORCHELASTIC_RUN_ID" in b" ".join(environ)
        ):
            return int(proc.name)
    return None


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds workers via /proc")
def test_a_killed_worker_stops_the_others_and_the_run_resumes(
    sample: Any, env: Any, tmp_path: Path
) -> None:
    out = tmp_path / "two"
    flags = ["--bs", "64", "--nproc", "2"]  # 2 epochs of 194 batches
    command = [sys.executable, "-m", "mnist_sgd", "train", *BASE, *flags, "--out", str(out)]
    launcher = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + LIMIT
    while not (out / "metrics.jsonl").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    pid = worker_pid(env["MNIST_SGD_TEST_MARK"], 1)
    assert pid is not None, "worker rank 1 not found"
    os.kill(pid, signal.SIGKILL)  # during epoch 2
    killed = time.monotonic()
    _, stderr = launcher.communicate(timeout=LIMIT)
    assert time.monotonic() - killed < 60  # the others stopped, bounded (gloo sees the peer go)
    assert launcher.returncode == 1
    lines = stderr.strip().splitlines()
    assert "Traceback" not in stderr
    assert lines[-1] == (
        "mnist-sgd: error: worker rank 1 of 2 was killed by SIGKILL; the other workers were "
        f"stopped; resume with: mnist-sgd train --resume {out} --nproc 2"
    )
    assert json.loads((out / "run.json").read_text())["status"] != "done"
    resumed = train(["--resume", str(out), "--nproc", "2"], env)
    assert resumed.returncode == 0, resumed.stderr
    reference = one_process(tmp_path / "one", sample, bs=64)
    assert max_diff(weights(out), reference) <= 1e-4


def one_line_error(done: Any) -> str:
    """The one stderr line of a failed command (no traceback)."""
    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_nproc_zero_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["train", "--nproc", "0"]) == 2
    assert capsys.readouterr().err.strip() == (
        "mnist-sgd train: error: argument --nproc: must be >= 1, got 0 "
        "(see 'mnist-sgd train --help')"
    )


def test_a_port_in_use_is_one_line(env: Any, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = train(["--nproc", "2", "--port", str(port), "--out", str(tmp_path / "r")], env)
        assert one_line_error(done) == (
            f"mnist-sgd: error: port {port} is in use; choose another --port, "
            "or leave it out to use a free one"
        )
        worker = dict(env, RANK="0", WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        done = train(["--out", str(tmp_path / "w")], worker)  # a worker started by hand
        assert "EADDRINUSE" in one_line_error(done)
    assert not (tmp_path / "r").exists() and not (tmp_path / "w").exists()


def test_a_rendezvous_that_never_completes_times_out_in_one_line(env: Any, tmp_path: Path) -> None:
    lonely = dict(env, RANK="0", WORLD_SIZE="2", MASTER_ADDR="127.0.0.1")
    lonely.update(MASTER_PORT=str(free_port()), MNIST_SGD_DIST_TIMEOUT="2")
    done = train(["--out", str(tmp_path / "r")], lonely)
    line = one_line_error(done)
    assert line.startswith("mnist-sgd: error: rank 0 of 2 could not meet the other workers")
    assert "1/2 clients joined" in line
    assert not (tmp_path / "r").exists()


def test_each_rank_takes_a_disjoint_slice_of_every_global_batch() -> None:
    data = TensorDataset(torch.arange(23))
    loaders = [DataLoader(data, batch_size=10, shuffle=True, seed=5) for _ in range(3)]
    one = [b[0] for b in DataLoader(data, batch_size=10, shuffle=True, seed=5)]
    shards = [list(ShardedLoader(dl, World(r, 3, r))) for r, dl in enumerate(loaders)]
    for i, batch in enumerate(one):  # 10 = 4 + 3 + 3, the last 3 = 1 + 1 + 1
        assert torch.equal(torch.cat([shards[r][i][0] for r in range(3)]), batch)
    valid = [ValidShard(DataLoader(data, batch_size=4), World(r, 2, r)) for r in range(2)]
    items = [torch.cat([b[0] for b in v]) for v in valid]
    assert torch.equal(torch.cat(items), torch.arange(23)) and len(items[0]) == 12


def test_splits_that_leave_a_rank_empty_are_refused() -> None:
    check_shards(n_train=12396, n_valid=2038, bs=256, size=2)
    with pytest.raises(ValueError, match="cannot be split across 3 workers"):
        check_shards(n_train=101, n_valid=50, bs=50, size=3)  # last batch: 1 item
    with pytest.raises(ValueError, match="cannot be split across 4 workers"):
        check_shards(n_train=100, n_valid=50, bs=2, size=4)


def test_world_comes_from_torchrun_env() -> None:
    assert World.from_env({}) is None
    assert World.from_env({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}) == World(3, 4, 1)
    with pytest.raises(ValueError, match="whole numbers"):
        World.from_env({"RANK": "x", "WORLD_SIZE": "4"})


def test_workers_run_the_same_command_without_nproc() -> None:
    argv = ["--debug", "train", "--nproc", "2", "--port=7", "--bs", "64"]
    assert worker_argv(argv, Path("r")) == ["--debug", "train", "--bs", "64", "--out", "r"]
    with pytest.raises(ValueError, match="from a shell"):
        worker_argv(["train"], None)


def test_resuming_with_another_worker_count_says_what_happens(sample: Any, tmp_path: Path) -> None:
    trainer = runs.RunTrainer(tmp_path, TrainConfig(epochs=1), sample.head(64))
    trainer.info["workers"] = 2
    trainer.fit()
    assert resume_note(tmp_path, TrainConfig(), 2) is None
    note = resume_note(tmp_path, TrainConfig(), 1)
    assert note is not None and "trained by 2 worker(s) and goes on with 1" in note
    assert "global batch (--bs 256) and its order stay the same" in note


def test_ctrl_c_stops_every_worker_at_one_batch_and_resumes(
    sample: Any, env: Any, tmp_path: Path
) -> None:
    out = tmp_path / "two"
    flags = ["--bs", "64", "--nproc", "2"]
    command = [sys.executable, "-m", "mnist_sgd", "train", *BASE, *flags, "--out", str(out)]
    launcher = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + LIMIT
    while not (out / "metrics.jsonl").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    launcher.send_signal(signal.SIGINT)  # the agent passes it on to both workers
    _, stderr = launcher.communicate(timeout=LIMIT)
    assert launcher.returncode == 130, stderr
    assert stderr.strip() == (
        f"interrupted: checkpoint saved; resume with: mnist-sgd train --resume {out}"
    )
    assert json.loads((out / "run.json").read_text())["status"] == "interrupted"
    resumed = train(["--resume", str(out), "--nproc", "2"], env)
    assert resumed.returncode == 0, resumed.stderr
    reference = one_process(tmp_path / "one", sample, bs=64)
    assert max_diff(weights(out), reference) <= 1e-4


def test_a_stop_asked_during_the_reduce_waits_for_the_next_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Before: Ctrl-C landing during a batch's all-reduce stopped that rank alone.

    The flag was taken before the reduce and set again by the signal during it, so
    this rank stopped at this batch while the others went on and lost it ("lost
    contact", seen once in CI). Now the request waits for the next reduce, and
    every rank stops at that batch.
    """
    from types import SimpleNamespace

    from mnist_sgd.runs import parallel as distributed
    from mnist_sgd.runs.checkpoint import StopOnRequest

    parallel = distributed.DataParallel(World(0, 2, 0))
    stopper = StopOnRequest(tmp_path, save=False)
    parallel.stopper, stopper.agreed = stopper, False
    learn = SimpleNamespace(loss=torch.tensor(0.5))

    def signal_during(row: torch.Tensor) -> None:  # the other rank asked nothing
        stopper.request()

    monkeypatch.setattr(distributed.dist, "all_reduce", signal_during)
    parallel._reduce([1.0, 2.0], learn)  # type: ignore[arg-type]
    assert not stopper.requested  # not alone, at this batch
    monkeypatch.setattr(distributed.dist, "all_reduce", lambda row: None)
    parallel._reduce([1.0, 2.0], learn)  # type: ignore[arg-type]
    assert stopper.requested  # the next batch: every rank's reduce carries the request
