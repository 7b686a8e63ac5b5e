"""``train --resume`` of a finished run, ``--resume --epochs N``, ``--out ''`` (issue 15, 5 and 6).

Before: resuming a finished run printed "resuming at epoch 21", "saved run",
exited 0 and left a corrupt, wrong-shaped or missing ``model.safetensors`` as
it was; ``--epochs 40`` with it was silently ignored; ``--out ''`` trained
into the current folder.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mnist_sgd import cli, runs
from mnist_sgd.config.registry import get_model
from mnist_sgd.runs import save_tensors

TRAIN = ["--model", "linear", "--lr", "1.0", "--bs", "256", "--device", "cpu", "--no-plots"]


@pytest.fixture(scope="module")
def cache(sample_cache: Path) -> list[str]:
    return ["--cache-dir", str(sample_cache)]


@pytest.fixture(scope="module")
def finished(cache: list[str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run of 2 epochs on MNIST_SAMPLE, finished."""
    out = tmp_path_factory.mktemp("finished") / "run"
    assert cli.main(["train", *TRAIN, "--epochs", "2", "--quiet", "--out", str(out), *cache]) == 0
    return out


def copy(run: Path, tmp_path: Path) -> Path:
    shutil.copytree(run, tmp_path / "run")
    return tmp_path / "run"


def resume(run_dir: Path, cache: list[str], *extra: str) -> int:
    return cli.main(["train", "--resume", str(run_dir), "--quiet", *extra, *cache])


def files(run_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file() and p.name[0] != "."}


def test_resume_of_a_finished_run_verifies_and_does_nothing(
    finished: Path, tmp_path: Path, cache: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = copy(finished, tmp_path)
    before = files(run_dir)
    assert resume(run_dir, cache) == 0
    out = capsys.readouterr().out
    assert "is complete (2 epochs)" in out and "verified; nothing to do" in out, out
    assert "saved run" not in out and "resuming" not in out
    assert files(run_dir) == before


@pytest.mark.parametrize("damage", ["corrupt", "missing", "another-model", "other-weights"])
def test_resume_of_a_finished_run_repairs_its_model(
    damage: str,
    finished: Path,
    tmp_path: Path,
    cache: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    run_dir = copy(finished, tmp_path)
    model = run_dir / runs.MODEL_FILE
    good = model.read_bytes()
    if damage == "corrupt":
        model.write_bytes(good[: len(good) // 2])
    elif damage == "missing":
        model.unlink()
    elif damage == "another-model":
        runs.save_model(run_dir, get_model("simple_net"))
    else:
        runs.save_model(run_dir, get_model("linear"))  # right shapes, other values
    assert resume(run_dir, cache) == 0
    out = capsys.readouterr().out
    assert "rewritten" in out, out
    assert model.read_bytes() == good
    runs.load_run(run_dir)


def test_resume_of_a_finished_run_without_checkpoint_or_model_is_refused(
    finished: Path, tmp_path: Path, cache: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = copy(finished, tmp_path)
    (run_dir / runs.CHECKPOINT_FILE).unlink()
    (run_dir / runs.MODEL_FILE).write_bytes(b"junk")
    assert resume(run_dir, cache) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no checkpoint to rebuild it from" in err, err
    assert (run_dir / runs.MODEL_FILE).read_bytes() == b"junk"  # not trained again over it


def test_killed_before_the_final_run_json_is_finished_on_resume(
    finished: Path, tmp_path: Path, cache: list[str]
) -> None:
    run_dir = copy(finished, tmp_path)
    info = json.loads((run_dir / runs.RUN_FILE).read_text())
    (run_dir / runs.RUN_FILE).write_text(json.dumps({**info, "status": "running"}))
    assert resume(run_dir, cache) == 0
    assert runs.read_run_info(run_dir)["status"] == "done"


def test_resume_with_more_epochs_trains_on_to_exactly_the_longer_run(
    finished: Path, tmp_path: Path, cache: list[str]
) -> None:
    run_dir = copy(finished, tmp_path)
    assert resume(run_dir, cache, "--epochs", "3") == 0
    longer = tmp_path / "three"
    assert (
        cli.main(["train", *TRAIN, "--epochs", "3", "--quiet", "--out", str(longer), *cache]) == 0
    )
    assert (run_dir / runs.MODEL_FILE).read_bytes() == (longer / runs.MODEL_FILE).read_bytes()
    assert len(runs.read_history(run_dir)) == 3
    assert runs.read_run_info(run_dir)["train"]["epochs"] == 3


def test_resume_with_fewer_epochs_or_a_scheduled_run_is_refused(
    finished: Path, tmp_path: Path, cache: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = copy(finished, tmp_path)
    before = files(run_dir)
    assert resume(run_dir, cache, "--epochs", "1") == 2
    assert "already trained 2 epochs" in capsys.readouterr().err
    info = json.loads((run_dir / runs.RUN_FILE).read_text())
    info["train"]["schedule"] = "one_cycle"
    (run_dir / runs.RUN_FILE).write_text(json.dumps(info))
    assert resume(run_dir, cache, "--epochs", "5") == 2
    assert "one_cycle schedule was laid out for 2 epochs" in capsys.readouterr().err
    assert files(run_dir) == {**before, runs.RUN_FILE: (run_dir / runs.RUN_FILE).read_bytes()}


@pytest.mark.parametrize("flag", ["--out", "--resume"])
def test_an_empty_folder_name_is_a_usage_error(
    flag: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["train", flag, "", "--dry-run"]) == 2
    assert "must name a folder" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_resume_cleans_temps_at_any_depth(finished: Path, tmp_path: Path, cache: list[str]) -> None:
    run_dir = copy(finished, tmp_path)
    (run_dir / "plots").mkdir(exist_ok=True)
    temps = [run_dir / "plots" / ".history.png.x1.tmp", run_dir / ".run.json.x2.tmp"]
    for temp in temps:
        temp.write_bytes(b"half")
    save_tensors(run_dir / "keep.safetensors", {}, {})  # not a temp: kept
    assert resume(run_dir, cache, "--epochs", "3") == 0
    assert not any(t.exists() for t in temps)
    assert (run_dir / "keep.safetensors").exists()


@pytest.mark.parametrize("damage", ["corrupt", "missing-epochs"])
def test_resume_of_a_finished_run_repairs_its_metrics_and_says_so(
    damage: str,
    finished: Path,
    tmp_path: Path,
    cache: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Issue 29, 4: a corrupt metrics.jsonl was blamed on the model and left corrupt."""
    run_dir = copy(finished, tmp_path)
    metrics, model = run_dir / runs.METRICS_FILE, run_dir / runs.MODEL_FILE
    good, weights = metrics.read_bytes(), model.read_bytes()
    metrics.write_bytes(b"{not json\n" if damage == "corrupt" else good.splitlines(True)[0])
    assert resume(run_dir, cache) == 0
    out = capsys.readouterr().out
    assert f"its {runs.METRICS_FILE} " in out and "rewritten from the checkpoint" in out, out
    assert runs.MODEL_FILE not in out, out
    assert metrics.read_bytes() == good and model.read_bytes() == weights
    assert len(runs.load_run(run_dir).history) == 2


def test_resume_of_a_finished_run_redraws_damaged_curves(
    finished: Path, tmp_path: Path, cache: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = copy(finished, tmp_path)
    curves = run_dir / "plots" / "history.png"
    curves.parent.mkdir()
    curves.write_bytes(b"\x89PNG\r\n\x1a\n half a picture")
    assert resume(run_dir, cache) == 0
    out = capsys.readouterr().out
    assert "plots/history.png was missing or damaged, drawn again" in out, out
    assert curves.read_bytes().endswith(b"IEND\xaeB`\x82")


def test_resume_of_a_finished_run_without_checkpoint_names_corrupt_metrics(
    finished: Path, tmp_path: Path, cache: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = copy(finished, tmp_path)
    (run_dir / runs.CHECKPOINT_FILE).unlink()
    (run_dir / runs.METRICS_FILE).write_bytes(b"{not json\n")
    assert resume(run_dir, cache) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and runs.METRICS_FILE in err and runs.MODEL_FILE not in err, err
