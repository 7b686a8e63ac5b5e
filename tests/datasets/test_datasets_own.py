"""A user's own set by its path: class folders, Kaggle CSVs, IDX files; split, cache, errors."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from mnist_sgd.datasets import DataOptions, load_dataset
from mnist_sgd.datasets import own as own_module
from mnist_sgd.datasets.kaggle_csv import read_kaggle_csv
from mnist_sgd.datasets.own import natural_key
from mnist_sgd.errors import DataError
from mnist_sgd.predict.preprocess import prepare_image


def _pairs(images: torch.Tensor, labels: torch.Tensor) -> set[tuple[bytes, int]]:
    return {(i.numpy().tobytes(), int(y)) for i, y in zip(images, labels, strict=True)}


@pytest.mark.parametrize("form", ["folders", "csv", "idx"])
def test_each_form_loads_the_same_digits(
    own_digits: dict[str, Path], tmp_path: Path, form: str
) -> None:
    data = load_dataset(str(own_digits[form]), DataOptions(cache_dir=tmp_path))
    assert data.classes == tuple(str(d) for d in range(10))
    assert data.train_images.dtype == torch.uint8 and data.train_images.shape[1:] == (28, 28)
    assert len(data.train_labels) + len(data.valid_labels) == 300
    reference = load_dataset(str(own_digits["idx"]), DataOptions(cache_dir=tmp_path))
    everything = _pairs(
        torch.cat([reference.train_images, reference.valid_images]),
        torch.cat([reference.train_labels, reference.valid_labels]),
    )
    assert (
        _pairs(data.train_images, data.train_labels) | _pairs(data.valid_images, data.valid_labels)
        == everything
    )
    assert data.source == str(own_digits[form].resolve()) and len(data.digest) == 64


def test_the_split_is_seeded_and_the_same_on_every_load(
    own_digits: dict[str, Path], tmp_path: Path
) -> None:
    options = DataOptions(cache_dir=tmp_path)
    first = load_dataset(str(own_digits["csv"]), options)
    second = load_dataset(str(own_digits["csv"]), DataOptions(cache_dir=tmp_path / "other"))
    assert (len(first.train_labels), len(first.valid_labels)) == (240, 60)
    assert torch.equal(first.valid_images, second.valid_images)
    assert first.valid_pct == 0.2 and first.split_seed == 42
    wider = load_dataset(str(own_digits["csv"]), DataOptions(cache_dir=tmp_path, valid_pct=0.5))
    assert len(wider.valid_labels) == 150
    idx = load_dataset(str(own_digits["idx"]), options)  # its own split: train-* and t10k-*
    assert (len(idx.train_labels), len(idx.valid_labels), idx.valid_pct) == (200, 100, None)


def test_cache_is_hit_then_missed_after_a_change(
    own_digits: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "digits"
    shutil.copytree(own_digits["folders"], folder)
    options = DataOptions(cache_dir=tmp_path / "cache")
    first = load_dataset(str(folder), options)
    reads = []
    real = own_module.read_own
    monkeypatch.setattr(
        own_module, "read_own", lambda path, *notes: reads.append(path) or real(path, *notes)
    )
    assert torch.equal(load_dataset(str(folder), options).train_images, first.train_images)
    assert reads == []  # the second load: the tensor cache
    image = next((folder / "3").iterdir())
    Image.fromarray(np.full((28, 28), 255, np.uint8)).save(image)
    os.utime(image, ns=(1, 1))
    changed = load_dataset(str(folder), options)
    assert len(reads) == 1 and changed.digest != first.digest


def _paper_digit(side: tuple[int, int], box: tuple[int, int, int, int]) -> Image.Image:
    """Dark ink on white paper, RGB: a photo of a drawn stroke, not MNIST's style."""
    image = Image.new("RGB", side, (250, 250, 245))
    ImageDraw.Draw(image).line(box, fill=(20, 20, 30), width=max(2, side[0] // 12))
    return image


def test_other_sizes_and_modes_go_through_predicts_preprocessing(
    own_digits: dict[str, Path], tmp_path: Path
) -> None:
    root = tmp_path / "set"
    for name in ("2", "10"):
        shutil.copytree(own_digits["folders"] / "1", root / name)  # 28x28 grayscale: as they are
        _paper_digit((56, 40), (28, 6, 24, 34)).save(root / name / "photo.jpg")
        _paper_digit((120, 160), (30, 20, 90, 140)).convert("RGBA").save(root / name / "big.png")
    with pytest.warns(UserWarning) as caught:
        data = load_dataset(str(root), DataOptions(cache_dir=tmp_path / "cache", valid_pct=0.25))
    notes = [str(w.message) for w in caught if "28x28" in str(w.message)]
    total = sum(1 for _ in root.rglob("*.*"))
    assert notes == [
        f"{root}: 4 of {total} images were not 28x28 grayscale: centred and scaled as "
        "MNIST's are (as predict does)"
    ]
    assert data.classes == ("2", "10") and data.train_images.shape[1:] == (28, 28)
    with pytest.warns(UserWarning, match="4 of .* images were not 28x28 grayscale"):  # said again
        load_dataset(str(root), DataOptions(cache_dir=tmp_path / "cache", valid_pct=0.25))
    everything = torch.cat([data.train_images, data.valid_images])
    for name in ("2", "10"):
        for file in ("photo.jpg", "big.png"):  # exactly what predict makes of the same file
            prepared = prepare_image(root / name / file)
            assert any(torch.equal(prepared, image) for image in everything), file
    assert sorted(["10", "2", "a1"], key=natural_key) == ["2", "10", "a1"]


def test_an_image_with_no_digit_is_refused_by_name(tmp_path: Path) -> None:
    (tmp_path / "set" / "7").mkdir(parents=True)
    Image.new("RGB", (56, 40), (255, 255, 255)).save(tmp_path / "set" / "7" / "blank.jpg")
    with pytest.raises(DataError, match=r"blank\.jpg: image holds no digit.*remove it"):
        load_dataset(str(tmp_path / "set"), DataOptions(cache_dir=tmp_path / "cache"))


def test_split_folders_train_valid(own_digits: dict[str, Path], tmp_path: Path) -> None:
    for split in ("training", "testing"):
        shutil.copytree(own_digits["folders"], tmp_path / "set" / split)
    data = load_dataset(str(tmp_path / "set"), DataOptions(cache_dir=tmp_path / "cache"))
    assert (len(data.train_labels), len(data.valid_labels), data.valid_pct) == (300, 300, None)


def test_unlabelled_csv_reads_for_predict_not_for_training(
    own_digits: dict[str, Path], tmp_path: Path
) -> None:
    images, labels = read_kaggle_csv(own_digits["test_csv"])
    assert labels is None and images.shape == (300, 28, 28)
    with pytest.raises(DataError, match="no 'label' column"):
        load_dataset(str(own_digits["test_csv"]), DataOptions(cache_dir=tmp_path))


def _csv(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "bad.csv"
    header = "label," + ",".join(f"pixel{i}" for i in range(784))
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


GOOD = "3," + ",".join(["0"] * 784)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("3," + ",".join(["0"] * 783), r"bad.csv:3: 784 columns, expected 785"),
        ("3," + ",".join(["0"] * 783 + ["x"]), r"bad.csv:3: 'x' is not a whole number"),
        ("3," + ",".join(["0"] * 783 + ["256"]), r"bad.csv:3: pixel783 is 256, outside 0..255"),
        ("-1," + ",".join(["0"] * 784), r"bad.csv:3: label is -1"),
    ],
)
def test_bad_csv_rows_are_named_by_line(tmp_path: Path, row: str, message: str) -> None:
    path = _csv(tmp_path, [GOOD, row, GOOD])
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match=message):
        load_dataset(str(path), DataOptions(cache_dir=cache))
    assert not (cache / "tensors").exists() or not any((cache / "tensors").iterdir())


def test_bad_csv_header_and_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "wrong.csv"
    path.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(DataError, match=r"wrong.csv:1: expected a header"):
        read_kaggle_csv(path)
    monkeypatch.setattr("mnist_sgd.datasets.kaggle_csv.MAX_CSV_BYTES", 10)
    with pytest.raises(DataError, match="more than"):
        read_kaggle_csv(path)


def test_bad_folders_are_named(tmp_path: Path) -> None:
    options = DataOptions(cache_dir=tmp_path / "cache")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty: no class folders"):
        load_dataset(str(tmp_path / "empty"), options)
    (tmp_path / "set" / "3").mkdir(parents=True)
    (tmp_path / "set" / "3" / "notes.txt").write_text("not an image")
    with pytest.raises(DataError, match=r"notes.txt: not an image .*; remove it, or replace it"):
        load_dataset(str(tmp_path / "set"), options)
    with pytest.raises(DataError, match="no such file or folder"):
        load_dataset(str(tmp_path / "missing"), options)


def test_emnist_files_are_turned_upright(own_digits: dict[str, Path], tmp_path: Path) -> None:
    """EMNIST stores each image transposed (torchvision transposes it back); so do we."""
    import gzip

    from mnist_sgd.datasets.idx import read_idx, write_idx

    folder = tmp_path / "emnist"
    folder.mkdir()
    for ours, theirs in (("train", "emnist-digits-train"), ("t10k", "emnist-digits-test")):
        images = read_idx((own_digits["idx"] / f"{ours}-images-idx3-ubyte").read_bytes(), "i")
        labels = gzip.compress((own_digits["idx"] / f"{ours}-labels-idx1-ubyte").read_bytes())
        transposed = write_idx(np.ascontiguousarray(images.transpose(0, 2, 1)))
        (folder / f"{theirs}-images-idx3-ubyte.gz").write_bytes(gzip.compress(transposed))
        (folder / f"{theirs}-labels-idx1-ubyte.gz").write_bytes(labels)
    upright = load_dataset(str(own_digits["idx"]), DataOptions(cache_dir=tmp_path))
    emnist = load_dataset(str(folder), DataOptions(cache_dir=tmp_path))
    assert torch.equal(emnist.train_images, upright.train_images)
    assert torch.equal(emnist.valid_images, upright.valid_images)
