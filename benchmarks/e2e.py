"""Whole commands as a user runs them (issue 6): ``mnist-sgd train`` vs fastai's notebook, RSS.

Used by ``bench_peers.py``. Both trainings run as subprocesses, timed from
start to exit (interpreter start, imports, data load, training, saving): the
wall time a learner waits after changing the lr. "Warm" means one untimed run
first, so the tensor cache and the OS page cache hold the data for both.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import benchlib
from benchlib import PEER_PYTHON, PEER_SETUP, Row, skipped

NOTEBOOK = Path(__file__).resolve().parent / "peers" / "fastai_notebook.py"
EPOCHS = 20  # mnist-sgd train's default, the seed's linear model


def train_command(out: Path, *extra: str) -> list[str]:
    """``mnist-sgd train`` reading the data as the user's ``mnist-sgd bench`` does."""
    return [
        *benchlib.mnist_sgd_command(),
        "train",
        *benchlib.data_flags(),
        "--quiet",
        "--out",
        str(out),
        *extra,
    ]


def time_ours(repeat: int, dry_run: bool) -> float:
    """Fastest wall time of ``mnist-sgd train`` (the seed's defaults) after one warm-up run."""
    extra = ("--dry-run",) if dry_run else ()
    with tempfile.TemporaryDirectory() as tmp:
        runs = iter(range(repeat + 1))

        def once() -> float:
            return benchlib.wall_time(train_command(Path(tmp) / f"run{next(runs)}", *extra))

        if not dry_run:
            once()  # warm: fills the tensor cache and the page cache
        return benchlib.min_of(once, repeat)


def time_notebook(repeat: int, warm_up: bool) -> float:
    """Fastest wall time of the book's fastai code on the same PNG folders.

    ``warm_up=False`` (quick): no untimed first run; the fastai process of the
    ``loops`` benchmark has just read the same files into the page cache.
    """
    folder = benchlib.png_folder("mnist_sample")
    command = [
        str(PEER_PYTHON),
        "-W",
        "ignore",
        str(NOTEBOOK),
        str(folder),
        "--epochs",
        str(EPOCHS),
    ]
    if warm_up:
        benchlib.wall_time(command)
    return benchlib.min_of(lambda: benchlib.wall_time(command), repeat)


def e2e_rows(plan: Any) -> list[Row]:
    """``mnist-sgd train`` (warm) next to the fastai notebook way: seconds and the speedup."""
    name = "mnist-sgd train (warm) vs fastai notebook: speedup"
    dry_run = plan.dry_run
    ours = time_ours(plan.e2e_repeat, dry_run)
    what = "mnist-sgd train --dry-run" if dry_run else f"mnist-sgd train ({EPOCHS} epochs)"
    rows = [Row(f"{what}, end to end", ours, unit="s", detail="warm cache, subprocess wall time")]
    if dry_run:
        return [*rows, skipped(name, "dry run: peers not started", (">=", 2.5))]
    if not PEER_PYTHON.exists():
        return [
            *rows,
            skipped(
                name, f"fastai not installed (no {PEER_PYTHON}); install: {PEER_SETUP}", (">=", 2.5)
            ),
        ]
    try:
        fastai = time_notebook(plan.e2e_repeat, warm_up=not plan.quick)
    except (RuntimeError, OSError) as error:
        return [*rows, skipped(name, f"fastai notebook failed: {error}", (">=", 2.5))]
    rows.append(
        Row(
            f"fastai notebook way ({EPOCHS} epochs), end to end",
            fastai,
            unit="s",
            detail="peers/fastai_notebook.py: PNG folders, Learner, fit",
        )
    )
    rows.append(Row(name, fastai / ours, goal=(">=", 2.5), detail=f"{fastai:.2f} s / {ours:.2f} s"))
    return rows


def rss_rows(plan: Any) -> list[Row]:
    """Peak RSS of ``mnist-sgd train`` on full MNIST, one epoch (dry run: MNIST_SAMPLE, 1 batch)."""
    extra = ["--recipe", plan.rss_recipe, "--epochs", "1", "--no-plots"]
    what = f"full MNIST training (--recipe {plan.rss_recipe})"
    if plan.dry_run:
        extra, what = ["--no-plots", "--dry-run"], "MNIST_SAMPLE --dry-run"
    with tempfile.TemporaryDirectory() as tmp:
        gib = benchlib.peak_rss_gib(train_command(Path(tmp) / "run", *extra))
    return [
        Row(
            f"peak RSS, {what}",
            gib,
            unit="GiB",
            goal=("<=", 0.8),
            detail=f"mnist-sgd train {' '.join(extra)}: getrusage of the child process",
        )
    ]


if __name__ == "__main__":  # pragma: no cover
    sys.exit("run benchmarks/bench_peers.py")
