"""The registry: names, facts from the data README, and the error for an unknown name."""

from __future__ import annotations

import pytest

from mnist_sgd.datasets import DATASETS, get_info


def test_six_datasets_by_name() -> None:
    names = ["mnist_sample", "mnist", "mnist_png", "fashion_mnist", "kmnist", "qmnist"]
    assert list(DATASETS) == names


def test_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown dataset 'mnist_smaple'.*mnist_sample, mnist, "):
        get_info("mnist_smaple")


@pytest.mark.parametrize(
    ("name", "train", "valid"),
    [("mnist_sample", 12396, 2038), ("mnist", 60000, 10000), ("mnist_png", 60000, 10000)],
)
def test_split_sizes_are_the_readme_counts(name: str, train: int, valid: int) -> None:
    info = get_info(name)
    assert (info.train.size, info.valid.size) == (train, valid)


def test_mnist_sample_classes_follow_labels_csv() -> None:
    info = get_info("mnist_sample")
    assert info.classes == ("3", "7")  # labels.csv: 0 = 3, 1 = 7
    assert info.train.class_counts == (6131, 6265)
    assert info.valid.class_counts == (1010, 1028)
    assert info.order == "sorted"


def test_official_download_facts() -> None:
    sample, png = get_info("mnist_sample").files[0], get_info("mnist_png").files[0]
    assert (sample.url, sample.size, sample.md5) == (
        "https://s3.amazonaws.com/fast-ai-sample/mnist_sample.tgz",
        3214948,
        "2dbc7ec6f9259b583af0072c55816a88",
    )
    assert (png.url, png.size, png.md5) == (
        "https://s3.amazonaws.com/fast-ai-imageclas/mnist_png.tgz",
        15683414,
        "03639f83c4e3d19e0a3a53a8a997c487",
    )
    mnist = {file.name: file for file in get_info("mnist").files}
    assert mnist["train-images-idx3-ubyte.gz"].md5 == "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    assert mnist["t10k-labels-idx1-ubyte.gz"].payload_size == 10008
    fashion = get_info("fashion_mnist").files
    assert all(
        f.url.startswith("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/")
        for f in fashion
    )
    assert all(f.path.startswith("fashion-mnist/") and f.payload_md5 for f in fashion)


def test_mnist_and_its_png_copy_share_one_content_digest() -> None:
    assert get_info("mnist").content_sha256 == get_info("mnist_png").content_sha256


def test_fashion_classes_are_zalandos() -> None:
    classes = get_info("fashion_mnist").classes
    assert classes[0] == "T-shirt/top" and classes[9] == "Ankle boot" and len(classes) == 10
