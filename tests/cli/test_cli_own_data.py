"""``--dataset PATH`` through the CLI: train, evaluate, lr-find, data, predict on each form."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from mnist_sgd import cli

FAST = ["--loss", "cross_entropy", "--lr", "0.01", "--epochs", "1", "--no-plots", "--quiet"]


@pytest.fixture(scope="module")
def csv_run(own_digits: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "csv"
    cache = out.parent / "cache"
    argv = ["train", "--dataset", str(own_digits["csv"]), *FAST, "--out", str(out)]
    assert cli.main([*argv, "--cache-dir", str(cache), "--valid-pct", "0.25"]) == 0
    return out


@pytest.mark.parametrize("form", ["folders", "idx"])
def test_train_and_evaluate_each_form(
    own_digits: dict[str, Path], tmp_path: Path, form: str, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = ["--cache-dir", str(tmp_path / "cache")]
    out = tmp_path / "run"
    assert (
        cli.main(["train", "--dataset", str(own_digits[form]), *FAST, "--out", str(out), *flags])
        == 0
    )
    info = json.loads((out / "run.json").read_text())
    assert info["dataset"] == str(own_digits[form].resolve())
    assert info["data"]["source"] == str(own_digits[form].resolve())
    capsys.readouterr()
    assert cli.main(["evaluate", str(out), "--json", *flags]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["items"] == (60 if form == "folders" else 100)


def test_the_split_is_recorded_and_used_again(
    csv_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    info = json.loads((csv_run / "run.json").read_text())
    assert info["data"]["valid_pct"] == 0.25 and info["data"]["split_seed"] == 42
    assert info["sizes"] == {"train": 225, "valid": 75}
    capsys.readouterr()
    assert (
        cli.main(["evaluate", str(csv_run), "--json", "--cache-dir", str(csv_run.parent / "c")])
        == 0
    )
    assert json.loads(capsys.readouterr().out)["items"] == 75  # the run's split, not 0.2


def test_train_says_what_it_read_and_how_it_split_it(
    own_digits: dict[str, Path],
    sample_cache: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    loud = [flag for flag in FAST if flag != "--quiet"]
    csv = own_digits["csv"]
    flags = ["--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "csv")]
    assert cli.main(["train", "--dataset", str(csv), *loud, *flags]) == 0
    said = capsys.readouterr().err.splitlines()
    assert f"{csv.resolve()}: 240 train, 60 valid images (split: 0.2 by seed 42)" in said
    flags = ["--cache-dir", str(sample_cache), "--out", str(tmp_path / "sample"), "--offline"]
    assert cli.main(["train", "--dataset", "mnist_sample", "--dry-run", *loud, *flags]) == 0
    assert "valid images" not in capsys.readouterr().err  # a registry's set: nothing to say


def test_kaggle_round_trip(
    csv_run: Path, own_digits: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    submission = tmp_path / "submission.csv"
    assert (
        cli.main(["predict", str(csv_run), str(own_digits["test_csv"]), "--csv", str(submission)])
        == 0
    )
    lines = submission.read_text().splitlines()
    assert lines[0] == "ImageId,Label" and len(lines) == 301
    assert lines[1].split(",")[0] == "1" and lines[-1].split(",")[1] in "0123456789"


def test_predict_a_folder_to_csv(
    csv_run: Path, own_digits: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "labels.csv"
    folder = own_digits["folders"] / "7"
    assert cli.main(["predict", str(csv_run), str(folder), "--csv", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "file,label,probability" and len(lines) == 1 + len(list(folder.iterdir()))
    assert lines[1].startswith(str(folder))


def test_lr_find_and_data_on_a_path(
    own_digits: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = ["--cache-dir", str(tmp_path)]
    argv = ["lr-find", "--dataset", str(own_digits["idx"]), "--loss", "cross_entropy"]
    assert cli.main([*argv, "--num-it", "5", "--no-plot", *flags]) == 0
    capsys.readouterr()
    assert cli.main(["data", "info", str(own_digits["csv"]), "--json", *flags]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert (facts["train"], facts["valid"], facts["valid_pct"]) == (240, 60, 0.2)
    assert cli.main(["data", "verify", str(own_digits["csv"]), *flags]) == 0
    assert "verified" in capsys.readouterr().out


def test_bad_csv_is_one_line_and_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("label," + ",".join(f"pixel{i}" for i in range(784)) + "\n1,2\n")
    argv = [
        "train",
        "--dataset",
        str(bad),
        "--out",
        str(tmp_path / "run"),
        "--cache-dir",
        str(tmp_path),
    ]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "bad.csv:2: 2 columns, expected 785" in err


def test_init_from_starts_from_the_runs_weights_exactly(
    csv_run: Path, own_digits: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from safetensors.torch import load_file

    out = tmp_path / "tuned"
    flags = ["--cache-dir", str(tmp_path / "cache")]
    argv = ["train", "--dataset", str(own_digits["idx"]), *FAST, "--out", str(out)]
    assert cli.main([*argv, "--init-from", str(csv_run), *flags]) == 0
    start, trained = load_file(out / "init.safetensors"), load_file(csv_run / "model.safetensors")
    assert start.keys() == trained.keys()
    assert all(torch.equal(start[k], trained[k]) for k in start)
    assert json.loads((out / "run.json").read_text())["init_from"] == str(csv_run.resolve())


def test_init_from_with_other_classes_gets_a_new_last_layer(
    own_digits: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from safetensors.torch import load_file

    base = tmp_path / "base"
    argv = ["train", "--dataset", str(own_digits["idx"]), *FAST, "--model", "mlp"]
    assert cli.main([*argv, "--out", str(base), "--cache-dir", str(tmp_path)]) == 0

    for name in ("a", "b"):
        (tmp_path / "set" / name).mkdir(parents=True)
        for i in range(5):
            Image.new("L", (28, 28), 40 * i).save(tmp_path / "set" / name / f"{i}.png")
    out = tmp_path / "tuned"
    argv = ["train", "--dataset", str(tmp_path / "set"), *FAST, "--model", "mlp", "--out", str(out)]
    assert cli.main([*argv, "--init-from", str(base), "--cache-dir", str(tmp_path)]) == 0
    assert "for 2 classes (the run had 10)" in capsys.readouterr().err
    start, trained = load_file(out / "init.safetensors"), load_file(base / "model.safetensors")
    same = [k for k in start if start[k].shape == trained[k].shape]
    assert same and all(torch.equal(start[k], trained[k]) for k in same)
    assert any(start[k].shape != trained[k].shape for k in start)


def test_init_from_refuses_another_model(
    csv_run: Path, own_digits: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["train", "--dataset", str(own_digits["idx"]), *FAST, "--model", "mlp"]
    argv += [
        "--out",
        str(tmp_path / "run"),
        "--init-from",
        str(csv_run),
        "--cache-dir",
        str(tmp_path),
    ]
    assert cli.main(argv) == 1
    assert "--init-from needs the same --model" in capsys.readouterr().err
