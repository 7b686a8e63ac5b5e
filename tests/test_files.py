"""``mnist_sgd.files`` under faults: SIGKILL at random moments, a full disk, nothing lost.

Issue 9: "kills training with SIGKILL at 20 random moments (during batches,
during checkpoint writes) and resumes each time: every run folder loads, every
resumed run completes, and the final weights match the uninterrupted run";
"a full disk (or a failing write) during checkpointing and during dataset
caching: clear error, previous files intact".
"""

from __future__ import annotations

import errno
import json
import os
import queue
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save_file

from mnist_sgd import cli, files, runs

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
DRIVER = Path(__file__).with_name("fault_driver.py")
# more or other moments on demand: MNIST_SGD_FAULT_SEED=7 MNIST_SGD_FAULT_KILLS=50 pytest ...
SEED = int(os.environ.get("MNIST_SGD_FAULT_SEED", "20261129"))
KILLS = int(os.environ.get("MNIST_SGD_FAULT_KILLS", "20"))
EPOCHS = KILLS + 4  # a kill costs at most one epoch of progress, so the kills never finish the run
BATCH = 64
TRAIN_ARGS = [
    "--model",
    "simple_net",
    "--lr",
    "0.1",
    "--bs",
    str(BATCH),
    "--epochs",
    str(EPOCHS),
    "--seed",
    "7",
    "--device",
    "cpu",
    "--quiet",
    "--no-plots",
]
PHASES = ("batch", "before-fsync", "before-rename", "after-rename")


@pytest.fixture(scope="module")
def sample(sample_cache: Path) -> Any:
    """MNIST_SAMPLE from the session's data cache (see conftest)."""
    from mnist_sgd.datasets import DataOptions, load_dataset

    return load_dataset(
        "mnist_sample", DataOptions(mirror=str(SHARED_DATA), cache_dir=sample_cache)
    )


@pytest.fixture(scope="module")
def subset(sample: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """About 2,000 training and 500 validation images of both classes, as a file and as data."""
    from dataclasses import replace

    small = replace(
        sample,
        train_images=sample.train_images[::6].clone(),
        train_labels=sample.train_labels[::6].clone(),
        valid_images=sample.valid_images[::4].clone(),
        valid_labels=sample.valid_labels[::4].clone(),
    )
    path = tmp_path_factory.mktemp("subset") / "subset.safetensors"
    save_file(
        {
            k: getattr(small, k)
            for k in ("train_images", "train_labels", "valid_images", "valid_labels")
        },
        str(path),
    )
    return path, small


class Driver:
    """The fork server of ``fault_driver.py``, read line by line with timeouts (never hangs)."""

    def __init__(self, data_file: Path) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
        self.process = subprocess.Popen(
            [sys.executable, str(DRIVER), str(data_file)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=ROOT,
            env=env,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        assert self.next_line(120) == "READY"

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put("EOF")

    def next_line(self, timeout: float = 60) -> str:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"the fault driver said nothing for {timeout} s") from None

    def start(self, argv: list[str], pause: dict[str, Any] | None = None) -> int:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"argv": argv, "pause": pause}) + "\n")
        self.process.stdin.flush()
        line = self.next_line()
        assert line.startswith("CHILD "), line
        return int(line.split()[1])

    def wait_for(self, prefix: str, count: int = 1) -> str:
        """The ``count``-th line starting with ``prefix``; fails if the child exits first."""
        seen = 0
        while True:
            line = self.next_line()
            if line.startswith("EXIT ") or line == "EOF":
                raise AssertionError(f"the run ended before {prefix} #{count}: {line}")
            if line.startswith(prefix):
                seen += 1
                if seen == count:
                    return line

    def exit_code(self) -> int:
        while True:
            line = self.next_line()
            if line.startswith("EXIT "):
                return int(line.split()[2])
            assert line != "EOF", "the fault driver died"

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=30)


def check_folder(run_dir: Path, last_epoch: int) -> dict[str, Any]:
    """Everything in a killed run folder loads; the checkpoint never goes back in time."""
    facts: dict[str, Any] = {"loaded": False, "epoch": last_epoch}
    temps = [p.name for p in run_dir.glob(".*.tmp")]
    facts["temps"] = len(temps)
    if not (run_dir / runs.RUN_FILE).exists():
        assert not (run_dir / runs.MODEL_FILE).exists()
        return facts
    runs.read_run_info(run_dir)
    if (run_dir / runs.MODEL_FILE).exists():
        run = runs.load_run(run_dir)
        assert all(torch.isfinite(p).all() for p in run.model.parameters())
        facts["loaded"] = True
    if (run_dir / runs.CHECKPOINT_FILE).exists():
        _, saved = runs.load_checkpoint(run_dir)
        assert saved["iter"] == 0 and saved["epoch"] >= last_epoch, saved
        assert len(saved["history"]) == saved["epoch"]
        facts["epoch"] = saved["epoch"]
    return facts


def kill_plan(rng: random.Random, batches_per_epoch: int) -> dict[str, Any]:
    """One random moment: after a random batch (plus a few ms), or inside a random atomic write.

    Writes of a run: run.json, then model, metrics, checkpoint after each epoch;
    indices 1..5 and batches up to 1.5 epochs keep each kill's progress <= 1 epoch.
    """
    phase = rng.choice(PHASES)
    if phase == "batch":
        return {
            "phase": phase,
            "batch": rng.randint(1, batches_per_epoch * 3 // 2),
            "delay": rng.uniform(0, 0.01),
        }
    return {"phase": phase, "index": rng.randint(1, 5)}


def model_bytes(run_dir: Path) -> bytes:
    return (run_dir / runs.MODEL_FILE).read_bytes()


def records(run_dir: Path) -> list[dict[str, float]]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in runs.read_history(run_dir)]


def test_sigkill_at_20_random_moments_then_resume(subset: tuple[Path, Any], tmp_path: Path) -> None:
    data_file, small = subset
    batches_per_epoch = -(-len(small.train_labels) // BATCH)
    driver = Driver(data_file)
    try:
        reference = tmp_path / "reference"
        driver.start(["train", "--out", str(reference), *TRAIN_ARGS])
        assert driver.exit_code() == 0

        run_dir, rng = tmp_path / "killed", random.Random(SEED)
        epoch, log, loaded, temps = 0, [], 0, 0
        for _ in range(KILLS):
            if (run_dir / runs.RUN_FILE).exists():
                argv = ["train", "--resume", str(run_dir), "--quiet", "--no-plots"]
            else:
                argv = ["train", "--out", str(run_dir), *TRAIN_ARGS]
            plan = kill_plan(rng, batches_per_epoch)
            if plan["phase"] == "batch":
                pid = driver.start(argv)
                driver.wait_for("BATCH", plan["batch"])
                time.sleep(plan["delay"])
            else:
                pid = driver.start(argv, pause={"phase": plan["phase"], "index": plan["index"]})
                plan["at"] = driver.wait_for("PAUSED").split()[-1]
            os.kill(pid, signal.SIGKILL)
            assert driver.exit_code() == -signal.SIGKILL
            facts = check_folder(run_dir, epoch)
            epoch, loaded, temps = facts["epoch"], loaded + facts["loaded"], temps + facts["temps"]
            log.append({**plan, **facts})
        assert epoch < EPOCHS, "the kills came too late to interrupt anything"

        driver.start(["train", "--resume", str(run_dir), "--quiet", "--no-plots"])
        assert driver.exit_code() == 0
    finally:
        driver.close()
    assert not list(run_dir.glob(".*.tmp")), "the final resume left temporary files"
    assert model_bytes(run_dir) == model_bytes(reference)
    assert records(run_dir) == records(reference)
    assert json.loads((run_dir / runs.RUN_FILE).read_text())["status"] == "done"
    phases = {phase: sum(p["phase"] == phase for p in log) for phase in PHASES}
    print(
        f"\nSIGKILL seed {SEED}: {KILLS} kills {phases}; {KILLS} killed folders checked, "
        f"{loaded} with a model that loaded; {temps} stale temp files, removed on resume; "
        "final weights and metrics identical to the uninterrupted run"
    )
    for entry in log:
        print("  ", entry)


# --- a full disk or a failing write -------------------------------------------------------


class FullDisk:
    """Makes the ``nth`` atomic write (counting fsyncs of temp files) fail with ENOSPC."""

    def __init__(self, nth: int) -> None:
        self.nth, self.count = nth, 0

    def __call__(self, fd: int) -> None:
        import stat

        if stat.S_ISREG(os.fstat(fd).st_mode):
            self.count += 1
            if self.count == self.nth:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        os.fsync(fd)


class FailingProxy:
    """``os`` for ``mnist_sgd.files`` with a failing ``fsync``."""

    def __init__(self, fsync: FullDisk) -> None:
        self.fsync = fsync

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)


def snapshot(folder: Path) -> dict[str, bytes]:
    """The finished files of a folder and their bytes (temporary files and the writer lock
    excluded; a folder a failed first write left empty is removed, and reads as {})."""
    if not folder.exists():
        return {}
    return {
        p.name: p.read_bytes()
        for p in sorted(folder.iterdir())
        if p.is_file() and not p.name.endswith(".tmp") and p.name != runs.LOCK_FILE
    }


def test_atomic_write_on_a_full_disk_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "model.safetensors"
    files.atomic_write_bytes(target, b"old and good")
    monkeypatch.setattr(files, "os", FailingProxy(FullDisk(1)))
    with pytest.raises(OSError) as caught:
        files.atomic_write_bytes(target, b"new" * 1000)
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(target)
    assert target.read_bytes() == b"old and good"
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]


def test_atomic_write_interrupted_mid_write(tmp_path: Path) -> None:
    target = tmp_path / "metrics.jsonl"
    files.atomic_write_text(target, "old\n")
    with pytest.raises(KeyboardInterrupt), files.atomic_open(target) as handle:
        handle.write(b"half a line")
        raise KeyboardInterrupt
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.jsonl"]


def test_remove_stale_temps(tmp_path: Path) -> None:
    (tmp_path / ".checkpoint.safetensors.abc123.tmp").write_bytes(b"partial")
    (tmp_path / ".data.x1.tmp").mkdir()
    (tmp_path / "model.safetensors").write_bytes(b"keep")
    (tmp_path / ".hidden").write_bytes(b"keep")
    removed = files.remove_stale_temps(tmp_path)
    assert len(removed) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [".hidden", "model.safetensors"]


def cli_train(argv: list[str], data: Any, monkeypatch: pytest.MonkeyPatch) -> int:
    import mnist_sgd.cli.train as cli_train_module

    monkeypatch.setattr(cli_train_module, "load_data", lambda name, args, resumed=None: data)
    return cli.main(argv)


SMALL_ARGS = [
    "--model",
    "simple_net",
    "--lr",
    "0.1",
    "--bs",
    "256",
    "--epochs",
    "3",
    "--seed",
    "3",
    "--device",
    "cpu",
    "--quiet",
    "--no-plots",
]


@pytest.fixture(scope="module")
def small_reference(subset: tuple[Path, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted run with ``SMALL_ARGS``."""
    reference = tmp_path_factory.mktemp("reference") / "run"
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert (
            cli_train(["train", "--out", str(reference), *SMALL_ARGS], subset[1], monkeypatch) == 0
        )
    return reference


@pytest.mark.parametrize(
    "nth",
    [1, 2, 4, 5, 6, 7],
    ids=[
        "run.json",
        "epoch1-model",
        "epoch1-checkpoint",
        "epoch2-model",
        "epoch2-metrics",
        "epoch2-checkpoint",
    ],
)
def test_full_disk_while_checkpointing(
    subset: tuple[Path, Any],
    small_reference: Path,
    tmp_path: Path,
    nth: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Writes: run.json, then per epoch model, metrics, checkpoint; the nth one fails."""
    _, small = subset
    run_dir = tmp_path / "run"
    before: dict[str, bytes] = {}

    class Watch(FullDisk):
        def __call__(self, fd: int) -> None:
            if self.count + 1 == self.nth and run_dir.exists():
                before.update(snapshot(run_dir))
            super().__call__(fd)

    monkeypatch.setattr(files, "os", FailingProxy(Watch(nth)))
    capsys.readouterr()
    assert cli_train(["train", "--out", str(run_dir), *SMALL_ARGS], small, monkeypatch) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        len(err) == 1 and "No space left on device" in err[0] and "free some disk space" in err[0]
    )
    assert str(run_dir) in err[0]
    assert snapshot(run_dir) == before, "a failed write changed a previous file"
    assert not list(run_dir.glob(".*.tmp"))
    if (run_dir / runs.MODEL_FILE).exists():
        runs.load_run(run_dir)

    monkeypatch.setattr(files, "os", os)
    again = (
        ["train", "--resume", str(run_dir), "--quiet", "--no-plots"]
        if (run_dir / runs.RUN_FILE).exists()
        else ["train", "--out", str(run_dir), *SMALL_ARGS]
    )
    assert cli_train(again, small, monkeypatch) == 0
    assert model_bytes(run_dir) == model_bytes(small_reference)


def test_non_finite_loss_keeps_the_last_good_checkpoint(
    subset: tuple[Path, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An lr that blows up in epoch 2: TrainingError naming epoch and batch; epoch 1 stays."""
    _, small = subset
    run_dir = tmp_path / "run"
    import mnist_sgd.core.learner as learner_module

    real = learner_module.calc_grad

    def exploding(xb: Any, yb: Any, model: Any, loss_func: Any) -> Any:
        loss = real(xb, yb, model, loss_func)
        state = exploding.calls = getattr(exploding, "calls", 0) + 1
        return loss * float("inf") if state == 12 else loss  # the 12th batch is in epoch 2

    monkeypatch.setattr(learner_module, "calc_grad", exploding)
    args = [
        "train",
        "--out",
        str(run_dir),
        "--model",
        "linear",
        "--bs",
        "256",
        "--epochs",
        "3",
        "--device",
        "cpu",
        "--quiet",
        "--no-plots",
    ]
    assert cli_train(args, small, monkeypatch) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    batches = -(-len(small.train_labels) // 256)
    assert f"epoch 2, batch {12 - batches}" in err[0] and "lower --lr" in err[0], err[0]
    _, facts = runs.load_checkpoint(run_dir)
    assert facts["epoch"] == 1
    run = runs.load_run(run_dir)
    assert len(run.history) == 1
    assert all(torch.isfinite(p).all() for p in run.model.parameters())


# --- a full disk while caching a dataset ---------------------------------------------------


def cache_files(cache: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(cache)): p.read_bytes() for p in sorted(cache.rglob("*")) if p.is_file()
    }


def data_options(cache: Path, **kwargs: Any) -> Any:
    from mnist_sgd.datasets import DataOptions

    return DataOptions(mirror=str(SHARED_DATA), cache_dir=cache, **kwargs)


def test_full_disk_while_downloading(
    sample: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The download (from the mirror into the cache) fails: one clear line, nothing left behind."""
    cache = tmp_path / "cache"
    monkeypatch.setattr(files, "os", FailingProxy(FullDisk(1)))
    code = cli.main(
        [
            "train",
            "--dry-run",
            "--out",
            str(tmp_path / "run"),
            "--mirror",
            str(SHARED_DATA),
            "--cache-dir",
            str(cache),
            "--quiet",
            "--no-plots",
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(err) == 1 and "No space left on device" in err[0] and "mnist_sample.tgz" in err[0], (
        err
    )
    assert cache_files(cache) == {}, "a failed download left files in the cache"
    assert not (tmp_path / "run").exists()


def test_full_disk_while_writing_the_tensor_cache(
    sample: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tensor cache cannot be written: the data loads (with a warning), nothing half-written."""
    from mnist_sgd.datasets import load_dataset

    cache = tmp_path / "cache"
    monkeypatch.setattr(files, "os", FailingProxy(FullDisk(2)))  # 1: the download, 2: the tensors
    with pytest.warns(UserWarning, match="No space left on device"):
        data = load_dataset("mnist_sample", data_options(cache))
    assert torch.equal(data.train_images, sample.train_images)
    assert sorted(cache_files(cache)) == ["downloads/mnist_sample.tgz"]
    assert not [p for p in cache.rglob("*.tmp")]
    monkeypatch.setattr(files, "os", os)
    assert torch.equal(
        load_dataset("mnist_sample", data_options(cache)).valid_labels, sample.valid_labels
    )
    assert len(cache_files(cache)) == 2


def test_full_disk_keeps_a_good_cache(
    sample: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every write failing, a load from a local copy leaves the existing cache byte-identical."""
    from mnist_sgd.datasets import load_dataset

    cache = tmp_path / "cache"
    load_dataset("mnist_sample", data_options(cache))
    before = cache_files(cache)

    class AlwaysFull(FullDisk):
        def __call__(self, fd: int) -> None:
            self.count = self.nth - 1
            super().__call__(fd)

    monkeypatch.setattr(files, "os", FailingProxy(AlwaysFull(1)))
    local = load_dataset("mnist_sample", data_options(cache, path=SHARED_DATA / "mnist_sample.tgz"))
    assert torch.equal(local.train_labels, sample.train_labels)
    assert cache_files(cache) == before
    assert not [p for p in cache.rglob("*.tmp")]


# --- every write goes through mnist_sgd.files ----------------------------------------------

DIRECT_WRITE = re.compile(
    r"\.write_(bytes|text)\(|torch\.save\(|np\.save|save_file\(|\bopen\([^)]*['\"][wax]b?\+?['\"]"
    r"|os\.(replace|rename)\(|shutil\.(copy|move)"
)


def test_every_file_is_written_through_mnist_sgd_files() -> None:
    """A static guard: no direct writes outside ``files.py``; images and plots go to memory
    (``BytesIO``) or to ``files.atomic_open``.

    ``datasets/extract.py`` writes members with ``tarfile`` into the temporary
    folder of ``files.atomic_dir``, which renames it into place.
    """
    source = ROOT / "src" / "mnist_sgd"
    offenders = []
    for path in sorted(source.rglob("*.py")):
        if path.name == "files.py":
            continue
        text = path.read_text()
        for number, line in enumerate(text.splitlines(), 1):
            code = line.split("#", 1)[0]
            if DIRECT_WRITE.search(code):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
        saves_images = re.search(r"\.savefig\(|\.save\((?!\s*buffer)", text)
        if saves_images and "BytesIO" not in text and "atomic_open" not in text:
            offenders.append(f"{path.relative_to(ROOT)}: saves an image or plot straight to a file")
        if re.search(r"\.extract(all)?\(", text) and "atomic_dir" not in text:  # not extractfile
            offenders.append(f"{path.relative_to(ROOT)}: extracts outside files.atomic_dir")
    assert offenders == [], "\n".join(offenders)


def test_a_real_divergence_names_epoch_and_batch(
    subset: tuple[Path, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """lr 1e30 on simple_net: the loss really becomes NaN; one line, exit 1, nothing saved."""
    run_dir = tmp_path / "run"
    flags = "--model simple_net --loss cross_entropy --lr 1e30 --bs 64 --epochs 2 --device cpu"
    argv = ["train", "--out", str(run_dir), *flags.split(), "--quiet", "--no-plots"]
    assert cli_train(argv, subset[1], monkeypatch) == 1
    line = capsys.readouterr().err.strip()
    assert re.fullmatch(
        r"mnist-sgd: error: the loss became (nan|inf) in epoch 1, batch \d+: the learning rate "
        r"\(1e\+30\) is probably too high; try a lower --lr",
        line,
    ), line
    assert not (run_dir / runs.MODEL_FILE).exists()
    assert not list(run_dir.glob(".*.tmp"))
