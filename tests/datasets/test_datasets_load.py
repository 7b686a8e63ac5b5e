"""``load_dataset``, ``fetch``, ``verify``: sources in order, checks, and the tensor cache.

Two tiny datasets are registered for these tests: ``tiny_png`` (an archive of
PNG folders, 8 images) and ``tiny_idx`` (IDX files, 9 images). Their
"official" files live in a folder; the official URLs are never contacted.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import shutil
import tarfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

import mnist_sgd.datasets.registry as registry
import mnist_sgd.datasets.sources as sources
from mnist_sgd.datasets import (
    DataOptions,
    cache_status,
    content_digest,
    fetch,
    get_info,
    load_dataset,
    verify,
)
from mnist_sgd.datasets.idx import write_idx
from mnist_sgd.datasets.registry import DatasetInfo, RemoteFile, Split
from mnist_sgd.errors import DataError

RNG = np.random.default_rng(0)
PNG_IMAGES = {  # split -> class -> file names; pixel values from RNG
    "train": {"3": ["1.png", "10.png", "2.png"], "7": ["4.png", "3.png"]},
    "valid": {"3": ["7.png"], "7": ["5.png", "6.png"]},
}


def png_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "PNG")
    return buffer.getvalue()


def write_png_tree(root: Path) -> dict[str, torch.Tensor]:
    """The tiny_png folders under ``root``; returns the tensors a load must give."""
    tensors: dict[str, torch.Tensor] = {}
    for split, classes in PNG_IMAGES.items():
        images, labels = [], []
        for label, (name, files) in enumerate(classes.items()):
            for file in sorted(files):  # the canonical "sorted" order
                image = RNG.integers(0, 256, (28, 28), dtype=np.uint8)
                (root / split / name).mkdir(parents=True, exist_ok=True)
                (root / split / name / file).write_bytes(png_bytes(image))
                images.append(image)
                labels.append(label)
        tensors[f"{split}_images"] = torch.from_numpy(np.stack(images))
        tensors[f"{split}_labels"] = torch.tensor(labels)
    (root / "labels.csv").write_text("name,label\n")
    return tensors


def tgz(folder: Path, arcname: str, dest: Path, fmt: int = tarfile.GNU_FORMAT) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(dest, "w:gz", format=fmt) as tar:
        tar.add(folder, arcname=arcname)
    return dest


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@pytest.fixture
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """Register tiny_png and tiny_idx; build their official files and a re-packed mirror."""
    official, mirror = tmp_path / "official", tmp_path / "mirror"
    png_tensors = write_png_tree(tmp_path / "src" / "tiny_png")
    archive = tgz(tmp_path / "src" / "tiny_png", "tiny_png", official / "tiny_png.tgz")
    (mirror / "tiny").mkdir(parents=True)
    tgz(tmp_path / "src" / "tiny_png", "tiny_png", mirror / "tiny_png.tgz", tarfile.PAX_FORMAT)

    idx_tensors: dict[str, torch.Tensor] = {}
    files = []
    for split, prefix, n in (("train", "train", 6), ("valid", "t10k", 3)):
        images = RNG.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = np.arange(n, dtype=np.uint8) % 2
        idx_tensors[f"{split}_images"] = torch.from_numpy(images)
        idx_tensors[f"{split}_labels"] = torch.from_numpy(labels.astype(np.int64))
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            name = f"{prefix}-{kind}-ubyte.gz"
            payload = write_idx(array)
            body = gzip.compress(payload, compresslevel=9, mtime=0)
            (official / "tiny").mkdir(parents=True, exist_ok=True)
            (official / "tiny" / name).write_bytes(body)
            (mirror / "tiny" / name).write_bytes(gzip.compress(payload, compresslevel=1, mtime=1))
            files.append(
                RemoteFile(
                    path=f"tiny/{name}",
                    url=f"http://example.invalid/tiny/{name}",
                    size=len(body),
                    md5=md5(body),
                    payload_size=len(payload),
                    payload_sha256=hashlib.sha256(payload).hexdigest(),
                )
            )
    png_info = DatasetInfo(
        name="tiny_png",
        title="tiny PNG folders",
        kind="png_archive",
        classes=("3", "7"),
        splits=(Split("train", "train", (3, 2)), Split("valid", "valid", (1, 2))),
        files=(
            RemoteFile(
                "tiny_png.tgz",
                "http://example.invalid/tiny_png.tgz",
                archive.stat().st_size,
                md5(archive.read_bytes()),
            ),
        ),
        content_sha256=content_digest(png_tensors),
        order="sorted",
        archive_root="tiny_png",
    )
    idx_info = DatasetInfo(
        name="tiny_idx",
        title="tiny IDX files",
        kind="idx",
        classes=("a", "b"),
        splits=(Split("train", "train", (3, 3)), Split("valid", "t10k", (2, 1))),
        files=tuple(files),
        content_sha256=content_digest(idx_tensors),
    )
    infos = {**registry.DATASETS, "tiny_png": png_info, "tiny_idx": idx_info}
    monkeypatch.setattr(registry, "DATASETS", infos)
    return SimpleNamespace(
        official=official,
        mirror=mirror,
        cache=tmp_path / "cache",
        png=png_tensors,
        idx=idx_tensors,
        src=tmp_path / "src",
    )


def same(data: object, tensors: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(getattr(data, key), value) for key, value in tensors.items())


def offline(tiny: SimpleNamespace, **changes: object) -> DataOptions:
    options = DataOptions(cache_dir=tiny.cache, mirror=str(tiny.mirror), offline=True)
    return dataclasses.replace(options, **changes)  # type: ignore[arg-type]


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize("name", ["tiny_png", "tiny_idx"])
def test_mirror_folder_fills_the_cache_then_the_cache_answers(
    tiny: SimpleNamespace, name: str
) -> None:
    data = load_dataset(name, offline(tiny))
    assert same(data, tiny.png if name == "tiny_png" else tiny.idx)
    assert data.name == name and data.train_labels.dtype == torch.int64
    shutil.rmtree(tiny.mirror)  # the source is gone; the tensor cache is enough
    assert same(load_dataset(name, offline(tiny)), tiny.png if name == "tiny_png" else tiny.idx)


def test_cache_layout_mirrors_the_mirror(tiny: SimpleNamespace) -> None:
    load_dataset("tiny_idx", offline(tiny))
    load_dataset("tiny_png", offline(tiny))
    listing = files_under(tiny.cache)
    assert (
        "downloads/tiny_png.tgz" in listing
        and "downloads/tiny/t10k-labels-idx1-ubyte.gz" in listing
    )
    digest = get_info("tiny_png").content_sha256[:16]
    assert f"tensors/tiny_png-{digest}.v1.safetensors" in listing
    assert not [
        name for name in listing if name.rsplit("/", 1)[-1].startswith(".")
    ]  # no temp files


def test_offline_with_nothing_names_the_url_and_the_way_out(tiny: SimpleNamespace) -> None:
    with pytest.raises(DataError) as caught:
        load_dataset("tiny_png", DataOptions(cache_dir=tiny.cache, offline=True))
    message = str(caught.value)
    assert "http://example.invalid/tiny_png.tgz" in message and "offline" in message
    assert "--mirror or MNIST_SGD_MIRROR" in message and "--data-path" in message
    assert files_under(tiny.cache) == [] if tiny.cache.exists() else True


def test_mirror_without_the_file_falls_through_to_the_official_url(
    tiny: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = get_info("tiny_png")
    official_url = (tiny.official / "tiny_png.tgz").as_uri()
    moved = dataclasses.replace(info, files=(dataclasses.replace(info.files[0], url=official_url),))
    monkeypatch.setitem(registry.DATASETS, "tiny_png", moved)  # type: ignore[arg-type]
    (tiny.mirror / "tiny_png.tgz").unlink()
    assert same(load_dataset("tiny_png", offline(tiny)), tiny.png)
    assert "official file" in " ".join(verify("tiny_png", offline(tiny)).checks)


def test_payload_mismatch_from_the_mirror_caches_nothing(tiny: SimpleNamespace) -> None:
    target = tiny.mirror / "tiny" / "t10k-images-idx3-ubyte.gz"
    payload = bytearray(gzip.decompress(target.read_bytes()))
    payload[100] ^= 0xFF
    target.write_bytes(gzip.compress(bytes(payload)))
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte\.gz: checksum mismatch"):
        load_dataset("tiny_idx", offline(tiny))
    assert "downloads/tiny/t10k-images-idx3-ubyte.gz" not in files_under(tiny.cache)
    assert not (tiny.cache / "tensors").exists()


def test_content_mismatch_in_a_repacked_archive_caches_nothing(tiny: SimpleNamespace) -> None:
    image = tiny.src / "tiny_png" / "train" / "3" / "10.png"
    image.write_bytes(png_bytes(np.zeros((28, 28), np.uint8)))
    tgz(tiny.src / "tiny_png", "tiny_png", tiny.mirror / "tiny_png.tgz")
    with pytest.raises(DataError, match="content mismatch"):
        load_dataset("tiny_png", offline(tiny))
    assert files_under(tiny.cache) == []


@pytest.mark.parametrize("where", ["archive", "extracted", "parent", "mirror_like"])
def test_local_copy_in_any_shape(tiny: SimpleNamespace, where: str) -> None:
    path = {
        "archive": tiny.official / "tiny_png.tgz",
        "extracted": tiny.src / "tiny_png",
        "parent": tiny.src,
        "mirror_like": tiny.official,
    }[where]
    assert same(load_dataset("tiny_png", DataOptions(path=path, cache_dir=tiny.cache)), tiny.png)


@pytest.mark.parametrize("compressed", [True, False])
def test_local_idx_folder(tiny: SimpleNamespace, tmp_path: Path, compressed: bool) -> None:
    folder = tmp_path / "idx"
    folder.mkdir()
    for file in (tiny.official / "tiny").iterdir():
        if compressed:
            shutil.copy(file, folder / file.name)
        else:
            (folder / file.stem).write_bytes(gzip.decompress(file.read_bytes()))
    assert same(load_dataset("tiny_idx", DataOptions(path=folder, cache_dir=tiny.cache)), tiny.idx)
    assert same(
        load_dataset("tiny_idx", DataOptions(path=tiny.official, cache_dir=tiny.cache)), tiny.idx
    )


def test_local_path_comes_first_and_is_checked_even_when_cached(tiny: SimpleNamespace) -> None:
    load_dataset("tiny_png", offline(tiny))  # the tensor cache exists now
    bad = tiny.src / "tiny_png" / "valid" / "7" / "5.png"
    bad.write_bytes(png_bytes(np.full((28, 28), 9, np.uint8)))
    with pytest.raises(DataError, match="content mismatch"):
        load_dataset("tiny_png", DataOptions(path=tiny.src / "tiny_png", cache_dir=tiny.cache))


def test_a_verified_local_copy_is_not_decoded_again(
    tiny: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    options = DataOptions(path=tiny.official / "tiny_png.tgz", cache_dir=tiny.cache)
    load_dataset("tiny_png", options)

    def no_decoding(*args: object) -> None:
        raise AssertionError("decoded again")

    monkeypatch.setattr("mnist_sgd.datasets.load.read_local", no_decoding)
    assert same(load_dataset("tiny_png", options), tiny.png)


def test_missing_local_copy(tiny: SimpleNamespace, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file or folder"):
        load_dataset("tiny_png", DataOptions(path=tmp_path / "nope", cache_dir=tiny.cache))
    with pytest.raises(DataError, match="no tiny_png here"):
        load_dataset("tiny_png", DataOptions(path=tmp_path, cache_dir=tiny.cache))
    with pytest.raises(DataError, match=r"expected a folder holding train-images-idx3-ubyte\.gz"):
        load_dataset("tiny_idx", DataOptions(path=tmp_path, cache_dir=tiny.cache))


def test_unusable_tensor_cache_is_rebuilt(tiny: SimpleNamespace) -> None:
    load_dataset("tiny_png", offline(tiny))
    cache_file = cache_status("tiny_png", offline(tiny)).tensor_cache
    cache_file.write_bytes(cache_file.read_bytes()[:50])
    assert same(load_dataset("tiny_png", offline(tiny)), tiny.png)
    assert cache_file.stat().st_size > 50


def test_corrupt_download_in_the_cache_is_fetched_again(tiny: SimpleNamespace) -> None:
    fetch("tiny_png", offline(tiny))
    cached = tiny.cache / "downloads" / "tiny_png.tgz"
    good = cached.read_bytes()
    cached.write_bytes(good[:-40])
    assert same(load_dataset("tiny_png", offline(tiny)), tiny.png)  # removed, fetched afresh
    assert cached.read_bytes() == good


def test_fetch_and_extract(tiny: SimpleNamespace) -> None:
    archive = fetch("tiny_png", offline(tiny))
    assert archive == tiny.cache / "downloads" / "tiny_png.tgz"
    folder = fetch("tiny_png", offline(tiny), extract=True)
    assert folder == tiny.cache / "extracted" / "tiny_png"
    assert sorted(p.name for p in (folder / "train" / "3").iterdir()) == [
        "1.png",
        "10.png",
        "2.png",
    ]
    assert same(load_dataset("tiny_png", DataOptions(path=folder, cache_dir=tiny.cache)), tiny.png)
    assert fetch("tiny_idx", offline(tiny)) == tiny.cache / "downloads" / "tiny"


def test_local_copy_feeds_fetch_first(tiny: SimpleNamespace) -> None:
    options = DataOptions(path=tiny.official, cache_dir=tiny.cache, offline=True)
    assert fetch("tiny_png", options).read_bytes() == (tiny.official / "tiny_png.tgz").read_bytes()


def test_verify_reports_and_catches_a_tampered_tensor_cache(tiny: SimpleNamespace) -> None:
    with pytest.raises(DataError, match=r"not in the cache.*mnist-sgd data fetch tiny_idx"):
        verify("tiny_idx", offline(tiny))
    load_dataset("tiny_idx", offline(tiny))
    report = verify("tiny_idx", offline(tiny))
    assert any("faithful re-pack" in line for line in report.checks)
    assert report.checks[-1].startswith("tensor cache:") and report.checks[-1].endswith("matches")

    from safetensors.torch import load_file, save_file

    cache_file = cache_status("tiny_idx", offline(tiny)).tensor_cache
    tensors = load_file(cache_file)
    tensors["train_images"][0, 0, 0] += 1
    save_file(tensors, cache_file, metadata={"content_sha256": get_info("tiny_idx").content_sha256})
    with pytest.raises(DataError, match="content does not match; removed it"):
        verify("tiny_idx", offline(tiny))
    assert not cache_file.exists()


def test_verify_a_local_copy(tiny: SimpleNamespace) -> None:
    report = verify("tiny_png", DataOptions(path=tiny.src, cache_dir=tiny.cache))
    assert (
        report.source == tiny.src / "tiny_png"
        and "read in place as image folders" in report.checks[0]
    )


def test_cache_status(tiny: SimpleNamespace) -> None:
    before = cache_status("tiny_idx", offline(tiny))
    assert not before.fetched and not before.tensor_cache_present
    load_dataset("tiny_idx", offline(tiny))
    after = cache_status("tiny_idx", offline(tiny))
    assert after.fetched and after.tensor_cache_present and after.as_dict()["fetched"] is True


def test_bad_arguments_are_value_errors(tiny: SimpleNamespace) -> None:
    with pytest.raises(ValueError, match="unknown dataset 'nope'"):
        load_dataset("nope")
    with pytest.raises(ValueError, match="mirror must be an http, https or file URL"):
        load_dataset("tiny_png", DataOptions(cache_dir=tiny.cache, mirror="ftp://host/"))


def test_the_default_cache_is_the_user_cache_folder() -> None:
    assert DataOptions().resolved_cache_dir().name == "mnist-sgd"
    assert sources.mirror_url("/srv/m", get_info("mnist").files[0]).endswith(
        "/srv/m/mnist/train-images-idx3-ubyte.gz"
    )


def test_spread_keeps_every_class_of_a_split_sorted_by_class() -> None:
    """``train --dry-run``'s 64 items: spread through each split, not its first 64 (all 3s)."""
    import torch

    from mnist_sgd.datasets.base import MnistData

    labels = torch.tensor([0] * 500 + [1] * 500)
    images = torch.arange(1000).reshape(-1, 1, 1).expand(-1, 28, 28).to(torch.uint8)
    data = MnistData("two", ("3", "7"), images, labels, images[:100], labels[:100])
    small = data.spread(64)
    assert len(small.train_labels) == len(small.valid_labels) == 64
    assert small.train_labels.bincount().tolist() == [32, 32]
    assert small.train_images[0, 0, 0] == 0 and small.train_labels[-1] == 1
    assert data.spread(5000).train_labels.tolist() == labels.tolist()  # all, when fewer
