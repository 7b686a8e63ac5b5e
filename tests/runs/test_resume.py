"""Ctrl-C and SIGTERM during a real ``mnist-sgd train``: checkpoint, exit 130, resume, same weights.

Issue 4: "interrupt a real training run with SIGINT, resume it, and compare the
final weights to an uninterrupted run bit for bit"; issue 9: the same for
SIGTERM, and "the same seed gives identical metrics and weights on CPU".
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mnist_sgd import cli, runs

ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = ROOT.parent / "shared" / "data"
ENTRY_POINT = Path(sys.executable).with_name("mnist-sgd")
EPOCHS = 3  # the signal comes after epoch 1: two epochs of slack
TRAIN = [
    "--model",
    "simple_net",
    "--lr",
    "0.1",
    "--epochs",
    str(EPOCHS),
    "--seed",
    "5",
    "--device",
    "cpu",
    "--no-plots",
]


@pytest.fixture(scope="module")
def cache(sample_cache: Path) -> Path:
    """The session's data cache holding MNIST_SAMPLE's tensors so every subprocess starts warm."""
    return sample_cache


def data_flags(cache: Path) -> list[str]:
    return ["--mirror", str(SHARED_DATA), "--cache-dir", str(cache)]


def command(use_module: bool) -> list[str]:
    """``python -m mnist_sgd`` or the installed ``mnist-sgd`` entry point."""
    if use_module or not ENTRY_POINT.exists():
        return [sys.executable, "-m", "mnist_sgd"]
    return [str(ENTRY_POINT)]


def run_cli(args: list[str], *, use_module: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*command(use_module), *args], capture_output=True, text=True, timeout=300, cwd=ROOT
    )


@pytest.fixture(scope="module")
def reference(cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted run, in its own process."""
    run_dir = tmp_path_factory.mktemp("reference") / "run"
    done = run_cli(["train", "--out", str(run_dir), "--json", *TRAIN, *data_flags(cache)])
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == EPOCHS
    return run_dir


def scores(run_dir: Path) -> list[dict[str, Any]]:
    """Per-epoch metrics without the timings."""
    return [{k: v for k, v in r.items() if k != "seconds"} for r in runs.read_history(run_dir)]


def same_scores(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> bool:
    """Equal, except the train loss of an epoch resumed mid-way (summed in two parts)."""
    return len(a) == len(b) and all(
        ra.keys() == rb.keys()
        and all(
            ra[k] == rb[k] or (k == "train_loss" and abs(ra[k] - rb[k]) <= 1e-6 * abs(rb[k]))
            for k in ra
        )
        for ra, rb in zip(a, b, strict=True)
    )


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupt_then_resume_gives_the_same_weights(
    cache: Path, reference: Path, tmp_path: Path, sig: signal.Signals
) -> None:
    run_dir = tmp_path / "run"
    process = subprocess.Popen(
        [
            *command(sig == signal.SIGTERM),
            "train",
            "--out",
            str(run_dir),
            "--json",
            *TRAIN,
            *data_flags(cache),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        first = json.loads(process.stdout.readline())
        assert first["epoch"] == 1
        process.send_signal(sig)
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, err
    assert f"resume with: mnist-sgd train --resume {run_dir}" in err
    assert "Traceback" not in err
    assert len(out.splitlines()) < EPOCHS - 1, "the signal came too late to interrupt anything"
    info = json.loads((run_dir / runs.RUN_FILE).read_text())
    assert info["status"] == "interrupted"
    _, facts = runs.load_checkpoint(run_dir)
    assert 1 <= facts["epoch"] < EPOCHS
    runs.load_run(run_dir)  # the folder is usable while interrupted

    resumed = run_cli(
        ["train", "--resume", str(run_dir), *data_flags(cache)], use_module=sig == signal.SIGINT
    )
    assert resumed.returncode == 0, resumed.stderr
    assert (
        f"resuming {run_dir} at epoch {facts['epoch'] + 1}, batch {facts['iter'] + 1}"
        in resumed.stderr
    )
    assert (run_dir / runs.MODEL_FILE).read_bytes() == (reference / runs.MODEL_FILE).read_bytes()
    assert same_scores(scores(run_dir), scores(reference))
    assert json.loads((run_dir / runs.RUN_FILE).read_text())["status"] == "done"


def test_same_seed_same_run(
    cache: Path, reference: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same command in this process gives the other process's metrics and weights exactly."""
    again = tmp_path / "again"
    assert cli.main(["train", "--out", str(again), "--quiet", *TRAIN, *data_flags(cache)]) == 0
    assert scores(again) == scores(reference)
    assert (again / runs.MODEL_FILE).read_bytes() == (reference / runs.MODEL_FILE).read_bytes()
    assert capsys.readouterr().out.strip() == f"saved run to {again}"


def test_another_seed_another_run(cache: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    flags = [*TRAIN[: TRAIN.index("--seed")], "--seed", "6", *TRAIN[TRAIN.index("--seed") + 2 :]]
    assert (
        cli.main(["train", "--out", str(other), "--quiet", "--dry-run", *flags, *data_flags(cache)])
        == 0
    )
    again = tmp_path / "again"
    assert (
        cli.main(["train", "--out", str(again), "--quiet", "--dry-run", *TRAIN, *data_flags(cache)])
        == 0
    )
    assert (other / runs.MODEL_FILE).read_bytes() != (again / runs.MODEL_FILE).read_bytes()


def test_resume_of_a_finished_run_changes_nothing(
    cache: Path, reference: Path, tmp_path: Path
) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(reference, copy)
    assert cli.main(["train", "--resume", str(copy), "--quiet", *data_flags(cache)]) == 0
    assert (copy / runs.MODEL_FILE).read_bytes() == (reference / runs.MODEL_FILE).read_bytes()
    assert scores(copy) == scores(reference)


def test_interrupted_run_refuses_a_new_run_in_its_folder(
    cache: Path, reference: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["train", "--out", str(reference), *TRAIN, *data_flags(cache)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and f"--resume {reference}" in err[0]


def test_the_library_reads_no_environment_variables() -> None:
    """Only the entry points read environment variables (two, documented in ``--help``):
    the CLI, and ``mnist_sgd.book``, the notebook's ``from fastbook import *``."""
    reads = re.compile(r"getenv\(|environ\.get\(|environ\[")
    source = (ROOT / "src" / "mnist_sgd").rglob("*.py")
    entry = ("cli", "book.py")
    offenders = [p for p in source if reads.search(p.read_text()) and not set(entry) & set(p.parts)]
    assert offenders == [], offenders
