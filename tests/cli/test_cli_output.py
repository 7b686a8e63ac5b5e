"""What the commands print, as real processes: epoch numbers, pipes, several images at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
EPOCHS = 3


def mnist_sgd(*argv: str, cache: Path, mirror: Path) -> subprocess.CompletedProcess[str]:
    """``python -m mnist_sgd ARGV`` with stdout and stderr both pipes (not a terminal)."""
    env = {**os.environ, "MNIST_SGD_CACHE": str(cache), "MNIST_SGD_MIRROR": str(mirror)}
    return subprocess.run(
        [sys.executable, "-m", "mnist_sgd", *argv],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env=env,
    )


@pytest.fixture(scope="module")
def trained(
    sample_cache: Path, shared_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
    """The seed's model for 3 epochs, once printing its table and once as ``--json``."""
    folder = tmp_path_factory.mktemp("output")
    flags = ("--epochs", str(EPOCHS), "--device", "cpu", "--no-plots")
    table = mnist_sgd(
        "train", *flags, "--out", str(folder / "table"), cache=sample_cache, mirror=shared_data
    )
    as_json = mnist_sgd(
        "train",
        *flags,
        "--json",
        "--out",
        str(folder / "json"),
        cache=sample_cache,
        mirror=shared_data,
    )
    assert table.returncode == 0 and as_json.returncode == 0, table.stderr + as_json.stderr
    return folder, table, as_json


def test_epochs_are_numbered_1_to_n_everywhere(trained) -> None:  # type: ignore[no-untyped-def]
    folder, table, as_json = trained
    expected = list(range(1, EPOCHS + 1))
    rows = [line.split() for line in table.stdout.splitlines()]
    assert rows[0][0] == "epoch"
    assert [int(row[0]) for row in rows[1 : EPOCHS + 1]] == expected
    assert [json.loads(line)["epoch"] for line in as_json.stdout.splitlines()] == expected
    for run in ("table", "json"):
        metrics = (folder / run / "metrics.jsonl").read_text().splitlines()
        assert [json.loads(line)["epoch"] for line in metrics] == expected
        facts = json.loads((folder / run / "run.json").read_text())
        assert facts["final"]["epoch"] == EPOCHS and facts["status"] == "done"


def test_progress_into_a_pipe_has_no_carriage_returns(trained) -> None:  # type: ignore[no-untyped-def]
    _, table, as_json = trained
    for done in (table, as_json):
        assert "\r" not in done.stderr and "\r" not in done.stdout


def test_report_and_web_history_count_from_1(trained) -> None:  # type: ignore[no-untyped-def]
    from mnist_sgd.runs import load_run
    from mnist_sgd.runs.report import epochs_table

    folder, _, _ = trained
    run = load_run(folder / "table")
    assert [r["epoch"] for r in run.history] == list(range(1, EPOCHS + 1))
    assert f"<td>{EPOCHS}</td>" in epochs_table(run.history)
    assert f"<td>{EPOCHS + 1}</td>" not in epochs_table(run.history)


def test_predict_three_images_one_missing(trained, sample_cache: Path, shared_data: Path) -> None:  # type: ignore[no-untyped-def]
    from mnist_sgd.datasets import DataOptions, load_dataset

    folder, _, _ = trained
    data = load_dataset("mnist_sample", DataOptions(cache_dir=sample_cache, offline=True))
    three, seven, missing = folder / "three.png", folder / "seven.png", folder / "gone.png"
    Image.fromarray(data.valid_images[0].numpy(), mode="L").save(three)
    Image.fromarray(data.valid_images[-1].numpy(), mode="L").save(seven)
    done = mnist_sgd(
        "predict", str(folder / "table"), str(three), str(missing), str(seven),
        cache=sample_cache, mirror=shared_data,
    )  # fmt: skip
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == [str(three), str(seven)]
    assert lines[0].split(": ")[1].startswith("3 (") and lines[1].split(": ")[1].startswith("7 (")
    errors = [line for line in done.stderr.splitlines() if line.startswith("mnist-sgd: error:")]
    assert len(errors) == 1 and "gone.png" in errors[0] and "does not exist" in errors[0]
    assert "knows only two classes, 3 and 7" in done.stderr
    assert "Traceback" not in done.stderr
