"""The linear model's weight picture teaches: its change since initialisation shows a 3 vs a 7.

After the seed's 20 epochs (MNIST_SAMPLE, linear, lr 1, ``mnist_loss``) the weights
themselves still look like their std-1 random start; what SGD added to them is
"three-ness minus seven-ness": it correlates with (mean 3 - mean 7) over the 784
pixels. Measured: Pearson 0.748 for the change, 0.252 for the weights.
"""

from __future__ import annotations

from pathlib import Path

import numpy
import pytest
import torch
from PIL import Image

from mnist_sgd.cli import main
from mnist_sgd.datasets import DataOptions, load_dataset
from mnist_sgd.runs import INIT_FILE, load_run
from mnist_sgd.runs.report import initial_weight, linear_weight


def pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.flatten().double(), b.flatten().double()
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / (a.norm() * b.norm()))


@pytest.fixture(scope="module")
def seed_run(sample_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seed's system, 20 epochs, as ``mnist-sgd train`` makes it."""
    out = tmp_path_factory.mktemp("weights") / "seed"
    flags = ["--cache-dir", str(sample_cache), "--offline", "--no-plots", "--device", "cpu"]
    assert main(["train", "--out", str(out), "--quiet", *flags]) == 0
    return out


def mean3_minus_mean7(cache: Path) -> torch.Tensor:
    data = load_dataset("mnist_sample", DataOptions(cache_dir=cache, offline=True))
    images = data.train_images.float() / 255
    return images[data.train_labels == 0].mean(0) - images[data.train_labels == 1].mean(0)


def test_the_change_since_initialisation_is_a_3_against_a_7(
    seed_run: Path, sample_cache: Path
) -> None:
    run = load_run(seed_run)
    weight, (initial, title) = linear_weight(run), initial_weight(run)
    assert (
        weight is not None
        and initial is not None
        and title.text("en") == "change since initialisation"
    )
    target = mean3_minus_mean7(sample_cache)
    change = pearson(weight - initial, target)
    print(f"Pearson(change, mean3 - mean7) = {change:.3f}; weights: {pearson(weight, target):.3f}")
    assert change >= 0.5  # red (> 0) pushes towards "3", class 0, target 1
    assert change > pearson(weight, target) + 0.2  # the picture that teaches is the change


def test_a_run_without_init_file_rebuilds_it_from_its_seed(seed_run: Path, tmp_path: Path) -> None:
    saved = initial_weight(load_run(seed_run))[0]
    (seed_run / INIT_FILE).rename(tmp_path / INIT_FILE)
    try:
        rebuilt, title = initial_weight(load_run(seed_run))
    finally:
        (tmp_path / INIT_FILE).rename(seed_run / INIT_FILE)
    assert title.text("en") == "change since initialisation (rebuilt from seed 42)"
    assert saved is not None and rebuilt is not None and torch.equal(saved, rebuilt)


def test_report_draws_weights_and_change_side_by_side(seed_run: Path, sample_cache: Path) -> None:
    assert main(["report", str(seed_run), "--cache-dir", str(sample_cache), "--offline"]) == 0
    with Image.open(seed_run / "plots" / "weights.png") as image:
        rgb = torch.from_numpy(numpy.asarray(image.convert("RGB")).astype("int64"))
    assert image.width > 2 * image.height  # two panels: the weights, then their change
    left, right = rgb[:, : image.width // 2], rgb[:, image.width // 2 :]
    for half in (left, right):  # both on a red-white-blue scale: strong red and strong blue
        red = (half[..., 0] > 200) & (half[..., 2] < 80)
        blue = (half[..., 2] > 200) & (half[..., 0] < 80)
        assert red.sum() > 50 and blue.sum() > 50
