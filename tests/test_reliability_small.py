"""The smaller problems of issue 15, each reproduced through the CLI, then fixed."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from mnist_sgd import cli
from mnist_sgd.datasets import DataOptions, load_dataset

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def trained(sample_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("small") / "run"
    args = ["train", "--dry-run", "--quiet", "--no-plots", "--out", str(out)]
    assert cli.main([*args, "--cache-dir", str(sample_cache)]) == 0
    return out


@pytest.mark.parametrize(
    "image",
    [Image.new("L", (28, 28), 255), Image.new("RGBA", (50, 40), (0, 0, 0, 0))],
    ids=["all-white", "transparent"],
)
def test_predict_raw_of_a_blank_image_says_it_holds_no_digit(
    image: Image.Image, trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "blank.png"
    image.save(path)
    assert cli.main(["predict", str(trained), str(path), "--raw"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds no digit" in err and str(path) in err, err


def test_predict_refuses_a_fifo_instead_of_hanging(trained: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "digit.png"
    os.mkfifo(fifo)
    done = subprocess.run(
        [sys.executable, "-m", "mnist_sgd", "predict", str(trained), str(fifo)],
        capture_output=True,
        text=True,
        timeout=300,  # before: blocked forever opening the pipe
        cwd=ROOT,
    )
    assert done.returncode == 1
    assert "is not a regular file" in done.stderr and done.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--wd", "nan"], "wd (weight decay) must be a finite number"),
        (["--wd", "inf"], "wd (weight decay) must be a finite number"),
        (["--seed", str(2**70)], "seed must be a whole number from 0 to 2**64-1"),
        (["--seed", "-1"], "seed must be"),
    ],
)
def test_bad_numbers_name_their_option(
    flags: list[str], named: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["train", *flags, "--dry-run", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and named in err, err
    assert not (tmp_path / "run").exists()


def test_training_to_chance_level_is_said(
    sample_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["train", "--lr", "1e30", "--epochs", "1", "--quiet", "--no-plots"]
    code = cli.main([*args, "--out", str(tmp_path / "run"), "--cache-dir", str(sample_cache)])
    err = capsys.readouterr().err
    if code == 1:  # or the loss became non-finite: that is said too
        assert "lower" in err or "lr" in err, err
        return
    assert code == 0
    (line,) = [x for x in err.splitlines() if x.startswith("warning:")]
    assert "no better than always answering the commonest class" in line
    assert "lr 1e+30 may be too high" in line


def test_a_corrupt_archive_in_the_cache_is_fetched_again(shared_data: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cached = cache / "downloads" / "mnist_sample.tgz"
    cached.parent.mkdir(parents=True)
    cached.write_bytes((shared_data / "mnist_sample.tgz").read_bytes()[:100_000])
    data = load_dataset("mnist_sample", DataOptions(mirror=str(shared_data), cache_dir=cache))
    assert len(data.train_labels) == 12396  # at once: no "run again"
    assert cached.read_bytes() == (shared_data / "mnist_sample.tgz").read_bytes()


def test_a_tensor_cache_that_cannot_be_written_warns_in_one_line(
    shared_data: Path, tmp_path: Path
) -> None:
    script = (
        "import sys\n"
        "from mnist_sgd import cli\n"
        "from mnist_sgd.datasets import load\n"
        "import errno\n"
        "def full(*_):\n"
        "    raise OSError(errno.ENOSPC, 'No space left on device', 'x')\n"
        "load.save_tensors = full\n"
        "sys.exit(cli.main(sys.argv[1:]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, "data", "fetch", "mnist_sample", "--mirror",
         str(shared_data), "--cache-dir", str(tmp_path / "cache")],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    warning = [line for line in lines if "tensor cache" in line]
    assert len(warning) == 1 and warning[0].startswith("mnist-sgd: warning: cannot write"), lines
    assert not [line for line in lines if "warnings.warn" in line], lines


def test_the_resume_hint_follows_only_train() -> None:
    from mnist_sgd.cli import _one_line

    full = OSError(errno.ENOSPC, "No space left on device", "/cache/x")
    assert "--resume" in _one_line(full, "train")
    assert "--resume" not in _one_line(full, "data")
    assert _one_line(full, "data").endswith("free some disk space and run it again")


def test_curves_that_cannot_be_written_are_said_by_train(
    sample_cache: Path, tmp_path: Path
) -> None:
    """Issue 29, 5: with the disk full, a detached drawer's error went nowhere and train said 0."""
    script = (
        "import errno, sys\n"
        "from mnist_sgd import cli\n"
        "from mnist_sgd.pictures import plots\n"
        "def full(*_):\n"
        "    raise OSError(errno.ENOSPC, 'No space left on device', 'history.png')\n"
        "plots.plot_history = full\n"
        "sys.exit(cli.main(sys.argv[1:]))\n"
    )
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-c", script, "train", "--dry-run", "--quiet", "--out", str(out),
         "--cache-dir", str(sample_cache)],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if "curves" in line]  # --dry-run: chance
    assert len(lines) == 1 and "could not draw the curves into" in lines[0], done.stderr
    assert str(out / "plots" / "history.png") in lines[0] and "No space left" in lines[0]


def test_fetch_extract_replaces_a_corrupt_archive_in_the_cache(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 29, 6: ``data fetch --extract`` failed on a corrupt cached archive on every run."""
    cache = tmp_path / "cache"
    cached = cache / "downloads" / "mnist_sample.tgz"
    cached.parent.mkdir(parents=True)
    cached.write_bytes((shared_data / "mnist_sample.tgz").read_bytes()[:100_000])
    args = ["data", "fetch", "mnist_sample", "--extract", "--mirror", str(shared_data)]
    assert cli.main([*args, "--cache-dir", str(cache)]) == 0, capsys.readouterr().err
    assert cached.read_bytes() == (shared_data / "mnist_sample.tgz").read_bytes()
    assert (cache / "extracted" / "mnist_sample" / "labels.csv").is_file()
