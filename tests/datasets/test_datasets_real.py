"""Integration: the four real datasets from ``../shared/data`` and Debian's Fashion-MNIST.

The exact counts are the data README's. One tensor cache serves the whole
session, so each dataset is decoded once.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mnist_sgd.datasets import DataOptions, MnistData, fetch, get_info, load_dataset, verify

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def real_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data-cache")


@pytest.fixture(scope="session")
def sample(shared_data: Path, real_cache: Path) -> MnistData:
    return load_dataset("mnist_sample", DataOptions(path=shared_data, cache_dir=real_cache))


@pytest.fixture(scope="session")
def mnist(shared_data: Path, real_cache: Path) -> MnistData:
    return load_dataset("mnist", DataOptions(path=shared_data, cache_dir=real_cache))


def class_counts(labels: torch.Tensor, n_classes: int) -> list[int]:
    return torch.bincount(labels, minlength=n_classes).tolist()


def test_mnist_sample_counts_and_the_seed_shapes(sample: MnistData) -> None:
    assert sample.classes == ("3", "7")
    assert class_counts(sample.train_labels, 2) == [6131, 6265]
    assert class_counts(sample.valid_labels, 2) == [1010, 1028]
    assert sample.train_images.dtype == torch.uint8
    # the seed: train_x = cat([threes, sevens]).view(-1, 28*28); train_y = is_three, (n, 1)
    for images, labels, n in (
        (sample.train_images, sample.train_labels, 12396),
        (sample.valid_images, sample.valid_labels, 2038),
    ):
        assert images.view(-1, 28 * 28).shape == (n, 784)
        assert (labels == 0).long().unsqueeze(1).shape == (n, 1)
    # all 3s, then all 7s
    assert sample.train_labels[:6131].eq(0).all() and sample.train_labels[6131:].eq(1).all()


def test_mnist_sample_order_is_the_books_sorted_paths(shared_data: Path, sample: MnistData) -> None:
    with tarfile.open(shared_data / "mnist_sample.tgz") as tar:
        threes = sorted(
            m.name for m in tar if m.isfile() and m.name.startswith("mnist_sample/train/3/")
        )
        assert threes[:3] == [f"mnist_sample/train/3/{n}.png" for n in (10, 10000, 10011)]
        for i in (0, 1, len(threes) - 1):
            pixels = np.asarray(Image.open(io.BytesIO(tar.extractfile(threes[i]).read())))  # type: ignore[union-attr]
            assert np.array_equal(sample.train_images[i].numpy(), pixels)


def test_mnist_counts(mnist: MnistData) -> None:
    info = get_info("mnist")
    assert mnist.train_images.shape == (60000, 28, 28) and mnist.valid_images.shape == (
        10000,
        28,
        28,
    )
    assert class_counts(mnist.train_labels, 10) == list(info.train.class_counts)
    assert class_counts(mnist.valid_labels, 10) == list(info.valid.class_counts)


def test_mnist_sample_is_mnists_threes_and_sevens(
    shared_data: Path, sample: MnistData, mnist: MnistData
) -> None:
    with tarfile.open(shared_data / "mnist_sample.tgz") as tar:
        names = sorted(
            m.name for m in tar if m.isfile() and m.name.startswith("mnist_sample/valid/")
        )
    index = torch.tensor([int(Path(name).stem) for name in names])  # sorted by class, then name
    assert torch.equal(sample.valid_images, mnist.valid_images[index])


def test_mnist_png_pixels_equal_the_idx_pixels(
    shared_data: Path, real_cache: Path, mnist: MnistData
) -> None:
    png = load_dataset("mnist_png", DataOptions(path=shared_data, cache_dir=real_cache))
    assert png.classes == mnist.classes
    for key in ("train_images", "train_labels", "valid_images", "valid_labels"):
        assert torch.equal(getattr(png, key), getattr(mnist, key)), key


def test_fashion_mnist_from_debian(fashion_dir: Path, real_cache: Path) -> None:
    data = load_dataset("fashion_mnist", DataOptions(path=fashion_dir, cache_dir=real_cache))
    assert data.classes[0] == "T-shirt/top"
    assert data.train_images.shape == (60000, 28, 28) and data.valid_images.shape == (10000, 28, 28)
    assert class_counts(data.train_labels, 10) == [6000] * 10
    assert class_counts(data.valid_labels, 10) == [1000] * 10


def test_shared_copy_as_an_offline_mirror_then_verify(
    shared_data: Path, tmp_path: Path, mnist: MnistData
) -> None:
    options = DataOptions(cache_dir=tmp_path, mirror=str(shared_data), offline=True)
    assert fetch("mnist", options) == tmp_path / "downloads" / "mnist"
    report = verify("mnist", options)
    assert sum("a faithful re-pack" in line for line in report.checks) == 4  # re-compressed .gz
    assert torch.equal(load_dataset("mnist", options).train_images, mnist.train_images)
