"""What the light commands import: no torch, no matplotlib (read from ``python -X importtime``).

Each command runs in a fresh interpreter; ``-X importtime`` lists every module
imported, so the test sees exactly what the user's process loaded.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "matplotlib")


def imported(argv: list[str], env: dict[str, str] | None = None) -> tuple[set[str], int]:
    """Top-level package names ``python -X importtime`` reports for ``argv``, and the exit code."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )
    modules = {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "mnist_sgd" in modules, done.stderr[-2000:]
    return modules, done.returncode


COMMANDS = {
    "help": ["--help"],
    "train-help": ["train", "--help"],
    "predict-help": ["predict", "--help"],
    "report-help": ["report", "--help"],
    "bench-help": ["bench", "--help"],
    "serve-help": ["serve", "--help"],
    "recipes": ["recipes"],
    "recipe": ["recipes", "mnist-best"],
    "data-list": ["data", "list"],
    "data-info": ["data", "info", "mnist_sample"],
    "no-command": [],
}


@pytest.mark.parametrize("case", list(COMMANDS))
def test_light_commands_import_no_torch(case: str, tmp_path: Path) -> None:
    argv = ["-m", "mnist_sgd", *COMMANDS[case]]
    modules, code = imported(argv, {"MNIST_SGD_CACHE": str(tmp_path)})
    assert code == (2 if case == "no-command" else 0)
    assert not modules & set(HEAVY), f"{case} imported {modules & set(HEAVY)}"


def test_import_mnist_sgd_is_cheap_and_its_names_still_work() -> None:
    modules, code = imported(["-c", "import mnist_sgd, mnist_sgd.datasets"])
    assert code == 0 and not modules & set(HEAVY)
    import mnist_sgd
    from mnist_sgd import Learner, lr_find

    assert mnist_sgd.Learner is Learner and callable(lr_find)
    assert sorted(mnist_sgd.__all__) == sorted(
        n for n in mnist_sgd.__all__ if hasattr(mnist_sgd, n)
    )
    assert set(mnist_sgd.__all__) <= set(dir(mnist_sgd))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = mnist_sgd.nope  # type: ignore[attr-defined]


def test_a_submodule_named_like_its_function_leaves_the_function() -> None:
    _, code = imported(
        [
            "-c",
            "import mnist_sgd.callbacks.lr_find, mnist_sgd, sys; "
            "from mnist_sgd import lr_find; assert callable(lr_find), lr_find",
        ]
    )
    assert code == 0


def test_a_refused_train_draws_nothing() -> None:
    modules, code = imported(["-m", "mnist_sgd", "train", "--opt", "basic", "--mom", "0.5"])
    assert code == 2  # refused before any data is read
    assert "matplotlib" not in modules


def test_predict_loads_a_run_without_torch_s_compiler(sample_cache: Path, tmp_path: Path) -> None:
    """Before: the run's size check drew the linear model's weights on the meta device,
    whose first ``randn`` and ``*`` import torch's meta kernels, ``torch._dynamo`` and
    ``sympy``: 1.5 s of every ``predict``, ``evaluate``, ``report`` and ``serve``."""
    from PIL import Image

    from mnist_sgd import cli

    run = tmp_path / "run"
    args = ["train", "--dry-run", "--quiet", "--no-plots", "--cache-dir", str(sample_cache)]
    assert cli.main([*args, "--out", str(run)]) == 0
    Image.new("L", (28, 28)).save(tmp_path / "blank.png")
    modules, code = imported(["-m", "mnist_sgd", "predict", str(run), str(tmp_path / "blank.png")])
    assert code in (0, 1)  # a blank image may be refused as holding no digit; loaded either way
    assert "sympy" not in modules
