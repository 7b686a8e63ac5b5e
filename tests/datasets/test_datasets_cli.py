"""``mnist-sgd data``: tables, JSON, exit codes, one-line errors, environment variables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mnist_sgd.cli import main
from mnist_sgd.datasets import DATASETS


def test_list_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "list", "--json", "--cache-dir", str(tmp_path)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["name"] for row in rows] == list(DATASETS)
    assert list(DATASETS)[:4] == ["mnist_sample", "mnist", "mnist_png", "fashion_mnist"]
    assert rows[0]["train"] == 12396 and rows[0]["fetched"] is False


def test_list_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "list", "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:4] == ["name", "classes", "train", "valid"]
    assert f"cache: {tmp_path}" in out


def test_info_json_and_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "info", "mnist", "--json", "--cache-dir", str(tmp_path)]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["splits"]["valid"]["size"] == 10000 and len(facts["files"]) == 4
    assert facts["files"][0]["payload_sha256"].startswith("ba891046")
    assert facts["cache"]["tensor_cache_present"] is False
    assert main(["data", "info", "fashion_mnist", "--cache-dir", str(tmp_path)]) == 0
    assert "T-shirt/top" in capsys.readouterr().out


@pytest.mark.slow
def test_fetch_then_verify_through_the_environment(
    shared_data: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MNIST_SGD_CACHE", str(tmp_path))
    monkeypatch.setenv("MNIST_SGD_MIRROR", str(shared_data))
    assert main(["data", "fetch", "mnist_sample", "--offline"]) == 0
    out = capsys.readouterr().out
    assert (
        str(tmp_path / "downloads" / "mnist_sample.tgz") in out and "12396 train, 2038 valid" in out
    )
    assert main(["data", "verify", "mnist_sample", "--offline"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "mnist_sample: verified"


def test_offline_without_data_is_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["data", "fetch", "mnist_sample", "--offline", "--cache-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert "https://s3.amazonaws.com/fast-ai-sample/mnist_sample.tgz" in err and "--mirror" in err


def test_verify_before_fetch_is_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "verify", "mnist", "--cache-dir", str(tmp_path)]) == 1
    assert "mnist-sgd data fetch mnist" in capsys.readouterr().err


def test_unknown_dataset_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "info", "mnist_smaple"]) == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'mnist_smaple'" in err and "mnist_sample" in err


def test_bad_mirror_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["data", "fetch", "mnist", "--mirror", "ftp://x/", "--cache-dir", str(tmp_path)])
    assert code == 2 and "mirror must be" in capsys.readouterr().err
