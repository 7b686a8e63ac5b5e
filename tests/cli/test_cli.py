"""The ``mnist-sgd`` command line, in-process and as a process, for each command and bad input.

Issue 4: "CLI tests call the entry point in-process and as a subprocess for each
command and each error above, check exit codes and messages, train with
``--dry-run``". Errors: exit 2 for usage, 1 for runtime, exactly one line on
stderr, a traceback only with ``--debug``.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import save as st_save

from mnist_sgd import cli, runs
from mnist_sgd.config.registry import get_model

ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = ROOT.parent / "shared" / "data"
ENTRY_POINT = Path(sys.executable).with_name("mnist-sgd")
DATASETS = ("mnist_sample", "mnist", "mnist_png", "fashion_mnist", "kmnist", "qmnist")


@pytest.fixture(scope="module")
def cache(sample_cache: Path) -> Path:
    """The session's data cache holding MNIST_SAMPLE's tensors (see conftest)."""
    return sample_cache


def data_flags(cache: Path) -> list[str]:
    return ["--mirror", str(SHARED_DATA), "--cache-dir", str(cache)]


@pytest.fixture(scope="module")
def trained(cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder from ``train --dry-run`` (one batch of each split)."""
    run_dir = tmp_path_factory.mktemp("cli") / "run"
    assert (
        cli.main(
            [
                "train",
                "--dry-run",
                "--out",
                str(run_dir),
                "--quiet",
                "--device",
                "cpu",
                "--no-plots",
                *data_flags(cache),
            ]
        )
        == 0
    )
    return run_dir


@pytest.fixture(scope="module")
def files(cache: Path, trained: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Real digits as PNG, and the bad inputs: files and run folders."""
    from mnist_sgd.datasets import DataOptions, load_dataset

    folder = tmp_path_factory.mktemp("inputs")
    data = load_dataset("mnist_sample", DataOptions(cache_dir=cache, offline=True))
    made = {}
    for name, index in (("three", 0), ("seven", -1)):
        made[name] = folder / f"{name}.png"
        Image.fromarray(data.valid_images[index].numpy(), mode="L").save(made[name])
    made["text"] = folder / "notes.txt"
    made["text"].write_text("not an image\n")
    made["empty"] = folder / "empty.png"
    made["empty"].write_bytes(b"")
    made["truncated"] = folder / "truncated.png"
    made["truncated"].write_bytes(made["three"].read_bytes()[:40])
    made["missing"] = folder / "missing.png"
    made["run_missing"] = folder / "no-such-run"
    made.update(bad_runs(trained, folder))
    return made


def bad_runs(trained: Path, folder: Path) -> dict[str, Path]:
    """Copies of a good run folder, each broken in one way."""
    import shutil

    def copy(name: str) -> Path:
        target = folder / name
        shutil.copytree(trained, target)
        return target

    broken = {
        "run_corrupt_model": copy("corrupt-model"),
        "run_no_json": copy("no-json"),
        "run_bad_json": copy("bad-json"),
        "run_shapes": copy("shapes"),
        "run_pickle": copy("pickle"),
        "run_no_model": copy("no-model"),
    }
    (broken["run_corrupt_model"] / runs.MODEL_FILE).write_bytes(
        b"\x08\x00\x00\x00\x00\x00\x00\x00{garbage"
    )
    (broken["run_no_json"] / runs.RUN_FILE).unlink()
    (broken["run_bad_json"] / runs.RUN_FILE).write_text('{"format": "mnist-sgd/1", ')
    ten_way = {k: v.contiguous() for k, v in get_model("linear", n_out=10).state_dict().items()}
    (broken["run_shapes"] / runs.MODEL_FILE).write_bytes(st_save(ten_way))
    pickled = io.BytesIO()
    torch.save(get_model("linear").state_dict(), pickled)
    (broken["run_pickle"] / runs.MODEL_FILE).write_bytes(pickled.getvalue())
    (broken["run_no_model"] / runs.MODEL_FILE).unlink()
    return broken


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {lines}"
    assert "Traceback" not in err
    assert lines[0].startswith("mnist-sgd")
    return lines[0]


# --- each command works -------------------------------------------------------------------


def test_train_dry_run(cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = tmp_path / "run"
    assert (
        cli.main(
            ["train", "--dry-run", "--out", str(run_dir), "--device", "cpu", *data_flags(cache)]
        )
        == 0
    )
    said = capsys.readouterr()
    out = said.out.splitlines()
    assert out[0].split()[:2] == ["epoch", "train_loss"]
    assert out[1].split()[0] == "1" and out[-1] == f"saved run to {run_dir}"
    assert "warning" not in said.err  # one batch says nothing of how training goes
    names = {p.name for p in run_dir.iterdir()}
    assert {runs.MODEL_FILE, runs.RUN_FILE, runs.METRICS_FILE, runs.CHECKPOINT_FILE} <= names
    info = runs.read_run_info(run_dir)
    assert info["status"] == "done" and info["sizes"] == {"train": 64, "valid": 64}
    assert info["train"]["seed"] == 42 and info["model"]["name"] == "linear"
    assert {"torch", "mnist_sgd", "python"} <= set(info["versions"])
    assert runs.load_run(run_dir).classes == ["3", "7"]


def test_train_json(cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        cli.main(
            [
                "train",
                "--dry-run",
                "--json",
                "--out",
                str(tmp_path / "run"),
                "--device",
                "cpu",
                "--no-plots",
                *data_flags(cache),
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["epoch"] == 1 and {"train_loss", "valid_loss", "batch_accuracy"} <= set(record)


def test_evaluate(trained: Path, cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["evaluate", str(trained), *data_flags(cache)]) == 0
    out = capsys.readouterr().out
    assert "mnist_sample: 2038 items" in out and "confusion" in out and "per class" in out
    assert cli.main(["evaluate", str(trained), "--json", *data_flags(cache)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["items"] == 2038 and 0 <= summary["accuracy"] <= 1
    assert set(summary["per_class"]) == {"3", "7"}
    assert sum(map(sum, summary["confusion"])) == 2038


def test_predict(trained: Path, files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    images = [str(files["three"]), str(files["seven"])]
    assert cli.main(["predict", str(trained), *images]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in out] == images
    assert cli.main(["predict", str(trained), "--json", *images]) == 0
    results = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["image"] for r in results] == images
    for result in results:
        assert result["label"] in ("3", "7")
        assert abs(sum(result["probabilities"].values()) - 1) < 1e-5


def test_data_list(cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["data", "list", "--cache-dir", str(cache)]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in DATASETS)
    assert cli.main(["data", "list", "--json", "--cache-dir", str(cache)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["name"] for row in rows] == list(DATASETS)
    assert rows[0]["tensor_cache"] is True


@pytest.mark.parametrize(
    "argv",
    [[], ["train"], ["evaluate"], ["predict"], ["data"]],
    ids=["main", "train", "evaluate", "predict", "data"],
)
def test_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([*argv, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: mnist-sgd")
    if argv == ["train"]:
        assert "default" in out and "examples:" in out and "--resume" in out


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    assert "usage: mnist-sgd" in capsys.readouterr().out


# --- each bad input: exit code and one line ------------------------------------------------

USAGE_ERRORS = {
    "dataset": (["train", "--dataset", "nope"], ["--dataset", "unknown dataset 'nope'", *DATASETS]),
    "model": (["train", "--model", "nope"], ["--model", "unknown model 'nope'", "cnn_best"]),
    "loss": (["train", "--loss", "nope"], ["--loss", "'nope'", "mnist_loss", "cross_entropy"]),
    "opt": (["train", "--opt", "nope"], ["--opt", "unknown optimiser 'nope'", "sgd", "basic"]),
    "schedule": (["train", "--schedule", "x"], ["--schedule", "'x'", "warmup_cosine"]),
    "recipe": (["train", "--recipe", "x"], ["--recipe", "'x'", "mnist-best"]),
    "mom-basic": (["train", "--opt", "basic", "--mom", "0.9"], ["basic", "--mom", "--opt sgd"]),
    "wd-basic": (["train", "--opt", "basic", "--wd", "0.01"], ["basic", "--wd"]),
    "lr-zero": (["train", "--lr", "0"], ["--lr", "must be a finite number > 0, got 0"]),
    "lr-negative": (["train", "--lr", "-0.1"], ["--lr", "must be a finite number > 0, got -0.1"]),
    "lr-nan": (["train", "--lr", "nan"], ["--lr", "nan"]),
    "lr-text": (["train", "--lr", "fast"], ["--lr", "must be a number, got 'fast'"]),
    "bs-zero": (["train", "--bs", "0"], ["--bs", "must be >= 1, got 0"]),
    "bs-negative": (["train", "--bs", "-5"], ["--bs", "must be >= 1"]),
    "epochs-zero": (["train", "--epochs", "0"], ["--epochs", "must be >= 1, got 0"]),
    "epochs-fraction": (["train", "--epochs", "1.5"], ["--epochs", "whole number"]),
    "seed-text": (["train", "--seed", "x"], ["--seed", "invalid int value"]),
    "device": (["train", "--device", "tpu"], ["--device", "'tpu'", "cpu", "cuda"]),
    "command": (["nope"], ["invalid choice: 'nope'", "train", "evaluate", "predict"]),
    "unknown-flag": (["train", "--lrr", "1"], ["unrecognized arguments: --lrr"]),
    "evaluate-no-run": (["evaluate"], ["required: RUN"]),
    "predict-no-image": (["predict", "somewhere"], ["required: IMAGE"]),
    "data-fetch-name": (["data", "fetch", "nope"], ["invalid choice: 'nope'", *DATASETS]),
    "binary-loss-ten-classes": (["train", "--dataset", "mnist", "--loss", "mnist_loss"], []),
}


@pytest.mark.parametrize("case", list(USAGE_ERRORS))
def test_usage_errors(
    case: str, cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv, fragments = USAGE_ERRORS[case]
    if argv[0] == "train":
        argv = [*argv, "--out", str(tmp_path / "run"), "--device", "cpu", *data_flags(cache)]
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    line = one_error_line(captured.err)
    assert captured.out == ""
    for fragment in fragments or ["two classes", "cross_entropy"]:
        assert fragment in line, line
    assert not (tmp_path / "run" / runs.MODEL_FILE).exists()


RUNTIME_ERRORS = {
    "missing-image": (["predict", "{trained}", "{missing}"], ["missing.png", "does not exist"]),
    "not-an-image": (["predict", "{trained}", "{text}"], ["notes.txt", "image"]),
    "empty-image": (["predict", "{trained}", "{empty}"], ["empty.png"]),
    "truncated-image": (["predict", "{trained}", "{truncated}"], ["truncated.png"]),
    "folder-as-image": (["predict", "{trained}", "{trained}"], ["is a folder"]),
    "missing-run": (["evaluate", "{run_missing}"], ["no such run folder", "mnist-sgd train"]),
    "run-is-a-file": (["predict", "{three}", "{three}"], ["no such run folder"]),
    "corrupt-model": (["evaluate", "{run_corrupt_model}"], ["model.safetensors", "not a valid"]),
    "no-run-json": (["predict", "{run_no_json}", "{three}"], ["holds no run.json"]),
    "bad-run-json": (["evaluate", "{run_bad_json}"], ["run.json", "not valid JSON"]),
    "shapes": (["predict", "{run_shapes}", "{three}"], ["(784, 10)", "(784, 1)", "another model"]),
    "pickle": (["evaluate", "{run_pickle}"], ["pickle", "only loads safetensors"]),
    "no-model": (["predict", "{run_no_model}", "{three}"], ["model.safetensors", "no such file"]),
    "resume-missing": (["train", "--resume", "{run_missing}"], ["no such run folder"]),
    "resume-corrupt": (["train", "--resume", "{run_bad_json}"], ["run.json", "not valid JSON"]),
}


def fill(argv: list[str], files: dict[str, Path], trained: Path) -> list[str]:
    paths = {**{k: str(v) for k, v in files.items()}, "trained": str(trained)}
    return [arg.format(**paths) for arg in argv]


@pytest.mark.parametrize("case", list(RUNTIME_ERRORS))
def test_runtime_errors(
    case: str,
    files: dict[str, Path],
    trained: Path,
    cache: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv, fragments = RUNTIME_ERRORS[case]
    argv = fill(argv, files, trained)
    if argv[0] in ("evaluate", "train"):
        argv += data_flags(cache)
    assert cli.main(argv) == 1
    captured = capsys.readouterr()
    line = one_error_line(captured.err)
    assert captured.out == ""
    for fragment in fragments:
        assert fragment in line, line


def test_debug_shows_the_traceback(
    files: dict[str, Path], trained: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["--debug", "predict", str(trained), str(files["missing"])]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "ImageError" in err
    assert err.strip().splitlines()[-1].startswith("mnist-sgd: error:")


# --- the same, as real processes ----------------------------------------------------------


def run_process(argv: list[str], *, entry_point: bool) -> subprocess.CompletedProcess[str]:
    command = (
        [str(ENTRY_POINT)]
        if entry_point and ENTRY_POINT.exists()
        else [sys.executable, "-m", "mnist_sgd"]
    )
    return subprocess.run([*command, *argv], capture_output=True, text=True, timeout=300, cwd=ROOT)


def test_processes_for_each_command(
    cache: Path, trained: Path, files: dict[str, Path], tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    done = run_process(
        [
            "train",
            "--dry-run",
            "--out",
            str(run_dir),
            "--device",
            "cpu",
            "--no-plots",
            *data_flags(cache),
        ],
        entry_point=True,
    )
    assert done.returncode == 0 and done.stdout.splitlines()[-1] == f"saved run to {run_dir}"
    done = run_process(["evaluate", str(run_dir), "--json", *data_flags(cache)], entry_point=False)
    assert done.returncode == 0 and json.loads(done.stdout)["items"] == 2038
    done = run_process(["predict", str(run_dir), str(files["three"])], entry_point=True)
    assert done.returncode == 0 and done.stdout.startswith(str(files["three"]))
    done = run_process(["data", "list", "--cache-dir", str(cache)], entry_point=False)
    assert done.returncode == 0 and "mnist_sample" in done.stdout
    assert (ROOT / "src" / "mnist_sgd" / "__main__.py").exists()


@pytest.mark.parametrize(
    "argv, code, fragment, entry_point",
    [
        (["train", "--lr", "-1"], 2, "must be a finite number > 0", True),
        (["predict", "{run_shapes}", "{three}"], 1, "another model", False),
        (["predict", "{trained}", "{text}"], 1, "notes.txt", True),
    ],
    ids=["usage-lr", "model-file-shapes", "not-an-image"],
)
def test_process_errors(
    argv: list[str],
    code: int,
    fragment: str,
    entry_point: bool,
    files: dict[str, Path],
    trained: Path,
) -> None:
    done = run_process(fill(argv, files, trained), entry_point=entry_point)
    assert done.returncode == code
    assert fragment in one_error_line(done.stderr)
    assert done.stdout == ""
