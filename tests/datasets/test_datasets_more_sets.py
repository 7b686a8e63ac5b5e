"""Kuzushiji-MNIST and QMNIST by name: download, MD5 check, decode, the digest recorded once.

The real files cannot be fetched here (no network), so a fake mirror folder
holds small generated IDX files under the official names, and the registry
entry keeps its paths, URLs, classes and label layout but takes the MD5s of
the fake files (the "checksum table" swapped for the test). Everything else is
the real code path: mirror -> download cache -> MD5 -> decode -> tensor cache.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import mnist_sgd.datasets.registry as registry
from mnist_sgd.cli import main
from mnist_sgd.datasets import DataOptions, load_dataset, verify
from mnist_sgd.datasets.cache import content_digest, recorded_content
from mnist_sgd.datasets.idx import write_idx
from mnist_sgd.datasets.layout import tensor_cache_path
from mnist_sgd.datasets.registry import Split, get_info
from mnist_sgd.errors import DataError

TRAIN, VALID = 20, 10  # images per split in the fake files


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def fake_set(name: str, mirror: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, torch.Tensor]:
    """Write ``name``'s four files (small) into ``mirror`` and point the registry's MD5s at them."""
    info = get_info(name)
    rng = np.random.default_rng(len(name))
    arrays = {}
    for split, n in (("train", TRAIN), ("valid", VALID)):
        arrays[f"{split}_images"] = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        arrays[f"{split}_labels"] = np.arange(n, dtype=np.int64) % 10
    files = []
    for file in info.files:
        split = "train" if "train" in file.name else "valid"
        if "images" in file.name:
            payload = write_idx(arrays[f"{split}_images"])
        elif info.label_column is None:
            payload = write_idx(arrays[f"{split}_labels"].astype(np.uint8))
        else:  # QMNIST: idx2 int32, 8 columns, column 0 the digit, the others other facts
            table = np.zeros((len(arrays[f"{split}_labels"]), 8), np.int32)
            table[:, 0] = arrays[f"{split}_labels"]
            table[:, 2] = 2000 + np.arange(len(table))  # a writer id, not a class
            payload = write_idx(table)
        body = gzip.compress(payload, mtime=0)
        (mirror / file.path).parent.mkdir(parents=True, exist_ok=True)
        (mirror / file.path).write_bytes(body)
        files.append(dataclasses.replace(file, md5=md5(body), payload_size=len(payload)))
    splits = (
        Split("train", info.train.source_name, None, images=TRAIN),
        Split("valid", info.valid.source_name, None, images=VALID),
    )
    fake = dataclasses.replace(info, files=tuple(files), splits=splits)
    monkeypatch.setattr(registry, "DATASETS", {**registry.DATASETS, name: fake})
    return {key: torch.from_numpy(value) for key, value in arrays.items()}


@pytest.fixture(params=["kmnist", "qmnist"])
def fake(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> SimpleNamespace:
    name = request.param
    mirror = tmp_path / "mirror"
    tensors = fake_set(name, mirror, monkeypatch)
    options = DataOptions(cache_dir=tmp_path / "cache", mirror=str(mirror), offline=True)
    return SimpleNamespace(name=name, mirror=mirror, tensors=tensors, options=options)


def test_the_entries_hold_torchvisions_urls_and_md5s() -> None:
    kmnist, qmnist = get_info("kmnist"), get_info("qmnist")
    assert kmnist.files[0].url == (
        "http://codh.rois.ac.jp/kmnist/dataset/kmnist/train-images-idx3-ubyte.gz"
    )
    assert [f.md5 for f in kmnist.files][-1] == "7320c461ea6c1c855c0b718fb2a4b134"
    assert kmnist.classes[:3] == ("o", "ki", "su") and len(kmnist.classes) == 10
    assert qmnist.files[1].name == "qmnist-train-labels-idx2-int.gz"
    assert qmnist.files[1].md5 == "0058f8dd561b90ffdd0f734c6a30e5e4"
    assert (qmnist.train.size, qmnist.valid.size, qmnist.label_column) == (60000, 60000, 0)
    # unknown figures stay unknown, never guessed
    assert {f.size for f in (*kmnist.files, *qmnist.files)} == {None}
    assert kmnist.content_sha256 is None and qmnist.train.class_counts is None
    assert kmnist.download_size is None


def test_download_check_decode_then_the_cache_answers(fake: SimpleNamespace) -> None:
    data = load_dataset(fake.name, fake.options)
    for key, value in fake.tensors.items():
        assert torch.equal(getattr(data, key), value), key
    assert data.train_labels.dtype == torch.int64  # QMNIST: column 0 of the int32 table
    cache_file = tensor_cache_path(fake.options.resolved_cache_dir(), get_info(fake.name))
    assert recorded_content(cache_file) == content_digest(fake.tensors)
    for file in (fake.mirror / fake.name).iterdir():
        file.unlink()  # the mirror is gone: the tensor cache alone answers
    assert torch.equal(
        load_dataset(fake.name, fake.options).valid_images, fake.tensors["valid_images"]
    )
    report = verify(fake.name, fake.options)
    assert any("recorded on the first load" in line for line in report.checks)


def test_a_file_that_is_not_the_official_one_is_refused(fake: SimpleNamespace) -> None:
    info = get_info(fake.name)
    target = fake.mirror / info.files[0].path
    target.write_bytes(gzip.compress(gzip.decompress(target.read_bytes()), mtime=1))  # re-packed
    with pytest.raises(DataError, match=r"not the official .*no digest of the decompressed data"):
        load_dataset(fake.name, fake.options)
    downloads = fake.options.resolved_cache_dir() / "downloads" / fake.name
    assert not (downloads / info.files[0].name).exists()  # nothing half-kept


def test_a_changed_tensor_cache_is_caught_by_verify(fake: SimpleNamespace) -> None:
    load_dataset(fake.name, fake.options)
    cache_file = tensor_cache_path(fake.options.resolved_cache_dir(), get_info(fake.name))
    from safetensors.torch import load_file, save_file

    tensors = load_file(cache_file)
    tensors["train_images"][0, 0, 0] ^= 1
    save_file(tensors, cache_file, metadata={"content_sha256": recorded_content(cache_file) or ""})
    with pytest.raises(DataError, match="content"):
        verify(fake.name, fake.options)


@pytest.mark.parametrize("name", ["kmnist", "qmnist"])
def test_data_info_prints_the_entry_without_the_network(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["data", "info", name, "--cache-dir", str(tmp_path), "--offline"]) == 0
    out = capsys.readouterr().out
    info = get_info(name)
    assert all(file.md5 in out and file.url in out for file in info.files)
    assert "size not published" in out and "not published: recorded" in out
    assert main(["data", "info", name, "--json", "--cache-dir", str(tmp_path)]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["content_sha256"] is None and facts["files"][0]["size"] is None
